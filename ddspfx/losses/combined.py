"""Weighted sum of losses that compare the same kind of tensors."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from ddspfx.losses.base import PairLoss


class WeightedSum(PairLoss):
    """L(ŷ, y) = Σ_i w_i · L_i(ŷ, y).

    Args:
        losses: name → loss module (registered as submodules in an `nn.ModuleDict`).
        weights: name → weight; must have exactly the names of `losses`.

    All members must share one `domain` ("audio" or "params"), which becomes this loss's domain.
    `forward` sums the members' `forward` values; `per_example` sums their `per_example`;
    `terms` gives each member's (unweighted) value for logging.

    Shapes: estimate, target as the members expect → scalar (forward), `(batch,)` (per_example).
    """

    def __init__(self, losses: Mapping[str, nn.Module], weights: Mapping[str, float]):
        super().__init__()
        if not losses:
            raise ValueError("WeightedSum: `losses` must not be empty")
        if set(losses) != set(weights):
            raise ValueError(
                f"WeightedSum: loss names {sorted(losses)} and "
                f"weight names {sorted(weights)} differ"
            )
        domains = {name: getattr(loss, "domain", None) for name, loss in losses.items()}
        if len(set(domains.values())) != 1 or None in domains.values():
            raise ValueError(f"WeightedSum: all losses must share one domain, got {domains}")
        self.losses = nn.ModuleDict(dict(losses))
        self.weights = {name: float(weights[name]) for name in self.losses}
        self.domain = next(iter(domains.values()))

    def terms(self, estimate: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        """name → scalar value of each member loss (unweighted)."""
        return {name: loss(estimate, target) for name, loss in self.losses.items()}

    def forward(self, estimate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        terms = self.terms(estimate, target)
        return sum(self.weights[name] * value for name, value in terms.items())

    def per_example(self, estimate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return sum(
            self.weights[name] * loss.per_example(estimate, target)
            for name, loss in self.losses.items()
        )
