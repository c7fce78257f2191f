"""The TexDSP encoder (reference textures §4.2): per-frame texture features → a latent per frame.

    z_f(t) = mlp_f(feature_f(t))                  one mlp per feature, L × [Linear → LayerNorm → LeakyReLU]
    g(t)   = GRU([z_1(t), …, z_F(t)])             over the frames t of one excerpt (time)
    out(t) = [z_1(t), …, z_F(t), g(t)]            `(batch, frames, (F + 1)·hidden)`

The reference ran its GRU on the batch items as if they were time steps (a shuffled batch; at
inference a single step from a zero state); here the GRU runs along the frames of each excerpt
(`batch_first`), so the latent of a frame depends on the frames before it in the same excerpt
only. (The reference also reversed the order of the latents before the GRU; the order is immaterial.)
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ddspfx.nn.layernorm_mlp import layernorm_mlp


class TexDSPEncoder(nn.Module):
    """Features per frame → latents per frame (module docstring).

    Args:
        feature_dims: the width of each feature, in the order `forward` receives them
            (e.g. [N, 1]: N log ERB band energies and the log2 centroid).
        hidden: H, the width of each feature latent and of the GRU.
        depth: L, blocks per feature mlp (≥ 1).

    Shapes: `forward(features)` with features a sequence of F tensors `(batch, frames, dim_f)` →
    `(batch, frames, (F + 1)·H)`; `out_dim` = (F + 1)·H.
    """

    def __init__(self, feature_dims: Sequence[int], hidden: int = 256, depth: int = 3):
        super().__init__()
        self.feature_dims = [int(d) for d in feature_dims]
        if not self.feature_dims or min(self.feature_dims) < 1:
            raise ValueError(f"TexDSPEncoder: feature_dims must be one or more widths >= 1, got {list(feature_dims)}")
        self.hidden = int(hidden)
        self.mlps = nn.ModuleList(layernorm_mlp(d, self.hidden, depth) for d in self.feature_dims)
        self.gru = nn.GRU(len(self.feature_dims) * self.hidden, self.hidden, batch_first=True)
        self.out_dim = (len(self.feature_dims) + 1) * self.hidden

    def forward(self, features: Sequence[torch.Tensor], state: torch.Tensor | None = None) -> torch.Tensor:
        """Latents `(batch, frames, (F + 1)·H)`; `state` `(1, batch, H)` is the GRU's initial state
        (None: zeros), for running an excerpt in several calls."""
        return self.step(features, state)[0]

    def step(
        self, features: Sequence[torch.Tensor], state: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """`forward` and the GRU's final state `(1, batch, H)` (to continue with the next frames)."""
        self._check(features)
        latents = [mlp(x) for mlp, x in zip(self.mlps, features)]
        recurrent, state = self.gru(torch.cat(latents, dim=-1), state)
        return torch.cat([*latents, recurrent], dim=-1), state

    def _check(self, features: Sequence[torch.Tensor]) -> None:
        shapes = [tuple(x.shape) for x in features]
        if len(shapes) != len(self.feature_dims) or any(
            len(s) != 3 or s[-1] != d or s[:2] != shapes[0][:2] for s, d in zip(shapes, self.feature_dims)
        ):
            expected = ", ".join(f"(batch, frames, {d})" for d in self.feature_dims)
            raise ValueError(f"TexDSPEncoder: expected features of shapes [{expected}], got {shapes}")
