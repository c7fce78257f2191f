"""P-VAE: a texture as K atoms (decoded grains) placed at the events of a Poisson-like train (textures §5).

With frame length n, K grains of length L from a frozen grain decoder, rate λ (events/s), exponent α and
latents z_k ∈ R^D:

    E[t]     = b[t]·V[t]^α                                  `ddspfx.synths.events.event_train`
    g_k[m]   = decode(z_k)[m] · w[m]                        w = Hann_L(m)^β (symmetric, β = 0.1)
    E_k[t]   = E[t]·1[t ∈ P_k]                              P_k = [k·h, (k+1)·h), h = n // K, the last to n
    y[t]     = Σ_k Σ_{m=0}^{L−1} g_k[m]·E_k[t − m],  0 ≤ t < n

Patch k of the event train is linearly convolved with grain k: a grain starts at its event sample and
runs forward, and tails past the frame end are dropped (no circular wrap). The reference computed a
cross-correlation and time-reversed the result (atoms at mirrored event times, §5); here the placement is
the plain causal one. One FFT convolution of size next_power_of_two(n + L − 1), vectorized over batch
and K (`place_grains`).

Latents use the "normal" ParamSpec scale: uniform controls are draws from the grain VAE's standard
normal prior truncated to ±`latent_range` σ, so the decoder is never queried outside its prior's range
(the reference queried (−2, 2)² of a decoder trained on (0, 1)², §7). The grain synth is frozen (no
gradient to its parameters, always in eval mode); gradients reach the latents through `decode`, λ
through the straight-through estimator and α through the reparameterized amplitudes (events.py).
The output is not normalized (the reference z-normalized it at inference).

Shapes: controls `(batch, 2 + K·D)` in [0, 1] → audio `(batch, n)`; grains `(batch, K, L)`.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ddspfx.core.errors import ConfigError
from ddspfx.dsp.filters import next_power_of_two
from ddspfx.params import ParamSpec
from ddspfx.synths.base import Synth
from ddspfx.synths.events import event_train


def patch_index(n_samples: int, n_patches: int, device: torch.device | None = None) -> torch.Tensor:
    """`(n_samples,)` long: the patch k of every sample, k = min(t // (n // K), K − 1) (all K − 1 if n < K)."""
    t = torch.arange(n_samples, device=device)
    hop = n_samples // n_patches
    if hop == 0:
        return torch.full_like(t, n_patches - 1)
    return torch.clamp(t // hop, max=n_patches - 1)


def place_grains(events: torch.Tensor, grains: torch.Tensor) -> torch.Tensor:
    """Convolve patch k of the event train with grain k, sum over k, keep the first n samples.

    Args:
        events: `(batch, n)` event train.
        grains: `(batch, K, L)` grains (or `(K, L)`, shared by the batch).

    Returns:
        `(batch, n)` y[t] = Σ_k Σ_m grains[k, m]·events_k[t − m] (module docstring), in the promoted
        dtype of the inputs; linear (and differentiable) in both.
    """
    if events.dim() != 2 or grains.dim() not in (2, 3) or (grains.dim() == 3 and grains.shape[0] != events.shape[0]):
        raise ValueError(
            f"place_grains: events must be (batch, n) and grains (batch, K, L) or (K, L), got "
            f"{tuple(events.shape)} and {tuple(grains.shape)}"
        )
    dtype = torch.promote_types(events.dtype, grains.dtype)
    events, grains = events.to(dtype), grains.to(dtype)
    n, (k, length) = events.shape[-1], grains.shape[-2:]
    mask = patch_index(n, k, events.device) == torch.arange(k, device=events.device).unsqueeze(-1)
    patches = events.unsqueeze(-2) * mask.to(dtype)  # (batch, K, n), events at their own times
    size = next_power_of_two(n + length - 1)
    spectrum = torch.fft.rfft(patches, n=size) * torch.fft.rfft(grains, n=size)
    return torch.fft.irfft(spectrum.sum(dim=-2), n=size)[..., :n]


def grain_window(length: int, exponent: float, dtype: torch.dtype | None = None) -> torch.Tensor:
    """`(length,)` symmetric Hann window raised to `exponent` (0 gives ones)."""
    return torch.hann_window(length, periodic=False, dtype=dtype or torch.get_default_dtype()) ** exponent


class PVAESynth(Synth):
    """The P-VAE texture synth (module docstring): frozen grain decoder × differentiable event train.

    Controls `(batch, 2 + K·D)` in [0, 1], in this order: `rate` (events/s, log over `rate_range`),
    `alpha` (log over `alpha_range`), then `grain{k}.z{j}` for k < K, j < D (σ units, "normal" scale over
    ±`latent_range`). `synth(controls, generator=…)` → audio `(batch, n_samples)`; the same generator
    state (or the same `uniforms (2, batch, n)`) gives the same events.

    Args:
        grains: the grain synth, an nn.Module with `latent_dim` (D), `n_samples` (grain length L),
            `sample_rate` (Hz), `decode(z (..., D)) → (..., L)` and `texenv` (a TexEnvSynth: its
            `n_bands`, `low`, `high`, `edge_bands` are exposed here). It is frozen in place.
        n_samples: frame length n in samples.
        n_grains: K, the number of grains (and event-train patches).
        rate_range: (min, max) λ in events/s, 0 < min < max ≤ sample_rate.
        alpha_range: (min, max) α, 0 < min < max.
        latent_range: latents span ±latent_range σ of the prior.
        window_exponent: β of the grain window Hann^β (β ≥ 0).
    """

    time_varying = False

    def __init__(
        self,
        grains: nn.Module,
        n_samples: int = 65536,
        n_grains: int = 4,
        rate_range: tuple[float, float] = (1.0, 100.0),
        alpha_range: tuple[float, float] = (0.01, 100.0),
        latent_range: float = 3.0,
        window_exponent: float = 0.1,
    ):
        super().__init__()
        _check_grains(grains)
        self.sample_rate = grains.sample_rate
        self.latent_dim, self.grain_length = int(grains.latent_dim), int(grains.n_samples)
        _check_config(n_samples, n_grains, rate_range, alpha_range, latent_range, window_exponent, self.sample_rate)
        self.frame_length, self.n_grains = int(n_samples), int(n_grains)
        self.duration = self.frame_length / self.sample_rate
        self.latent_range, self.window_exponent = float(latent_range), float(window_exponent)
        self.grains = grains.requires_grad_(False).eval()
        self.register_buffer("window", grain_window(self.grain_length, self.window_exponent), persistent=False)
        self.rate_spec = ParamSpec("rate", "events/s", float(rate_range[0]), float(rate_range[1]), "log")
        self.alpha_spec = ParamSpec("alpha", "", float(alpha_range[0]), float(alpha_range[1]), "log")
        self.latent_spec = ParamSpec("z", "σ", -self.latent_range, self.latent_range, "normal")
        self.params = [self.rate_spec, self.alpha_spec] + [
            ParamSpec(name, "σ", -self.latent_range, self.latent_range, "normal") for name in self.latent_names
        ]

    # ------------------------------------------------------------------ properties

    @property
    def latent_names(self) -> list[str]:
        """`grain{k}.z{j}` for k < K, j < D (grain-major)."""
        return [f"grain{k}.z{j}" for k in range(self.n_grains) for j in range(self.latent_dim)]

    @property
    def n_samples(self) -> int:
        """Frame length n rendered when `forward` is not told."""
        return self.frame_length

    @property
    def texenv(self):
        return self.grains.texenv

    @property
    def n_bands(self) -> int:
        return self.texenv.n_bands

    @property
    def low(self) -> float:
        return self.texenv.low

    @property
    def high(self) -> float | None:
        return self.texenv.high

    @property
    def edge_bands(self) -> bool:
        return self.texenv.edge_bands

    def train(self, mode: bool = True) -> "PVAESynth":
        """Set the mode of this module; the frozen grain synth stays in eval mode."""
        super().train(mode)
        self.grains.eval()
        return self

    # ------------------------------------------------------------------ controls

    def controls_to_physical(self, controls: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Controls `(batch, 2 + K·D)` (checked, clamped) → λ `(batch,)` events/s, α `(batch,)`, z `(batch, K, D)`."""
        self._check_time_varying(controls)
        controls = self.check_controls(controls)
        rate = self.rate_spec.denormalize(controls[:, 0])
        alpha = self.alpha_spec.denormalize(controls[:, 1])
        z = self.latent_spec.denormalize(controls[:, 2:]).reshape(-1, self.n_grains, self.latent_dim)
        return rate, alpha, z

    # ------------------------------------------------------------------ synthesis

    def forward(
        self,
        controls: torch.Tensor,
        n_samples: int | None = None,
        generator: torch.Generator | None = None,
        uniforms: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Normalized controls `(batch, 2 + K·D)` → audio `(batch, n_samples)`; events from `generator`
        (None: the global RNG) or from `uniforms (2, batch, n)` in [0, 1)."""
        n = self._resolve_n_samples(n_samples)
        rate, alpha, z = self.controls_to_physical(controls)
        return self.synthesize(rate, alpha, z, n, generator, uniforms)

    def render(
        self,
        n_samples: int,
        generator: torch.Generator | None = None,
        uniforms: torch.Tensor | None = None,
        **physical: torch.Tensor,
    ) -> torch.Tensor:
        """The contract's plain path: `rate`, `alpha` and every `grain{k}.z{j}` by name, each `(batch,)`."""
        expected = ["rate", "alpha", *self.latent_names]
        if set(physical) != set(expected):
            missing = [name for name in expected if name not in physical]
            unknown = [name for name in physical if name not in expected]
            raise ValueError(f"PVAESynth.render: missing {missing}, unknown {unknown}; expected {expected}")
        z = torch.stack([torch.as_tensor(physical[name]) for name in self.latent_names], dim=-1)
        z = z.reshape(-1, self.n_grains, self.latent_dim)
        return self.synthesize(physical["rate"], physical["alpha"], z, n_samples, generator, uniforms)

    def synthesize(
        self,
        rate: torch.Tensor,
        alpha: torch.Tensor,
        z: torch.Tensor,
        n_samples: int | None = None,
        generator: torch.Generator | None = None,
        uniforms: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """λ `(batch,)` events/s, α `(batch,)`, latents z `(batch, K, D)` → audio `(batch, n_samples)`."""
        n = self._resolve_n_samples(n_samples)
        events = event_train(rate, alpha, n, self.sample_rate, generator, uniforms)
        return place_grains(events, self.grain_bank(z))

    def grain_bank(self, z: torch.Tensor) -> torch.Tensor:
        """Windowed decoded grains: latents `(batch, K, D)` → `(batch, K, L)` (in the window's dtype)."""
        if z.dim() != 3 or z.shape[1:] != (self.n_grains, self.latent_dim):
            raise ValueError(
                f"PVAESynth: latents must have shape (batch, {self.n_grains}, {self.latent_dim}), got {tuple(z.shape)}"
            )
        audio = self.grains.decode(z.to(device=self.window.device, dtype=self.window.dtype))
        if audio.shape[-1] != self.grain_length:
            raise ValueError(
                f"PVAESynth: grains.decode returned {audio.shape[-1]} samples, expected {self.grain_length}"
            )
        return audio * self.window.to(audio.dtype)

    def events(
        self,
        controls: torch.Tensor,
        n_samples: int | None = None,
        generator: torch.Generator | None = None,
        uniforms: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The event train alone `(batch, n_samples)` for these controls (e.g. for figures)."""
        n = self._resolve_n_samples(n_samples)
        rate, alpha, _ = self.controls_to_physical(controls)
        return event_train(rate, alpha, n, self.sample_rate, generator, uniforms)

    def extra_repr(self) -> str:
        return (
            f"sample_rate={self.sample_rate}, n_samples={self.frame_length}, n_grains={self.n_grains}, "
            f"latent_dim={self.latent_dim}, grain_length={self.grain_length}, rate={self.rate_spec.min:g}…"
            f"{self.rate_spec.max:g} events/s, alpha={self.alpha_spec.min:g}…{self.alpha_spec.max:g}, "
            f"latent_range=±{self.latent_range:g}σ, window_exponent={self.window_exponent:g}"
        )


def _check_grains(grains: nn.Module) -> None:
    if not isinstance(grains, nn.Module):
        raise ConfigError(f"PVAESynth: grains must be an nn.Module, got {type(grains).__name__}")
    missing = [name for name in ("latent_dim", "n_samples", "sample_rate", "decode", "texenv") if not hasattr(grains, name)]
    if missing:
        raise ConfigError(f"PVAESynth: grains ({type(grains).__name__}) lacks {missing}")
    if int(grains.latent_dim) < 1 or int(grains.n_samples) < 1:
        raise ConfigError(
            f"PVAESynth: grains.latent_dim and grains.n_samples must be >= 1, got {grains.latent_dim} and {grains.n_samples}"
        )


def _check_config(n_samples, n_grains, rate_range, alpha_range, latent_range, window_exponent, sample_rate) -> None:
    if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 1:
        raise ConfigError(f"PVAESynth: n_samples must be an int >= 1, got {n_samples!r}")
    if isinstance(n_grains, bool) or not isinstance(n_grains, int) or not 1 <= n_grains <= n_samples:
        raise ConfigError(f"PVAESynth: n_grains must be an int in 1 … n_samples ({n_samples}), got {n_grains!r}")
    if len(rate_range) != 2 or not 0 < rate_range[0] < rate_range[1] <= sample_rate:
        raise ConfigError(
            f"PVAESynth: rate_range must be (min, max) with 0 < min < max <= sample_rate ({sample_rate}), got {rate_range}"
        )
    if len(alpha_range) != 2 or not 0 < alpha_range[0] < alpha_range[1] < math.inf:
        raise ConfigError(f"PVAESynth: alpha_range must be (min, max) with 0 < min < max, got {alpha_range}")
    if not 0 < latent_range < math.inf:
        raise ConfigError(f"PVAESynth: latent_range must be a positive number, got {latent_range}")
    if not 0 <= window_exponent < math.inf:
        raise ConfigError(f"PVAESynth: window_exponent must be a number >= 0, got {window_exponent}")
