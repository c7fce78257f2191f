"""LDRLoss: log ratio of a short to a long RMS envelope."""

import numpy as np
import pytest
import scipy.signal
import torch

from ddspfx.losses import LDRLoss

RATE = 8000


def test_ldr_matches_a_scipy_one_pole_envelope_ratio():
    loss = LDRLoss(RATE, short_ms=5.0, long_ms=50.0, eps=1e-12)
    x = torch.randn(2, 2000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    expected = []
    for tau in (5.0, 50.0):
        alpha = np.exp(-1.0 / (tau * 1e-3 * RATE))
        expected.append(np.log(scipy.signal.lfilter([1 - alpha], [1, -alpha], x.numpy() ** 2) + 1e-12))
    np.testing.assert_allclose(loss.ldr(x).numpy(), 0.5 * (expected[0] - expected[1]), atol=1e-8)


def test_gain_does_not_change_the_loudness_dynamics():
    x = torch.randn(3, 4000, generator=torch.Generator().manual_seed(1))
    loss = LDRLoss(RATE)
    assert loss(0.25 * x, x).item() < 1e-3


def test_a_loudness_jump_is_seen():
    t = torch.arange(8000) / RATE
    steady = torch.sin(2 * torch.pi * 440 * t).unsqueeze(0)
    jump = steady * torch.where(t < 0.5, 0.1, 1.0)
    loss = LDRLoss(RATE, short_ms=10.0, long_ms=200.0)
    assert loss(jump, steady).item() > 0.1


def test_silence_gives_finite_values_and_gradients():
    estimate = torch.zeros(2, 1000, requires_grad=True)
    value = LDRLoss(RATE)(estimate, torch.randn(2, 1000))
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(estimate.grad).all()


def test_bad_time_constants_and_shapes():
    with pytest.raises(ValueError, match="short_ms < long_ms"):
        LDRLoss(RATE, short_ms=100.0, long_ms=50.0)
    with pytest.raises(ValueError, match="shapes differ"):
        LDRLoss(RATE)(torch.zeros(1, 10), torch.zeros(1, 11))
