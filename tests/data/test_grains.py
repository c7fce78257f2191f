"""Onset-aligned grains: positions on known clicks, regular cuts, z-normalization, folders and splits."""

import numpy as np
import pytest
import torch

from ddspfx.core.errors import ConfigError
from ddspfx.data.errors import DataError
from ddspfx.data.generated import write_float_wav
from ddspfx.data.grains import (
    GrainSet,
    cut_grains,
    grain_descriptors,
    load_grains,
    normalize_grains,
)
from ddspfx.data.synthetic_textures import write_synthetic_textures

SR = 16000
CLICKS = [1000, 6000, 11000, 20000, 30000]


def clicks(n=40000, positions=CLICKS, noise=1e-3):
    x = noise * torch.randn(n, generator=torch.Generator().manual_seed(0))
    x[positions] += 0.8
    return x


def test_grains_start_at_the_clicks_minus_backtrack():
    x = clicks()
    grains, starts = cut_grains(x, SR, 4000, backtrack=16)
    # the click at 30000 is kept (30000 − 16 + 4000 ≤ 40000); the detector fires within 2 samples
    assert len(starts) == len(CLICKS)
    assert ((starts - (torch.tensor(CLICKS) - 16)).abs() <= 2).all()
    assert grains.shape == (5, 4000)
    for grain, start in zip(grains, starts.tolist()):
        torch.testing.assert_close(grain, normalize_grains(x[start:start + 4000].unsqueeze(0))[0])


def test_grains_that_do_not_fit_are_dropped_and_starts_clamp_at_zero():
    x = clicks(positions=[5, 20000, 38000])
    _, starts = cut_grains(x, SR, 4000, backtrack=16)
    assert starts[0] == 0 and len(starts) == 2  # the click at 38000 has no room for a grain


def test_regular_alignment():
    x = torch.randn(10500, generator=torch.Generator().manual_seed(1))
    grains, starts = cut_grains(x, SR, 1000, align="regular")
    assert starts.tolist() == list(range(0, 10000, 1000))
    assert grains.shape == (10, 1000)


def test_z_normalization_keeps_silence_at_zero():
    x = torch.cat([torch.zeros(1000), 3.0 + 0.5 * torch.randn(1000, generator=torch.Generator().manual_seed(2))])
    grains, _ = cut_grains(x, SR, 1000, align="regular")
    assert torch.equal(grains[0], torch.zeros(1000))
    torch.testing.assert_close(grains[1].mean(), torch.tensor(0.0), atol=1e-5, rtol=0)
    torch.testing.assert_close(grains[1].std(correction=0), torch.tensor(1.0))


def test_bad_settings_raise():
    with pytest.raises(ConfigError, match="align"):
        cut_grains(clicks(), SR, 1000, align="grid")
    with pytest.raises(ConfigError, match="onset settings"):
        cut_grains(clicks(), SR, 1000, onset={"treshold": 3})
    with pytest.raises(ConfigError, match="onset settings"):
        cut_grains(clicks(), SR, 1000, onset={"on_threshold": 3.0, "off_threshold": 5.0})
    with pytest.raises(ValueError, match="1-D"):
        cut_grains(torch.zeros(2, 100), SR, 10)


@pytest.fixture(scope="module")
def rain(tmp_path_factory):
    root = tmp_path_factory.mktemp("textures")
    write_synthetic_textures(root, seconds=6.0, seed=0, sample_rate=44100, textures=["rain"])
    return root


def test_builtin_rain_gives_grains(rain):
    grains = load_grains(rain, 44100, 16384)
    assert isinstance(grains, GrainSet) and len(grains) >= 8
    assert grains.audio.shape == (len(grains), 16384) and grains.audio.dtype == torch.float32
    assert grains.files == (rain / "rain" / "rain.wav",) and (grains.file_index == 0).all()
    assert (grains.start + 16384 <= 6 * 44100).all() and (grains.start.diff() > 0).all()
    descriptors = grain_descriptors(grains.audio, 44100, 16)
    assert descriptors.shape == (len(grains), 16) and torch.isfinite(descriptors).all()


def test_too_few_grains_name_the_folder_and_the_fix(tmp_path):
    write_float_wav(tmp_path / "few" / "clicks.wav", clicks().numpy(), SR)
    with pytest.raises(DataError, match=r"few gives 5 grains .*min_grains=8; lower onset\.on_threshold"):
        load_grains(tmp_path / "few", SR, 4000)
    assert len(load_grains(tmp_path / "few", SR, 4000, align="regular")) == 10


def test_unusable_files_are_skipped_with_a_warning(tmp_path):
    write_float_wav(tmp_path / "a.wav", clicks().numpy(), SR)
    write_float_wav(tmp_path / "short.wav", np.zeros(100, dtype=np.float32) + 0.5, SR)
    with pytest.warns(UserWarning, match="short.wav.*shorter than one grain"):
        grains = load_grains(tmp_path, SR, 4000, min_grains=1)
    assert len(grains.files) == 1 and len(grains) == 5
    with pytest.raises(DataError, match="not a folder"):
        load_grains(tmp_path / "missing", SR, 4000)


def test_one_file_splits_by_time_without_shared_audio(rain):
    grains = load_grains(rain, 44100, 16384)
    parts = grains.split((0.8, 0.1, 0.1), seed=0)
    assert all(len(p) for p in parts)
    (length,) = grains.lengths
    bounds = [(0, int(0.8 * length)), (int(0.8 * length), int(0.9 * length)), (int(0.9 * length), length)]
    for part, (first, stop) in zip(parts, bounds):  # every grain wholly inside its split's time window
        assert (part.start >= first).all() and (part.start + 16384 <= stop).all()
    again = grains.split((0.8, 0.1, 0.1), seed=0)
    assert all(torch.equal(a.start, b.start) for a, b in zip(parts, again))
    with pytest.raises(DataError, match="gets no grain"):
        grains.select(torch.arange(2)).split()
