"""MelSTFTLoss (auraloss's MelSTFTLoss on torchaudio's filterbank) against auraloss itself.

auraloss builds its mel filterbank with librosa, which is not installed. The check: auraloss's own
`STFTLoss` (its STFT, magnitude clamp, filterbank product, spectral convergence and log-magnitude
L1) run with `scale="mel"` and a filterbank passed in — the same code path as `MelSTFTLoss` past
its librosa call — and that filterbank checked against an independent numpy construction of the
Slaney filters (librosa's default `librosa.filters.mel`).
"""

import auraloss
import numpy as np
import pytest
import torch

from ddspfx.losses import MelSTFTLoss
from tests.losses.test_mel import numpy_slaney_filterbank


def auraloss_mel_stft(sample_rate, n_fft, hop, win, n_mels, w_sc, filterbank):
    """auraloss 0.4.0's STFTLoss in its scale="mel" configuration, with `filterbank` as its fb."""
    loss = auraloss.freq.STFTLoss(fft_size=n_fft, hop_size=hop, win_length=win, w_sc=w_sc, w_log_mag=1.0,
                                  sample_rate=sample_rate)
    loss.scale = "mel"
    loss.fb = torch.as_tensor(filterbank, dtype=torch.float32).unsqueeze(0)
    return loss


@pytest.mark.parametrize("w_sc", [0.0, 1.0])
def test_matches_auraloss_with_the_slaney_filterbank(w_sc):
    torch.manual_seed(0)
    sample_rate, n_fft, hop, n_mels = 16000, 1024, 256, 64
    estimate, target = torch.randn(3, 8000), 0.3 * torch.randn(3, 8000)
    ours = MelSTFTLoss(sample_rate, n_fft, hop, n_mels=n_mels, w_sc=w_sc)
    fb = numpy_slaney_filterbank(n_fft // 2 + 1, sample_rate, n_mels)
    np.testing.assert_allclose(ours.filterbank.numpy(), fb, rtol=1e-4, atol=1e-7)  # librosa's filters
    reference = auraloss_mel_stft(sample_rate, n_fft, hop, n_fft, n_mels, w_sc, ours.filterbank)
    expected = reference(estimate.unsqueeze(1), target.unsqueeze(1))
    torch.testing.assert_close(ours(estimate, target), expected, rtol=1e-5, atol=1e-6)
    for b in range(3):  # per example = auraloss on that example alone
        one = reference(estimate[b, None, None], target[b, None, None])
        torch.testing.assert_close(ours.per_example(estimate, target)[b], one, rtol=1e-5, atol=1e-6)


def test_reference_configuration_and_closed_form():
    loss = MelSTFTLoss()
    assert (loss.sample_rate, loss.n_fft, loss.hop, loss.win_length, loss.n_mels) == (44100, 4096, 1024, 4096, 128)
    assert (loss.w_sc, loss.w_log_mag) == (0.0, 1.0)
    x = torch.randn(2, 44100)
    # a gain g shifts every log-magnitude by log g: L = |log g| exactly (for |X|² above eps)
    torch.testing.assert_close(loss.per_example(0.5 * x, x), torch.full((2,), np.log(2.0)), rtol=1e-5, atol=1e-6)
    assert loss(x, x).item() == 0.0


def test_silence_is_finite():
    loss = MelSTFTLoss(16000, 512, 128, n_mels=32)
    silent = torch.zeros(2, 4000, requires_grad=True)
    value = loss(silent, torch.randn(2, 4000))
    (grad,) = torch.autograd.grad(value, silent)
    assert torch.isfinite(value) and torch.isfinite(grad).all()


def test_gradcheck():
    torch.manual_seed(0)
    estimate = torch.randn(2, 256, dtype=torch.float64, requires_grad=True)
    target = torch.randn(2, 256, dtype=torch.float64)
    loss = MelSTFTLoss(8000, 64, 32, n_mels=8, w_sc=1.0)
    assert torch.autograd.gradcheck(lambda e: loss(e, target), (estimate,))
