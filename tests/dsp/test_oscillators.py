import math

import pytest
import torch

from ddspfx.dsp.oscillators import oscillator_phase


def wrap(x):
    return torch.remainder(x + math.pi, 2 * math.pi) - math.pi


@pytest.mark.parametrize("n_samples", [1, 63, 64, 1000, 441_000 * 3 + 17])
def test_phase_matches_float64_closed_form(n_samples):
    ratio = torch.tensor([0.5, 1.0, 7.37])
    phase = oscillator_phase(ratio, 110.0, 44100, n_samples)
    n = torch.arange(n_samples, dtype=torch.float64)
    exact = 2 * math.pi * ratio.double().unsqueeze(-1) * 110.0 * n / 44100
    assert phase.shape == (3, n_samples)
    assert wrap(phase.double() - exact).abs().max() < 5e-6


def test_phase_gradient_is_exact():
    ratio = torch.tensor([2.3], dtype=torch.float64, requires_grad=True)
    phase = oscillator_phase(ratio, 110.0, 8000, 300)
    weights = torch.randn(300, dtype=torch.float64)
    (phase * weights).sum().backward()
    n = torch.arange(300, dtype=torch.float64)
    expected = (weights * 2 * math.pi * 110.0 * n / 8000).sum()
    torch.testing.assert_close(ratio.grad[0], expected)


def test_rejects_empty_render():
    with pytest.raises(ValueError, match="n_samples"):
        oscillator_phase(torch.ones(1), 110.0, 44100, 0)
