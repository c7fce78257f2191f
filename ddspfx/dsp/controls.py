"""Frame-rate controls brought to audio rate: the one upsampling every time-varying processor uses.

Through `upsample_frames` all processors agree on where a frame sits in time: with F frames and N
output samples, frame k is placed at sample k·(N − 1)/(F − 1), the first frame on sample 0 and the
last on sample N − 1 (align_corners), and the samples in between are linear interpolations of the
two neighbouring frames.
"""

from __future__ import annotations

import torch


def upsample_frames(x: torch.Tensor, n_samples: int) -> torch.Tensor:
    """Linearly interpolate frame-rate values along the last axis to `n_samples` values.

    Args:
        x: `(batch, frames)` or `(batch, channels, frames)` floating tensor, frames ≥ 1.
        n_samples: output length N ≥ 1.

    Returns:
        `(batch, n_samples)` or `(batch, channels, n_samples)`, in `x`'s dtype and device, with
        `out[..., k·(N − 1)/(frames − 1)] = x[..., k]` at every frame k whose position is an
        integer (the first and last always); a constant `x[..., 0]` for one frame, and the first
        frame alone for n_samples = 1.

    Raises:
        ValueError: a shape other than 2-D or 3-D, no frames, or n_samples < 1.
    """
    if not torch.is_tensor(x) or x.dim() not in (2, 3) or x.shape[-1] < 1:
        shape = tuple(x.shape) if torch.is_tensor(x) else type(x).__name__
        raise ValueError(f"upsample_frames: x must be (batch, frames) or (batch, channels, frames), got {shape}")
    if int(n_samples) < 1:
        raise ValueError(f"upsample_frames: n_samples must be at least 1, got {n_samples}")
    if not x.is_floating_point():
        x = x.float()
    left, right, weight = _interpolation_taps(x.shape[-1], int(n_samples), x.device)
    weight = weight.to(x.dtype)
    return x.index_select(-1, left) * (1 - weight) + x.index_select(-1, right) * weight


def _interpolation_taps(n_frames: int, n_samples: int, device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Left and right frame indices `(n_samples,)` and the weight of the right one, in [0, 1].

    Positions t_n = n·(F − 1)/(N − 1) frames are formed from exact integer products in float64, so
    that an integer position gets weight exactly 0 (or 1 on the last frame).
    """
    if n_frames == 1 or n_samples == 1:
        zeros = torch.zeros(n_samples, dtype=torch.long, device=device)
        return zeros, zeros, torch.zeros(n_samples, dtype=torch.float64, device=device)
    steps = torch.arange(n_samples, dtype=torch.float64, device=device) * (n_frames - 1)
    position = steps / (n_samples - 1)
    left = position.floor().long().clamp(max=n_frames - 2)
    return left, left + 1, position - left
