"""Parameter-space loss on normalized controls."""

from __future__ import annotations

import torch

from ddspfx.losses.base import PairLoss, check_pair


class ParamMSE(PairLoss):
    """Mean squared error between normalized controls.

        L(q̂, q) = mean_i (q̂_i − q_i)²   per example, then mean over the batch.

    Shapes: estimate, target `(batch, n_params)` (or `(batch, n_params, frames)`) in [0, 1]
    → scalar (forward) or `(batch,)` (per_example). Units: squared normalized control.
    """

    domain = "params"

    def per_example(self, estimate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        check_pair(estimate, target, type(self).__name__, ndim=None)
        if estimate.ndim < 2:
            raise ValueError(
                f"ParamMSE: expected (batch, n_params), got shape {tuple(estimate.shape)}"
            )
        return (estimate - target).square().flatten(start_dim=1).mean(dim=1)
