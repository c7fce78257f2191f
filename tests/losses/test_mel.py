"""LogMelLoss against numpy rfft frames and independent Slaney (default) and HTK mel filterbanks."""

import numpy as np
import pytest
import scipy.signal
import torch

from ddspfx.losses import LogMelLoss


def numpy_htk_filterbank(n_freqs, sample_rate, n_mels):
    """HTK triangular filters (peak 1) from 0 Hz to Nyquist, `(n_mels, n_freqs)`."""
    mel = lambda f: 2595.0 * np.log10(1.0 + f / 700.0)
    hz = lambda m: 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    edges = hz(np.linspace(0.0, mel(sample_rate / 2), n_mels + 2))
    freqs = np.linspace(0, sample_rate / 2, n_freqs)
    rising = (freqs[None] - edges[:-2, None]) / (edges[1:-1, None] - edges[:-2, None])
    falling = (edges[2:, None] - freqs[None]) / (edges[2:, None] - edges[1:-1, None])
    return np.maximum(0.0, np.minimum(rising, falling))


def slaney_mel(f):
    """Slaney's auditory-toolbox mel scale: linear (3 mels per 200 Hz) below 1 kHz, log above,
    with mel(1 kHz) = 15 and 27 mels per factor 6.4."""
    f = np.asarray(f, dtype=np.float64)
    return np.where(f < 1000.0, 3.0 * f / 200.0, 15.0 + 27.0 * np.log(np.maximum(f, 1e-9) / 1000.0) / np.log(6.4))


def slaney_hz(m):
    m = np.asarray(m, dtype=np.float64)
    return np.where(m < 15.0, 200.0 * m / 3.0, 1000.0 * 6.4 ** ((m - 15.0) / 27.0))


def numpy_slaney_filterbank(n_freqs, sample_rate, n_mels):
    """Slaney triangles from 0 Hz to Nyquist, each scaled to area-ish 2/(f_{i+2} − f_i): `(n_mels, n_freqs)`."""
    edges = slaney_hz(np.linspace(0.0, slaney_mel(sample_rate / 2), n_mels + 2))
    freqs = np.linspace(0, sample_rate / 2, n_freqs)
    rising = (freqs[None] - edges[:-2, None]) / (edges[1:-1, None] - edges[:-2, None])
    falling = (edges[2:, None] - freqs[None]) / (edges[2:, None] - edges[1:-1, None])
    triangles = np.maximum(0.0, np.minimum(rising, falling))
    return triangles * (2.0 / (edges[2:] - edges[:-2]))[:, None]


def test_slaney_scale_closed_form_points():
    # mel(1 kHz) = 15 and mel(6.4 kHz) = 15 + 27 (Slaney's constants), both ways
    np.testing.assert_allclose(slaney_mel([0.0, 200.0, 1000.0, 6400.0]), [0.0, 3.0, 15.0, 42.0])
    np.testing.assert_allclose(slaney_hz([3.0, 15.0, 42.0]), [200.0, 1000.0, 6400.0])


def test_default_filterbank_is_the_slaney_area_normalized_one():
    loss = LogMelLoss(sample_rate=16000, n_fft=1024, hop=256, n_mels=64)
    expected = numpy_slaney_filterbank(513, 16000, 64)
    # float32 (torchaudio) near the triangle feet: absolute 1e-7 against filter peaks of ~1e-2
    np.testing.assert_allclose(loss.filterbank.numpy(), expected, rtol=1e-4, atol=1e-7)
    # the reference's values: not the peak-1 HTK filters
    htk = LogMelLoss(sample_rate=16000, n_fft=1024, hop=256, n_mels=64, mel_scale="htk", norm=None)
    np.testing.assert_allclose(htk.filterbank.numpy(), numpy_htk_filterbank(513, 16000, 64), atol=1e-5)
    assert htk.filterbank.max().item() > 0.99 and loss.filterbank.max().item() < 0.05


def test_unknown_mel_options_raise():
    with pytest.raises(ValueError, match="LogMelLoss: mel_scale"):
        LogMelLoss(mel_scale="mfcc")


def numpy_log_mel(x, sample_rate, n_fft, hop, n_mels, filterbank=numpy_htk_filterbank):
    padded = np.pad(x, n_fft // 2, mode="reflect")
    n_frames = 1 + (len(padded) - n_fft) // hop
    frames = np.stack([padded[m * hop : m * hop + n_fft] for m in range(n_frames)])
    power = np.abs(np.fft.rfft(frames * scipy.signal.get_window("hann", n_fft), axis=-1)) ** 2
    return np.log(filterbank(n_fft // 2 + 1, sample_rate, n_mels) @ power.T + 1.0)


@pytest.mark.parametrize("scale", ["slaney", "htk"])
def test_matches_numpy_reference(scale):
    rng = np.random.default_rng(0)
    estimate, target = rng.standard_normal((2, 8000)), 0.3 * rng.standard_normal((2, 8000))
    options = {} if scale == "slaney" else {"mel_scale": "htk", "norm": None}
    loss = LogMelLoss(sample_rate=16000, n_fft=512, hop=128, n_mels=40, **options)
    ours = loss.per_example(torch.from_numpy(estimate), torch.from_numpy(target)).numpy()
    filterbank = numpy_slaney_filterbank if scale == "slaney" else numpy_htk_filterbank
    log_mel = lambda x: numpy_log_mel(x, 16000, 512, 128, 40, filterbank)
    expected = [np.mean((log_mel(estimate[b]) - log_mel(target[b])) ** 2) for b in range(2)]
    # The filterbank is float32 (torchaudio): relative agreement ~1e-6.
    np.testing.assert_allclose(ours, expected, rtol=1e-5)


def test_defaults_zero_for_identical_and_silence():
    loss = LogMelLoss()
    assert (loss.sample_rate, loss.n_fft, loss.hop, loss.n_mels) == (44100, 4096, 1024, 128)
    x = torch.randn(2, 22050)
    assert loss(x, x).item() == 0.0
    silent = torch.zeros(2, 22050, requires_grad=True)
    value = loss(silent, x)
    (grad,) = torch.autograd.grad(value, silent)
    assert torch.isfinite(value) and torch.isfinite(grad).all()


def test_gradcheck():
    torch.manual_seed(0)
    estimate = torch.randn(2, 256, dtype=torch.float64, requires_grad=True)
    target = torch.randn(2, 256, dtype=torch.float64)
    loss = LogMelLoss(sample_rate=8000, n_fft=64, hop=32, n_mels=8)
    assert torch.autograd.gradcheck(lambda e: loss(e, target), (estimate,))


def test_mismatched_shapes_raise():
    with pytest.raises(ValueError, match="LogMelLoss: estimate and target shapes differ"):
        loss = LogMelLoss(sample_rate=8000, n_fft=64, hop=32, n_mels=8)
        loss(torch.zeros(2, 256), torch.zeros(2, 128))
