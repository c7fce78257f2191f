"""GrainEncoder: shapes, the soft log-variance bound, gradients and bad input."""

import pytest
import torch

from ddspfx.encoders.grains import LOGVAR_MAX, GrainEncoder


def test_shapes_and_finiteness():
    encoder = GrainEncoder(16)
    x = torch.randn(4, 5, 16, generator=torch.Generator().manual_seed(0))
    mean, log_var = encoder(x)
    assert mean.shape == log_var.shape == (4, 5, 2)
    assert torch.isfinite(mean).all() and torch.isfinite(log_var).all()
    assert sum(p.numel() for p in encoder.mlp[0].parameters()) == 16 * 512 + 512 + 2 * 512  # reference sizes


def test_log_var_is_softly_bounded_with_gradient():
    encoder = GrainEncoder(8, latent_dim=3, hidden=16, depth=1)
    with torch.no_grad():
        encoder.head.bias.fill_(1e4)  # drive the raw log-variance far past the bound
    x = torch.randn(2, 8)
    _, log_var = encoder(x)
    assert (log_var <= LOGVAR_MAX).all() and torch.isfinite(log_var.exp()).all()
    with torch.no_grad():
        encoder.head.bias.zero_()
    mean, log_var = encoder(x)
    (mean.sum() + log_var.sum()).backward()
    assert encoder.head.weight.grad.abs().sum() > 0


def test_bad_input_raises():
    encoder = GrainEncoder(8, hidden=16, depth=1)
    with pytest.raises(ValueError, match=r"\(\.\.\., 8\)"):
        encoder(torch.zeros(3, 7))
    with pytest.raises(ValueError, match="floating-point"):
        encoder(torch.zeros(3, 8, dtype=torch.long))
    with pytest.raises(ValueError, match="latent_dim"):
        GrainEncoder(8, latent_dim=0)
