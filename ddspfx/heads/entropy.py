"""Log-densities and entropies of diagonal Gaussians and their mixtures, all in log space (nats).

Shapes: `d` = number of controls, `K` = mixture components, `S` = samples per example.
Everything works on log σ rather than σ, and mixtures go through `logsumexp`, so nothing
underflows for σ = 1e-6 or d ≥ 9 (the reference used raw densities; peladeau.md A.15.5).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

LOG_2PI = math.log(2 * math.pi)


def log_softplus(x: torch.Tensor, threshold: float = -20.0) -> torch.Tensor:
    """log(softplus(x)) without -inf: equals x below `threshold` (where softplus(x) ≈ e^x)."""
    safe = torch.log(F.softplus(x.clamp(min=threshold)))
    return torch.where(x < threshold, x, safe)


def gaussian_entropy(log_sigma: torch.Tensor) -> torch.Tensor:
    """Closed-form entropy of N(μ, diag σ²): d/2·(1 + ln 2π) + Σ ln σ.

    Args:
        log_sigma: `(..., d)` log standard deviations.

    Returns:
        `(...)` entropy in nats.
    """
    d = log_sigma.shape[-1]
    return 0.5 * d * (1.0 + LOG_2PI) + log_sigma.sum(-1)


def normal_log_prob(z: torch.Tensor, mu: torch.Tensor, log_sigma: torch.Tensor) -> torch.Tensor:
    """log N(z; μ, diag σ²) summed over the last axis; broadcastable `(..., d)` inputs → `(...)` nats."""
    scaled = (z - mu) * torch.exp(-log_sigma)
    return -0.5 * (scaled.square() + LOG_2PI).sum(-1) - log_sigma.sum(-1)


def mixture_log_prob(
    z: torch.Tensor, mu: torch.Tensor, log_sigma: torch.Tensor, log_pi: torch.Tensor
) -> torch.Tensor:
    """log Σ_k π_k N(z; μ_k, diag σ_k²) by logsumexp.

    Args:
        z: `(B, S, d)` points.
        mu, log_sigma: `(B, K, d)` component means and log standard deviations.
        log_pi: `(B, K)` log mixture weights (normalized).

    Returns:
        `(B, S)` log-density in nats.
    """
    comp = normal_log_prob(z[:, :, None], mu[:, None], log_sigma[:, None])  # (B, S, K)
    return torch.logsumexp(comp + log_pi[:, None], dim=-1)


def pairwise_entropy_bound(mu: torch.Tensor, log_sigma: torch.Tensor, log_pi: torch.Tensor) -> torch.Tensor:
    """Pairwise (Jensen) lower bound of a Gaussian-mixture entropy (Huber et al. 2008):

        H ≥ −Σ_i π_i log Σ_j π_j N(μ_i; μ_j, Σ_i + Σ_j)

    computed entirely in log space. For K = 1 it equals d/2·ln 4π + Σ ln σ, i.e. the closed form
    minus d/2·(1 − ln 2).

    Args:
        mu, log_sigma: `(B, K, d)`.
        log_pi: `(B, K)` log mixture weights.

    Returns:
        `(B,)` lower bound in nats.
    """
    log_var = torch.logaddexp(2 * log_sigma[:, :, None], 2 * log_sigma[:, None])  # (B, K, K, d)
    diff = (mu[:, :, None] - mu[:, None]) * torch.exp(-0.5 * log_var)
    log_n = -0.5 * (diff.square() + log_var + LOG_2PI).sum(-1)  # (B, K, K)
    inner = torch.logsumexp(log_n + log_pi[:, None, :], dim=-1)  # (B, K)
    return -(log_pi.exp() * inner).sum(-1)


def sigmoid_log_det(z: torch.Tensor) -> torch.Tensor:
    """log|det| of v = sigmoid(z) elementwise: Σ [log σ(z) + log σ(−z)] = Σ [−z − 2 softplus(−z)].

    Args:
        z: `(..., d)` pre-sigmoid values.

    Returns:
        `(...)` log-determinant in nats.
    """
    return (F.logsigmoid(z) + F.logsigmoid(-z)).sum(-1)
