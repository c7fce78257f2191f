"""LogMelLoss against numpy rfft frames and an independent HTK mel filterbank."""

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


def numpy_log_mel(x, sample_rate, n_fft, hop, n_mels):
    padded = np.pad(x, n_fft // 2, mode="reflect")
    n_frames = 1 + (len(padded) - n_fft) // hop
    frames = np.stack([padded[m * hop : m * hop + n_fft] for m in range(n_frames)])
    power = np.abs(np.fft.rfft(frames * scipy.signal.get_window("hann", n_fft), axis=-1)) ** 2
    return np.log(numpy_htk_filterbank(n_fft // 2 + 1, sample_rate, n_mels) @ power.T + 1.0)


def test_matches_numpy_reference():
    rng = np.random.default_rng(0)
    estimate, target = rng.standard_normal((2, 8000)), 0.3 * rng.standard_normal((2, 8000))
    loss = LogMelLoss(sample_rate=16000, n_fft=512, hop=128, n_mels=40)
    ours = loss.per_example(torch.from_numpy(estimate), torch.from_numpy(target)).numpy()
    log_mel = lambda x: numpy_log_mel(x, 16000, 512, 128, 40)
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
