"""The two pieces every Gaussian variational autoencoder needs: reparameterized sampling and the KL term.

The posterior q(z|x) = N(μ, diag σ²) is given by its mean μ and log-variance log σ² (both
`(..., D)`); the prior is N(0, I).

    reparameterize:  z = μ + σ·ε,  ε ~ N(0, I)            (differentiable in μ and log σ²)
    gaussian_kl:     KL(q ‖ p) = ½ Σ_d (μ_d² + σ_d² − 1 − log σ_d²)   summed over the last axis, nats

A VAE's loss is then reconstruction + β·KL (the reference's grain model, textures §5, had dropped
both pieces: its "VAE" had become a deterministic autoencoder, §7).
"""

from __future__ import annotations

import torch


def _check_pair(owner: str, mean: torch.Tensor, log_var: torch.Tensor) -> None:
    if not (torch.is_tensor(mean) and torch.is_tensor(log_var)):
        raise TypeError(f"{owner}: mean and log_var must be tensors")
    if mean.shape != log_var.shape:
        raise ValueError(
            f"{owner}: mean and log_var must have the same shape, got {tuple(mean.shape)} and {tuple(log_var.shape)}"
        )
    if mean.dim() < 1:
        raise ValueError(f"{owner}: mean and log_var need a last (latent) axis, got shape {tuple(mean.shape)}")


def reparameterize(
    mean: torch.Tensor, log_var: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """A draw z = μ + exp(½·log σ²)·ε of N(μ, diag σ²), differentiable in μ and log σ².

    Args:
        mean: μ `(..., D)`.
        log_var: log σ² `(..., D)`, same shape.
        generator: draws ε (on the generator's device, usually the CPU, then moved to `mean`'s
            device, so a CPU generator gives the same draws whatever the device); None: the
            global RNG of `mean`'s device.

    Returns:
        z `(..., D)` in `mean`'s dtype and device.
    """
    _check_pair("reparameterize", mean, log_var)
    if generator is None:
        noise = torch.randn_like(mean)
    else:
        noise = torch.randn(mean.shape, generator=generator, dtype=mean.dtype, device=generator.device)
        noise = noise.to(mean.device)
    return mean + torch.exp(0.5 * log_var) * noise


def gaussian_kl(mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """KL(N(μ, diag σ²) ‖ N(0, I)) in nats, summed over the last axis: `(..., D)` → `(...,)`.

    Closed form ½ Σ_d (μ_d² + σ_d² − 1 − log σ_d²): 0 exactly at μ = 0, log σ² = 0, and ≥ 0 elsewhere.
    """
    _check_pair("gaussian_kl", mean, log_var)
    return 0.5 * (mean.square() + torch.exp(log_var) - 1.0 - log_var).sum(dim=-1)
