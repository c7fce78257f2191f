"""Per-example evaluation metrics; every function returns a `(batch,)` tensor.

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
