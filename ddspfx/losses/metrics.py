"""Evaluation metrics: per-example ones return a `(batch,)` tensor; `frechet_distance` compares
two sets of embeddings (one value per pair of sets).

Their directions (SI-SDR: higher is better) are declared by the tasks that report them
(`ddspfx.core.metrics.MetricSpec`)."""

from __future__ import annotations

from typing import Sequence

import torch


def si_sdr(estimate: torch.Tensor, target: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Scale-invariant signal-to-distortion ratio in dB (higher is better).

        s = <ŷ, y> / ||y||² · y,   SI-SDR = 10 log10( ||s||² / ||ŷ − s||² )

    with both signals made zero-mean first and the *target* y as the reference.

    Args:
        estimate, target: `(batch, samples)`.
    """
    if estimate.shape != target.shape:
        raise ValueError(f"si_sdr: shapes differ: estimate {tuple(estimate.shape)}, target {tuple(target.shape)}")
    estimate = estimate - estimate.mean(-1, keepdim=True)
    target = target - target.mean(-1, keepdim=True)
    scale = (estimate * target).sum(-1, keepdim=True) / (target.square().sum(-1, keepdim=True) + eps)
    projection = scale * target
    noise = estimate - projection
    return 10 * torch.log10((projection.square().sum(-1) + eps) / (noise.square().sum(-1) + eps))


def param_mse(estimate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error of normalized controls `(batch, n_params)` → `(batch,)`."""
    if estimate.shape != target.shape:
        raise ValueError(f"param_mse: shapes differ: estimate {tuple(estimate.shape)}, target {tuple(target.shape)}")
    return (estimate - target).square().flatten(1).mean(-1)


def param_mse_min_over(estimate: torch.Tensor, target: torch.Tensor, permutations: Sequence[Sequence[int]]) -> torch.Tensor:
    """Parameter MSE after the best of several reorderings of the estimate's controls.

    Args:
        estimate, target: `(batch, n_params)`.
        permutations: index lists; `estimate[:, perm]` is a control vector that sounds the same.
    """
    errors = torch.stack([param_mse(estimate[:, list(p)], target) for p in permutations])
    return errors.min(0).values


def frechet_distance(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Fréchet distance between Gaussians fitted to two sets of embeddings (the FAD formula):

        d² = ‖μ_x − μ_y‖² + Tr(Σ_x + Σ_y − 2 (Σ_x Σ_y)^½)

    with unbiased covariances. Tr((Σ_x Σ_y)^½) is the sum of the square roots of the eigenvalues of
    the symmetric Σ_x^½ Σ_y Σ_x^½ (same spectrum, non-negative), computed in float64: exact for
    rank-deficient covariances (fewer examples than dimensions), where scipy's `sqrtm` of the
    non-symmetric product can return complex noise.

    Args:
        x: `(n_x, dim)`, y: `(n_y, dim)` embeddings, n_x, n_y ≥ 2.

    Returns:
        a float64 scalar tensor d² ≥ 0 (squared units of the embeddings; the FAD convention).
    """
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"frechet_distance: (n, dim) sets with the same dim expected, got {tuple(x.shape)} and {tuple(y.shape)}")
    if min(x.shape[0], y.shape[0]) < 2:
        raise ValueError(f"frechet_distance: each set needs at least 2 examples, got {x.shape[0]} and {y.shape[0]}")
    x, y = x.double(), y.double()
    mean_term = (x.mean(0) - y.mean(0)).square().sum()
    cov_x, cov_y = torch.cov(x.T).reshape(x.shape[1], -1), torch.cov(y.T).reshape(y.shape[1], -1)
    root_x = _psd_sqrt(cov_x)
    middle = root_x @ cov_y @ root_x
    cross = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp_min(0).sqrt().sum()
    return (mean_term + cov_x.trace() + cov_y.trace() - 2 * cross).clamp_min(0)


def _psd_sqrt(matrix: torch.Tensor) -> torch.Tensor:
    """The symmetric square root of a positive semi-definite matrix (negative rounding clamped)."""
    values, vectors = torch.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * values.clamp_min(0).sqrt()) @ vectors.T
