"""Parameter specifications and the normalized-control contract shared by every processor.

Networks output *controls* in [0, 1]; processors turn them into physical values through the
`ParamSpec` of each parameter (torchsynth style: every parameter declares its range and curve).

    linear:  value = min + w * (max - min)
    log:     value = exp(log(min) + w * (log(max) - log(min)))      (min > 0)
    normal:  value = Φ⁻¹(Φ(min) + w * (Φ(max) - Φ(min)))           (Φ: the standard normal CDF)

The normal curve maps uniform controls to a standard normal truncated to [min, max] (e.g. a VAE
latent in ±3σ): controls drawn uniformly in [0, 1] are draws from that prior, and no control reaches
outside the range a prior-trained decoder has seen.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Sequence

import torch

from ddspfx.core.errors import NonFiniteError

Scale = Literal["linear", "log", "normal"]
SCALES = ("linear", "log", "normal")


@dataclass(frozen=True)
class ParamSpec:
    """One processor parameter: its name, unit and range, and the curve from [0, 1] to that range."""

    name: str
    unit: str
    min: float
    max: float
    scale: Scale = "linear"

    def __post_init__(self):
        if not self.max > self.min:
            raise ValueError(f"ParamSpec {self.name!r}: max ({self.max}) must exceed min ({self.min})")
        if self.scale not in SCALES:
            raise ValueError(f"ParamSpec {self.name!r}: scale must be one of {SCALES}, got {self.scale!r}")
        if self.scale == "log" and self.min <= 0:
            raise ValueError(f"ParamSpec {self.name!r}: a log scale needs min > 0, got {self.min}")

    def denormalize(self, w: torch.Tensor) -> torch.Tensor:
        """Map normalized controls `w` (any shape, in [0, 1]) to physical values in `unit`."""
        if self.scale == "log":
            lo, hi = math.log(self.min), math.log(self.max)
            return torch.exp(lo + w * (hi - lo))
        if self.scale == "normal":
            lo, hi = _normal_cdf(self.min), _normal_cdf(self.max)
            return math.sqrt(2.0) * torch.erfinv(2.0 * (lo + w * (hi - lo)) - 1.0)
        return self.min + w * (self.max - self.min)

    def normalize(self, value: torch.Tensor) -> torch.Tensor:
        """Inverse of `denormalize`: physical values in `unit` to [0, 1] (not clamped)."""
        value = torch.as_tensor(value)
        if self.scale == "log":
            lo, hi = math.log(self.min), math.log(self.max)
            return (torch.log(value) - lo) / (hi - lo)
        if self.scale == "normal":
            lo, hi = _normal_cdf(self.min), _normal_cdf(self.max)
            return (0.5 * (1.0 + torch.erf(value / math.sqrt(2.0))) - lo) / (hi - lo)
        return (value - self.min) / (self.max - self.min)


def _normal_cdf(x: float) -> float:
    """Φ(x), the standard normal CDF."""
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def check_controls(controls: torch.Tensor, n_params: int, owner: str = "processor") -> torch.Tensor:
    """Validate and clamp normalized controls.

    Args:
        controls: `(batch, n_params)` or `(batch, n_params, frames)` tensor, nominally in [0, 1].
        n_params: the number of parameters the processor declares.
        owner: name used in error messages.

    Returns:
        `controls` clamped to [0, 1].

    Raises:
        ValueError: wrong shape. NonFiniteError (a ValueError): any NaN.
    """
    if not torch.is_tensor(controls):
        raise TypeError(f"{owner}: controls must be a torch.Tensor, got {type(controls).__name__}")
    if controls.dim() not in (2, 3) or controls.shape[1] != n_params:
        raise ValueError(
            f"{owner}: controls must have shape (batch, {n_params}) or (batch, {n_params}, frames), "
            f"got {tuple(controls.shape)}"
        )
    if torch.isnan(controls).any():
        raise NonFiniteError(f"{owner}: controls contain NaN")
    return controls.clamp(0.0, 1.0)


class ParamsMixin:
    """Gives a processor `param_names`, `n_params`, `denormalize` and `normalize` from `self.params`."""

    params: Sequence[ParamSpec]

    @property
    def param_names(self) -> list[str]:
        return [p.name for p in self.params]

    @property
    def n_params(self) -> int:
        return len(self.params)

    def check_controls(self, controls: torch.Tensor) -> torch.Tensor:
        return check_controls(controls, self.n_params, type(self).__name__)

    def denormalize(self, controls: torch.Tensor) -> dict[str, torch.Tensor]:
        """`(batch, n_params[, frames])` controls in [0, 1] -> {name: `(batch[, frames])` physical value}."""
        controls = self.check_controls(controls)
        return {p.name: p.denormalize(controls[:, i]) for i, p in enumerate(self.params)}

    def normalize(self, **physical: torch.Tensor) -> torch.Tensor:
        """Physical values by name (each `(batch[, frames])`) -> controls `(batch, n_params[, frames])`."""
        missing = [n for n in self.param_names if n not in physical]
        unknown = [n for n in physical if n not in self.param_names]
        if missing or unknown:
            raise ValueError(
                f"{type(self).__name__}.normalize: missing {missing}, unknown {unknown}; "
                f"expected {self.param_names}"
            )
        return torch.stack([p.normalize(physical[p.name]) for p in self.params], dim=1)
