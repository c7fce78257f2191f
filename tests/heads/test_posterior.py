import math

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal

from ddspfx.heads.posterior import best_of_n, kozachenko_leonenko_entropy, mmd2, uniform_log_density


@pytest.mark.parametrize("higher_is_better", [False, True])
def test_best_of_n_matches_numpy_cumulative_extremum(higher_is_better):
    values = torch.randn(7, 10, generator=torch.Generator().manual_seed(0))
    best = best_of_n(values, higher_is_better=higher_is_better)
    reference = (np.maximum if higher_is_better else np.minimum).accumulate(values.numpy(), axis=1)
    assert sorted(best) == list(range(1, 11))
    for n, value in best.items():
        assert value.shape == (7,)
        np.testing.assert_array_equal(value.numpy(), reference[:, n - 1])


def test_best_of_n_rejects_more_samples_than_drawn():
    with pytest.raises(ValueError, match="1..5"):
        best_of_n(torch.zeros(3, 5))
    assert set(best_of_n(torch.zeros(3, 5), ns=[1, 5])) == {1, 5}


def test_kl_entropy_of_uniform_samples_is_near_zero():
    samples = torch.rand(3, 2000, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    entropy = kozachenko_leonenko_entropy(samples)
    assert entropy.shape == (3,)
    assert abs(entropy.mean().item()) < 0.05  # log density 0; each row scatters by about ±0.035


@pytest.mark.parametrize("d", [1, 3])
def test_kl_entropy_of_gaussian_samples_matches_closed_form(d):
    rng = np.random.default_rng(2)
    a = rng.normal(size=(d, d))
    cov = a @ a.T + 0.5 * np.eye(d)
    samples = rng.multivariate_normal(np.zeros(d), cov, size=(4, 2000))
    entropy = kozachenko_leonenko_entropy(torch.from_numpy(samples))
    expected = multivariate_normal(np.zeros(d), cov).entropy()
    assert abs(entropy.mean().item() - expected) < 0.06 * d


def test_kl_entropy_is_finite_with_duplicate_samples():
    samples = torch.rand(2, 20, 3, generator=torch.Generator().manual_seed(3))
    samples[:, 10:] = samples[:, :10]
    samples[1] = 0.5  # every sample identical
    assert torch.isfinite(kozachenko_leonenko_entropy(samples)).all()


def test_mmd2_near_zero_for_same_distribution_and_positive_for_shifted():
    g = torch.Generator().manual_seed(4)
    x, y = torch.rand(8, 300, 4, generator=g), torch.rand(8, 300, 4, generator=g)
    same = mmd2(x, y)
    shifted = mmd2(x, y + 0.5)
    assert same.shape == (8,)
    assert same.abs().max() < 0.01
    assert shifted.min() > 0.1


def _mmd2_loops(x, y, c):
    k = lambda a, b: c / (c + np.sum((a - b) ** 2))
    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return xx + yy - 2 * xy


@pytest.mark.parametrize("c", [None, 0.3])
def test_mmd2_matches_double_loop(c):
    rng = np.random.default_rng(5)
    x, y = rng.random((2, 5, 3)), rng.random((2, 7, 3))
    result = mmd2(torch.from_numpy(x), torch.from_numpy(y), c=c)
    expected = [_mmd2_loops(x[b], y[b], 3 / 2 if c is None else c) for b in range(2)]
    np.testing.assert_allclose(result.numpy(), expected, rtol=1e-10)


def test_mmd2_is_finite_with_duplicates_and_rejects_unknown_kernel():
    x = torch.full((2, 10, 3), 0.5)
    assert torch.isfinite(mmd2(x, torch.rand(2, 10, 3))).all()
    with pytest.raises(ValueError, match="kernel"):
        mmd2(x, x, kernel="rbf")


def test_uniform_log_density():
    samples = torch.tensor([[[0.2, 0.9], [0.0, 1.0], [1.2, 0.5]]])
    log_density = uniform_log_density(samples)
    assert log_density.shape == (1, 3)
    assert log_density[0, :2].tolist() == [0.0, 0.0] and log_density[0, 2] == -math.inf
