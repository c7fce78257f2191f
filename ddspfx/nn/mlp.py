"""Residual Swish MLP (reference A.4): the FM task's embedding network."""

from __future__ import annotations

import torch
from torch import nn


class Swish(nn.Module):
    """x · sigmoid(a · x) with a learnable slope a per channel (init 1)."""

    def __init__(self, channels: int):
        super().__init__()
        self.slope = nn.Parameter(torch.ones(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.slope * x)


class FCBlock(nn.Sequential):
    """Dropout → Linear → [BatchNorm] → Swish; `(batch, in_dim)` → `(batch, out_dim)`."""

    def __init__(self, in_dim: int, out_dim: int, batch_norm: bool = False, dropout: float = 0.0):
        norm = nn.BatchNorm1d(out_dim) if batch_norm else nn.Identity()
        super().__init__(nn.Dropout(dropout), nn.Linear(in_dim, out_dim), norm, Swish(out_dim))


class ResBlock(nn.Module):
    """Swish(x + [BN](Linear(FCBlock(x)))); width-preserving."""

    def __init__(self, dim: int, batch_norm: bool = False, dropout: float = 0.0):
        super().__init__()
        self.inner = FCBlock(dim, dim, batch_norm, dropout)
        self.linear = nn.Linear(dim, dim)
        self.norm = nn.BatchNorm1d(dim) if batch_norm else nn.Identity()
        self.act = Swish(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x + self.norm(self.linear(self.inner(x))))


class ResMLP(nn.Sequential):
    """FCBlock(in_dim → hidden) followed by `depth` ResBlocks(hidden); `(batch, in_dim)` → `(batch, hidden)`.

    As in the reference, the input FCBlock is there only to change the width: it is left out when
    in_dim == hidden (`input_block=None`, the default). `input_block=True` always adds it (ddspfx's
    earlier layout: +16,896 weights at width 128 with batch norm, the TASLP encoder's 377,280
    instead of the reference's 356,224 with MelNeXt); False never does (needs in_dim == hidden).
    """

    def __init__(
        self,
        in_dim: int,
        hidden: int = 128,
        depth: int = 4,
        batch_norm: bool = False,
        dropout: float = 0.0,
        input_block: bool | None = None,
    ):
        if input_block is None:
            input_block = in_dim != hidden
        if not input_block and in_dim != hidden:
            raise ValueError(f"ResMLP: input_block=False needs in_dim == hidden, got {in_dim} and {hidden}")
        blocks = [ResBlock(hidden, batch_norm, dropout) for _ in range(depth)]
        head = [FCBlock(in_dim, hidden, batch_norm, dropout)] if input_block else []
        super().__init__(*head, *blocks)
        self.out_dim = hidden
