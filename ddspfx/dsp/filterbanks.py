"""Cosine filterbanks on the rFFT grid (ERB and log spacing), whole-frame filtering, Hilbert envelopes.

Reference textures §1. All filtering is zero-phase and circular over the whole frame: one rFFT of the
signal, a product with real non-negative magnitude responses, one inverse rFFT. Pure functions, no state.

Grid: a frame of n samples at sample rate fs has the rFFT bins f_k = k·fs/n, k = 0 … n // 2 (for odd n
the last bin is fs·(n − 1)/(2n), below Nyquist).

Construction (both banks): N + 2 cut-offs c_0 … c_{N+1} equally spaced on a scale s(f) between `low`
and `high` (ERB number for `erb_filterbank`, log10 f for `log_filterbank`). Band k = 1 … N covers
(c_{k−1}, c_{k+1}) with the half-cosine bump

    H_k(f) = cos(π·(s(f) − mid_k) / range_k),
    mid_k = (s(c_{k−1}) + s(c_{k+1}))/2,  range_k = s(c_{k+1}) − s(c_{k−1}),

zero outside; adjacent bumps overlap by half, so H_k² + H_{k+1}² = 1 between their centres. The edge
bands are H_0 = sqrt(1 − H_1²) below c_1 (low-pass) and H_{N+1} = sqrt(1 − H_N²) above c_N (high-pass),
so Σ_{k=0}^{N+1} H_k(f)² = 1 at every bin: filtering each subband a second time and summing the
results gives back the input exactly (`synthesize_subbands`).

Responses are `(N + 2, n // 2 + 1)`, the low-pass edge band first and the high-pass edge band last;
most uses keep bands 1 … N (`responses[1:-1]`).
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch

from ddspfx.dsp.spectral import rfft_bin_weights

# ERB-number scale (Glasberg & Moore): erb(f) = ERB_Q · ln(1 + f / (ERB_MIN · ERB_Q)).
ERB_Q = 9.265
ERB_MIN = 24.7


def erb_number(f_hz: torch.Tensor) -> torch.Tensor:
    """ERB number 9.265·ln(1 + f/(24.7·9.265)) of frequencies `f_hz` in Hz (any shape, f ≥ 0)."""
    return ERB_Q * torch.log1p(f_hz / (ERB_MIN * ERB_Q))


def erb_to_hz(e: torch.Tensor) -> torch.Tensor:
    """Inverse of `erb_number`: 24.7·9.265·(exp(e/9.265) − 1) Hz (any shape)."""
    return ERB_MIN * ERB_Q * torch.expm1(e / ERB_Q)


def erb_filterbank(
    n_samples: int,
    sample_rate: float,
    n_bands: int,
    low: float = 20.0,
    high: float | None = None,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """ERB-spaced half-cosine filterbank with low-pass and high-pass edge bands (module docstring).

    Args:
        n_samples: frame length n in samples (the bank is sampled on its rFFT grid; odd n is fine).
        sample_rate: Hz.
        n_bands: N, the number of cosine bands (1 … N); N + 2 responses are returned.
        low: lowest cut-off c_0 in Hz (≥ 0).
        high: highest cut-off c_{N+1} in Hz; None or anything above Nyquist means sample_rate / 2.
        dtype, device: of the returned tensors (designed in float64).

    Returns:
        responses `(N + 2, n // 2 + 1)` real in [0, 1] with Σ_k responses[k]² = 1 at every bin, and
        cut-offs `(N + 2,)` in Hz.

    Raises:
        ValueError: bad sizes or range, or a band 1 … N with no FFT bin inside (the message names the
            band and the frame length that guarantees every band a bin).
    """
    return _bank("erb", n_samples, sample_rate, n_bands, low, high, dtype, device)


def log_filterbank(
    n_samples: int,
    sample_rate: float,
    n_bands: int,
    low: float,
    high: float | None,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Log10-spaced half-cosine filterbank (the modulation bank of §1), same construction and return
    convention as `erb_filterbank`; the cosines are in log10 f and `low` must be > 0 Hz."""
    return _bank("log", n_samples, sample_rate, n_bands, low, high, dtype, device)


