"""What every audio effect shares: the control contract and configurable ranges.

An effect is a plain function of audio and named physical parameters (`process`), wrapped in a
module that maps normalized controls in [0, 1] to those parameters through its `ParamSpec`s
(dasp-pytorch style functional core, torchsynth style declared ranges).
"""

from __future__ import annotations

from typing import Mapping, Sequence

import torch
from torch import nn

from ddspfx.dsp.checks import check_audio
from ddspfx.params import ParamSpec, ParamsMixin


def with_ranges(
    params: Sequence[ParamSpec], ranges: Mapping[str, Sequence[float]] | None, owner: str
) -> list[ParamSpec]:
    """Return `params` with some ranges replaced.

    Args:
        params: the default specs.
        ranges: `{name: [min, max]}` overrides (physical units); None keeps the defaults.
        owner: used in error messages.

    Raises:
        ValueError: a name that is not a parameter, or a range that is not `[min, max]`.
    """
    ranges = dict(ranges or {})
    names = [p.name for p in params]
    unknown = [n for n in ranges if n not in names]
    if unknown:
        raise ValueError(f"{owner}: unknown parameter(s) {unknown} in ranges; parameters are {names}")
    out = []
    for p in params:
        if p.name in ranges:
            bounds = list(ranges[p.name])
            if len(bounds) != 2:
                raise ValueError(f"{owner}: range of {p.name!r} must be [min, max], got {bounds}")
            p = ParamSpec(p.name, p.unit, float(bounds[0]), float(bounds[1]), p.scale)
        out.append(p)
    return out


def per_example_columns(owner: str, **physical: torch.Tensor) -> list[torch.Tensor]:
    """Check that every physical parameter is one value per example, `(batch,)`, and return them as
    `(batch, 1)` columns that broadcast over samples (time-varying controls are refused)."""
    columns = []
    for name, value in physical.items():
        if value.dim() != 1:
            raise ValueError(
                f"{owner}: parameter {name!r} must be one value per example, shape (batch,); "
                f"got {tuple(value.shape)} (time-varying controls are not supported)"
            )
        columns.append(value.unsqueeze(-1))
    return columns


class Effect(ParamsMixin, nn.Module):
    """Base class: `effect(audio, controls)` → processed audio.

    Subclasses set `self.params` (a list of `ParamSpec`, usually through `with_ranges`) and
    `self.sample_rate` in `__init__`, and implement `process(audio, **physical)`, a function of
    audio `(batch, samples)` and the physical parameters by name (each `(batch,)`).

    Shapes: audio `(batch, samples)`, controls `(batch, n_params)` in [0, 1] (clamped; NaN raises)
    → audio `(batch, samples)`. An effect with no parameters takes `controls` of shape `(batch, 0)`.

    Optional capabilities, None unless a subclass can compute them: `magnitude_response_db`
    (linear filters such as the EQs) and `static_curve` (compressors).
    """

    sample_rate: float

    def process(self, audio: torch.Tensor, **physical: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, audio: torch.Tensor, controls: torch.Tensor) -> torch.Tensor:
        check_audio(audio, type(self).__name__)
        if controls.shape[0] != audio.shape[0]:
            raise ValueError(
                f"{type(self).__name__}: batch sizes differ: audio {audio.shape[0]}, controls {controls.shape[0]}"
            )
        return self.process(audio, **self.denormalize(controls))

    def magnitude_response_db(self, controls: torch.Tensor, freqs_hz: torch.Tensor) -> torch.Tensor | None:
        """Magnitude response in dB at `freqs_hz` `(n_freqs,)` Hz for controls `(batch, n_params)`
        → `(batch, n_freqs)`; None for an effect that is not a linear filter (the default)."""
        return None

    def static_curve(self, controls: torch.Tensor, levels_db: torch.Tensor) -> torch.Tensor | None:
        """Steady-state output level in dB for constant input levels `levels_db` `(n_levels,)` or
        `(batch, n_levels)` dB and controls `(batch, n_params)` → `(batch, n_levels)`; None for an
        effect without such a curve (the default)."""
        return None

    def extra_repr(self) -> str:
        return f"sample_rate={self.sample_rate}, params={self.param_names}"
