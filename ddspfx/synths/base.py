"""What every synthesizer shares: the control contract, upsampling and conditioning inputs.

A synth is a plain function of named physical values (`render`), wrapped in a module that maps
normalized controls in [0, 1] to those values through its `ParamSpec`s and brings frame-rate
controls and conditioning to audio rate (ddsp's `get_controls → get_signal`; the same shape as
`ddspfx.effects.base.Effect`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ddspfx.dsp.controls import upsample_frames
from ddspfx.params import ParamsMixin


class Synth(ParamsMixin, nn.Module):
    """Base class: `synth(controls, n_samples=None, **conditioning)` → audio `(batch, n_samples)`.

    Subclasses set `self.params` (a list of `ParamSpec`), `self.sample_rate` (Hz) and usually
    `self.duration` (seconds rendered by default) in `__init__`, and implement
    `render(n_samples, **physical)`.

    Class attributes a subclass may override:
        conditioning: names of the keyword inputs `forward` accepts besides the controls
            (e.g. `("f0",)`, in Hz); each `(batch,)`, or `(batch, frames)` upsampled to audio rate.
        time_varying: False refuses frame-rate controls `(batch, n_params, frames)`.

    Shapes: controls `(batch, n_params)` or `(batch, n_params, frames)` in [0, 1] (clamped; NaN
    raises) → audio `(batch, n_samples)`.
    """

    sample_rate: float
    duration: float
    conditioning: tuple[str, ...] = ()
    time_varying: bool = True

    def render(self, n_samples: int, **physical: torch.Tensor) -> torch.Tensor:
        """Audio `(batch, n_samples)` from physical values and conditioning inputs by name, each
        `(batch,)` (static) or `(batch, n_samples)` (upsampled from frames)."""
        raise NotImplementedError

    @property
    def n_samples(self) -> int:
        """Samples rendered when `forward` is not told: `duration · sample_rate`, rounded."""
        duration = getattr(self, "duration", None)
        if duration is None:
            raise ValueError(f"{type(self).__name__}: no duration set; pass n_samples")
        return int(round(duration * self.sample_rate))

    def forward(self, controls: torch.Tensor, n_samples: int | None = None, **conditioning: Any) -> torch.Tensor:
        """Render normalized controls (and conditioning inputs) to audio `(batch, n_samples)`."""
        n = self._resolve_n_samples(n_samples)
        self._check_conditioning_names(conditioning)
        self._check_time_varying(controls)
        inputs = self.denormalize(controls)
        for name, value in conditioning.items():
            inputs[name] = self._conditioning_input(name, value, controls.shape[0], controls.device)
        return self.render(n, **{name: at_audio_rate(value, n) for name, value in inputs.items()})

    def equivalent_permutations(self) -> list[list[int]]:
        """Control index lists p such that `synth(controls[:, p])` renders the same sound as
        `synth(controls)`; the identity alone unless the synth has interchangeable parts."""
        return [list(range(self.n_params))]

    def _resolve_n_samples(self, n_samples: int | None) -> int:
        n = self.n_samples if n_samples is None else int(n_samples)
        if n < 1:
            raise ValueError(f"{type(self).__name__}: n_samples must be at least 1, got {n}")
        return n

    def _check_conditioning_names(self, conditioning: dict[str, Any]) -> None:
        unknown = [name for name in conditioning if name not in self.conditioning]
        if unknown:
            accepted = list(self.conditioning) or "none"
            raise ValueError(f"{type(self).__name__}: unknown conditioning input(s) {unknown}; accepted: {accepted}")

    def _check_time_varying(self, controls: torch.Tensor) -> None:
        if not self.time_varying and torch.is_tensor(controls) and controls.dim() == 3:
            raise ValueError(
                f"{type(self).__name__}: controls must be static, shape (batch, {self.n_params}); "
                f"got time-varying {tuple(controls.shape)}"
            )

    def _conditioning_input(self, name: str, value: Any, batch: int, device: torch.device) -> torch.Tensor:
        """A conditioning input as a `(batch,)` or `(batch, frames)` tensor (a number is broadcast)."""
        if not torch.is_tensor(value):
            value = torch.as_tensor(value, dtype=torch.get_default_dtype(), device=device)
        if value.dim() == 0:
            value = value.expand(batch)
        if value.dim() not in (1, 2) or value.shape[0] != batch:
            raise ValueError(
                f"{type(self).__name__}: conditioning input {name!r} must have shape ({batch},) or "
                f"({batch}, frames), got {tuple(value.shape)}"
            )
        return value

    def extra_repr(self) -> str:
        return f"sample_rate={self.sample_rate}, params={self.param_names}"


def at_audio_rate(value: torch.Tensor, n_samples: int) -> torch.Tensor:
    """`(batch,)` is kept as it is; `(batch, frames)` is upsampled to `(batch, n_samples)`."""
    return upsample_frames(value, n_samples) if value.dim() == 2 else value
