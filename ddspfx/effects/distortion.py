"""Memoryless distortions: the hardness clipper and Taylor / Chebyshev waveshapers (reference B.3).

All three act sample by sample on audio `(batch, samples)`; their parameters are one value per
example (`(batch,)`), so time-varying controls `(batch, n_params, frames)` are refused.
`sample_rate` is kept only for the effect contract: none of them depends on it.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import torch

from ddspfx.effects.base import Effect, per_example_columns, with_ranges
from ddspfx.params import ParamSpec

CUBIC_KNEE = 1.5  # |u| where the cubic u − 4u³/27 reaches ±1 with zero slope
# |x| beyond which the hardness clipper is saturated for every control (|g·x + o| ≥ 10^(−10/20)·1e4 − 1
# > 3000, where tanh is 1 to float64 precision): inputs are clamped to it, so Inf gives finite gradients.
CLIP_INPUT_BOUND = 1e4
TAYLOR_INPUT_BOUND = 2.0  # |x| clamp of the Taylor waveshaper (x^24 overflows float32 from |x| ≈ 40)


def _check_order(order: int, minimum: int, owner: str) -> int:
    if isinstance(order, bool) or not isinstance(order, int) or order < minimum:
        raise ValueError(f"{owner}: order must be an integer >= {minimum}, got {order!r}")
    return order


# -- the hardness clipper ------------------------------------------------------------------------


def tanh_shape(u: torch.Tensor) -> torch.Tensor:
    """Soft shape (hardness 0): tanh(u)."""
    return torch.tanh(u)


def cubic_shape(u: torch.Tensor) -> torch.Tensor:
    """Cubic shape (hardness 1): u − 4u³/27 for |u| < 1.5, else sign(u).

    Clamping u to ±1.5 first gives the same values (the cubic is ±1 there, with zero slope) and
    a zero gradient outside, without a branch.
    """
    u = u.clamp(-CUBIC_KNEE, CUBIC_KNEE)
    return u - 4.0 * u * u * u / 27.0


def hard_shape(u: torch.Tensor) -> torch.Tensor:
    """Hard clip (hardness 2): (|u + 1| − |u − 1|)/2, i.e. u clamped to [−1, 1]."""
    return u.clamp(-1.0, 1.0)


def hardness_shape(u: torch.Tensor, hardness: torch.Tensor) -> torch.Tensor:
    """φ_h(u): linear interpolation tanh (h = 0) → cubic (h = 1) → hard clip (h = 2).

    The weights are the hat functions (1 − h)₊, 1 − |h − 1|, (h − 1)₊, which sum to 1 on
    [0, 2]. `hardness` broadcasts against `u`.
    """
    w_tanh = (1.0 - hardness).clamp_min(0.0)
    w_cubic = (1.0 - (hardness - 1.0).abs()).clamp_min(0.0)
    w_hard = (hardness - 1.0).clamp_min(0.0)
    return w_tanh * tanh_shape(u) + w_cubic * cubic_shape(u) + w_hard * hard_shape(u)


def hardness_clip(
    audio: torch.Tensor, drive_db: torch.Tensor, offset: torch.Tensor, hardness: torch.Tensor
) -> torch.Tensor:
    """c(x) = (φ_h(g·x + o) − φ_h(o)) / g with g = 10^(drive_db/20).

    Subtracting φ_h(o) keeps c(0) = 0 (the offset only makes the curve asymmetric); dividing by
    g keeps the small-signal slope at φ_h'(o). All arguments broadcast: audio `(batch, samples)`,
    parameters `(batch, 1)` (drive in dB, offset and hardness unitless).

    The audio is clamped to ±CLIP_INPUT_BOUND (1e4) first: beyond it every shape is saturated at
    every drive of the default range, so finite values do not change, while ±Inf no longer gives
    NaN gradients (∂(g·x)/∂g = x = Inf times φ' = 0).
    """
    audio = audio.clamp(-CLIP_INPUT_BOUND, CLIP_INPUT_BOUND)
    g = torch.pow(10.0, drive_db / 20.0)
    return (hardness_shape(g * audio + offset, hardness) - hardness_shape(offset, hardness)) / g


class HardnessClipper(Effect):
    """Parametric clipper `dist` (HardnessDist, reference B.3): 3 controls.

    drive_db [−10, 20] dB, offset [0, 1], hardness [0, 2] (0 tanh, 1 cubic, 2 hard clip), all
    mapped linearly. See `hardness_clip`. Gradients are finite everywhere.

    Args:
        sample_rate: Hz (unused by the math).
        ranges: `{name: [min, max]}` overrides of the default ranges.
    """

    default_params = (
        ParamSpec("drive_db", "dB", -10.0, 20.0),
        ParamSpec("offset", "", 0.0, 1.0),
        ParamSpec("hardness", "", 0.0, 2.0),
    )

    def __init__(self, sample_rate: float, ranges: Mapping[str, Sequence[float]] | None = None):
        super().__init__()
        self.sample_rate = sample_rate
        self.params = with_ranges(self.default_params, ranges, type(self).__name__)

    def process(self, audio, drive_db, offset, hardness):
        columns = per_example_columns(type(self).__name__, drive_db=drive_db, offset=offset, hardness=hardness)
        return hardness_clip(audio, *columns)


# -- polynomial waveshapers ----------------------------------------------------------------------


def taylor_series(audio: torch.Tensor, coeffs: torch.Tensor, bound: float | None = TAYLOR_INPUT_BOUND) -> torch.Tensor:
    """y = Σ_{k=1..K} c_k x^k, evaluated by Horner's scheme (repeated multiplication, no pow).

    The input is clamped to [−bound, bound] first (default 2, twice the peak-normalized range the
    chains feed it): x^24 overflows float32 from |x| ≈ 40 on (Inf outputs, NaN gradients), and
    beyond |x| ≈ 2 the output (up to Σ|c_k|·2^24 ≈ 4e8) already dominates any audio loss. The
    clamp is inactive on [−2, 2] and has a zero gradient where it acts. `bound=None` evaluates
    the raw polynomial.

    Args:
        audio: `(batch, samples)`.
        coeffs: `(batch, K)`, c_1 … c_K (no constant term).
        bound: input clamp (amplitude), or None.
    """
    if bound is not None:
        audio = audio.clamp(-bound, bound)
    acc = coeffs[:, -1:].expand_as(audio)
    for k in range(coeffs.shape[1] - 2, -1, -1):
        acc = acc * audio + coeffs[:, k : k + 1]
    return acc * audio


def chebyshev_series(audio: torch.Tensor, coeffs: torch.Tensor) -> torch.Tensor:
    """y = Σ_{k=0..K−1} c_k T_k(x) with T_0 = 1, T_1 = x, T_{k+1} = 2x·T_k − T_{k−1}.

    The input is clamped to [−1, 1] first: T_k(cos θ) = cos kθ is bounded by 1 there but grows
    like x^k outside. (Chains peak-normalize before each effect, so the clamp is normally inactive;
    it has a zero gradient where it acts.)

    Args:
        audio: `(batch, samples)`.
        coeffs: `(batch, K)`, c_0 … c_{K−1}; c_0 multiplies T_0 = 1, a constant (DC) term.
    """
    x = audio.clamp(-1.0, 1.0)
    t_prev, t_curr = torch.ones_like(x), x
    y = coeffs[:, :1] * t_prev
    for k in range(1, coeffs.shape[1]):
        y = y + coeffs[:, k : k + 1] * t_curr
        t_prev, t_curr = t_curr, 2.0 * x * t_curr - t_prev
    return y


class _PolynomialDistortion(Effect):
    """Shared plumbing of the Taylor and Chebyshev waveshapers: `order` coefficients in [−1, 1]."""

    first_index: int
    min_order: int

    def __init__(
        self, sample_rate: float, order: int = 24, ranges: Mapping[str, Sequence[float]] | None = None
    ):
        super().__init__()
        owner = type(self).__name__
        self.sample_rate = sample_rate
        self.order = _check_order(order, self.min_order, owner)
        indices = range(self.first_index, self.first_index + self.order)
        defaults = [ParamSpec(f"p_{k}", "", -1.0, 1.0) for k in indices]
        self.params = with_ranges(defaults, ranges, owner)

    def coefficients(self, physical: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Physical coefficients by name, each `(batch,)` → `(batch, order)` in index order."""
        ordered = {name: physical[name] for name in self.param_names}
        return torch.cat(per_example_columns(type(self).__name__, **ordered), dim=1)

    def extra_repr(self) -> str:
        return f"sample_rate={self.sample_rate}, order={self.order}"


class TaylorDistortion(_PolynomialDistortion):
    """Taylor waveshaper `taylor` (reference B.3): y = Σ_{k=1..order} p_k x^k.

    Controls p_1 … p_order, each linear in [−1, 1]. p_1 = 1 with all others 0 is the identity.
    The input is not clamped on [−2, 2] (chains feed it peak-normalized audio, where |y| ≤ Σ|p_k|);
    beyond, it is clamped to ±2 so that x^24 cannot overflow (see `taylor_series`).

    Args:
        sample_rate: Hz (unused by the math).
        order: highest power (default 24).
        ranges: `{name: [min, max]}` overrides of the default ranges.
    """

    first_index = 1
    min_order = 1

    def process(self, audio, **physical):
        return taylor_series(audio, self.coefficients(physical))


class ChebyshevDistortion(_PolynomialDistortion):
    """Chebyshev waveshaper `chebyshev` (reference B.3): y = Σ_{k=0..order−1} p_k T_k(x).

    Controls p_0 … p_{order−1}, each linear in [−1, 1]; p_0 is a DC term. The input is clamped
    to [−1, 1], where T_k is bounded (see `chebyshev_series`); on a full-scale sinusoid T_k
    produces exactly the k-th harmonic.

    Args:
        sample_rate: Hz (unused by the math).
        order: number of terms T_0 … T_{order−1} (default 24).
        ranges: `{name: [min, max]}` overrides of the default ranges.
    """

    first_index = 0
    min_order = 1

    def process(self, audio, **physical):
        return chebyshev_series(audio, self.coefficients(physical))
