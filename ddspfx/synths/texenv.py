"""TexEnv (SubEnv): frame-periodic, band-limited envelopes imposed on envelope-flattened ERB noise (textures §2).

    carriers  s_i(t) = b_i(t) / |H b_i(t)|      b_i: ERB subband i of seeded white noise, H: Hilbert
    envelopes e_i(t) = irfft_ortho([C_i0, …, C_i,K−1, 0, …, 0])(t)      (rFFT length n // 2 + 1)
    output    y(t)   = Σ_i e_i(t)·s_i(t)

Each e_i is real, frame-periodic (circular over the n samples) and band-limited to (K − 1)·fs/n Hz; it
is not constrained to be positive (a negative envelope flips its carrier). The analysis
(`texenv_coefficients`: ERB subbands → Hilbert envelopes → ortho rFFT → first K bins) and the synthesis
both use the *ortho* FFT normalization, so analysis followed by synthesis is the least-squares
projection of every envelope onto its K lowest Fourier modes, and the identity at full order holds:
with K = n // 2 + 1 and the input's own carriers the synthesis returns Σ_i b_i(x).
(The thesis code disagreed between extractor and decoder on both normalization and K; §2.2.)

Bands are 1 … N of `ddspfx.dsp.filterbanks.erb_filterbank` (the edge bands are dropped as in the
reference) unless `edge_bands=True` keeps all N + 2. Shapes: coefficients `(batch, n_carriers, K)`
complex, carriers `(n_carriers, n)` (or `(batch, n_carriers, n)`), audio `(batch, n)`.
"""

from __future__ import annotations

import math

import torch

from ddspfx.core.errors import ConfigError
from ddspfx.dsp.filterbanks import apply_filterbank, erb_filterbank, hilbert_envelope
from ddspfx.params import ParamSpec
from ddspfx.synths.base import Synth

# Default amplitude ceiling A_max = DEFAULT_ENVELOPE_SCALE · √n: an envelope mean (C_0/√n) up to 2, above
# the ≈ 1.25 of a unit-variance texture with all its energy in one band (Rayleigh mean √(π/2)·σ).
DEFAULT_ENVELOPE_SCALE = 2.0
LOUDNESS_MODES = (None, "generic", "specific")
# Norms below this are treated as silence when loudness is imposed (units of the signal).
LOUDNESS_EPS = 1e-12


def erb_subbands(
    audio: torch.Tensor,
    sample_rate: float,
    n_bands: int,
    low: float = 20.0,
    high: float | None = None,
    edge_bands: bool = False,
) -> torch.Tensor:
    """ERB subbands of `audio (..., n)`: bands 1 … N `(..., N, n)`, or all N + 2 with `edge_bands`."""
    responses, _ = erb_filterbank(audio.shape[-1], sample_rate, n_bands, low, high, audio.dtype, audio.device)
    return apply_filterbank(audio, responses if edge_bands else responses[1:-1])


def envelope_carriers(subbands: torch.Tensor) -> torch.Tensor:
    """Envelope-flattened carriers b / |H b| of subbands `(..., n)`, 0 where the Hilbert envelope is 0."""
    envelope = hilbert_envelope(subbands)
    nonzero = envelope > 0
    return torch.where(nonzero, subbands / torch.where(nonzero, envelope, 1.0), 0.0)


def texenv_carriers(
    n_samples: int,
    sample_rate: float,
    n_bands: int,
    low: float = 20.0,
    high: float | None = None,
    seed: int = 0,
    edge_bands: bool = False,
) -> torch.Tensor:
    """The seeded noise carriers ("seed", §2.1): `(n_carriers, n_samples)` float64.

    White Gaussian noise from `torch.Generator().manual_seed(seed)`, split into ERB subbands
    (`erb_subbands`) and divided by their own Hilbert envelopes (0 where an envelope is 0). Each
    carrier has RMS ≈ 1/√2 and a re-measured Hilbert envelope of mean ≈ 1 and std ≈ 0.08, not exactly
    1 and 0: dividing by the envelope spreads the carrier's spectrum past its band (a Bedrosian effect).
    """
    generator = torch.Generator().manual_seed(int(seed))
    noise = torch.randn(n_samples, generator=generator, dtype=torch.float64)
    return envelope_carriers(erb_subbands(noise, sample_rate, n_bands, low, high, edge_bands))


