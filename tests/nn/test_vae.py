"""reparameterize and gaussian_kl against closed forms, torch.distributions and sampling statistics."""

import math

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from ddspfx.nn.vae import gaussian_kl, reparameterize


def generator(seed):
    return torch.Generator().manual_seed(seed)


def test_kl_of_the_prior_is_zero():
    zeros = torch.zeros(5, 3)
    assert torch.equal(gaussian_kl(zeros, zeros), torch.zeros(5))


def test_kl_matches_torch_distributions():
    mean, log_var = torch.randn(2, 7, 4, 3, generator=generator(0), dtype=torch.float64)
    expected = kl_divergence(Normal(mean, (0.5 * log_var).exp()), Normal(0.0, 1.0)).sum(-1)
    kl = gaussian_kl(mean, log_var)
    assert kl.shape == (7, 4)
    torch.testing.assert_close(kl, expected, rtol=1e-12, atol=1e-12)
    assert (kl >= 0).all()


def test_samples_have_the_posterior_mean_and_variance():
    mean = torch.tensor([0.0, 1.5, -2.0])
    log_var = torch.tensor([0.0, math.log(0.25), math.log(4.0)])
    n = 200_000
    z = reparameterize(mean.expand(n, 3), log_var.expand(n, 3), generator(1)).double()
    var = log_var.exp().double()
    # standard errors: of the mean σ/√n, of the variance σ²·√(2/(n−1)); 5 of them
    assert ((z.mean(0) - mean.double()).abs() < 5 * (var / n).sqrt()).all()
    assert ((z.var(0) - var).abs() < 5 * var * math.sqrt(2 / (n - 1))).all()


def test_gradcheck():
    mean, log_var = torch.randn(2, 4, 3, dtype=torch.float64, generator=generator(2)).requires_grad_()
    assert torch.autograd.gradcheck(gaussian_kl, (mean, log_var))
    assert torch.autograd.gradcheck(lambda m, v: reparameterize(m, v, generator(3)), (mean, log_var))


def test_seeded_draws_repeat_and_the_global_rng_is_used_without_generator():
    mean, log_var = torch.zeros(4, 2), torch.zeros(4, 2)
    assert torch.equal(reparameterize(mean, log_var, generator(5)), reparameterize(mean, log_var, generator(5)))
    assert not torch.equal(reparameterize(mean, log_var, generator(5)), reparameterize(mean, log_var, generator(6)))
    torch.manual_seed(7)
    first = reparameterize(mean, log_var)
    torch.manual_seed(7)
    assert torch.equal(first, reparameterize(mean, log_var))


def test_mismatched_shapes_raise():
    with pytest.raises(ValueError, match="same shape"):
        gaussian_kl(torch.zeros(3, 2), torch.zeros(3, 1))
    with pytest.raises(ValueError, match="same shape"):
        reparameterize(torch.zeros(2), torch.zeros(3))
