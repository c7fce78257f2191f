"""Deterministic parameter head: one point estimate of the controls."""

from __future__ import annotations

import torch
from torch import nn


class SigmoidHead(nn.Module):
    """Embedding `(batch, in_dim)` → controls `(batch, n_params)` in (0, 1) by Linear → sigmoid."""

    def __init__(self, in_dim: int, n_params: int):
        super().__init__()
        self.linear = nn.Linear(in_dim, n_params)
        self.n_params = n_params

    def forward(self, embedding: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.linear(embedding))
