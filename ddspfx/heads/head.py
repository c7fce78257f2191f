"""The head contract: embedding `(batch, in_dim)` → controls `(batch, n_params)` in [0, 1], as a
point estimate or as a distribution. The estimation tasks call only what `ParameterHead` declares.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class HeadOutput:
    """Training output of a head.

    samples: `(B, S, d)` reparameterized controls in (0, 1); S = K·n_samples for the full mixture
        (one sample per component by default), else n_samples; S = 1 for a point estimate.
    weights: `(B, S)` non-negative, summing to 1 over S: the weight of each sample's loss
        (π_k / n_samples for the full mixture, with gradients; 1/S otherwise).
    entropy: `(B,)` training estimate of H[q(v|e)] in nats (0 for a point estimate).
    """

    samples: torch.Tensor
    weights: torch.Tensor
    entropy: torch.Tensor


class ParameterHead(nn.Module):
    """Base class of the heads.

    `probabilistic` declares whether the head is a distribution (with densities, an entropy and a
    training objective that includes it) or a point estimate. Subclasses implement:

    - `training_output(embedding) -> HeadOutput` (the training path),
    - `sample(embedding, n) -> (B, n, d)`, `mode(embedding, k) -> (B, d)`,
    - distributions also `sample_and_log_prob(embedding, n) -> ((B, n, d), (B, n) nats)`.
    """

    probabilistic: bool = False

    def training_output(self, embedding: torch.Tensor) -> HeadOutput:
        raise NotImplementedError

    def sample(self, embedding: torch.Tensor, n: int = 1) -> torch.Tensor:
        raise NotImplementedError

    def mode(self, embedding: torch.Tensor, k: int = 1) -> torch.Tensor:
        raise NotImplementedError

    def sample_and_log_prob(self, embedding: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError(f"{type(self).__name__} is a point estimate: it has no density")
