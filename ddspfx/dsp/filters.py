"""Biquad design (RBJ Audio-EQ-Cookbook) and two ways to apply biquad cascades.

Pure functions, no state. Shapes: audio is `(..., samples)` (normally `(batch, samples)`);
a cascade of biquads is a pair `b, a` of shape `(..., sections, 3)` holding
`[b0, b1, b2]` and `[a0, a1, a2]` (a0 = 1 after `biquad_coefficients`) of

    H(z) = Π_sections (b0 + b1 z⁻¹ + b2 z⁻²) / (a0 + a1 z⁻¹ + a2 z⁻²).

A single biquad is a cascade with one section, `(..., 1, 3)`.

Three filtering paths:
- `fsm_filter`: frequency sampling (one rFFT of the audio, the cascade's response sampled on the
  FFT grid, one inverse rFFT). Fast and parallel over time; the analysis path of the effects.
- `lfilter_cascade`: the exact recursion through `torchaudio.functional.lfilter`, section after
  section. The reference, and the synthesis path.
- `biquad_filter`: one section per row, the exact recursion in float64 as a compiled kernel with a
  hand-written adjoint (CPU): the fastest path for a synth's time-invariant filter.

Precision: near DC a biquad's denominator nearly cancels (a0 + a1 + a2 ≈ w0² for low f0), so
float32 coefficients of a 20 Hz band at 48 kHz are only good to a few percent there.
`biquad_coefficients` designs in float64 internally and returns the inputs' dtype: pass float64
`f0, gain_db, q` to keep float64 coefficients. The response is evaluated from per-section sums
formed in the coefficients' precision (`_section_sums`), so `fsm_filter` of float32 audio with
float64 coefficients computes in float32 without losing that accuracy.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torchaudio
from numba import njit
from torch.autograd.function import once_differentiable

BIQUAD_KINDS = ("peak", "low_shelf", "high_shelf", "low_pass", "high_pass")

# Design frequencies w0 = 2π f0 / sample_rate are clamped to [W0_MIN, W0_MAX] rad/sample:
# at w0 → 0 or π the poles reach the unit circle (0/0 responses, infinite gradients). At the
# bounds a0 + a1 + a2 (or a0 − a1 + a2) ≈ 1e-6 stays well above float32 rounding of the
# coefficients (≈ 1e-7), so float32 cascades stay stable. W0_MIN is 7 Hz at 44.1 kHz.
W0_MIN = 1e-3
W0_MAX = math.pi - 1e-3
# Smallest Q used in a design (Q ≤ 0 has no meaning; tiny Q still gives a finite filter).
Q_MIN = 1e-3

# Default padding of `fsm_filter`, in samples. See `fsm_filter` for the error it leaves.
DEFAULT_PAD = 32768


def next_power_of_two(n: int) -> int:
    """Smallest power of two ≥ n (n ≥ 1)."""
    if n < 1:
        raise ValueError(f"next_power_of_two: n must be >= 1, got {n}")
    return 1 << (n - 1).bit_length()


def _as_float_tensors(*values) -> tuple[torch.Tensor, ...]:
    """Tensors or numbers → broadcast tensors of one floating dtype and device.

    The dtype is promoted from the tensor arguments only (numbers are "weak", as in torch:
    a float32 tensor and 0.7 give float32); with no tensor argument it is torch's default.
    """
    tensors = [v for v in values if torch.is_tensor(v)]
    device = next((t.device for t in tensors if t.device.type != "cpu"), torch.device("cpu"))
    dtype = torch.get_default_dtype() if not tensors else tensors[0].dtype
    for t in tensors[1:]:
        dtype = torch.promote_types(dtype, t.dtype)
    if not dtype.is_floating_point:
        dtype = torch.get_default_dtype()
    return torch.broadcast_tensors(*[torch.as_tensor(v, dtype=dtype, device=device) for v in values])


def biquad_coefficients(
    kind: str,
    f0: torch.Tensor | float,
    gain_db: torch.Tensor | float,
    q: torch.Tensor | float,
    sample_rate: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """RBJ Audio-EQ-Cookbook biquad coefficients, Q form, normalized so that a0 = 1.

    With A = 10^(gain_db/40), w0 = 2π f0 / sample_rate, α = sin(w0) / (2Q):
        peak:        b = [1 + αA, −2cos w0, 1 − αA],  a = [1 + α/A, −2cos w0, 1 − α/A]
        low_shelf, high_shelf: the cookbook shelves with 2·√A·α (gain_db at DC / Nyquist)
        low_pass, high_pass:   the cookbook 2nd-order filters (gain_db is ignored)

    f0 is clamped to w0 ∈ [W0_MIN, W0_MAX] (so f0 ≤ 0 and f0 ≥ Nyquist give the edge
    filter, with zero gradient with respect to f0 beyond the clamp) and q to ≥ Q_MIN; values
    and gradients stay finite. Computed in float64, returned in the inputs' dtype.

    Args:
        kind: one of BIQUAD_KINDS.
        f0: centre / corner frequency in Hz, any shape broadcasting with the others.
        gain_db: gain in dB (peak: at f0; shelves: of the shelf).
        q: quality factor (dimensionless).
        sample_rate: in Hz.

    Returns:
        b, a: `(..., 3)` each, `...` the broadcast shape of f0, gain_db, q; differentiable in all three.

    Raises:
        ValueError: unknown kind, or sample_rate ≤ 0.
    """
    if kind not in BIQUAD_KINDS:
        raise ValueError(f"biquad_coefficients: unknown kind {kind!r}; expected one of {BIQUAD_KINDS}")
    if not sample_rate > 0:
        raise ValueError(f"biquad_coefficients: sample_rate must be > 0, got {sample_rate}")
    out_dtype = _as_float_tensors(f0, gain_db, q)[0].dtype
    f0, gain_db, q = (v.double() if torch.is_tensor(v) else v for v in (f0, gain_db, q))
    f0, gain_db, q = _as_float_tensors(f0, gain_db, q)  # float64, numbers taken exactly

    w0 = (2 * math.pi / sample_rate * f0).clamp(W0_MIN, W0_MAX)
    cos, sin = torch.cos(w0), torch.sin(w0)
    alpha = sin / (2 * q.clamp(min=Q_MIN))
    amp = torch.pow(10.0, gain_db / 40.0)
    ones = torch.ones_like(w0)

    if kind == "peak":
        b = (1 + alpha * amp, -2 * cos, 1 - alpha * amp)
        a = (1 + alpha / amp, -2 * cos, 1 - alpha / amp)
    elif kind in ("low_shelf", "high_shelf"):
        # The high shelf is the low shelf with cos w0 → −cos w0 and z⁻¹ → −z⁻¹.
        sign = 1.0 if kind == "low_shelf" else -1.0
        c = sign * cos
        two_sqrt_a_alpha = 2 * torch.sqrt(amp) * alpha
        b = (
            amp * ((amp + 1) - (amp - 1) * c + two_sqrt_a_alpha),
            sign * 2 * amp * ((amp - 1) - (amp + 1) * c),
            amp * ((amp + 1) - (amp - 1) * c - two_sqrt_a_alpha),
        )
        a = (
            (amp + 1) + (amp - 1) * c + two_sqrt_a_alpha,
            -sign * 2 * ((amp - 1) + (amp + 1) * c),
            (amp + 1) + (amp - 1) * c - two_sqrt_a_alpha,
        )
    else:
        # (1 ∓ cos w0) / 2 written as sin²(w0/2) / cos²(w0/2), free of cancellation.
        edge = torch.sin(w0 / 2) ** 2 if kind == "low_pass" else torch.cos(w0 / 2) ** 2
        sign = 1.0 if kind == "low_pass" else -1.0
        b = (edge, sign * 2 * edge, edge)
        a = (1 + alpha, -2 * cos, 1 - alpha)

    b = torch.stack([c * ones for c in b], dim=-1)
    a = torch.stack([c * ones for c in a], dim=-1)
    a0 = a[..., :1]
    return (b / a0).to(out_dtype), (a / a0).to(out_dtype)


def _check_cascade(b: torch.Tensor, a: torch.Tensor, owner: str) -> None:
    for name, c in (("b", b), ("a", a)):
        if not torch.is_tensor(c) or c.dim() < 2 or c.shape[-1] != 3:
            shape = tuple(c.shape) if torch.is_tensor(c) else type(c).__name__
            raise ValueError(f"{owner}: {name} must be a (..., sections, 3) tensor, got {shape}")
    if b.shape[-2] != a.shape[-2]:
        raise ValueError(f"{owner}: b has {b.shape[-2]} sections, a has {a.shape[-2]}")


def _section_sums(c: torch.Tensor) -> torch.Tensor:
    """`(..., 3)` coefficients [c0, c1, c2] → `(..., 3)` sums [c0 + c1 + c2, c0 + c2, c0 − c2].

    With u = 1 − cos w = 2 sin²(w/2):
        c0 + c1 e^{−jw} + c2 e^{−2jw} = e^{−jw} · [(c0 + c1 + c2) − (c0 + c2)·u + j (c0 − c2)·sin w].
    The common factor e^{−jw} cancels in B / A. Near DC this form has no cancellation once the
    sums are formed (in the coefficients' precision), so the response can then be evaluated in
    float32 with the accuracy of float64 coefficients.
    """
    c0, c1, c2 = c.unbind(-1)
    return torch.stack([c0 + c1 + c2, c0 + c2, c0 - c2], dim=-1)


def _grid(w: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """`(2, n)` rows u = 1 − cos w = 2 sin²(w/2) and sin w at angles w `(n,)` (computed in float64)."""
    w = w.to(torch.float64)
    return torch.stack([2 * torch.sin(w / 2) ** 2, torch.sin(w)]).to(dtype)


def _bracket(sums: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """`(..., 3)` section sums, `(2, n)` grid → `(..., n)` complex (S − P·u) + j·D·sin w."""
    u, sin = grid
    return torch.complex(sums[..., 0:1] - sums[..., 1:2] * u, sums[..., 2:3] * sin)


# On CPU the response is computed in blocks of this many frequencies, so that the dozen
# elementwise passes per section run in cache (≈ 3× faster at 131k bins); on GPUs in one block.
CPU_BLOCK_BINS = 8192


def _blocks(grid: torch.Tensor):
    """Yield (bin slice, `(2, block)` grid view) over the grid, in blocks of CPU_BLOCK_BINS on CPU."""
    n = grid.shape[-1]
    step = CPU_BLOCK_BINS if grid.device.type == "cpu" else n
    for start in range(0, n, step):
        bins = slice(start, min(start + step, n))
        yield bins, grid[:, bins]


class _CascadeResponse(torch.autograd.Function):
    """Π_k B_k / A_k on a grid from section sums, with a memory-light hand-written backward.

    Inputs: sums_b, sums_a `(..., sections, 3)` of the same shape; grid `(2, n)` (`_grid`).
    Output: `(..., n)` complex. Autograd through the plain expression would keep about ten
    `(..., sections, n)` temporaries; this keeps only the sums and recomputes the sections.
    """

    @staticmethod
    def forward(ctx, sums_b, sums_a, grid):
        ctx.save_for_backward(sums_b, sums_a, grid)
        dtype = torch.promote_types(grid.dtype, torch.complex64)
        response = torch.empty(*sums_b.shape[:-2], grid.shape[-1], dtype=dtype, device=grid.device)
        for bins, block in _blocks(grid):
            product = None
            for k in range(sums_b.shape[-2]):
                # Multiplying by the reciprocal is much faster than complex division on CPU.
                section = _bracket(sums_b[..., k, :], block) * _bracket(sums_a[..., k, :], block).reciprocal()
                product = section if product is None else product * section
            response[..., bins] = product
        return response

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        sums_b, sums_a, grid = ctx.saved_tensors
        grad_b, grad_a = torch.zeros_like(sums_b), torch.zeros_like(sums_a)
        grad_conj = grad.conj().resolve_conj()
        for bins, block in _blocks(grid):
            _accumulate_gradients(grad_conj[..., bins], sums_b, sums_a, block, grad_b, grad_a)
        return grad_b, grad_a, None


def _accumulate_gradients(grad_conj, sums_b, sums_a, grid, grad_b, grad_a) -> None:
    """Add one block of bins' contribution to the gradients of the section sums (in place).

    For a real parameter θ of section k, dL/dθ = Re Σ_n conj(grad)·E_k·∂H_k/∂θ, where
    E_k = Π_{r≠k} H_r (a product, not H / H_k: H_k may vanish, e.g. a high-pass at DC) and,
    with β = (1, −u, j sin) the derivatives of the bracket w.r.t. the sums (S, P, D),
        ∂H_k/∂sums_b = β / A_k,    ∂H_k/∂sums_a = −β·H_k / A_k.
    """
    u, sin = grid

    def re_sum_times_beta(t: torch.Tensor) -> torch.Tensor:
        """`(..., n)` complex t → `(..., 3)` Re Σ_n t·β."""
        return torch.stack([t.real.sum(-1), -(t.real * u).sum(-1), -(t.imag * sin).sum(-1)], dim=-1)

    n_sections = sums_b.shape[-2]
    inv_a = [_bracket(sums_a[..., k, :], grid).reciprocal() for k in range(n_sections)]
    sections = [_bracket(sums_b[..., k, :], grid) * inv_a[k] for k in range(n_sections)]
    suffix = [None] * n_sections
    for k in range(n_sections - 2, -1, -1):
        suffix[k] = sections[k + 1] if suffix[k + 1] is None else suffix[k + 1] * sections[k + 1]
    prefix = None
    for k in range(n_sections):
        t = grad_conj * inv_a[k]
        for other in (prefix, suffix[k]):
            if other is not None:
                t = t * other
        grad_b[..., k, :] += re_sum_times_beta(t)
        grad_a[..., k, :] -= re_sum_times_beta(t * sections[k])
        prefix = sections[k] if prefix is None else prefix * sections[k]


def _cascade_response(
    b: torch.Tensor, a: torch.Tensor, w: torch.Tensor, dtype: torch.dtype | None = None
) -> torch.Tensor:
    """Π_sections B(e^{jw}) / A(e^{jw}) of `(..., sections, 3)` coefficients at angles w `(n,)` → `(..., n)`.

    The section sums are formed in the coefficients' dtype, the rest in `dtype` (default: the
    coefficients' dtype); the result is the matching complex dtype.
    """
    b, a = _as_float_tensors(b, a)
    dtype = dtype or b.dtype
    grid = _grid(w.to(b.device), dtype)
    return _CascadeResponse.apply(_section_sums(b).to(dtype), _section_sums(a).to(dtype), grid)


def frequency_response(
    b: torch.Tensor, a: torch.Tensor, n_fft: int, dtype: torch.dtype | None = None
) -> torch.Tensor:
    """Complex response of a biquad cascade on the rFFT grid, rFFT(b) / rFFT(a) multiplied over sections.

    Args:
        b, a: `(..., sections, 3)` coefficients (broadcastable with each other).
        n_fft: FFT size; bins are at k · sample_rate / n_fft, k = 0 … n_fft // 2.
        dtype: real dtype of the evaluation (default: that of b and a). float32 evaluation of
            float64 coefficients keeps their accuracy near DC (see `_section_sums`).

    Returns:
        `(..., n_fft // 2 + 1)` complex tensor of the complex dtype matching `dtype`.
    """
    _check_cascade(b, a, "frequency_response")
    if n_fft < 1:
        raise ValueError(f"frequency_response: n_fft must be >= 1, got {n_fft}")
    w = 2 * math.pi / n_fft * torch.arange(n_fft // 2 + 1, dtype=torch.float64)
    return _cascade_response(b, a, w, dtype)


def magnitude_response_db(
    b: torch.Tensor, a: torch.Tensor, freqs_hz: torch.Tensor, sample_rate: float
) -> torch.Tensor:
    """Magnitude response of a biquad cascade in dB at arbitrary frequencies (e.g. for figures).

    Args:
        b, a: `(..., sections, 3)` coefficients.
        freqs_hz: `(n_freqs,)` frequencies in Hz.
        sample_rate: in Hz.

    Returns:
        `(..., n_freqs)` real tensor, 20·log10|H|, floored at −400 dB (exact zeros are finite).
    """
    _check_cascade(b, a, "magnitude_response_db")
    w = 2 * math.pi / sample_rate * torch.as_tensor(freqs_hz, dtype=torch.float64).reshape(-1)
    power = torch.abs(_cascade_response(b, a, w)) ** 2
    return 10 * torch.log10(power.clamp(min=1e-40))


def fsm_filter(x: torch.Tensor, b: torch.Tensor, a: torch.Tensor, pad: int = DEFAULT_PAD) -> torch.Tensor:
    """Filter `x` through a biquad cascade by frequency sampling.

    n_fft = next_power_of_two(samples + pad);  y = irFFT(rFFT(x, n_fft) · H)[:samples], with H the
    cascade's response on that grid (`frequency_response`). Differentiable in x, b and a (first
    derivatives: the response has a hand-written backward, no double backward).

    Truncation error. The product of spectra is a *circular* convolution of x with the impulse
    response h of the cascade, so the samples of h beyond n_fft wrap around:
        y_fsm[n] − y_exact[n] = Σ_{k≥1} Σ_m x[m] · h[n − m + k·n_fft],   0 ≤ n < samples,
    (y_exact: linear, zero-state IIR filtering as `lfilter_cascade`). Only taps of h later than
    n_fft − samples ≥ pad contribute, and they land mostly on the *start* of the output: for
    white input the error at sample n has variance ≈ σ²·Σ_{t > n_fft − samples + n} h[t]², i.e.
    its RMS relative to the output's is about √(E_tail / E), E_tail = Σ_{t > pad} h[t]² and
    E = Σ_t h[t]², at n = 0 (when n_fft − samples = pad), decaying after that.

    Measured with the default pad = 32768 over the corners of the default EQ ranges (f0 ≥ 20 Hz,
    Q ∈ [0.1, 3], gain ±15 dB, 16–48 kHz): the worst single band is a 20 Hz peak or low shelf at
    48 kHz with Q = 0.1, whose tail bound √(E_tail/E) is 1.7e-4 (−75 dB); on white noise with
    exactly 32768 samples of padding such a band's fsm output differs from exact filtering by
    ~4e-5 of the output RMS over the first samples and ~1e-5 over the whole signal, and a full
    5-band ParametricEQ at its range corners by ≤ 3e-6 (both presets; ~1e-12 at 16 kHz).
    The padding is often larger than pad: 4 s at 44.1 kHz gives n_fft = 262,144, i.e. 85,744.

    Args:
        x: `(..., samples)` audio.
        b, a: `(..., sections, 3)` coefficients, leading dimensions broadcastable with x's.
        pad: minimum zero-padding in samples (≥ 0).

    Returns:
        `(..., samples)` in x's dtype.
    """
    _check_cascade(b, a, "fsm_filter")
    if not isinstance(pad, int) or pad < 0:
        raise ValueError(f"fsm_filter: pad must be an int >= 0, got {pad!r}")
    n = x.shape[-1]
    n_fft = next_power_of_two(n + pad)
    spectrum = torch.fft.rfft(x, n=n_fft)
    response = frequency_response(b, a, n_fft, dtype=spectrum.real.dtype)
    return torch.fft.irfft(spectrum * response, n=n_fft)[..., :n]


def lfilter_cascade(x: torch.Tensor, b: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """Exact (recursive, zero initial state) filtering through a biquad cascade, section after section.

    Each section runs `torchaudio.functional.lfilter(…, clamp=False)` with one coefficient set
    per signal. Computed in the promoted dtype of x, b and a (float64 coefficients make a float64
    recursion), returned in x's dtype. Differentiable in x, b and a.

    Args:
        x: `(..., samples)` audio.
        b, a: `(..., sections, 3)` coefficients, leading dimensions broadcastable with x's.

    Returns:
        `(..., samples)` in x's dtype.
    """
    _check_cascade(b, a, "lfilter_cascade")
    dtype = torch.promote_types(torch.promote_types(x.dtype, b.dtype), a.dtype)
    lead = torch.broadcast_shapes(x.shape[:-1], b.shape[:-2], a.shape[:-2])
    n, sections = x.shape[-1], b.shape[-2]
    y = x.to(dtype).expand(*lead, n).reshape(-1, n)
    b = b.to(dtype).expand(*lead, sections, 3).reshape(-1, sections, 3)
    a = a.to(dtype).expand(*lead, sections, 3).reshape(-1, sections, 3)
    for s in range(sections):
        y = torchaudio.functional.lfilter(y, a[:, s], b[:, s], clamp=False, batching=True)
    return y.reshape(*lead, n).to(x.dtype)


# `biquad_filter`: the exact biquad recursion and its adjoint as compiled kernels, a third path
# beside `fsm_filter` and `lfilter_cascade`, for one section per row on a CPU. Measured for the high-pass
# alone on 16 × 1 s at 44.1 kHz, 2 threads, forward / forward + backward: these kernels ≈ 2.3 / 6 ms;
# `fsm_filter` (pad ≥ n, n_fft = 2^17) ≈ 14 / 35 ms with a float32 response and ≈ 25 / 75 ms in
# float64; torchaudio lfilter ≈ 3 / 12 ms in float32 (its float32 recursion is off by 1e-3 at
# 20 Hz, Q = 10) and ≈ 6 / 20 ms in float64 (its FIR part is a grouped conv1d run group by group).


@njit(cache=True, nogil=True)
def _biquad_forward_kernel(x, b, a, w, y):
    """Direct form II, zero state: w[n] = x[n] − a1·w[n−1] − a2·w[n−2], y[n] = Σ_k b_k·w[n−k].

    x, y: (rows, samples), float32 or float64; w: (rows, samples) float64; b: (rows, 3) and a:
    (rows, 2) = [a1, a2] (a0 = 1), float64. All arithmetic is float64.
    """
    rows, samples = x.shape
    for r in range(rows):
        b0, b1, b2, a1, a2 = b[r, 0], b[r, 1], b[r, 2], a[r, 0], a[r, 1]
        w1 = 0.0
        w2 = 0.0
        for n in range(samples):
            w0 = x[r, n] - a1 * w1 - a2 * w2
            w[r, n] = w0
            y[r, n] = b0 * w0 + b1 * w1 + b2 * w2
            w2 = w1
            w1 = w0


@njit(cache=True, nogil=True)
def _biquad_backward_kernel(grad_y, w, b, a, grad_x, grad_b, grad_a):
    """Adjoint of `_biquad_forward_kernel`, backwards in time, with g = ∂L/∂y:
    u[n] = Σ_k b_k·g[n+k] − a1·u[n+1] − a2·u[n+2],  ∂L/∂x[n] = u[n],
    ∂L/∂b_k = Σ_n g[n]·w[n−k],  ∂L/∂a_k = −Σ_n u[n]·w[n−k]."""
    rows, samples = grad_y.shape
    for r in range(rows):
        b0, b1, b2, a1, a2 = b[r, 0], b[r, 1], b[r, 2], a[r, 0], a[r, 1]
        g1 = 0.0
        g2 = 0.0
        u1 = 0.0
        u2 = 0.0
        sb0 = 0.0
        sb1 = 0.0
        sb2 = 0.0
        sa1 = 0.0
        sa2 = 0.0
        for n in range(samples - 1, -1, -1):
            g0 = grad_y[r, n]
            u0 = b0 * g0 + b1 * g1 + b2 * g2 - a1 * u1 - a2 * u2
            grad_x[r, n] = u0
            w0 = w[r, n]
            wm1 = w[r, n - 1] if n >= 1 else 0.0
            wm2 = w[r, n - 2] if n >= 2 else 0.0
            sb0 += g0 * w0
            sb1 += g0 * wm1
            sb2 += g0 * wm2
            sa1 -= u0 * wm1
            sa2 -= u0 * wm2
            g2 = g1
            g1 = g0
            u2 = u1
            u1 = u0
        grad_b[r, 0] = sb0
        grad_b[r, 1] = sb1
        grad_b[r, 2] = sb2
        grad_a[r, 0] = sa1
        grad_a[r, 1] = sa2


def _cpu_array(t: torch.Tensor, dtype: torch.dtype | None = None) -> np.ndarray:
    return t.detach().to(device="cpu", dtype=dtype or t.dtype).contiguous().numpy()


class _Biquad(torch.autograd.Function):
    """y = biquad(x) for x `(rows, samples)` (float32 or float64), b `(rows, 3)`, a `(rows, 2)` =
    [a1, a2]. The recursions run in float64 (coefficients and state) whatever x's dtype."""

    @staticmethod
    def forward(ctx, x, b, a):
        x_ = _cpu_array(x)
        b_, a_ = _cpu_array(b, torch.float64), _cpu_array(a, torch.float64)
        w, y = np.empty(x_.shape), np.empty_like(x_)
        _biquad_forward_kernel(x_, b_, a_, w, y)
        ctx.save_for_backward(torch.from_numpy(w), torch.from_numpy(b_), torch.from_numpy(a_))
        ctx.dtypes = (b.dtype, a.dtype)
        return torch.from_numpy(y).to(x.device)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_y):
        w, b, a = (t.numpy() for t in ctx.saved_tensors)
        grad_y_ = _cpu_array(grad_y)
        grads = [np.empty_like(grad_y_), np.empty_like(b), np.empty_like(a)]
        _biquad_backward_kernel(grad_y_, w, b, a, *grads)
        dtypes = (grad_y.dtype, *ctx.dtypes)
        return tuple(
            torch.from_numpy(g).to(device=grad_y.device, dtype=dtype) if need else None
            for g, dtype, need in zip(grads, dtypes, ctx.needs_input_grad)
        )


def biquad_filter(x: torch.Tensor, b: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """Exact zero-state causal filtering through one biquad per row (float64 recursion, CPU).

    Args:
        x: `(batch, samples)` float32 or float64 signal.
        b, a: `(batch, 3)` or `(3,)` coefficients [b0, b1, b2], [a0, a1, a2] (divided by a0 here).

    Returns:
        `(batch, samples)` in x's dtype, on x's device; differentiable in x, b and a.
    """
    if x.dim() != 2 or x.dtype not in (torch.float32, torch.float64):
        raise ValueError(f"biquad_filter: x must be a float32/float64 (batch, samples) tensor, got {x.dtype} {tuple(x.shape)}")
    for name, c in (("b", b), ("a", a)):
        if c.shape not in ((3,), (x.shape[0], 3)):
            raise ValueError(f"biquad_filter: {name} must have shape (3,) or ({x.shape[0]}, 3), got {tuple(c.shape)}")
    b, a = b.expand(x.shape[0], 3), a.expand(x.shape[0], 3)
    a0 = a[:, :1]
    return _Biquad.apply(x, b / a0, a[:, 1:] / a0)
