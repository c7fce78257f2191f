
import numpy as np
import pytest
import torch

from ddspfx.losses.metrics import frechet_distance, param_mse, param_mse_min_over, si_sdr


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


def _scipy_frechet(x: np.ndarray, y: np.ndarray) -> float:
    from scipy import linalg

    cov_x, cov_y = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    root = linalg.sqrtm(cov_x @ cov_y).real
    return float(((x.mean(0) - y.mean(0)) ** 2).sum() + np.trace(cov_x + cov_y - 2 * root))


def test_frechet_distance_matches_scipy_sqrtm():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 6, generator=g, dtype=torch.float64) @ torch.randn(6, 6, generator=g, dtype=torch.float64)
    y = torch.randn(150, 6, generator=g, dtype=torch.float64) * 2 + 1
    expected = _scipy_frechet(x.numpy(), y.numpy())
    assert frechet_distance(x, y).item() == pytest.approx(expected, rel=1e-9)


def test_frechet_distance_closed_forms_and_rank_deficient_sets():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(40, 3, generator=g, dtype=torch.float64)
    assert frechet_distance(x, x).item() == pytest.approx(0.0, abs=1e-9)
    # a shift by m adds |m|^2; identical covariances
    shift = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    assert frechet_distance(x + shift, x).item() == pytest.approx(float(shift.square().sum()), rel=1e-9)
    # 1-D: (mu_x - mu_y)^2 + (sigma_x - sigma_y)^2
    a, b = torch.randn(500, 1, generator=g, dtype=torch.float64), torch.randn(300, 1, generator=g, dtype=torch.float64) * 3
    sa, sb = a.std(), b.std()
    expected = (a.mean() - b.mean()) ** 2 + (sa - sb) ** 2
    assert frechet_distance(a, b).item() == pytest.approx(float(expected), rel=1e-9)
    # fewer examples than dimensions: finite, non-negative, symmetric
    small_x, small_y = torch.randn(5, 30, generator=g), torch.randn(7, 30, generator=g)
    d = frechet_distance(small_x, small_y)
    assert torch.isfinite(d) and d >= 0
    assert d.item() == pytest.approx(frechet_distance(small_y, small_x).item(), rel=1e-6)


def test_frechet_distance_rejects_bad_sets():
    with pytest.raises(ValueError, match="same dim"):
        frechet_distance(torch.zeros(4, 3), torch.zeros(4, 2))
    with pytest.raises(ValueError, match="at least 2"):
        frechet_distance(torch.zeros(1, 3), torch.zeros(4, 3))
