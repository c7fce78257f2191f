"""Dynamics processors, exact and differentiable: the DSP compressor, the simplified compressor and
the soft clipper of the mastering experiments (reference notes A.13 and B.3).

All three work on the instantaneous level in dB, x_G = 20·log10(max(|x|, 1e-4)), through the
quadratic-knee static curve of `ddspfx.dsp.dynamics`, and apply a gain to the input:

    Compressor:        x · 10^((makeup − y_L)/20),  y_L = attack/release smoother of x_G − y_G
    SimpleCompressor:  the same with one time constant (a one-pole smoother) for both directions
    SoftClipper:       x · 10^((y_dB − x_dB)/20),   y_dB the limiter curve (ratio ∞), no smoothing

Fixes against the reference: the input is never modified (the DSP compressor wrote its level floor
into the input), the simplified compressor uses its own log-mapped time constant (it was tied to
the threshold), and the soft clipper clips (the DSP version was an identity).
"""

from __future__ import annotations

from typing import Mapping, Sequence

import torch

from ddspfx.dsp.dynamics import amplitude_to_db, db_to_amplitude, gain_reduction, soft_clip_curve
from ddspfx.dsp.recursive import BACKENDS, compress, time_constant_to_alpha
from ddspfx.effects.base import Effect, per_example_columns, with_ranges
from ddspfx.params import ParamSpec

LEVEL_FLOOR = 1e-4  # amplitude floor of the level detector (−80 dB), as in the reference


def _check_ranges(params: Sequence[ParamSpec], owner: str) -> None:
    """Ranges that the static curve cannot take: a knee below 0 dB, a ratio below 1, time ≤ 0."""
    for p in params:
        if p.name == "knee_db" and p.min < 0:
            raise ValueError(f"{owner}: knee_db must be ≥ 0 dB, got the range [{p.min}, {p.max}]")
        if p.name == "ratio" and p.min < 1:
            raise ValueError(f"{owner}: ratio must be ≥ 1, got the range [{p.min}, {p.max}]")
        if p.name.endswith("_ms") and p.min <= 0:
            raise ValueError(f"{owner}: {p.name} must be > 0 ms, got the range [{p.min}, {p.max}]")


class CompressorBase(Effect):
    """What `Compressor` and `SimpleCompressor` share: construction from `default_params` (with
    range checks) and the static curve. Controls include threshold_db, ratio, knee_db, makeup_db."""

    default_params: tuple[ParamSpec, ...] = ()

    def __init__(
        self,
        sample_rate: float = 44100,
        ranges: Mapping[str, Sequence[float]] | None = None,
        backend: str = "auto",
    ):
        super().__init__()
        if not sample_rate > 0:
            raise ValueError(f"{type(self).__name__}: sample_rate must be positive, got {sample_rate}")
        if backend not in BACKENDS:
            raise ValueError(f"{type(self).__name__}: backend must be one of {list(BACKENDS)}, got {backend!r}")
        self.sample_rate, self.backend = sample_rate, backend
        self.params = with_ranges(self.default_params, ranges, type(self).__name__)
        _check_ranges(self.params, type(self).__name__)

    def static_curve(self, controls: torch.Tensor, levels_db: torch.Tensor) -> torch.Tensor:
        """Steady-state output level in dB (make-up gain included) for constant input levels.

        Args:
            controls: `(batch, n_params)` in [0, 1].
            levels_db: input levels in dB, `(n_levels,)` or `(batch, n_levels)`.

        Returns:
            `(batch, n_levels)` output levels in dB: y_G + makeup.
        """
        p = self.denormalize(controls)
        threshold_db, ratio, knee_db, makeup_db = per_example_columns(
            type(self).__name__, threshold_db=p["threshold_db"], ratio=p["ratio"], knee_db=p["knee_db"],
            makeup_db=p["makeup_db"],
        )
        levels_db = torch.as_tensor(levels_db, dtype=threshold_db.dtype, device=threshold_db.device)
        if levels_db.dim() == 1:
            levels_db = levels_db.unsqueeze(0)
        if levels_db.dim() != 2 or levels_db.shape[0] not in (1, controls.shape[0]):
            raise ValueError(
                f"{type(self).__name__}.static_curve: levels_db must have shape (n_levels,) or (batch, n_levels), "
                f"got {tuple(levels_db.shape)}"
            )
        return levels_db - gain_reduction(levels_db, threshold_db, ratio, knee_db) + makeup_db


