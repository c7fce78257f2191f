"""What every loss shares: the input check and `forward = per_example(...).mean()`."""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn


def check_pair(
    estimate: torch.Tensor, target: torch.Tensor, name: str, ndim: int | None = 2
) -> None:
    """Raise ValueError unless estimate and target are floating tensors of one shape.

    Args:
        estimate, target: the two inputs of a loss.
        name: the loss's name, used in the message.
        ndim: required number of dimensions (None: any, at least 1, first one is the batch).
    """
    for label, tensor in (("estimate", estimate), ("target", target)):
        if not isinstance(tensor, torch.Tensor) or not tensor.is_floating_point():
            kind = getattr(tensor, "dtype", type(tensor).__name__)
            raise ValueError(f"{name}: {label} must be a floating-point tensor, got {kind}")
    if estimate.shape != target.shape:
        raise ValueError(
            f"{name}: estimate and target shapes differ: "
            f"{tuple(estimate.shape)} vs {tuple(target.shape)}"
        )
    if ndim is not None and estimate.ndim != ndim:
        expected = "(batch, samples)" if ndim == 2 else f"{ndim} dimensions"
        raise ValueError(f"{name}: expected {expected}, got shape {tuple(estimate.shape)}")
    if estimate.ndim < 1 or estimate.numel() == 0:
        raise ValueError(f"{name}: empty input, got shape {tuple(estimate.shape)}")


class PairLoss(nn.Module):
    """Base class: `loss(estimate, target)` = mean over the batch of `per_example(...)`.

    Subclasses implement `per_example`, returning `(batch,)`, and declare what they compare:
    `domain = "audio"` (signals `(batch, samples)`, the default) or `"params"` (normalized controls
    `(batch, n_params)`: the task passes the true controls instead of the target audio) or
    `"features"` (audio features `(batch, n_features)`, e.g. the remap task's feature differences).
    """

    domain: Literal["audio", "params", "features"] = "audio"

    def per_example(self, estimate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, estimate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.per_example(estimate, target).mean()
