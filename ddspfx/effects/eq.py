"""Equalizers built from RBJ biquad cascades: a 5-band parametric EQ and a 10-band graphic EQ.

Reference B.3 (ICASSP `peq`, `geq`) and A.13 (TASLP 5-band preset). Two filtering paths:
`method="fsm"` (frequency sampling, `ddspfx.dsp.filters.fsm_filter`; fast, the analysis path) and
`method="exact"` (the recursion through `torchaudio.functional.lfilter`; for synthesis targets).
Biquads are designed in float64 and the exact path runs in float64 (the recursion of a 20 Hz
band is poorly conditioned in float32); the output has the input's dtype.
"""

from __future__ import annotations

import math
import warnings
from typing import Mapping, Sequence

import torch

from ddspfx.dsp.filters import DEFAULT_PAD, biquad_coefficients, fsm_filter, lfilter_cascade
from ddspfx.dsp.filters import magnitude_response_db as cascade_magnitude_response_db
from ddspfx.effects.base import Effect, per_example_columns, with_ranges
from ddspfx.params import ParamSpec

METHODS = ("fsm", "exact")

# Band frequencies must stay below this fraction of the sample rate (Nyquist is 0.5).
MAX_FREQ_RATIO = 0.46  # 20 kHz stays inside at 44.1 kHz; 7.36 kHz at 16 kHz

PEQ_BANDS = (
    ("low_shelf", "low_shelf"),
    ("peak1", "peak"),
    ("peak2", "peak"),
    ("peak3", "peak"),
    ("high_shelf", "high_shelf"),
)

# {preset: (frequency ranges per band in Hz, max |gain| in dB, (Q min, Q max))}
PEQ_PRESETS = {
    # ICASSP 2024 table (reference B.3).
    "icassp": (((30, 160), (100, 2000), (500, 6000), (2000, 16000), (5000, 20000)), 15.0, (0.1, 2.0)),
    # TASLP `get_5BandParametricEQ` (reference A.13).
    "taslp5": (((20, 200), (40, 300), (200, 3000), (1000, 6000), (2000, 20000)), 10.0, (0.1, 3.0)),
}

# Graphic EQ: (control name, band kind, f0 in Hz).
GEQ_BANDS = (
    ("gain_31", "low_shelf", 31.25),
    ("gain_62", "peak", 62.5),
    ("gain_125", "peak", 125.0),
    ("gain_250", "peak", 250.0),
    ("gain_500", "peak", 500.0),
    ("gain_1k", "peak", 1000.0),
    ("gain_2k", "peak", 2000.0),
    ("gain_4k", "peak", 4000.0),
    ("gain_8k", "peak", 8000.0),
    ("gain_16k", "high_shelf", 16000.0),
)


def bandwidth_to_q(bandwidth_octaves: float, f0: torch.Tensor, sample_rate: float) -> torch.Tensor:
    """RBJ digital bandwidth → Q: Q = 1 / (2·sinh(ln2/2 · B · w0 / sin w0)), w0 = 2π f0 / sample_rate.

    Args:
        bandwidth_octaves: B, in octaves.
        f0: centre frequencies in Hz, any shape (below Nyquist).
        sample_rate: in Hz.

    Returns:
        Q, same shape as f0.
    """
    w0 = 2 * math.pi * torch.as_tensor(f0, dtype=torch.float64) / sample_rate
    return 1 / (2 * torch.sinh(math.log(2) / 2 * bandwidth_octaves * w0 / torch.sin(w0)))