def _bank(kind, n_samples, sample_rate, n_bands, low, high, dtype, device):
    nyquist = float(sample_rate) / 2
    high = nyquist if high is None else min(float(high), nyquist)
    responses, cutoffs = _design(kind, int(n_samples), float(sample_rate), int(n_bands), float(low), high)
    return (
        responses.to(dtype=dtype, device=device, copy=True),
        cutoffs.to(dtype=dtype, device=device, copy=True),
    )


@lru_cache(maxsize=32)
def _design(kind: str, n: int, sample_rate: float, n_bands: int, low: float, high: float):
    """float64 responses `(N + 2, n // 2 + 1)` and cut-offs `(N + 2,)` (cached: callers copy them)."""
    name = f"{kind}_filterbank"
    _check_arguments(name, kind, n, sample_rate, n_bands, low, high)
    to_scale, from_scale = (erb_number, erb_to_hz) if kind == "erb" else (torch.log10, _exp10)
    lo, hi = to_scale(torch.tensor([low, high], dtype=torch.float64))
    scaled_cutoffs = torch.linspace(lo.item(), hi.item(), n_bands + 2, dtype=torch.float64)
    cutoffs = from_scale(scaled_cutoffs)
    cutoffs[0], cutoffs[-1] = low, high  # exact ends (no round trip through the scale)
    freqs = torch.arange(n // 2 + 1, dtype=torch.float64) * (sample_rate / n)
    bands = _cosine_bands(freqs, cutoffs, scaled_cutoffs, to_scale)  # (N, bins)
    _check_bins(name, bands, cutoffs, n, sample_rate)
    lowpass = torch.where(freqs < cutoffs[1], (1 - bands[0].square()).clamp_min(0).sqrt(), 0.0)
    highpass = torch.where(freqs > cutoffs[-2], (1 - bands[-1].square()).clamp_min(0).sqrt(), 0.0)
    return torch.cat([lowpass[None], bands, highpass[None]]), cutoffs


def _cosine_bands(freqs, cutoffs, scaled_cutoffs, to_scale) -> torch.Tensor:
    """Bands 1 … N: cos(π (s(f) − mid)/range) on (c_{k−1}, c_{k+1}), 0 elsewhere. `(N, bins)`."""
    lower, upper = scaled_cutoffs[:-2, None], scaled_cutoffs[2:, None]
    positive = freqs.clamp_min(torch.finfo(torch.float64).tiny)  # log10(0) = −inf stays outside anyway
    scaled = to_scale(positive)[None, :]
    bump = torch.cos(math.pi * (scaled - (lower + upper) / 2) / (upper - lower))
    inside = (freqs[None, :] > cutoffs[:-2, None]) & (freqs[None, :] < cutoffs[2:, None])
    return torch.where(inside, bump.clamp_min(0.0), 0.0)


def _exp10(x: torch.Tensor) -> torch.Tensor:
    return torch.pow(10.0, x)


def _check_arguments(name, kind, n, sample_rate, n_bands, low, high) -> None:
    if n < 2:
        raise ValueError(f"{name}: n_samples must be >= 2, got {n}")
    if not (math.isfinite(sample_rate) and sample_rate > 0):
        raise ValueError(f"{name}: sample_rate must be a positive number of Hz, got {sample_rate}")
    if n_bands < 1:
        raise ValueError(f"{name}: n_bands must be >= 1, got {n_bands}")
    log_spacing = kind == "log"
    if not math.isfinite(low) or low < 0 or (log_spacing and low == 0):
        bound = "> 0 Hz (log spacing)" if log_spacing else ">= 0 Hz"
        raise ValueError(f"{name}: low must be {bound}, got {low}")
    if not high > low:
        raise ValueError(f"{name}: high ({high} Hz, clipped to Nyquist) must exceed low ({low} Hz)")


def _check_bins(name, bands, cutoffs, n, sample_rate) -> None:
    """Every band 1 … N must contain a bin; else name the first empty one and a frame length that works."""
    empty = (bands.amax(dim=-1) <= 0).nonzero()
    if len(empty) == 0:
        return
    k = int(empty[0]) + 1
    widths = cutoffs[2:] - cutoffs[:-2]  # a bin spacing below a band's width puts a bin inside it
    needed = math.floor(sample_rate / widths.min().item()) + 1
    raise ValueError(
        f"{name}: band {k} ({cutoffs[k - 1]:.1f}–{cutoffs[k + 1]:.1f} Hz) contains no FFT bin at "
        f"n_samples={n} (bin spacing {sample_rate / n:.1f} Hz); frames of n_samples >= {needed} give every "
        f"band a bin (or use fewer bands or a higher low)"
    )


def apply_filterbank(x: torch.Tensor, responses: torch.Tensor) -> torch.Tensor:
    """Zero-phase circular subbands of `x`: irfft(rfft(x) · H_k) for every response.

    Args:
        x: `(..., n)` real signal.
        responses: `(n_filters, n // 2 + 1)` real magnitude responses on x's rFFT grid.

    Returns:
        `(..., n_filters, n)` subbands in x's dtype.
    """
    n = x.shape[-1]
    _check_responses("apply_filterbank", responses, n)
    spectrum = torch.fft.rfft(x)
    return torch.fft.irfft(spectrum.unsqueeze(-2) * responses.to(x), n=n)


def synthesize_subbands(subbands: torch.Tensor, responses: torch.Tensor) -> torch.Tensor:
    """Filter every subband by its own response again and sum: Σ_k irfft(rfft(b_k) · H_k).

    With the responses of `erb_filterbank`/`log_filterbank` (all N + 2) and b = `apply_filterbank(x, ·)`
    this returns x (Σ H² = 1).

    Args:
        subbands: `(..., n_filters, n)`.
        responses: `(n_filters, n // 2 + 1)`.

    Returns:
        `(..., n)`.
    """
    n = subbands.shape[-1]
    _check_responses("synthesize_subbands", responses, n)
    if subbands.shape[-2] != responses.shape[0]:
        raise ValueError(
            f"synthesize_subbands: {subbands.shape[-2]} subbands (dim −2 of {tuple(subbands.shape)}) "
            f"but {responses.shape[0]} responses"
        )
    spectrum = (torch.fft.rfft(subbands) * responses.to(subbands)).sum(dim=-2)
    return torch.fft.irfft(spectrum, n=n)


def _check_responses(name: str, responses: torch.Tensor, n: int) -> None:
    if responses.dim() != 2 or responses.shape[-1] != n // 2 + 1:
        raise ValueError(
            f"{name}: responses must have shape (n_filters, {n // 2 + 1}) for signals of {n} samples, "
            f"got {tuple(responses.shape)}"
        )


def analytic_signal(x: torch.Tensor) -> torch.Tensor:
    """Analytic signal of `x (..., n)` along the last axis, complex `(..., n)`, as scipy.signal.hilbert:
    ifft(fft(x)·h) with h[0] = 1, h[n/2] = 1 (even n), h = 2 on the other positive bins, 0 on the negative."""
    n = x.shape[-1]
    spectrum = torch.fft.rfft(x)  # bins 0 … n // 2: the non-negative frequencies
    weights = rfft_bin_weights(n, 2.0, x.dtype, x.device)
    return torch.fft.ifft(spectrum * weights, n=n)  # zero-padded: negative frequencies are 0


def hilbert_envelope(x: torch.Tensor, eps: float = 0.0) -> torch.Tensor:
    """Hilbert envelope |analytic_signal(x)| along the last axis, differentiable.

    With eps = 0 (default) the envelope is the exact modulus; its gradient (Re, Im)/|z| is taken as 0
    where z = 0 (torch's complex abs uses sgn(0) = 0), so silence gives a zero envelope and finite
    (zero) gradients. With eps > 0 it is sqrt(Re² + Im² + eps) (eps in units of x²): smooth at 0,
    biased by at most sqrt(eps), for callers that need bounded second derivatives.

    Args:
        x: `(..., n)` real signal.
        eps: see above (≥ 0).

    Returns:
        `(..., n)` non-negative, x's dtype.
    """
    if eps < 0:
        raise ValueError(f"hilbert_envelope: eps must be >= 0, got {eps}")
    z = analytic_signal(x)
    if eps == 0:
        return z.abs()
    return torch.sqrt(z.real.square() + z.imag.square() + eps)
