"""Percussive envelopes in closed form: a short linear attack, then an exponential decay.

The TR-808-style envelope of the timbre-remapping snare (reference timbreremap §1.2), with an
attack of A = int(sample_rate / 1000) samples (1 ms) and a decay time T in ms:

    e[n]     = (n + 1) / A                  n < A     (e[A − 1] = 1)
    e[A + k] = r^k,   r = 1 − 6.91 / (T · sample_rate / 1000)   k ≥ 0  (e[A] = 1)

6.91 ≈ ln 1000, so the envelope is at about −60 dB at k = T · sample_rate / 1000. Both the
envelope and its running sum are evaluated in closed form (no cumulative product, which drifts in
float32, and no loop), vectorized over any leading shape. Their backward passes are reductions
over time written out (two temporaries each instead of autograd's four or five full-length
ones), each row reduced alone so that a row's gradient does not depend on the rest of the batch
(`_row_dot`); they are not differentiable twice.
"""

from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable

ATTACK_MS = 1.0
DECAY_LOG_RATIO = 6.91  # ≈ ln 1000: the decay reaches ≈ −60 dB at its decay time
# Decays shorter than this many samples would make r ≤ 0; they are raised to it (r ≈ 1e-6).
MIN_DECAY_SAMPLES = DECAY_LOG_RATIO * (1 + 1e-6)
LOG_FLOOR = -60.0  # natural log of the envelope's floor (≈ −521 dB), see `decay_envelope`


def attack_samples(sample_rate: float) -> int:
    """Length A of the linear attack: int(1 ms · sample_rate), e.g. 44 at 44.1 kHz (0 below 1 kHz)."""
    return int(sample_rate * ATTACK_MS / 1000)


