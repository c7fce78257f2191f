"""A gain stage in dB (`gain` / `vol`, reference A.13): y = x · 10^(gain_db/20)."""

from __future__ import annotations

from typing import Mapping, Sequence

import torch

from ddspfx.effects.base import Effect, per_example_columns, with_ranges
from ddspfx.params import ParamSpec


class Gain(Effect):
    """Volume: one control, gain_db in [−20, 20] dB (linear mapping).

    Audio `(batch, samples)` → `(batch, samples)`; one gain per example (time-varying controls
    are refused).

    Args:
        sample_rate: Hz (unused by the math).
        ranges: `{"gain_db": [min, max]}` to change the range.
    """

    default_params = (ParamSpec("gain_db", "dB", -20.0, 20.0),)

    def __init__(self, sample_rate: float, ranges: Mapping[str, Sequence[float]] | None = None):
        super().__init__()
        self.sample_rate = sample_rate
        self.params = with_ranges(self.default_params, ranges, type(self).__name__)

    def process(self, audio: torch.Tensor, gain_db: torch.Tensor) -> torch.Tensor:
        (gain_db,) = per_example_columns(type(self).__name__, gain_db=gain_db)
        return audio * torch.pow(10.0, gain_db / 20.0)
