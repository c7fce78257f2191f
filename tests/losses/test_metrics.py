
import numpy as np
import pytest
import torch

from ddspfx.losses.metrics import param_mse, param_mse_min_over, si_sdr


def test_si_sdr_closed_form():
    g = torch.Generator().manual_seed(0)
    target = torch.randn(1, 4096, generator=g, dtype=torch.float64)
    target -= target.mean()
    noise = torch.randn(1, 4096, generator=g, dtype=torch.float64)
    noise -= noise.mean()
    noise -= (noise * target).sum() / target.square().sum() * target  # orthogonal to the target
    noise *= target.norm() / noise.norm() / 10 ** (12 / 20)  # exactly 12 dB below
    estimate = 0.3 * target + 0.3 * noise  # the scale must not matter
    assert si_sdr(estimate, target).item() == pytest.approx(12.0, abs=1e-6)


def test_si_sdr_ignores_dc_and_rejects_bad_shapes():
    x = torch.randn(2, 1000)
    assert (si_sdr(x + 0.5, x) > 60).all()
    with pytest.raises(ValueError, match="shapes differ"):
        si_sdr(x, x[:, :10])


def test_param_mse_and_permutation_minimum():
    target = torch.rand(3, 6)
    swapped = target[:, [3, 4, 5, 0, 1, 2]]
    perms = [[0, 1, 2, 3, 4, 5], [3, 4, 5, 0, 1, 2]]
    np.testing.assert_allclose(param_mse(swapped, target).numpy(), ((swapped - target) ** 2).mean(1).numpy())
    torch.testing.assert_close(param_mse_min_over(swapped, target, perms), torch.zeros(3))
