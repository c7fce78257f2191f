import math

import numpy as np
import pytest
import torch
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from ddspfx.heads.entropy import (
    gaussian_entropy,
    log_softplus,
    mixture_log_prob,
    pairwise_entropy_bound,
    sigmoid_log_det,
)


def _random_mixture(seed, b=2, k=4, d=3, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    mu = 1.5 * torch.randn(b, k, d, generator=g, dtype=dtype)
    log_sigma = 0.4 * torch.randn(b, k, d, generator=g, dtype=dtype) - 0.3
    log_pi = torch.log_softmax(torch.randn(b, k, generator=g, dtype=dtype), -1)
    return mu, log_sigma, log_pi


def _scipy_mixture_logpdf(x, mu, sigma, pi):
    """x (n, d); mu, sigma (k, d); pi (k,) numpy → (n,) log-density."""
    comps = [np.log(p) + multivariate_normal(m, np.diag(s**2)).logpdf(x) for m, s, p in zip(mu, sigma, pi)]
    return logsumexp(np.stack(comps, -1), axis=-1)


def test_gaussian_entropy_matches_scipy():
    log_sigma = torch.tensor([[0.3, -1.2, 0.0, 2.0, -0.5]], dtype=torch.float64)
    ref = multivariate_normal(np.zeros(5), np.diag(np.exp(2 * log_sigma[0].numpy()))).entropy()
    assert gaussian_entropy(log_sigma).item() == pytest.approx(ref, rel=1e-12)


def test_published_constants_d9():
    d = 9
    closed = gaussian_entropy(torch.zeros(1, d, dtype=torch.float64)).item()
    bound = pairwise_entropy_bound(torch.zeros(1, 1, d), torch.zeros(1, 1, d), torch.zeros(1, 1)).item()
    assert closed == pytest.approx(12.7704, abs=1e-4)
    assert bound == pytest.approx(11.3896, abs=1e-4)
    assert closed - bound == pytest.approx(d / 2 * (1 - math.log(2)), abs=1e-4)  # 1.381


def test_pairwise_k1_equals_closed_minus_gap():
    log_sigma = torch.tensor([[[0.5, -2.0, 1.0, 0.1]]], dtype=torch.float64)
    bound = pairwise_entropy_bound(torch.randn(1, 1, 4, dtype=torch.float64), log_sigma, torch.zeros(1, 1))
    gap = 4 / 2 * (1 - math.log(2))
    torch.testing.assert_close(bound, gaussian_entropy(log_sigma[:, 0]) - gap)


def test_mixture_log_prob_matches_scipy():
    mu, log_sigma, log_pi = _random_mixture(0, b=1)
    z = torch.randn(1, 7, 3, dtype=torch.float64)
    ref = _scipy_mixture_logpdf(z[0].numpy(), mu[0].numpy(), log_sigma[0].exp().numpy(), log_pi[0].exp().numpy())
    np.testing.assert_allclose(mixture_log_prob(z, mu, log_sigma, log_pi)[0].numpy(), ref, rtol=1e-10)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_pairwise_bound_below_monte_carlo(seed):
    mu, log_sigma, log_pi = _random_mixture(seed, b=1)
    m, s, p = mu[0].numpy(), log_sigma[0].exp().numpy(), log_pi[0].exp().numpy()
    rng = np.random.default_rng(seed)
    n = 100_000
    comp = rng.choice(len(p), size=n, p=p)
    x = m[comp] + s[comp] * rng.standard_normal((n, m.shape[1]))
    neg_log = -_scipy_mixture_logpdf(x, m, s, p)
    mc, se = neg_log.mean(), neg_log.std() / math.sqrt(n)
    assert pairwise_entropy_bound(mu, log_sigma, log_pi).item() <= mc + 4 * se


def test_pairwise_bound_tiny_sigma_is_finite():
    torch.manual_seed(0)
    k, d = 24, 9
    mu = torch.randn(1, k, d, requires_grad=True)
    log_sigma = torch.full((1, k, d), math.log(1e-6), requires_grad=True)
    logits = torch.randn(1, k, requires_grad=True)
    log_pi = torch.log_softmax(logits, -1)
    bound = pairwise_entropy_bound(mu, log_sigma, log_pi)
    bound.sum().backward()
    assert torch.isfinite(bound).all()
    for t in (mu, log_sigma, logits):
        assert torch.isfinite(t.grad).all()
    # separated components: bound -> H(pi) + d/2 ln 4pi + d ln sigma
    pi = log_pi.exp()
    ref = -(pi * log_pi).sum() + d / 2 * math.log(4 * math.pi) + d * math.log(1e-6)
    assert bound.item() == pytest.approx(ref.item(), rel=1e-5)
    z = mu.detach()[:, :3] + 1e-6 * torch.randn(1, 3, d)
    assert torch.isfinite(mixture_log_prob(z, mu, log_sigma, log_pi)).all()


def test_sigmoid_log_det_matches_derivative():
    z = np.linspace(-30, 30, 61)
    s = 1 / (1 + np.exp(-z))
    ref = np.where(np.abs(z) < 10, np.log(s * (1 - s)), -np.abs(z) - 2 * np.log1p(np.exp(-np.abs(z))))
    np.testing.assert_allclose(sigmoid_log_det(torch.from_numpy(z)[:, None]).numpy(), ref, rtol=1e-12)
    assert torch.isfinite(sigmoid_log_det(torch.tensor([[200.0, -200.0]]))).all()


def test_log_softplus_stable():
    x = torch.tensor([-500.0, -30.0, -1.0, 0.0, 5.0], dtype=torch.float64, requires_grad=True)
    y = log_softplus(x)
    y.sum().backward()
    torch.testing.assert_close(y[2:], torch.log(torch.nn.functional.softplus(x[2:])))
    assert torch.isfinite(y).all() and torch.isfinite(x.grad).all()
