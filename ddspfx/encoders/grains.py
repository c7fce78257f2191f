"""The grain VAE's encoder (textures §5): grain descriptors → the posterior q(z|x) = N(μ, diag σ²).

    h          = mlp(x)                      depth × [Linear → LayerNorm → LeakyReLU], in_dim → hidden
    [μ, r]     = Linear(h)                   hidden → 2·latent_dim
    log σ²     = LOGVAR_MAX · tanh(r / LOGVAR_MAX)

x is a grain's descriptor (its N log ERB band energies, `ddspfx.data.grains.grain_descriptors`).
Reference sizes: hidden 512, depth 3, latent 2. The reference's final encoder ended in Linear(→ 2)
and a sigmoid, a deterministic code in (0, 1)² (§5, §7); here it gives a mean and a log-variance,
and sampling and the KL term are in `ddspfx.nn.vae`.

The log-variance is softly bounded to (−LOGVAR_MAX, LOGVAR_MAX) = (−10, 10), σ ∈ (0.0067, 148):
exp never overflows nor underflows in float32, yet the gradient is never cut to zero as a hard
clamp would (the slope sech²(r/10) is 1 at r = 0 and still 0.42 at |log σ²| = 7, σ = 0.03).
"""

from __future__ import annotations

import torch
from torch import nn

from ddspfx.nn.layernorm_mlp import layernorm_mlp

LOGVAR_MAX = 10.0  # soft bound of |log σ²|


class GrainEncoder(nn.Module):
    """Descriptors `(..., in_dim)` → `(mean, log_var)`, each `(..., latent_dim)` (module docstring).

    Args:
        in_dim: descriptor width (N ERB bands).
        latent_dim: D, the latent's width (the reference: 2).
        hidden: width of the mlp (the reference: 512).
        depth: its blocks, ≥ 1 (the reference: 3).
    """

    def __init__(self, in_dim: int, latent_dim: int = 2, hidden: int = 512, depth: int = 3):
        super().__init__()
        for name, value in (("in_dim", in_dim), ("latent_dim", latent_dim), ("hidden", hidden), ("depth", depth)):
            if isinstance(value, bool) or int(value) != value or value < 1:
                raise ValueError(f"GrainEncoder: {name} must be an int >= 1, got {value!r}")
        self.in_dim, self.latent_dim = int(in_dim), int(latent_dim)
        self.mlp = layernorm_mlp(self.in_dim, int(hidden), int(depth))
        self.head = nn.Linear(int(hidden), 2 * self.latent_dim)

    def forward(self, descriptors: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(μ, log σ²), each `(..., latent_dim)`; log σ² softly bounded to ±LOGVAR_MAX."""
        self._check(descriptors)
        mean, raw = self.head(self.mlp(descriptors)).chunk(2, dim=-1)
        return mean, LOGVAR_MAX * torch.tanh(raw / LOGVAR_MAX)

    def _check(self, descriptors: torch.Tensor) -> None:
        if not torch.is_tensor(descriptors) or not descriptors.is_floating_point():
            kind = getattr(descriptors, "dtype", type(descriptors).__name__)
            raise ValueError(f"GrainEncoder: descriptors must be a floating-point tensor, got {kind}")
        if descriptors.dim() < 1 or descriptors.shape[-1] != self.in_dim:
            raise ValueError(
                f"GrainEncoder: descriptors must have shape (..., {self.in_dim}), got {tuple(descriptors.shape)}"
            )

    def extra_repr(self) -> str:
        return f"in_dim={self.in_dim}, latent_dim={self.latent_dim}"
