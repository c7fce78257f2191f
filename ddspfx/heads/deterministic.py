"""Deterministic parameter head: one point estimate of the controls."""

from __future__ import annotations

import torch
from torch import nn

from ddspfx.heads.head import HeadOutput, ParameterHead


class SigmoidHead(ParameterHead):
    """Embedding `(batch, in_dim)` → controls `(batch, n_params)` in (0, 1) by Linear → sigmoid."""

    def __init__(self, in_dim: int, n_params: int):
        super().__init__()
        self.linear = nn.Linear(in_dim, n_params)
        self.n_params = n_params

    def forward(self, embedding: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.linear(embedding))

    def training_output(self, embedding: torch.Tensor) -> HeadOutput:
        """One sample of weight 1 and entropy 0."""
        point = self(embedding).unsqueeze(1)
        return HeadOutput(point, point.new_ones(point.shape[:2]), point.new_zeros(point.shape[0]))

    def sample(self, embedding: torch.Tensor, n: int = 1) -> torch.Tensor:
        """The point estimate repeated: `(batch, n, n_params)` (API parity with ProbabilisticHead)."""
        return self(embedding).unsqueeze(1).expand(-1, n, -1)

    def mode(self, embedding: torch.Tensor, k: int = 1, chunk: int | None = None) -> torch.Tensor:
        """The point estimate `(batch, n_params)`; `k` and `chunk` are ignored."""
        return self(embedding)
