"""The TexDSP decoder (reference textures §4.2): a latent per frame → TexEnv controls per frame.

Two heads on the same latent, each mlp(in → H_dec, D_dec) (L × [Linear → LayerNorm → LeakyReLU])
then Linear(H_dec → N·K) → sigmoid:

    amplitudes u_a ∈ (0, 1)^{N·K}     (the synth maps them to a = u_a·A_max)
    phases     u_φ ∈ (0, 1)^{N·K}     (φ = 2π·u_φ)

returned as controls `[u_a, u_φ]` `(..., 2·N·K)`, `TexEnvSynth`'s layout (band-major, i·K + k).

Amplitude start: `TexEnvSynth` scales u_a by A_max = 2√n (362 at n = 32768) so that its envelopes
can reach a real texture's level (the reference's |C| < 1 could not, §4.2). With a zero bias the
sigmoid would start every coefficient at A_max/2: each of the K coefficients of a band would swing
its envelope by ±A_max/√n = ±2, a sum of K random sinusoids far louder than any target (envelope
std ≈ 2√(K/2) = 16 at K = 128), and TexStat's moments and correlations would start saturated. The
amplitude bias is therefore set to logit(`initial_amplitude`) (default 0.02: ≈ 7 in coefficient
units at n = 32768, the order of a unit-variance texture's band DC coefficients, 13–100, spread over
K coefficients), so training starts from quiet, smooth envelopes and grows them.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ddspfx.nn.layernorm_mlp import layernorm_mlp

DEFAULT_INITIAL_AMPLITUDE = 0.02  # u_a at the start (sigmoid of the amplitude bias)


class TexDSPDecoder(nn.Module):
    """Latent `(..., in_dim)` → controls `(..., 2·N·K)` in (0, 1) (module docstring).

    Args:
        in_dim: width of the latent ((F + 1)·H_enc from `TexDSPEncoder`).
        n_bands: N, the synth's carriers.
        n_coefficients: K complex coefficients per band.
        hidden: H_dec.
        depth: D_dec (≥ 1).
        initial_amplitude: u_a of every amplitude at the start, in (0, 1) (the bias is its logit).
    """

    def __init__(
        self,
        in_dim: int,
        n_bands: int,
        n_coefficients: int,
        hidden: int = 256,
        depth: int = 3,
        initial_amplitude: float = DEFAULT_INITIAL_AMPLITUDE,
    ):
        super().__init__()
        if not 0.0 < float(initial_amplitude) < 1.0:
            raise ValueError(f"TexDSPDecoder: initial_amplitude must be in (0, 1), got {initial_amplitude}")
        self.n_bands, self.n_coefficients = int(n_bands), int(n_coefficients)
        size = self.n_bands * self.n_coefficients
        self.n_params = 2 * size
        self.amplitude = nn.Sequential(layernorm_mlp(in_dim, hidden, depth), nn.Linear(int(hidden), size))
        self.phase = nn.Sequential(layernorm_mlp(in_dim, hidden, depth), nn.Linear(int(hidden), size))
        u = float(initial_amplitude)
        with torch.no_grad():
            self.amplitude[-1].bias.fill_(math.log(u / (1 - u)))

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        """Controls `[amplitudes (N·K), phases (N·K)]` `(..., 2·N·K)` in (0, 1)."""
        return torch.cat([torch.sigmoid(self.amplitude(latent)), torch.sigmoid(self.phase(latent))], dim=-1)
