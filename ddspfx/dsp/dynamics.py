"""Level conversions and static curves of dynamics processors (compressors, limiters, clippers).

The static curve with a quadratic knee of width W (dB) around the threshold T (dB), for an input
level x (dB) and a ratio R ≥ 1 (reference A.13):

    y = x                                        x − T < −W/2
    y = x + (1/R − 1)·(x − T + W/2)² / (2W)      |x − T| ≤ W/2
    y = T + (x − T)/R                            x − T > W/2

Written as y = x − (1 − 1/R)·k(x − T, W) with the knee function

    k(d, W) = 0 (d < −W/2),  (d + W/2)²/(2W) (|d| ≤ W/2),  d (d > W/2),

which is continuous with a continuous first derivative in d, and is the hard knee max(d, 0) at
W = 0. `k` is evaluated without dividing by zero at W = 0 and with finite gradients everywhere.
"""

from __future__ import annotations

import math

import torch

DB_PER_NEPER = 20.0 / math.log(10.0)  # dB of amplitude = DB_PER_NEPER · ln(amplitude)
_MIN_KNEE_DB = 1e-6  # the knee width used as a divisor when W = 0 (the numerator is then 0)


PEAK_FLOOR = 1e-8  # a peak below this is treated as this: silence stays silence, gradients finite


def peak_normalize(audio: torch.Tensor, floor: float = PEAK_FLOOR) -> torch.Tensor:
    """Divide each example by max|x| (floored at `floor`): `(batch, samples)` → `(batch, samples)`.

    Silence stays 0 and gradients stay finite (the reference's `max_norm` / `norm='max'`)."""
    return audio / audio.abs().amax(dim=-1, keepdim=True).clamp_min(floor)


def amplitude_to_db(x: torch.Tensor, floor: float = 1e-4) -> torch.Tensor:
    """Level in dB of amplitudes: 20·log10(max(|x|, floor)).

    Args:
        x: amplitudes, any shape.
        floor: smallest amplitude (> 0); 1e-4 ↦ −80 dB.

    Returns:
        dB, same shape as `x`. The gradient is 0 (not NaN) where |x| ≤ floor, exact zeros included.
    """
    if not floor > 0:
        raise ValueError(f"amplitude_to_db: floor must be positive, got {floor}")
    return DB_PER_NEPER * torch.log(x.abs().clamp_min(floor))


def db_to_amplitude(db: torch.Tensor) -> torch.Tensor:
    """Amplitude 10^(db/20) of levels in dB (any shape)."""
    return torch.exp(db / DB_PER_NEPER)


def knee(overshoot_db: torch.Tensor, knee_db: torch.Tensor) -> torch.Tensor:
    """The knee function k(d, W) of the module docstring (dB).

    Args:
        overshoot_db: d = level − threshold in dB, e.g. `(batch, samples)`.
        knee_db: W ≥ 0, broadcastable to `overshoot_db` (e.g. `(batch, 1)`); W = 0 is a hard knee.

    Returns:
        k(d, W) ≥ 0 in dB, the broadcast shape.
    """
    half = knee_db / 2
    # d is clamped into the knee so that the unused quadratic branch stays small (≤ W/2) and its
    # gradients finite, whatever the overshoot.
    inside = torch.clamp(overshoot_db, -half, half) + half
    quadratic = inside.square() / (2 * knee_db.clamp_min(_MIN_KNEE_DB))
    return torch.where(overshoot_db > half, overshoot_db, quadratic)


def _check_knee_and_ratio(knee_db: torch.Tensor, ratio: torch.Tensor | None, owner: str) -> None:
    if not bool((knee_db >= 0).all()):
        raise ValueError(f"{owner}: knee_db must be ≥ 0 dB (and not NaN)")
    if ratio is not None and not bool((ratio >= 1).all()):
        raise ValueError(f"{owner}: ratio must be ≥ 1 (and not NaN)")


def gain_reduction(
    level_db: torch.Tensor, threshold_db: torch.Tensor, ratio: torch.Tensor, knee_db: torch.Tensor
) -> torch.Tensor:
    """Gain reduction x − y ≥ 0 in dB of the quadratic-knee static curve: (1 − 1/R)·k(x − T, W).

    Args:
        level_db: input level x in dB, e.g. `(batch, samples)`.
        threshold_db: T in dB, broadcastable to `level_db` (e.g. `(batch, 1)`).
        ratio: R ≥ 1, broadcastable.
        knee_db: W ≥ 0 in dB, broadcastable.

    Returns:
        dB, the broadcast shape.
    """
    threshold_db, ratio, knee_db = (torch.as_tensor(v, dtype=level_db.dtype, device=level_db.device)
                                    for v in (threshold_db, ratio, knee_db))
    _check_knee_and_ratio(knee_db, ratio, "gain_reduction")
    return (1 - 1 / ratio) * knee(level_db - threshold_db, knee_db)


def gain_computer(
    level_db: torch.Tensor, threshold_db: torch.Tensor, ratio: torch.Tensor, knee_db: torch.Tensor
) -> torch.Tensor:
    """Output level y in dB of the quadratic-knee static curve (module docstring).

    Args:
        level_db: input level x in dB, e.g. `(batch, samples)`.
        threshold_db: T in dB, broadcastable to `level_db` (e.g. `(batch, 1)`).
        ratio: R ≥ 1, broadcastable.
        knee_db: W ≥ 0 in dB, broadcastable (W = 0: hard knee).

    Returns:
        y in dB, the broadcast shape.
    """
    return level_db - gain_reduction(level_db, threshold_db, ratio, knee_db)


def soft_clip_curve(level_db: torch.Tensor, threshold_db: torch.Tensor, knee_db: torch.Tensor) -> torch.Tensor:
    """Static curve of a limiter (R = ∞): x below T − W/2, quadratic knee, T above T + W/2.

    Args:
        level_db: input level x in dB, e.g. `(batch, samples)`.
        threshold_db: T in dB, broadcastable to `level_db`.
        knee_db: W ≥ 0 in dB, broadcastable.

    Returns:
        output level in dB, the broadcast shape.
    """
    threshold_db, knee_db = (torch.as_tensor(v, dtype=level_db.dtype, device=level_db.device)
                             for v in (threshold_db, knee_db))
    _check_knee_and_ratio(knee_db, None, "soft_clip_curve")
    return level_db - knee(level_db - threshold_db, knee_db)
