import math

import pytest
import torch

from ddspfx.encoders.controller import ControllerMLP
from ddspfx.encoders.timbre import TimbreEncoder


def n_params(module):
    return sum(p.numel() for p in module.parameters())


def tones(sample_rate, seconds, batch):
    """Different inputs per example: a tone, its harmonics and noise at example-dependent levels."""
    g = torch.Generator().manual_seed(0)
    t = torch.arange(int(sample_rate * seconds)) / sample_rate
    rows = []
    for b in range(batch):
        f0 = 55.0 * 2 ** (b * 7 / 12)
        harmonics = sum(torch.sin(2 * math.pi * h * f0 * t) / h**b % 1.0 for h in range(1, 6))
        rows.append(harmonics + (0.05 + 0.1 * b) * torch.randn(t.shape, generator=g))
    return torch.stack(rows)


def test_parameter_counts():
    encoder = TimbreEncoder()
    assert encoder.out_dim == 66
    assert n_params(encoder) == 10_503
    # TE + controller MLP + Linear(512 → 15): the reference's "≈ 2.79 M".
    assert n_params(encoder) + n_params(ControllerMLP(66)) + 512 * 15 + 15 == 2_785_561


@pytest.mark.parametrize("sample_rate,n_bins,kernels", [(44100, 113, (85, 51, 25)), (16000, 96, (72, 43, 21))])
def test_output_size(sample_rate, n_bins, kernels):
    encoder = TimbreEncoder(sample_rate=sample_rate, n_bins=n_bins)
    assert encoder.freq_kernels == kernels
    out = encoder(torch.randn(2, sample_rate))
    assert out.shape == (2, 66)


def test_every_channel_and_branch_is_informative():
    encoder = TimbreEncoder(sample_rate=16000, n_bins=96)
    audio = tones(16000, 1.0, 4)
    features = encoder.features(audio).mean(dim=-1)  # (batch, 66) before the batch norm
    assert features.shape == (4, 66)
    assert (features.std(dim=0) > 1e-4).all()  # all 66 channels vary across inputs
    out = encoder(audio)
    (out * torch.randn(out.shape, generator=torch.Generator().manual_seed(1))).sum().backward()
    assert len(encoder.branches) == 12
    for branch in encoder.branches:
        assert branch.weight.grad.abs().sum() > 0  # no branch is overwritten by another


def test_gradients_finite_on_silence():
    encoder = TimbreEncoder(sample_rate=16000, n_bins=96)
    audio = torch.zeros(2, 16000, requires_grad=True)
    encoder(audio).sum().backward()
    assert torch.isfinite(audio.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in encoder.parameters())


def test_bad_input():
    encoder = TimbreEncoder(sample_rate=16000, n_bins=96)
    with pytest.raises(ValueError, match="batch, samples"):
        encoder(torch.zeros(2, 1, 16000))
    with pytest.raises(ValueError, match="needs at least 1536"):
        encoder(torch.zeros(2, 1000))
    with pytest.raises(ValueError, match="Nyquist"):
        TimbreEncoder(sample_rate=16000)


def test_automatic_bins_fit_any_sample_rate():
    at_16k = TimbreEncoder(sample_rate=16000, n_bins=None)
    assert at_16k.frontend.n_bins == 96
    assert TimbreEncoder(sample_rate=44100, n_bins=None).frontend.n_bins == 113
    out = at_16k(torch.randn(2, 16000))
    assert out.shape == (2, at_16k.out_dim) and torch.isfinite(out).all()
