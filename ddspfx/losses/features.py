"""The feature-difference loss of timbre remapping (reference §7).

    L = mean_{b, j} w_j · | (ŷ_bj − r_j) − ΔF_bj |

ŷ: features of the synth's answer `(batch, n_features)`; r: features of the preset's own sound
`(n_features,)`; ΔF: features of the hit minus those of the reference hit `(batch, n_features)`.
The network learns relative changes: "the synth's answer is to the preset as the hit is to the
reference hit". The weights w are 1 in the paper; `range_weights` gives the reference's optional
w_j = 1 / (max ΔF_j − min ΔF_j) over the training targets, which evens out features in dB (tens)
and in the Kazazis scale (units).
"""

from __future__ import annotations

from typing import Sequence

import torch

from ddspfx.losses.base import PairLoss, check_pair


class FeatureDifferenceLoss(PairLoss):
    """`loss(estimate, target)`: estimate = ŷ − r, target = ΔF, both `(batch, n_features)`.

    Args:
        weights: per-feature weights `(n_features,)`, or None for 1 (the paper's setting).
    """

    domain = "features"

    def __init__(self, weights: Sequence[float] | torch.Tensor | None = None):
        super().__init__()
        w = None if weights is None else torch.as_tensor(weights, dtype=torch.float32)
        if w is not None and (w.dim() != 1 or not torch.isfinite(w).all() or (w < 0).any()):
            raise ValueError(f"FeatureDifferenceLoss: weights must be a 1-D list of finite values >= 0, got {weights}")
        self.register_buffer("weights", w)

    def per_feature(self, estimate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """w_j · |estimate − target| per example and feature, `(batch, n_features)`."""
        check_pair(estimate, target, type(self).__name__)
        error = (estimate - target).abs()
        if self.weights is None:
            return error
        if self.weights.shape[0] != error.shape[1]:
            raise ValueError(f"FeatureDifferenceLoss: {self.weights.shape[0]} weights for {error.shape[1]} features")
        return error * self.weights.to(error.dtype)

    def per_example(self, estimate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Mean weighted absolute error over the features, `(batch,)`."""
        return self.per_feature(estimate, target).mean(-1)


def range_weights(targets: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """w_j = 1 / (max_b ΔF_bj − min_b ΔF_bj) of training targets `(hits, n_features)` → `(n_features,)`."""
    spread = targets.amax(0) - targets.amin(0)
    return 1.0 / spread.clamp_min(eps)
