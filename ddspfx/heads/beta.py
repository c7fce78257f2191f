"""Entropy-weight ("simulated annealing") schedule of the probabilistic heads (peladeau.md A.7)."""

from __future__ import annotations

import math


class BetaSchedule:
    """Log-linear decay of β from `start` to `end` over `warmup` epochs, then constant:

        r = min(epoch / warmup, 1),   β = exp((1 − r)·ln start + r·ln end)

    `warmup = 0` gives `end` at every epoch. `epoch` may be fractional (updated every step).
    Published: FM 0.5 → 0.005 gives 0.158 / 0.05 / 0.0158 at r = 0.25 / 0.5 / 0.75.
    """

    def __init__(self, start: float = 0.5, end: float = 0.005, warmup: float = 400):
        if start <= 0 or end <= 0:
            raise ValueError(f"beta start and end must be > 0, got start={start}, end={end}")
        if warmup < 0:
            raise ValueError(f"beta warmup must be >= 0 epochs, got {warmup}")
        self.start, self.end, self.warmup = float(start), float(end), float(warmup)

    def __call__(self, epoch: float) -> float:
        """β (dimensionless) at `epoch` (≥ 0, in epochs)."""
        r = 1.0 if self.warmup == 0 else min(max(epoch, 0.0) / self.warmup, 1.0)
        return math.exp((1.0 - r) * math.log(self.start) + r * math.log(self.end))

    def __repr__(self) -> str:
        return f"BetaSchedule(start={self.start}, end={self.end}, warmup={self.warmup})"