def texenv_coefficients(
    audio: torch.Tensor,
    sample_rate: float,
    n_bands: int,
    n_coefficients: int,
    low: float = 20.0,
    high: float | None = None,
    edge_bands: bool = False,
) -> torch.Tensor:
    """Analysis (§2.3): ortho rFFT of the Hilbert envelope of every ERB subband, first K bins.

    Args:
        audio: `(batch, n)` (any leading dims).
        sample_rate: Hz.
        n_bands: N ERB bands (1 … N kept; all N + 2 with `edge_bands`).
        n_coefficients: K, 1 ≤ K ≤ n // 2 + 1.
        low, high: ERB bank range in Hz (high defaults to Nyquist).

    Returns:
        `(batch, n_carriers, K)` complex: C_ik = Σ_t e_i(t) e^{−2πi kt/n} / √n.
    """
    _check_order("texenv_coefficients", n_coefficients, audio.shape[-1])
    envelopes = hilbert_envelope(erb_subbands(audio, sample_rate, n_bands, low, high, edge_bands))
    return torch.fft.rfft(envelopes, norm="ortho")[..., :n_coefficients]


def texenv_envelopes(coefficients: torch.Tensor, n_samples: int) -> torch.Tensor:
    """Envelopes e_i: ortho irFFT of K coefficients zero-padded to n // 2 + 1 bins.

    `(..., K)` complex → `(..., n_samples)` real. The imaginary parts of bin 0 (and of bin n/2 for even
    n at full order) do not reach a real signal and are ignored.
    """
    _check_order("texenv_envelopes", coefficients.shape[-1], n_samples)
    return torch.fft.irfft(coefficients, n=n_samples, norm="ortho")


def texenv_bands(coefficients: torch.Tensor, carriers: torch.Tensor) -> torch.Tensor:
    """Per-band products e_i·s_i: coefficients `(batch, N, K)` complex, carriers `(N, n)` or
    `(batch, N, n)` → `(batch, N, n)` in the coefficients' real dtype."""
    _check_carriers(coefficients, carriers)
    envelopes = texenv_envelopes(coefficients, carriers.shape[-1])
    return envelopes * carriers.to(envelopes.dtype)


def texenv_synthesize(coefficients: torch.Tensor, carriers: torch.Tensor) -> torch.Tensor:
    """Synthesis (§2.2): y = Σ_i e_i·s_i.

    Args:
        coefficients: `(batch, N, K)` complex envelope coefficients (ortho rFFT bins 0 … K − 1).
        carriers: `(N, n)` (shared) or `(batch, N, n)` real carriers.

    Returns:
        `(batch, n)` audio, linear in the coefficients.
    """
    return texenv_bands(coefficients, carriers).sum(dim=-2)


def impose_loudness(
    bands: torch.Tensor, loudness: str | None, target_loudness: torch.Tensor | float | None
) -> torch.Tensor:
    """Level handling at inference (§2.2), from the per-band products `(batch, N, n)` to audio `(batch, n)`.

    - None: Σ_i bands (the training path, no normalization).
    - "generic": y = Σ_i bands scaled to L2 norm `target_loudness` (`(batch,)` or a number), e.g. the
      norm of the target frame.
    - "specific": band i scaled to L2 norm `target_loudness[:, i]` (`(batch, N)`), e.g. the norms of the
      target's ERB subbands (`erb_subbands(…).norm(dim=-1)`), then summed.

    The reference scaled to unit *RMS* and multiplied by these *norms* (√n louder; its resynthesis
    peak-normalized afterwards); here the output norm equals the target. Norms below `LOUDNESS_EPS`
    count as silence (the output stays 0, never NaN).
    """
    if loudness not in LOUDNESS_MODES:
        raise ValueError(f"TexEnv: loudness must be one of {LOUDNESS_MODES}, got {loudness!r}")
    if loudness is None:
        return bands.sum(dim=-2)
    if target_loudness is None:
        raise ValueError(f"TexEnv: loudness={loudness!r} needs target_loudness")
    target = torch.as_tensor(target_loudness, dtype=bands.dtype, device=bands.device)
    if loudness == "generic":
        y = bands.sum(dim=-2)
        target = target.reshape(-1, 1) if target.dim() else target
        return y / y.norm(dim=-1, keepdim=True).clamp_min(LOUDNESS_EPS) * target
    if target.shape[-1:] != bands.shape[-2:-1]:
        raise ValueError(
            f"TexEnv: loudness='specific' needs target_loudness of shape (batch, {bands.shape[-2]}), "
            f"got {tuple(target.shape)}"
        )
    scaled = bands / bands.norm(dim=-1, keepdim=True).clamp_min(LOUDNESS_EPS) * target.unsqueeze(-1)
    return scaled.sum(dim=-2)


