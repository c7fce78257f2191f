"""TexDSP features against numpy: log ERB band norms (explicit subband filtering) and the log2 centroid."""

import math

import numpy as np
import pytest
import torch

from ddspfx.dsp.filterbanks import erb_filterbank
from ddspfx.dsp.texture_features import (
    CENTROID_MIN_HZ,
    ENERGY_EPS,
    erb_band_energies,
    log_spectral_centroid,
    spectral_centroid_hz,
    texture_features,
)

FS = 44100


def numpy_band_norms(x: np.ndarray, n_bands: int) -> np.ndarray:
    """‖irfft(rfft(x)·H_i)‖₂ for bands 1 … N, filtering in time as the reference does."""
    responses, _ = erb_filterbank(x.shape[-1], FS, n_bands, dtype=torch.float64)
    bands = np.fft.irfft(np.fft.rfft(x)[:, None, :] * responses[1:-1].numpy(), n=x.shape[-1])
    return np.linalg.norm(bands, axis=-1)


def numpy_centroid(x: np.ndarray) -> np.ndarray:
    magnitude = np.abs(np.fft.rfft(x * np.hanning(x.shape[-1])))
    freqs = np.fft.rfftfreq(x.shape[-1], 1 / FS)
    return (magnitude * freqs).sum(-1) / magnitude.sum(-1)


@pytest.mark.parametrize("n", [4096, 4097])
def test_band_energies_are_log_subband_norms(n):
    x = np.random.default_rng(0).standard_normal((3, n))
    ours = erb_band_energies(torch.from_numpy(x), FS, 8)
    expected = np.log(np.sqrt(numpy_band_norms(x, 8) ** 2 + ENERGY_EPS**2))
    assert ours.shape == (3, 8)
    np.testing.assert_allclose(ours.numpy(), expected, rtol=1e-10, atol=1e-10)


def test_centroid_matches_numpy_and_is_log2_normalized():
    x = np.random.default_rng(1).standard_normal((2, 4096))
    x[1] = np.sin(2 * np.pi * 1000 * np.arange(4096) / FS)
    np.testing.assert_allclose(spectral_centroid_hz(torch.from_numpy(x), FS).numpy(), numpy_centroid(x), rtol=1e-10)
    feature = log_spectral_centroid(torch.from_numpy(x), FS)
    assert feature.shape == (2, 1)
    np.testing.assert_allclose(feature[:, 0].numpy(), np.log2(numpy_centroid(x)) / np.log2(FS / 2), rtol=1e-10)
    assert abs(2 ** (feature[1, 0].item() * math.log2(FS / 2)) - 1000) < 30  # a 1 kHz sine reads about 1 kHz


def test_silence_is_finite_with_finite_gradients():
    audio = torch.zeros(2, 2048, requires_grad=True)
    features = texture_features(audio, FS, 8)
    assert torch.allclose(features["energy"], torch.full((2, 8), math.log(ENERGY_EPS)))
    assert torch.equal(features["centroid"], torch.zeros(2, 1))  # the 1-Hz floor
    (features["energy"].sum() + features["centroid"].sum()).backward()
    assert torch.isfinite(audio.grad).all()
    assert CENTROID_MIN_HZ == 1.0


def test_gain_shifts_log_energies_and_leaves_the_centroid():
    x = torch.randn(2, 4096, dtype=torch.float64)
    a, b = texture_features(x, FS, 6), texture_features(3.0 * x, FS, 6)
    assert torch.allclose(b["energy"] - a["energy"], torch.full((2, 6), math.log(3.0), dtype=torch.float64), atol=1e-9)
    assert torch.allclose(a["centroid"], b["centroid"])


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="erb_band_energies.*batch, samples"):
        erb_band_energies(torch.zeros(10), FS, 4)
