import json
import math

import numpy as np
import pytest
import soundfile as sf
import torch
from scipy.special import jn_zeros

from ddspfx.core.errors import ConfigError
from ddspfx.data.virtual_drums import (
    MANIFEST,
    MEMBRANE_MODES,
    MIN_GAP,
    MODE_RATIOS,
    PEAK,
    VIRTUAL_SNARES,
    VirtualSnare,
    compose,
    render_hit,
    render_performance,
    write_virtual_drums,
)
from ddspfx.dsp.onsets import HOLD_SAMPLES, detect_onsets

SR = 44100
DRUMS = list(VIRTUAL_SNARES.values())


def generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def rms_db(x: np.ndarray) -> float:
    return 10 * math.log10(float(np.mean(x.astype(np.float64) ** 2)))


def centroid_hz(x: np.ndarray, sample_rate: int = SR) -> float:
    """Spectral centroid of the power spectrum, numpy."""
    power = np.abs(np.fft.rfft(x.astype(np.float64))) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / sample_rate)
    return float((power * freqs).sum() / power.sum())


def band_share(x: np.ndarray, low: float, high: float) -> float:
    """Share of the energy in [low, high) Hz."""
    power = np.abs(np.fft.rfft(x.astype(np.float64))) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / SR)
    return float(power[(freqs >= low) & (freqs < high)].sum() / power.sum())


@pytest.fixture(scope="module")
def performances():
    """A 15-s performance of every drum: {name: (audio, onsets)}."""
    return {s.name: render_performance(s, 15.0, seed=1) for s in DRUMS}


def test_there_are_several_named_drums_with_membrane_mode_ratios():
    assert 3 <= len(VIRTUAL_SNARES) <= 4
    assert all(name == s.name for name, s in VIRTUAL_SNARES.items())
    expected = [jn_zeros(m, n)[n - 1] / jn_zeros(0, 1)[0] for m, n in ((0, 1), (1, 1), (2, 1), (0, 2), (3, 1), (1, 2))]
    np.testing.assert_allclose(MODE_RATIOS[:6], expected, rtol=1e-5)
    np.testing.assert_allclose(MODE_RATIOS[:6], (1, 1.594, 2.136, 2.296, 2.653, 2.918), atol=2e-3)
    for m, z in MEMBRANE_MODES:  # each j_mn is a zero of J_m
        assert min(abs(z - r) for r in jn_zeros(m, 3)) < 1e-5


def test_render_hit_shapes_and_broadcasting():
    snare = VIRTUAL_SNARES["maple_14x5"]
    one = render_hit(snare, 0.5, 0.2, generator(), SR, 8000)
    assert one.shape == (8000,) and one.dtype == torch.float32
    many = render_hit(snare, torch.tensor([0.2, 0.5, 0.9]), 0.3, generator(), SR, 8000)
    assert many.shape == (3, 8000)
    assert render_hit(snare, 0.5, 0.2, generator(), SR).shape == (SR,)  # 1 s by default


@pytest.mark.parametrize("snare", DRUMS, ids=lambda s: s.name)
def test_velocity_raises_level_and_brightness(snare):
    velocities = (0.1, 0.4, 0.7, 1.0)
    hits = [render_hit(snare, v, 0.3, generator(7), SR).numpy() for v in velocities]  # same draws for each
    levels = [rms_db(x) for x in hits]
    centroids = [centroid_hz(x) for x in hits]
    assert all(b > a + 3 for a, b in zip(levels, levels[1:])), levels
    assert all(b > a for a, b in zip(centroids, centroids[1:])), centroids
    assert max(abs(x).max() for x in hits) < 1


@pytest.mark.parametrize("snare", DRUMS, ids=lambda s: s.name)
def test_striking_towards_the_edge_trades_fundamental_for_higher_modes(snare):
    centre, edge = (render_hit(snare, 0.7, p, generator(3), SR).numpy() for p in (0.05, 0.9))
    f0 = snare.fundamental

    def fundamental_over_higher_modes(x):
        return band_share(x, 0.8 * f0, 1.25 * f0) / band_share(x, 1.4 * f0, 4.3 * f0)

    assert band_share(edge, 0.8 * f0, 1.25 * f0) < 0.7 * band_share(centre, 0.8 * f0, 1.25 * f0)
    assert fundamental_over_higher_modes(edge) < 0.3 * fundamental_over_higher_modes(centre)
    assert centroid_hz(edge) > centroid_hz(centre)


def test_hits_vary_a_little_from_draw_to_draw():
    snare = VIRTUAL_SNARES["steel_piccolo"]
    a, b = (render_hit(snare, 0.6, 0.3, generator(s), SR).numpy() for s in (0, 1))
    assert not np.array_equal(a, b)
    assert abs(rms_db(a) - rms_db(b)) < 3