class BiquadEQ(Effect):
    """Shared machinery of the equalizers: a cascade of biquads of fixed kinds, applied by `method`.

    Subclasses set `self.kinds` (one `BIQUAD_KINDS` name per band) and implement
    `band_settings(physical) -> (f0, gain_db, q)`, each `(batch, bands)` float64.
    """

    kinds: tuple[str, ...]

    def __init__(self, sample_rate: float, method: str, pad: int):
        super().__init__()
        if not sample_rate > 0:
            raise ValueError(f"{type(self).__name__}: sample_rate must be > 0, got {sample_rate}")
        if method not in METHODS:
            raise ValueError(f"{type(self).__name__}: method must be one of {METHODS}, got {method!r}")
        if not isinstance(pad, int) or pad < 0:
            raise ValueError(f"{type(self).__name__}: pad must be an int >= 0, got {pad!r}")
        self.sample_rate = float(sample_rate)
        self.method = method
        self.pad = pad

    def band_settings(self, physical: Mapping[str, torch.Tensor]):
        raise NotImplementedError

    def _physical_coefficients(self, physical: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        per_example_columns(type(self).__name__, **physical)
        f0, gain_db, q = self.band_settings(physical)
        bands = [
            biquad_coefficients(kind, f0[:, i], gain_db[:, i], q[:, i], self.sample_rate)
            for i, kind in enumerate(self.kinds)
        ]
        return torch.stack([b for b, _ in bands], dim=1), torch.stack([a for _, a in bands], dim=1)

    def coefficients(self, controls: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Controls `(batch, n_params)` in [0, 1] → float64 b, a of shape `(batch, bands, 3)` (a0 = 1)."""
        return self._physical_coefficients(self.denormalize(controls))

    def magnitude_response_db(self, controls: torch.Tensor, freqs_hz: torch.Tensor) -> torch.Tensor:
        """Magnitude response in dB of the whole cascade at `freqs_hz` `(n_freqs,)` Hz → `(batch, n_freqs)` float64."""
        b, a = self.coefficients(controls)
        return cascade_magnitude_response_db(b, a, freqs_hz, self.sample_rate)

    def process(self, audio: torch.Tensor, **physical: torch.Tensor) -> torch.Tensor:
        b, a = self._physical_coefficients(physical)
        if self.method == "fsm":
            return fsm_filter(audio, b, a, pad=self.pad)
        if self.method == "exact":
            return lfilter_cascade(audio, b, a)
        raise ValueError(f"{type(self).__name__}: method must be one of {METHODS}, got {self.method!r}")

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, method={self.method!r}, pad={self.pad}"


def _fit_frequency_range(spec: ParamSpec, sample_rate: float, owner: str) -> ParamSpec:
    """Narrow a frequency range to below MAX_FREQ_RATIO·sample_rate (warning), or refuse it if entirely above."""
    limit = MAX_FREQ_RATIO * sample_rate
    if spec.min >= limit:
        raise ValueError(
            f"{owner}: range of {spec.name!r} [{spec.min:g}, {spec.max:g}] Hz lies above "
            f"{MAX_FREQ_RATIO}·sample_rate = {limit:g} Hz"
        )
    if spec.max > limit:
        warnings.warn(
            f"{owner}: range of {spec.name!r} [{spec.min:g}, {spec.max:g}] Hz narrowed to "
            f"[{spec.min:g}, {limit:g}] Hz ({MAX_FREQ_RATIO}·sample_rate at {sample_rate:g} Hz)",
            stacklevel=3,
        )
        spec = ParamSpec(spec.name, spec.unit, spec.min, limit, spec.scale)
    return spec


class ParametricEQ(BiquadEQ):
    """5-band parametric EQ: low shelf, three peaks, high shelf (15 controls, reference B.3 / A.13).

    Controls, in order (f0 mapped log-scale, gain and Q linearly):
        low_shelf_freq, low_shelf_gain, low_shelf_q, peak1_freq, peak1_gain, peak1_q, …,
        peak3_q, high_shelf_freq, high_shelf_gain, high_shelf_q   (units Hz, dB, dimensionless Q).

    Presets (default ranges):
        "icassp" (B.3): LS 30–160 Hz, P1 100–2000, P2 500–6000, P3 2000–16000, HS 5000–20000;
                        gains ±15 dB; Q 0.1–2.
        "taslp5" (A.13): LS 20–200 Hz, P 40–300, P 200–3000, P 1000–6000, HS 2000–20000;
                        gains ±10 dB; Q 0.1–3.
    A frequency range reaching above 0.46·sample_rate is narrowed to end there (with a warning);
    one lying entirely above raises ValueError. E.g. at 44.1 kHz the high shelf ends at 19,845 Hz,
    at 16 kHz P3 and HS end at 7,200 Hz.

    Audio `(batch, samples)`, controls `(batch, 15)` → `(batch, samples)`.

    Args:
        sample_rate: Hz.
        ranges: `{name: [min, max]}` overrides of the preset's ranges (physical units).
        preset: "icassp" or "taslp5".
        method: "fsm" (frequency sampling) or "exact" (lfilter recursion).
        pad: minimum zero-padding of the fsm path in samples (see `fsm_filter` for its error).
    """

    kinds = tuple(kind for _, kind in PEQ_BANDS)

    def __init__(
        self,
        sample_rate: float = 44100,
        ranges: Mapping[str, Sequence[float]] | None = None,
        preset: str = "icassp",
        method: str = "fsm",
        pad: int = DEFAULT_PAD,
    ):
        super().__init__(sample_rate, method, pad)
        owner = type(self).__name__
        if preset not in PEQ_PRESETS:
            raise ValueError(f"{owner}: unknown preset {preset!r}; expected one of {tuple(PEQ_PRESETS)}")
        self.preset = preset
        params = with_ranges(self.preset_params(preset), ranges, owner)
        for p in params:
            if p.name.endswith("_q") and p.min <= 0:
                raise ValueError(f"{owner}: range of {p.name!r} must have min > 0, got [{p.min:g}, {p.max:g}]")
        self.params = []
        for p in params:
            self.params.append(_fit_frequency_range(p, self.sample_rate, owner) if p.unit == "Hz" else p)

    @staticmethod
    def preset_params(preset: str) -> list[ParamSpec]:
        """The 15 `ParamSpec`s of a preset, before any override or narrowing."""
        freq_ranges, max_gain, (q_min, q_max) = PEQ_PRESETS[preset]
        params = []
        for (band, _), (f_min, f_max) in zip(PEQ_BANDS, freq_ranges):
            params += [
                ParamSpec(f"{band}_freq", "Hz", float(f_min), float(f_max), "log"),
                ParamSpec(f"{band}_gain", "dB", -max_gain, max_gain),
                ParamSpec(f"{band}_q", "", q_min, q_max),
            ]
        return params

    def band_settings(self, physical: Mapping[str, torch.Tensor]):
        def stack(suffix: str) -> torch.Tensor:
            return torch.stack([physical[f"{band}_{suffix}"] for band, _ in PEQ_BANDS], dim=1).double()

        return stack("freq"), stack("gain"), stack("q")


class GraphicEQ(BiquadEQ):
    """10-band graphic EQ of fixed frequencies and bandwidths, gains only (reference B.3 `geq`).

    Bands: low shelf at 31.25 Hz; peaks at 62.5, 125, 250, 500, 1k, 2k, 4k, 8k Hz; high shelf at
    16 kHz. Every band has a bandwidth of 2 octaves, turned into Q with the RBJ digital formula
    (`bandwidth_to_q`); at 44.1 kHz Q ≈ 0.6667 (≤ 250 Hz), 0.6641 (1 kHz), 0.5084 (8 kHz),
    0.1267 (16 kHz). The bands form a plain cascade (no per-band normalization).

    Controls `gain_31, gain_62, gain_125, gain_250, gain_500, gain_1k, gain_2k, gain_4k, gain_8k,
    gain_16k` (dB, linear mapping, default ±15 dB). Bands with f0 ≥ 0.46·sample_rate are dropped
    with a warning, and so are their controls: at 16 kHz the 8k and 16k bands go and n_params = 8;
    at 32 kHz the 16k band goes. `ranges` entries of dropped bands are ignored.

    Audio `(batch, samples)`, controls `(batch, n_params)` → `(batch, samples)`.

    Args:
        sample_rate: Hz.
        ranges: `{name: [min, max]}` per-band gain overrides (dB).
        gain_range: default `(min, max)` gain of every band in dB.
        bandwidth_octaves: bandwidth of every band.
        method: "fsm" or "exact".
        pad: minimum zero-padding of the fsm path in samples.
    """

    def __init__(
        self,
        sample_rate: float = 44100,
        ranges: Mapping[str, Sequence[float]] | None = None,
        gain_range: Sequence[float] = (-15.0, 15.0),
        bandwidth_octaves: float = 2.0,
        method: str = "fsm",
        pad: int = DEFAULT_PAD,
    ):
        super().__init__(sample_rate, method, pad)
        owner = type(self).__name__
        limit = MAX_FREQ_RATIO * self.sample_rate
        kept = [band for band in GEQ_BANDS if band[2] < limit]
        dropped = [name for name, _, f0 in GEQ_BANDS if f0 >= limit]
        if not kept:
            raise ValueError(f"{owner}: no band lies below {MAX_FREQ_RATIO}·sample_rate = {limit:g} Hz")
        if dropped:
            warnings.warn(
                f"{owner}: bands {dropped} are at or above {MAX_FREQ_RATIO}·sample_rate = {limit:g} Hz "
                f"and are dropped ({len(kept)} bands remain)",
                stacklevel=2,
            )
        ranges = {k: v for k, v in (ranges or {}).items() if k not in dropped}
        low, high = (float(g) for g in gain_range)
        self.params = with_ranges([ParamSpec(name, "dB", low, high) for name, _, _ in kept], ranges, owner)
        self.kinds = tuple(kind for _, kind, _ in kept)
        self.bandwidth_octaves = float(bandwidth_octaves)
        center_freqs = torch.tensor([f0 for _, _, f0 in kept], dtype=torch.float64)
        self.register_buffer("center_freqs", center_freqs)
        self.register_buffer("q_values", bandwidth_to_q(self.bandwidth_octaves, center_freqs, self.sample_rate))

    def band_settings(self, physical: Mapping[str, torch.Tensor]):
        gain_db = torch.stack([physical[name] for name in self.param_names], dim=1).double()
        f0 = self.center_freqs.double().to(gain_db.device).expand_as(gain_db)
        q = self.q_values.double().to(gain_db.device).expand_as(gain_db)
        return f0, gain_db, q
