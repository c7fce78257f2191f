"""Oscillator phases that stay exact over long renders.

A float32 running phase (a cumulative sum of increments, or `2π f t` with a large `t`) loses
accuracy as the render grows: after a few seconds the error is audible. Here the phase at sample
n = q·B + m (block q of B samples, offset m) is split into

    cycles(n) = frac(ratio · f0 · q·B / fs)  +  ratio · f0 · m / fs

The block starts are computed in float64 and wrapped to [0, 1) cycle, so only a few values per
block are float64; the in-block part is small (< ratio·f0·B/fs cycles) and exact enough in
float32. The error is therefore the same at sample 10^7 as at sample 0, and the derivative with
respect to `ratio` is the exact 2π·f0·n/fs (the wrap is constant between jumps).
"""

from __future__ import annotations

import math

import torch

DEFAULT_BLOCK = 64


def oscillator_phase(
    ratio: torch.Tensor,
    f0: float,
    sample_rate: float,
    n_samples: int,
    block: int = DEFAULT_BLOCK,
) -> torch.Tensor:
    """Phase in radians of sine oscillators at `ratio · f0` Hz, starting at phase 0.

    Args:
        ratio: `(...)` frequency ratios to `f0` (float32 or float64; gradients flow through it).
        f0: reference frequency in Hz.
        sample_rate: Hz.
        n_samples: number of samples to return.
        block: block length B of the float64/float32 split.

    Returns:
        `(..., n_samples)` phase in radians, in `ratio`'s dtype, in [0, 2π·(1 + ratio·f0·B/fs)).
    """
    if n_samples <= 0:
        raise ValueError(f"oscillator_phase: n_samples must be positive, got {n_samples}")
    step = f0 / sample_rate  # cycles per sample at ratio 1
    n_blocks = -(-n_samples // block)
    device, dtype = ratio.device, ratio.dtype
    block_starts = torch.arange(n_blocks, dtype=torch.float64, device=device) * (block * step)
    start = ratio.to(torch.float64).unsqueeze(-1) * block_starts  # (..., Q) cycles
    start = (start - torch.floor(start).detach()).to(dtype) * (2 * math.pi)
    offsets = torch.arange(block, dtype=dtype, device=device) * (2 * math.pi * step)
    within = ratio.unsqueeze(-1) * offsets  # (..., B) radians
    phase = start.unsqueeze(-1) + within.unsqueeze(-2)  # (..., Q, B)
    return phase.flatten(-2)[..., :n_samples]
