"""Loudness dynamic range (LDR) loss: compares how loud each moment is relative to its context."""

from __future__ import annotations

import torch

from ddspfx.dsp.recursive import one_pole, time_constant_to_alpha
from ddspfx.losses.base import PairLoss, check_pair


class LDRLoss(PairLoss):
    """L1 distance between the log ratios of a short and a long RMS envelope (reference A.13).

        P_τ[n] = one-pole smoothing of x²[n] with time constant τ,
        LDR(x)[n] = ½·log(P_short[n] + ε) − ½·log(P_long[n] + ε)     (nats of amplitude ratio),
        L(ŷ, y) = mean_n |LDR(ŷ)[n] − LDR(y)[n]|.

    A compressor or limiter changes LDR (it flattens the short envelope against the long one);
    an EQ barely does, so this loss isolates dynamics. The smoothers are exact recursive one-poles
    (the reference's FFT-applied smoother had a [α, 1] numerator quirk; here it is [1 − α]).

    Args:
        sample_rate: Hz.
        short_ms, long_ms: time constants of the two envelopes, in ms (50 ms and 1 s).
        eps: power floor (audio units²) so that silence gives a finite log.

    Shapes: estimate, target `(batch, samples)` → scalar (forward) or `(batch,)` (per_example).
    """

    domain = "audio"

    def __init__(self, sample_rate: float = 44100, short_ms: float = 50.0, long_ms: float = 1000.0, eps: float = 1e-8):
        super().__init__()
        if not 0 < short_ms < long_ms:
            raise ValueError(f"LDRLoss: need 0 < short_ms < long_ms, got {short_ms}, {long_ms}")
        self.sample_rate, self.short_ms, self.long_ms, self.eps = float(sample_rate), short_ms, long_ms, eps

    def ldr(self, x: torch.Tensor) -> torch.Tensor:
        """`(batch, samples)` audio → `(batch, samples)` log short/long RMS ratio."""
        power = x.square()
        envelopes = []
        for tau in (self.short_ms, self.long_ms):
            alpha = x.new_full((x.shape[0],), float(time_constant_to_alpha(tau, self.sample_rate)))
            envelopes.append(torch.log(one_pole(power, alpha) + self.eps))
        return 0.5 * (envelopes[0] - envelopes[1])

    def per_example(self, estimate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        check_pair(estimate, target, type(self).__name__)
        return (self.ldr(estimate) - self.ldr(target)).abs().mean(-1)
