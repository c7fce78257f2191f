"""An audio encoder: a frontend (features) followed by a body network (embedding)."""

from __future__ import annotations

import torch
from torch import nn

from ddspfx.nn.mlp import ResMLP


class MLPEncoder(nn.Module):
    """Audio `(batch, samples)` → frontend features → residual MLP → embedding `(batch, hidden)`.

    Args:
        frontend: a module with `out_dim`, mapping audio to `(batch, out_dim)`.
        hidden, depth, batch_norm, dropout: the `ResMLP` body.
    """

    def __init__(self, frontend: nn.Module, hidden: int = 128, depth: int = 4, batch_norm: bool = False, dropout: float = 0.0):
        super().__init__()
        self.frontend = frontend
        self.body = ResMLP(frontend.out_dim, hidden, depth, batch_norm, dropout)
        self.out_dim = hidden

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        return self.body(self.frontend(audio))