def _check_order(name: str, n_coefficients: int, n_samples: int) -> None:
    if not 1 <= n_coefficients <= n_samples // 2 + 1:
        raise ValueError(
            f"{name}: n_coefficients must be in 1 … {n_samples // 2 + 1} (n_samples // 2 + 1 for "
            f"n_samples={n_samples}), got {n_coefficients}"
        )


def _check_carriers(coefficients: torch.Tensor, carriers: torch.Tensor) -> None:
    if not coefficients.is_complex() or coefficients.dim() < 2:
        raise ValueError(
            f"TexEnv: coefficients must be complex (batch, n_carriers, K), got {coefficients.dtype} "
            f"{tuple(coefficients.shape)}"
        )
    if carriers.dim() not in (2, 3) or carriers.shape[-2] != coefficients.shape[-2]:
        raise ValueError(
            f"TexEnv: carriers must have shape ({coefficients.shape[-2]}, n) or (batch, "
            f"{coefficients.shape[-2]}, n) for coefficients {tuple(coefficients.shape)}, got {tuple(carriers.shape)}"
        )


class TexEnvSynth(Synth):
    """The TexEnv texture synth (module docstring, textures §2) behind the normalized-control contract.

    Controls `(batch, 2·C·K)` in [0, 1] (C = n_bands carriers, or n_bands + 2 with `edge_bands`), laid out
    [amplitudes (C·K), phases (C·K)], band-major (index i·K + k): as the TexDSP decoder, a coefficient
    is C_ik = a·e^{iφ} with a = u_a·A_max and φ = 2π·u_φ. `synth(controls)` → `(batch, n_samples)`;
    `synth.synthesize(coefficients)` takes complex coefficients `(batch, C, K)` directly.

    Level: with the ortho irFFT an envelope's mean is C_0/√n. The reference's |C| < 1 capped it below
    1/√n (0.0055 at n = 32768), far under a real texture (the DC coefficient of a band envelope of
    unit-variance white noise is ≈ 13 in band 1 and ≈ 100 in band 16 at n = 32768; §4.2), so the
    training path had no absolute level. Here A_max = `max_amplitude`, by default
    DEFAULT_ENVELOPE_SCALE·√n = 2√n (362 at n = 32768): envelope means up to 2, above the ≈ 1.25 of a
    unit-variance texture concentrated in one band. A coefficient k ≥ 1 then swings its envelope by up
    to 2·A_max/√n = 4: networks should start with small amplitude controls.

    The carriers (the "seed", §2.1) are drawn once from `seed` and kept as the buffer `carriers`
    `(C, n_samples)`: in state_dict, identical for the same seed and after `load_state_dict`. The
    output is frame-periodic (circular) and has exactly `n_samples` samples.

    Loudness (§2.2, inference only; off in training): `loudness="generic"` or `"specific"` with
    `target_loudness` in `forward`/`synthesize` (see `impose_loudness`; `target_loudness(audio, mode)`
    measures it on a target frame).

    The 2·C·K `params` (`band{i}.amp{k}` linear 0 … A_max, `band{i}.phase{k}` in rad, 0 … 2π) document
    the contract; `forward`, `denormalize` and `normalize` are vectorized rather than looping over them.

    Args:
        sample_rate: Hz.
        n_samples: frame length n in samples.
        n_bands: N ERB bands.
        n_coefficients: K complex coefficients per band, 1 … n // 2 + 1 (envelope bandwidth (K − 1)·fs/n).
        low, high: ERB bank range in Hz (high defaults to Nyquist).
        seed: seed of the noise carriers.
        max_amplitude: A_max (ortho-coefficient units); None for DEFAULT_ENVELOPE_SCALE·√n.
        edge_bands: keep the low-pass and high-pass edge bands as carriers too (N + 2 carriers).
    """

    time_varying = False

    def __init__(
        self,
        sample_rate: int = 44100,
        n_samples: int = 32768,
        n_bands: int = 16,
        n_coefficients: int = 128,
        low: float = 20.0,
        high: float | None = None,
        seed: int = 0,
        max_amplitude: float | None = None,
        edge_bands: bool = False,
    ):
        super().__init__()
        if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 2:
            raise ConfigError(f"TexEnvSynth: n_samples must be an int >= 2, got {n_samples!r}")
        if not 1 <= n_coefficients <= n_samples // 2 + 1:
            raise ConfigError(
                f"TexEnvSynth: n_coefficients must be in 1 … {n_samples // 2 + 1} for n_samples={n_samples}, "
                f"got {n_coefficients}"
            )
        if max_amplitude is not None and not (math.isfinite(max_amplitude) and max_amplitude > 0):
            raise ConfigError(f"TexEnvSynth: max_amplitude must be a positive number, got {max_amplitude}")
        self.sample_rate = sample_rate
        self.duration = n_samples / sample_rate
        self.n_bands, self.n_coefficients = int(n_bands), int(n_coefficients)
        self.low, self.high, self.seed, self.edge_bands = float(low), high, int(seed), bool(edge_bands)
        default_amplitude = DEFAULT_ENVELOPE_SCALE * math.sqrt(n_samples)
        self.max_amplitude = default_amplitude if max_amplitude is None else float(max_amplitude)
        try:
            carriers = texenv_carriers(n_samples, sample_rate, n_bands, low, high, seed, edge_bands)
        except ValueError as error:
            raise ConfigError(f"TexEnvSynth: {error}") from None
        self.register_buffer("carriers", carriers.to(torch.get_default_dtype()))
        self.n_carriers = carriers.shape[0]
        self.params = self._param_specs()
        self._names = [p.name for p in self.params]

    def _param_specs(self) -> list[ParamSpec]:
        pairs = [(i, k) for i in range(self.n_carriers) for k in range(self.n_coefficients)]
        amplitudes = [ParamSpec(f"band{i}.amp{k}", "", 0.0, self.max_amplitude) for i, k in pairs]
        return amplitudes + [ParamSpec(f"band{i}.phase{k}", "rad", 0.0, 2 * math.pi) for i, k in pairs]

    @property
    def n_samples(self) -> int:
        """Frame length: the carriers' length."""
        return self.carriers.shape[-1]

    @property
    def param_names(self) -> list[str]:
        return list(self._names)

    @property
    def n_params(self) -> int:
        return 2 * self.n_carriers * self.n_coefficients

    # ------------------------------------------------------------------ controls ↔ coefficients

    def controls_to_coefficients(self, controls: torch.Tensor) -> torch.Tensor:
        """Controls `(batch, 2·C·K)` (checked, clamped) → complex coefficients `(batch, C, K)`."""
        controls = self.check_controls(controls)
        amplitude, phase = controls.reshape(controls.shape[0], 2, self.n_carriers, self.n_coefficients).unbind(1)
        return torch.polar(amplitude * self.max_amplitude, phase * (2 * math.pi))

    def coefficients_to_controls(self, coefficients: torch.Tensor) -> torch.Tensor:
        """Inverse of `controls_to_coefficients`: `(batch, C, K)` complex → `(batch, 2·C·K)`, amplitude
        |C|/A_max (not clamped: above 1 where |C| > A_max) and phase angle/2π in [0, 1)."""
        amplitude = coefficients.abs() / self.max_amplitude
        phase = torch.remainder(coefficients.angle() / (2 * math.pi), 1.0)
        return torch.cat([amplitude.flatten(1), phase.flatten(1)], dim=1)

    def denormalize(self, controls: torch.Tensor) -> dict[str, torch.Tensor]:
        """`(batch, 2·C·K)` controls → {`band{i}.amp{k}`: a, `band{i}.phase{k}`: φ in rad}, each `(batch,)`."""
        controls = self.check_controls(controls)
        half = self.n_params // 2
        physical = torch.cat([controls[:, :half] * self.max_amplitude, controls[:, half:] * (2 * math.pi)], dim=1)
        return dict(zip(self._names, physical.unbind(1)))

    def normalize(self, **physical: torch.Tensor) -> torch.Tensor:
        """Amplitudes and phases by name (each `(batch,)`) → controls `(batch, 2·C·K)` (not clamped)."""
        if physical.keys() != set(self._names):
            missing = [n for n in self._names if n not in physical][:4]
            unknown = [n for n in physical if n not in set(self._names)][:4]
            raise ValueError(
                f"TexEnvSynth.normalize: needs exactly the {self.n_params} names of param_names; "
                f"missing e.g. {missing}, unknown e.g. {unknown}"
            )
        values = torch.stack([torch.as_tensor(physical[name]) for name in self._names], dim=1)
        half = self.n_params // 2
        return torch.cat([values[:, :half] / self.max_amplitude, values[:, half:] / (2 * math.pi)], dim=1)

    # ------------------------------------------------------------------ synthesis

    def forward(
        self,
        controls: torch.Tensor,
        n_samples: int | None = None,
        loudness: str | None = None,
        target_loudness: torch.Tensor | float | None = None,
    ) -> torch.Tensor:
        """Normalized controls `(batch, 2·C·K)` → audio `(batch, n_samples)` (loudness: `impose_loudness`)."""
        self._check_length(n_samples)
        self._check_time_varying(controls)
        return self.synthesize(self.controls_to_coefficients(controls), loudness, target_loudness)

    def synthesize(
        self,
        coefficients: torch.Tensor,
        loudness: str | None = None,
        target_loudness: torch.Tensor | float | None = None,
    ) -> torch.Tensor:
        """Complex coefficients `(batch, C, K)` → audio `(batch, n_samples)` with this synth's carriers."""
        if coefficients.shape[-2:] != (self.n_carriers, self.n_coefficients):
            raise ValueError(
                f"TexEnvSynth: coefficients must have shape (batch, {self.n_carriers}, {self.n_coefficients}), "
                f"got {tuple(coefficients.shape)}"
            )
        if loudness is None:
            return texenv_synthesize(coefficients, self.carriers)
        return impose_loudness(texenv_bands(coefficients, self.carriers), loudness, target_loudness)

    def render(self, n_samples: int, **physical: torch.Tensor) -> torch.Tensor:
        """The contract's plain path: amplitudes and phases by name (each `(batch,)`) → audio. Slow for
        thousands of names (it stacks them); `forward` and `synthesize` do not use it."""
        self._check_length(n_samples)
        controls = self.normalize(**physical)
        amplitude, phase = controls.reshape(controls.shape[0], 2, self.n_carriers, self.n_coefficients).unbind(1)
        return self.synthesize(torch.polar(amplitude * self.max_amplitude, phase * (2 * math.pi)))

    def analyze(self, audio: torch.Tensor) -> torch.Tensor:
        """`texenv_coefficients` of `audio (batch, n_samples)` with this synth's bank and order."""
        self._check_length(audio.shape[-1])
        return texenv_coefficients(
            audio, self.sample_rate, self.n_bands, self.n_coefficients, self.low, self.high, self.edge_bands
        )

    def target_loudness(self, audio: torch.Tensor, loudness: str) -> torch.Tensor:
        """The target for `loudness` measured on `audio (batch, n)`: its L2 norm `(batch,)` ("generic")
        or the L2 norms of its ERB subbands `(batch, C)` ("specific")."""
        if loudness == "generic":
            return audio.norm(dim=-1)
        if loudness == "specific":
            subbands = erb_subbands(audio, self.sample_rate, self.n_bands, self.low, self.high, self.edge_bands)
            return subbands.norm(dim=-1)
        raise ValueError(f"TexEnvSynth.target_loudness: loudness must be 'generic' or 'specific', got {loudness!r}")

    def _check_length(self, n_samples: int | None) -> None:
        if n_samples is not None and n_samples != self.n_samples:
            raise ValueError(
                f"TexEnvSynth renders frames of exactly {self.n_samples} samples (its carriers' length), "
                f"got n_samples={n_samples}"
            )

    def extra_repr(self) -> str:
        return (
            f"sample_rate={self.sample_rate}, n_samples={self.n_samples}, n_bands={self.n_bands}, "
            f"n_coefficients={self.n_coefficients}, carriers={self.n_carriers}, seed={self.seed}, "
            f"max_amplitude={self.max_amplitude:g}"
        )