def test_bad_settings_are_refused():
    snare = VIRTUAL_SNARES["maple_14x5"]
    with pytest.raises(ValueError, match="velocity"):
        render_hit(snare, 1.5, 0.2, generator())
    with pytest.raises(ValueError, match="position"):
        render_hit(snare, 0.5, torch.tensor([0.2, float("nan")]), generator())
    with pytest.raises(ConfigError, match="n_modes"):
        VirtualSnare("bad", 200.0, 0, 0.2, 1.0, 0.0, 0.03, 400.0, 2.0, 0.5, 1000.0, 4000.0, 0.06, 0.002, 0.3)
    with pytest.raises(ConfigError, match="unknown drum 'tabla'"):
        write_virtual_drums("unused", drums=["tabla"])


def test_performance_is_deterministic_by_seed_and_differs_between_seeds_and_drums():
    snare = VIRTUAL_SNARES["loose_wires"]
    audio, onsets = render_performance(snare, 4.0, seed=5)
    again, onsets_again = render_performance(snare, 4.0, seed=5)
    assert torch.equal(audio, again) and torch.equal(onsets, onsets_again)
    other, _ = render_performance(snare, 4.0, seed=6)
    assert not torch.equal(audio, other)
    _, other_drum = render_performance(VIRTUAL_SNARES["maple_14x5"], 4.0, seed=5)
    assert not torch.equal(onsets, other_drum)


def test_performance_shape_level_and_onsets(performances):
    for audio, onsets in performances.values():
        assert audio.shape == (15 * SR,) and audio.dtype == torch.float32 and onsets.dtype == torch.long
        assert torch.isfinite(audio).all()
        assert audio.abs().max() < 1
        assert audio.abs().max() == pytest.approx(PEAK)
        assert (onsets >= 0).all() and (onsets < len(audio)).all()
        assert (onsets.diff() > HOLD_SAMPLES).all()
        assert audio[: onsets[0]].abs().max() == 0  # silence before the first hit


@pytest.mark.parametrize("snare", DRUMS, ids=lambda s: s.name)
def test_a_45_second_performance_has_60_to_100_hits_of_varied_dynamics(snare):
    for seed in range(3):
        times, velocities, positions = compose(snare, 45.0, generator(seed))
        assert 60 <= len(times) <= 100
        assert min(np.diff(times)) >= MIN_GAP and max(times) < 45.0
        assert min(velocities) < 0.25 and max(velocities) > 0.85  # ghost notes and accents
        assert 0 <= min(positions) and max(positions) <= 1 and max(positions) - min(positions) > 0.3


def test_the_training_detector_finds_the_true_onsets(performances):
    for name, (audio, onsets) in performances.items():
        found = detect_onsets(audio, SR)
        distance = (found[None, :] - onsets[:, None]).abs().amin(dim=1)
        assert (distance < 300).float().mean() >= 0.95, name
        assert len(found) <= 1.05 * len(onsets), name


def test_written_files_shapes_rate_and_content(tmp_path):
    names = ["maple_14x5", "brass_deep"]
    paths = write_virtual_drums(tmp_path, seconds=3.0, seed=2, drums=names)
    assert paths == [tmp_path / n / "performance.wav" for n in names]
    manifest = json.loads((tmp_path / MANIFEST).read_text())["drums"]
    for name, path in zip(names, paths):
        info = sf.info(str(path))
        assert (info.samplerate, info.channels, info.frames) == (SR, 1, 3 * SR)
        audio, onsets = render_performance(VIRTUAL_SNARES[name], 3.0, seed=2)
        data, _ = sf.read(str(path), dtype="float32")
        np.testing.assert_array_equal(data, audio.numpy())
        assert manifest[name]["onsets"] == onsets.tolist()
        assert manifest[name]["seed"] == 2 and manifest[name]["sample_rate"] == SR
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names + [MANIFEST])  # no temporary left


def test_writing_is_idempotent_and_rewrites_on_new_settings(tmp_path):
    first = write_virtual_drums(tmp_path, seconds=2.0, seed=0, sample_rate=22050, drums=["steel_piccolo"])
    stamp = first[0].stat().st_mtime_ns
    before = first[0].read_bytes()
    again = write_virtual_drums(tmp_path, seconds=2.0, seed=0, sample_rate=22050, drums=["steel_piccolo"])
    assert again == first and first[0].stat().st_mtime_ns == stamp
    write_virtual_drums(tmp_path, seconds=2.0, seed=1, sample_rate=22050, drums=["steel_piccolo"])
    assert first[0].read_bytes() != before
    assert sf.info(str(first[0])).samplerate == 22050
