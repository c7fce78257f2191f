"""Linear → BatchNorm1d → PReLU blocks (the ICASSP controller MLP and the proxy's conditioning MLP)."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn


class LinearBNPReLU(nn.Sequential):
    """`(batch, in_dim)` → Linear → BatchNorm1d → PReLU → `(batch, out_dim)`.

    Args:
        in_dim, out_dim: widths.
        per_channel: one PReLU slope per output channel (True) or one shared slope (False).
    """

    def __init__(self, in_dim: int, out_dim: int, per_channel: bool = False):
        in_dim, out_dim = int(in_dim), int(out_dim)
        super().__init__(nn.Linear(in_dim, out_dim), nn.BatchNorm1d(out_dim), nn.PReLU(out_dim if per_channel else 1))


def linear_bn_prelu_stack(dims: Sequence[int], per_channel: bool = False) -> nn.Sequential:
    """One `LinearBNPReLU` for each consecutive pair of `dims`: `(batch, dims[0])` → `(batch, dims[-1])`;
    an empty stack (one width) is the identity."""
    dims = [int(d) for d in dims]
    return nn.Sequential(*(LinearBNPReLU(a, b, per_channel) for a, b in zip(dims[:-1], dims[1:])))
