import json
import math

import numpy as np
import pytest
import soundfile as sf
import torch

from ddspfx.core.errors import ConfigError
from ddspfx.data.synthetic_textures import (
    MANIFEST,
    PEAK,
    TEXTURES,
    poisson_onsets,
    render_texture,
    write_synthetic_textures,
)

SR = 22050
SECONDS = 10.0


@pytest.fixture(scope="module")
def textures():
    """{name: (samples,) float64 numpy}: every texture, 10 s at 22.05 kHz, seed 0."""
    return {name: render_texture(name, SECONDS, seed=0, sample_rate=SR).double().numpy() for name in TEXTURES}


def local_kurtosis(x: np.ndarray, window_s: float = 0.2) -> float:
    """Kurtosis of x divided by its local RMS over `window_s`: about 3 for Gaussian noise whatever
    its slow gain changes, large for sparse clicks."""
    k = round(window_s * SR)
    energy = np.concatenate([[0.0], np.cumsum(x**2)])
    power = (energy[k:] - energy[:-k]) / k  # moving mean over k samples
    y = x[k // 2 : k // 2 + len(power)] / np.sqrt(power + 1e-12)
    return float(np.mean(y**4) / np.mean(y**2) ** 2)


def band_share(x: np.ndarray, low: float, high: float) -> float:
    """Share of the energy in [low, high) Hz."""
    power = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / SR)
    return float(power[(freqs >= low) & (freqs < high)].sum() / power.sum())


def centroid_memory(x: np.ndarray, lag_s: float = 1.0, frame: int = 1024) -> float:
    """Correlation of the log spectral centroid (per frame) with itself `lag_s` later."""
    frames = x[: len(x) // frame * frame].reshape(-1, frame) * np.hanning(frame)
    power = np.abs(np.fft.rfft(frames)) ** 2
    centroid = np.log2((power * np.fft.rfftfreq(frame, 1 / SR)).sum(1) / power.sum(1))
    lag = round(lag_s * SR / frame)
    return float(np.corrcoef(centroid[:-lag], centroid[lag:])[0, 1])


@pytest.mark.parametrize("name", list(TEXTURES))
def test_a_texture_is_float32_peak_normalized_and_bit_identical_for_a_seed(name, textures):
    a = render_texture(name, 1.0, seed=3, sample_rate=SR)
    b = render_texture(name, 1.0, seed=3, sample_rate=SR)
    assert a.dtype == torch.float32 and a.shape == (SR,)
    assert torch.equal(a, b)
    assert not torch.equal(a, render_texture(name, 1.0, seed=4, sample_rate=SR))
    assert torch.isfinite(a).all()
    assert a.abs().max().item() == pytest.approx(PEAK, rel=1e-5)
    assert textures[name].shape == (round(SECONDS * SR),)


def test_each_texture_draws_its_own_recording_for_a_seed(textures):
    names = list(textures)
    n = SR  # the first second
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert abs(np.corrcoef(textures[a][:n], textures[b][:n])[0, 1]) < 0.1


def test_fire_and_rain_are_impulsive_and_wind_is_not(textures):
    kurtosis = {name: local_kurtosis(x) for name, x in textures.items()}
    assert kurtosis["wind"] < 3.5  # Gaussian noise under a slow gain
    assert kurtosis["rain"] > 4.0 and kurtosis["fire"] > 10.0
    crest = {name: np.abs(x).max() / np.sqrt(np.mean(x**2)) for name, x in textures.items()}
    assert crest["fire"] > 2 * crest["wind"]


def test_the_wind_band_moves_slowly_and_the_event_textures_do_not_remember(textures):
    memory = {name: centroid_memory(x) for name, x in textures.items()}
    assert memory["wind"] > 0.6
    assert all(memory[name] < 0.4 for name in ("rain", "fire", "stream"))


def test_the_spectra_match_their_descriptions(textures):
    assert band_share(textures["stream"], 300.0, 3000.0) > 0.65  # bubbles
    assert band_share(textures["fire"], 0.0, 300.0) > 0.25  # rumble (the crackle holds the rest)
    assert band_share(textures["rain"], 1000.0, 8000.0) > 0.5  # droplets and bed
    assert band_share(textures["wind"], 3000.0, SR / 2) < 0.1


def test_poisson_onsets_follow_the_rate():
    rate = torch.cat([torch.full((SR * 10,), 100.0), torch.zeros(SR * 10)])
    onsets = poisson_onsets(rate, SR, torch.Generator().manual_seed(0))
    assert (onsets < SR * 10).all()
    assert abs(onsets.numel() - 1000) < 5 * math.sqrt(1000)


def test_write_synthetic_textures_writes_each_texture_in_its_folder_once(tmp_path):
    paths = write_synthetic_textures(tmp_path, seconds=1.0, seed=1, sample_rate=SR)
    assert paths == [tmp_path / name / f"{name}.wav" for name in TEXTURES]
    for name, path in zip(TEXTURES, paths):
        audio, rate = sf.read(str(path), dtype="float32")
        assert rate == SR and audio.shape == (SR,)
        assert np.abs(audio).max() == pytest.approx(PEAK, rel=1e-5)
        np.testing.assert_array_equal(audio, render_texture(name, 1.0, seed=1, sample_rate=SR).numpy())
    manifest = json.loads((tmp_path / MANIFEST).read_text())["textures"]
    assert manifest["rain"] == {"format": 1, "seconds": 1.0, "seed": 1, "sample_rate": SR, "file": "rain/rain.wav"}

    mtimes = [p.stat().st_mtime_ns for p in paths + [tmp_path / MANIFEST]]
    assert write_synthetic_textures(tmp_path, seconds=1.0, seed=1, sample_rate=SR) == paths
    assert [p.stat().st_mtime_ns for p in paths + [tmp_path / MANIFEST]] == mtimes
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]

    (wind,) = write_synthetic_textures(tmp_path, seconds=1.0, seed=2, sample_rate=SR, textures=["wind"])
    expected = render_texture("wind", 1.0, seed=2, sample_rate=SR).numpy()
    np.testing.assert_array_equal(sf.read(str(wind), dtype="float32")[0], expected)
    assert json.loads((tmp_path / MANIFEST).read_text())["textures"]["wind"]["seed"] == 2
    assert paths[0].stat().st_mtime_ns == mtimes[0]  # rain untouched


def test_an_unknown_texture_is_a_config_error_naming_it(tmp_path):
    with pytest.raises(ConfigError, match="'snow'.*known: rain, wind, fire, stream"):
        write_synthetic_textures(tmp_path, textures=["rain", "snow"])
    assert not (tmp_path / "rain").exists()