class Compressor(CompressorBase):
    """The DSP compressor of reference B.3, exact and differentiable with respect to all controls.

    Controls `(batch, 6)` in [0, 1], in this order (defaults; `ranges` overrides them):

    | control | range | mapping |
    |---|---|---|
    | threshold_db | [−40, 0] dB | linear |
    | attack_ms | [1, 60] ms | log |
    | release_ms | [10, 500] ms | log |
    | ratio | [2, 10] | log |
    | knee_db | [0, 12] dB | linear |
    | makeup_db | [0, 20] dB | linear |

    Per sample: level x_G = 20·log10(max(|x|, 1e-4)), static curve y_G (quadratic knee), gain
    reduction x_L = x_G − y_G ≥ 0 dB, smoothed by the attack/release one pole y_L (attack while
    x_L rises above y_L, release otherwise; α = exp(−1/(τ·1e-3·fs)); as in the reference,
    y_L[0] = 0 dB and the smoother updates from the second sample on), and
    output x · 10^((makeup − y_L)/20). All of it runs in one compiled CPU kernel with an analytic
    backward pass (`ddspfx.dsp.recursive.compress`), or for audio on another device (CUDA) in torch
    operations on that device with the same backward (the `backend="scan"` path).

    Audio `(batch, samples)` → `(batch, samples)`; the input is not modified.

    Args:
        sample_rate: Hz.
        ranges: `{name: [min, max]}` overrides in physical units.
        backend: "auto" (the CPU kernel for CPU audio, the scan on other devices), "numba" (the CPU
            kernel always: CUDA audio makes a round trip) or "scan" (`ddspfx.dsp.recursive`).
    """

    default_params = (
        ParamSpec("threshold_db", "dB", -40.0, 0.0),
        ParamSpec("attack_ms", "ms", 1.0, 60.0, "log"),
        ParamSpec("release_ms", "ms", 10.0, 500.0, "log"),
        ParamSpec("ratio", "", 2.0, 10.0, "log"),
        ParamSpec("knee_db", "dB", 0.0, 12.0),
        ParamSpec("makeup_db", "dB", 0.0, 20.0),
    )

    def process(
        self,
        audio: torch.Tensor,
        threshold_db: torch.Tensor,
        attack_ms: torch.Tensor,
        release_ms: torch.Tensor,
        ratio: torch.Tensor,
        knee_db: torch.Tensor,
        makeup_db: torch.Tensor,
    ) -> torch.Tensor:
        """Audio `(batch, samples)` and physical parameters, each `(batch,)` → `(batch, samples)`."""
        per_example_columns(
            type(self).__name__, threshold_db=threshold_db, attack_ms=attack_ms, release_ms=release_ms,
            ratio=ratio, knee_db=knee_db, makeup_db=makeup_db,
        )
        return compress(
            audio, threshold_db, ratio, knee_db, makeup_db,
            time_constant_to_alpha(attack_ms, self.sample_rate),
            time_constant_to_alpha(release_ms, self.sample_rate),
            floor=LEVEL_FLOOR,
            start="reference",
            backend=self.backend,
        )

