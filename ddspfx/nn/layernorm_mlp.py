"""Linear → LayerNorm → LeakyReLU stacks: the TexDSP encoder's and decoder's `mlp(in, H, L)` (textures §4.2).

LayerNorm normalizes over the last axis only, so the stack works on any leading shape:
`(batch, in_dim)`, `(batch, frames, in_dim)`, … (no batch statistics, unlike BatchNorm).
"""

from __future__ import annotations

from torch import nn


class LinearLNLeakyReLU(nn.Sequential):
    """`(..., in_dim)` → Linear → LayerNorm → LeakyReLU → `(..., out_dim)`.

    Args:
        in_dim, out_dim: widths.
        negative_slope: LeakyReLU slope for negative inputs (torch's default 0.01, the reference's).
    """

    def __init__(self, in_dim: int, out_dim: int, negative_slope: float = 0.01):
        in_dim, out_dim = int(in_dim), int(out_dim)
        super().__init__(nn.Linear(in_dim, out_dim), nn.LayerNorm(out_dim), nn.LeakyReLU(negative_slope))


def layernorm_mlp(in_dim: int, hidden: int, depth: int, negative_slope: float = 0.01) -> nn.Sequential:
    """`depth` × `LinearLNLeakyReLU`, the first in_dim → hidden, the others hidden → hidden:
    `(..., in_dim)` → `(..., hidden)`. depth ≥ 1."""
    if int(depth) < 1:
        raise ValueError(f"layernorm_mlp: depth must be >= 1, got {depth}")
    if int(in_dim) < 1 or int(hidden) < 1:
        raise ValueError(f"layernorm_mlp: widths must be >= 1, got in_dim={in_dim}, hidden={hidden}")
    dims = [int(in_dim)] + [int(hidden)] * int(depth)
    return nn.Sequential(*(LinearLNLeakyReLU(a, b, negative_slope) for a, b in zip(dims[:-1], dims[1:])))