def decay_rate(decay_ms: torch.Tensor, sample_rate: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(1 − r, log r) of the per-sample decay ratio r for decay times in ms, shapes as `decay_ms`.

    Decays shorter than MIN_DECAY_SAMPLES samples (r ≤ 0) are raised to it (zero gradient there).
    """
    decay_samples = (decay_ms * (sample_rate / 1000)).clamp(min=MIN_DECAY_SAMPLES)
    rate = DECAY_LOG_RATIO / decay_samples
    return rate, torch.log1p(-rate)


def _index(n: int, like: torch.Tensor) -> torch.Tensor:
    """`(n,)` sample indices 0 … n − 1 in like's dtype and device."""
    return torch.arange(n, dtype=like.dtype, device=like.device)


def _layout(log_r: torch.Tensor, n_samples: int, attack: int) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Output `(..., n_samples)`, decay indices k = 0, 1, … `(n_samples − A',)`, and A' = min(A, n)."""
    if n_samples < 1:
        raise ValueError(f"envelopes: n_samples must be at least 1, got {n_samples}")
    n_attack = min(attack, n_samples)
    out = torch.empty(*log_r.shape, n_samples, dtype=log_r.dtype, device=log_r.device)
    return out, _index(n_samples - n_attack, log_r), n_attack


def _row_dot(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Σ_n x[..., n]·y[..., n] → `(...)` (x, y broadcast), as a product and a sum over n.

    Not a matrix product: BLAS blocks the rows of a matrix–vector or batched product by their
    number (and takes another path for a single row), so a row's rounding would depend on which
    rows share its batch. The sum reduces each row alone: every envelope's gradient is bit-for-bit
    independent of the batch (the remap grid relies on it, `ddspfx.tasks.remap_grid`).
    """
    return (x * y).sum(-1)


class _Envelope(torch.autograd.Function):
    """e = [(n + 1)/A for n < A] ++ [max(r^k, e^LOG_FLOOR)] from log r `(...)` → `(..., n)`."""

    @staticmethod
    def forward(ctx, log_r, n_samples, attack):
        out, k, n_attack = _layout(log_r, n_samples, attack)
        out[..., :n_attack] = (_index(n_attack, out) + 1) / max(attack, 1)
        decay = out[..., n_attack:]
        torch.mul(k, log_r.unsqueeze(-1), out=decay)
        decay.clamp_(min=LOG_FLOOR).exp_()
        ctx.save_for_backward(out)
        ctx.n_attack = n_attack
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        decay = out[..., ctx.n_attack :]
        # d r^k / d log r = k·r^k (of the unfloored decay; below the floor it is < k·e^-60).
        grad_log_r = _row_dot(grad[..., ctx.n_attack :] * decay, _index(decay.shape[-1], out))
        return grad_log_r, None, None


class _EnvelopeSum(torch.autograd.Function):
    """S = [n(n + 1)/(2A) for n ≤ A] ++ [S_A + (1 − r^j)/(1 − r)], float64, from (1 − r, log r)."""

    @staticmethod
    def forward(ctx, rate, log_r, n_samples, attack):
        out, j, n_attack = _layout(log_r, n_samples, attack)
        n = _index(n_attack, out)
        out[..., :n_attack] = n * (n + 1) / (2 * max(attack, 1))
        ramp_total = (attack + 1) / 2 if attack > 0 else 0.0  # S_A
        decay = out[..., n_attack:]
        torch.mul(j, log_r.unsqueeze(-1), out=decay)
        decay.expm1_().div_(-rate.unsqueeze(-1)).add_(ramp_total)
        ctx.save_for_backward(rate, out)
        ctx.n_attack, ctx.ramp_total = n_attack, ramp_total
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        rate, out = ctx.saved_tensors
        grad = grad[..., ctx.n_attack :]
        geometric = out[..., ctx.n_attack :] - ctx.ramp_total  # G = (1 − r^j)/ρ, ρ = 1 − r
        # ∂G/∂ρ = −G/ρ;  ∂G/∂log r = −j·r^j/ρ with r^j = 1 − ρ·G.
        grad_rate = -_row_dot(grad, geometric) / rate
        power = geometric.mul_(-rate.unsqueeze(-1)).add_(1)
        grad_log_r = -_row_dot(power.mul_(grad), _index(power.shape[-1], power)) / rate
        return grad_rate, grad_log_r, None, None


def decay_envelope(decay_ms: torch.Tensor, n_samples: int, sample_rate: float) -> torch.Tensor:
    """Attack–decay envelope (module docstring), in [0, 1], peak 1 at samples A − 1 and A.

    The decay is floored at e^LOG_FLOOR (≈ −521 dB) instead of running into float32
    subnormals, which are many times slower to compute with.

    Args:
        decay_ms: `(...)` decay times T in ms (to ≈ −60 dB); differentiable.
        n_samples: envelope length.
        sample_rate: Hz.

    Returns:
        `(..., n_samples)` in decay_ms's dtype.
    """
    _, log_r = decay_rate(decay_ms, sample_rate)
    return _Envelope.apply(log_r, n_samples, attack_samples(sample_rate))


def decay_envelope_sum(decay_ms: torch.Tensor, n_samples: int, sample_rate: float) -> torch.Tensor:
    """Exclusive running sum S[n] = Σ_{k<n} e[k] of `decay_envelope` (without its floor), in float64.

    Closed form: S[n] = n(n + 1) / (2A) for n ≤ A (the attack ramp), and
    S[A + j] = (A + 1)/2 + (1 − r^j) / (1 − r) after it (a geometric sum, with expm1/log1p).
    S[0] = 0. This is what a pitch envelope adds to an oscillator's phase.

    Args:
        decay_ms: `(...)` decay times in ms; differentiable (the gradient returns in its dtype).
        n_samples: length.
        sample_rate: Hz.

    Returns:
        `(..., n_samples)` float64, in samples (0 ≤ S[n] ≤ n).
    """
    rate, log_r = decay_rate(decay_ms.to(torch.float64), sample_rate)
    return _EnvelopeSum.apply(rate, log_r, n_samples, attack_samples(sample_rate))