class SimpleCompressor(CompressorBase):
    """The simplified differentiable compressor "compsimple" of reference B.3, with its time-constant bug fixed.

    Controls `(batch, 5)` in [0, 1]: threshold_db [−40, 0] dB (linear), time_ms [1, 500] ms (log),
    ratio [2, 10] (linear, as in the reference: control 0.355 → 4.84), knee_db [0, 12] dB
    (linear), makeup_db [0, 20] dB (linear).

    The same level detector and static curve as `Compressor`; the gain reduction is smoothed by a
    single one pole (α = exp(−1/(τ·1e-3·fs)) for rising and falling gain reduction alike, i.e.
    `ddspfx.dsp.recursive.one_pole`), computed exactly in the time domain (the reference used FFT
    filtering, an LTI filter from rest: y_L[−1] = 0 dB, updated from the first sample on); it runs
    in `Compressor`'s fused kernel (`start="first"`) with α_attack = α_release. Output
    x · 10^((makeup − y_L)/20). The reference tied τ to the threshold (τ = e^{threshold_db} ms,
    i.e. no smoothing); here τ is the log-mapped time_ms control.

    Args:
        sample_rate: Hz.
        ranges: `{name: [min, max]}` overrides in physical units.
        backend: "auto", "numba" or "scan", as in `Compressor`.
    """

    default_params = (
        ParamSpec("threshold_db", "dB", -40.0, 0.0),
        ParamSpec("time_ms", "ms", 1.0, 500.0, "log"),
        ParamSpec("ratio", "", 2.0, 10.0),  # linear, as in the reference
        ParamSpec("knee_db", "dB", 0.0, 12.0),
        ParamSpec("makeup_db", "dB", 0.0, 20.0),
    )

    def process(
        self,
        audio: torch.Tensor,
        threshold_db: torch.Tensor,
        time_ms: torch.Tensor,
        ratio: torch.Tensor,
        knee_db: torch.Tensor,
        makeup_db: torch.Tensor,
    ) -> torch.Tensor:
        """Audio `(batch, samples)` and physical parameters, each `(batch,)` → `(batch, samples)`."""
        per_example_columns(
            type(self).__name__, threshold_db=threshold_db, time_ms=time_ms, ratio=ratio, knee_db=knee_db,
            makeup_db=makeup_db,
        )
        # With one coefficient for both directions the attack/release smoother is a one pole
        # (`one_pole`), and the fused kernel skips the elementwise passes of the composed version.
        # The reference smoothed with an LTI filter from rest, which updates at the first sample.
        alpha = time_constant_to_alpha(time_ms, self.sample_rate)
        return compress(
            audio, threshold_db, ratio, knee_db, makeup_db, alpha, alpha, floor=LEVEL_FLOOR, start="first",
            backend=self.backend,
        )


SOFT_CLIPPER_PRESETS: dict[str, tuple[ParamSpec, ...]] = {
    "analysis": (ParamSpec("threshold_db", "dB", -20.0, 0.0), ParamSpec("knee_db", "dB", 0.0, 12.0)),
    "limiter": (ParamSpec("threshold_db", "dB", -6.0, 0.0), ParamSpec("knee_db", "dB", 0.0, 6.0)),
}


class SoftClipper(Effect):
    """Memoryless limiter in dB (reference A.13 "SoftClipper"), a working version of the DSP one.

    Per sample, with x_dB = 20·log10(max(|x|, 1e-4)): y_dB = x_dB below T − W/2, a quadratic knee,
    y_dB = T above T + W/2; output x · 10^((y_dB − x_dB)/20), so |output| ≤ 10^(T/20) above the knee.

    Controls `(batch, 2)` in [0, 1]: threshold_db and knee_db (linear), with the ranges of `preset`:

    - "analysis": T [−20, 0] dB, W [0, 12] dB (the differentiable version's defaults);
    - "limiter": T [−6, 0] dB, W [0, 6] dB (the DSP version's defaults). The "limiter" stage of the
      TASLP synthesis chain is not in the released code; it is assumed to be this clipper with
      these ranges (in the reference it would have been an identity, like the DSP clipper).

    Args:
        sample_rate: Hz (unused by the math).
        ranges: `{name: [min, max]}` overrides of the preset's ranges.
        preset: "analysis" or "limiter".
    """

    def __init__(
        self,
        sample_rate: float = 44100,
        ranges: Mapping[str, Sequence[float]] | None = None,
        preset: str = "analysis",
    ):
        super().__init__()
        if preset not in SOFT_CLIPPER_PRESETS:
            raise ValueError(f"SoftClipper: unknown preset {preset!r}; presets are {list(SOFT_CLIPPER_PRESETS)}")
        self.sample_rate = sample_rate
        self.preset = preset
        self.params = with_ranges(SOFT_CLIPPER_PRESETS[preset], ranges, type(self).__name__)
        _check_ranges(self.params, type(self).__name__)

    def process(self, audio: torch.Tensor, threshold_db: torch.Tensor, knee_db: torch.Tensor) -> torch.Tensor:
        """Audio `(batch, samples)`, threshold_db and knee_db `(batch,)` → `(batch, samples)`."""
        threshold_db, knee_db = per_example_columns(type(self).__name__, threshold_db=threshold_db, knee_db=knee_db)
        level_db = amplitude_to_db(audio, LEVEL_FLOOR)
        return audio * db_to_amplitude(soft_clip_curve(level_db, threshold_db, knee_db) - level_db)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, preset={self.preset!r}"
