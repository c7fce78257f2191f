"""Constant-Q transform (magnitude) in torch: strided frames for short kernels, one FFT for long ones.

Bin k has centre frequency f_k = fmin · 2^(k / bins_per_octave) Hz and a Hann-windowed complex
exponential kernel of N_k = ceil(Q · sample_rate / f_k) samples, Q = 1 / (2^(1/bins_per_octave) − 1).
Frame m is centred on sample m · hop of the input (the signal is reflect-padded, as `stft` does):

    C[k, m] = | (2 / Σ_n w_k[n]) · Σ_n x[m·hop + n] · w_k[n] · exp(−2πi f_k n / sample_rate) |

with n running over the N_k kernel taps centred on 0 (n = −⌊N_k/2⌋ … N_k − 1 − ⌊N_k/2⌋) and
w_k the periodic Hann window of length N_k. Normalization: the factor 2 / Σ w_k (= 4 / N_k) makes
a sinusoid of amplitude A at a bin's centre frequency give C ≈ A in that bin, whatever the bin
(so the magnitude of a sine is constant across bins). nnAudio's `CQT1992v2`, used by the reference,
scales its kernels differently (L1 norm, then optionally × sqrt(N_k)); the log-CQT features then
differ by a per-bin constant, which the encoders' batch norms absorb.

Algorithm, and why. The reference (nnAudio `CQT1992v2`) convolves with all 113 kernels zero-padded
to 32,768 taps: 2 · 113 · 32,768 multiply-adds per frame (6.4 G per 10-s clip at 44.1 kHz), although
the kernels hold 2 · Σ N_k ≈ 0.8 M taps. A per-frame FFT (Brown–Puckette) transforms 32,768 samples
per 512-sample hop, 64× the signal. Here each octave is computed the cheaper way:
- short kernels (the upper octaves, N_k ≲ 1,000 taps at 44.1 kHz): the frames are a strided view
  of the signal and one real matrix product with the octave's kernels gives all its bins
  (2 · N_max multiply-adds per frame and bin, in BLAS);
- long kernels (the lowest octaves, up to 22,681 taps): the whole padded signal is transformed once,
  X = FFT(x) of length L = M · hop; kernel k is a band-pass filter whose spectrum G_k is known in
  closed form (three Dirichlet kernels), and sampling its output every hop samples folds the
  spectrum onto M = L / hop bins:

      y_k[s · hop] = (1 / hop) · IFFT_M(Z_k)[s],   Z_k[r] = Σ_{j ≡ r (mod M)} X[j] G_k[j].

  G_k is narrow for long kernels; it is kept within ±`SUPPORT_LOBES` units of sample_rate / N_k Hz
  around f_k, where the Hann side lobes are below 1e-4 of the peak (< −80 dB): this bounds the
  difference to the exact time-domain CQT. Cost ≈ (kept width / M) gathered complex products per
  frame and bin plus an M-point IFFT, independent of N_k.
A gathered complex product costs about `_GATHER_COST` real multiply-adds of a matrix product on a
CPU (memory-bound), which sets the switch (between 1,062 and 2,124 taps at 44.1 kHz, hop 512).
The result: memory proportional to the signal, and on one CPU thread about 60× less time than the
padded-kernel conv1d (scripts/benchmarks/encoders.py; ≈ 50 ms for 16 × 4 s at 44.1 kHz). The kernels
depend on the padded length L and are cached for a few lengths.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import torch
import torch.nn.functional as F

from ddspfx.dsp.spectral import magnitude

# Half-width of each kernel's kept spectrum, in units of sample_rate / N_k Hz (main lobe = ±2 units).
SUPPORT_LOBES = 16
# Real multiply-adds that one gathered complex product is worth (sets the time/frequency switch).
_GATHER_COST = 128
# Upper bound on the number of complex values one batched kernel product may hold (memory cap).
_CHUNK_ELEMENTS = 1 << 24


def cqt_q_factor(bins_per_octave: int) -> float:
    """Quality factor Q = f_k / bandwidth = 1 / (2^(1/bins_per_octave) − 1) (16.82 for 12 bins/octave)."""
    return 1.0 / (2.0 ** (1.0 / bins_per_octave) - 1.0)


def bins_below_nyquist(fmin: float, bins_per_octave: int, sample_rate: float, at_most: int | None = None) -> int:
    """The largest number of bins whose top centre frequency fmin · 2^((n − 1) / bins_per_octave)
    does not exceed Nyquist (sample_rate / 2), capped at `at_most` (e.g. 96 at 16 kHz from C1)."""
    fit = 1 + math.floor(bins_per_octave * math.log2(sample_rate / 2 / fmin) + 1e-9)
    if fit < 1:
        raise ValueError(f"cqt: fmin={fmin} Hz is above Nyquist ({sample_rate / 2} Hz)")
    return fit if at_most is None else min(fit, int(at_most))


def cqt_frequencies(
    fmin: float = 32.70,
    n_bins: int = 113,
    bins_per_octave: int = 12,
    sample_rate: float | None = None,
) -> torch.Tensor:
    """Centre frequencies f_k = fmin · 2^(k / bins_per_octave), k = 0 … n_bins − 1, in Hz.

    Args:
        fmin: lowest centre frequency in Hz (> 0); 32.70 Hz is C1.
        n_bins: number of bins (≥ 1).
        bins_per_octave: bins per octave (≥ 1).
        sample_rate: in Hz; when given, the top bin must not exceed Nyquist (sample_rate / 2).

    Returns:
        `(n_bins,)` float64 tensor of frequencies in Hz.

    Raises:
        ValueError: on non-positive arguments, or when the top bin exceeds Nyquist.
    """
    if fmin <= 0 or n_bins < 1 or bins_per_octave < 1:
        raise ValueError(
            f"cqt_frequencies: need fmin > 0, n_bins >= 1, bins_per_octave >= 1; "
            f"got fmin={fmin}, n_bins={n_bins}, bins_per_octave={bins_per_octave}"
        )
    freqs = fmin * 2.0 ** (torch.arange(n_bins, dtype=torch.float64) / bins_per_octave)
    if sample_rate is not None:
        if sample_rate <= 0:
            raise ValueError(f"cqt_frequencies: sample_rate must be > 0, got {sample_rate}")
        top, nyquist = float(freqs[-1]), sample_rate / 2
        if top > nyquist:
            fit = 1 + math.floor(bins_per_octave * math.log2(nyquist / fmin))
            raise ValueError(
                f"cqt: top bin at {top:.1f} Hz (fmin={fmin}, n_bins={n_bins}, "
                f"bins_per_octave={bins_per_octave}) exceeds Nyquist {nyquist:.1f} Hz "
                f"(sample_rate={sample_rate}); use n_bins <= {fit} or a lower fmin"
            )
    return freqs


def cqt_lengths(
    sample_rate: float, fmin: float = 32.70, n_bins: int = 113, bins_per_octave: int = 12
) -> torch.Tensor:
    """Kernel lengths N_k = ceil(Q · sample_rate / f_k) in samples, `(n_bins,)` int64.

    22,681 samples (0.51 s) for the lowest default bin at 44.1 kHz, 36 for the highest.
    """
    freqs = cqt_frequencies(fmin, n_bins, bins_per_octave, sample_rate)
    return torch.ceil(cqt_q_factor(bins_per_octave) * sample_rate / freqs).long()


def cqt(
    x: torch.Tensor,
    sample_rate: float,
    fmin: float = 32.70,
    n_bins: int = 113,
    bins_per_octave: int = 12,
    hop: int = 512,
    pad_mode: str = "reflect",
    eps: float = 1e-12,
) -> torch.Tensor:
    """Constant-Q magnitude spectrogram with centred frames (see the module docstring).

    Differentiable with respect to x (finite gradients on silence: the magnitude is
    sqrt(|y|² + eps)).

    Args:
        x: `(..., samples)` real audio at `sample_rate`.
        sample_rate: in Hz.
        fmin, n_bins, bins_per_octave: the bins (`cqt_frequencies`); the top bin must be ≤ Nyquist.
        hop: frame hop in samples.
        pad_mode: padding for centring ("reflect", or "constant" for zeros); reflect falls back to
            zeros when the signal is shorter than the padding.
        eps: added to |y|² under the square root (magnitude floor sqrt(eps), in units of x).

    Returns:
        `(..., n_bins, frames)` magnitude, frames = 1 + samples // hop, dtype of x.
    """
    if x.dim() < 1 or x.shape[-1] < 1:
        raise ValueError(f"cqt: x must be (..., samples) with samples >= 1, got {tuple(x.shape)}")
    if x.is_complex() or not x.is_floating_point():
        raise ValueError(f"cqt: x must be a real floating-point tensor, got {x.dtype}")
    if hop < 1:
        raise ValueError(f"cqt: hop must be >= 1, got {hop}")
    lengths = cqt_lengths(sample_rate, fmin, n_bins, bins_per_octave)
    leading, samples = x.shape[:-1], x.shape[-1]
    signal = x.reshape(-1, samples)

    # Centre padding P (a multiple of hop, ≥ half the longest kernel), then zeros up to L = M · hop,
    # long enough that the circular convolution never wraps into a kept frame.
    pad = hop * math.ceil((int(lengths.max()) // 2 + 1) / hop)
    mode = "constant" if pad_mode == "reflect" and samples <= pad else pad_mode
    padded = F.pad(signal.unsqueeze(1), (pad, pad), mode=mode).squeeze(1)
    n_fold = _smooth_size(math.ceil(padded.shape[-1] / hop))
    frames, first = 1 + samples // hop, pad // hop

    plan = _plan(float(sample_rate), float(fmin), n_bins, bins_per_octave, hop, n_fold, str(x.device), signal.dtype)
    spectrum = None
    outputs = []
    for octave in plan.octaves:
        if octave.weight is not None:  # short kernels: strided frames times the kernel matrix
            taps = octave.weight.shape[0]
            start = pad - taps // 2
            frames_view = padded[:, start : start + (frames - 1) * hop + taps].unfold(-1, taps, hop)
            out = (frames_view @ octave.weight).reshape(signal.shape[0], frames, -1, 2)
            outputs.append(torch.view_as_complex(out.contiguous()).transpose(1, 2))
            continue
        if spectrum is None:
            spectrum = _two_sided_spectrum(padded, n_fold * hop, plan.max_index)
        n_octave, chunks, _ = octave.kernel.shape
        step = max(1, min(n_octave, _CHUNK_ELEMENTS // (signal.shape[0] * chunks * n_fold)))
        folded = torch.cat(
            [
                (spectrum[:, octave.indices[i : i + step]] * octave.kernel[i : i + step]).sum(dim=-2)
                for i in range(0, n_octave, step)
            ],
            dim=1,
        )
        outputs.append(torch.fft.ifft(folded, dim=-1)[..., first : first + frames])  # 1/hop is in the kernels
    y = torch.cat(outputs, dim=1)  # (batch, n_bins, frames), bins in increasing order
    return magnitude(y, eps).reshape(*leading, n_bins, frames)


def _two_sided_spectrum(padded: torch.Tensor, length: int, max_index: int | None) -> torch.Tensor:
    """DFT of `(batch, samples)` zero-padded to `length`, at indices −J … J (J = max_index) as
    positions 0 … 2J; the full length-`length` DFT when max_index is None."""
    if max_index is None:
        return torch.fft.fft(padded, n=length)
    positive = torch.fft.rfft(padded, n=length)[:, : max_index + 1]
    return torch.cat([positive[:, 1:].flip(-1).conj(), positive], dim=-1)


class _Plan(NamedTuple):
    """Per-octave kernels (lowest bins first) and how the spectrum is indexed (see `_two_sided_spectrum`)."""

    octaves: list[_OctavePlan]
    max_index: int | None


class _OctavePlan(NamedTuple):
    """How one octave of bins is computed (exactly one of `weight` and `indices`/`kernel` is set).

    weight: `(taps, 2 · bins)` real; columns 2b, 2b + 1 hold the real and imaginary parts of bin b's
        kernel, centred on tap taps // 2 (time domain, for short kernels).
    indices: `(bins, chunks, M)` int64 positions in the spectrum of `_two_sided_spectrum`.
    kernel: `(bins, chunks, M)` complex kernel spectrum G_k at `indices`, zero past its support and
        scaled by 1 / hop, so that summing over chunks folds it onto M bins and the M-point IFFT
        gives y_k at the frame instants (up to a unit-modulus phase per bin, which |·| ignores).
    """

    weight: torch.Tensor | None
    indices: torch.Tensor | None
    kernel: torch.Tensor | None


def _smooth_size(n: int) -> int:
    """Smallest integer ≥ n whose prime factors are 2, 3 and 5 (fast FFT sizes)."""
    while True:
        m = n
        for p in (2, 3, 5):
            while m % p == 0:
                m //= p
        if m == 1:
            return n
        n += 1


@functools.lru_cache(maxsize=8)
def _plan(
    sample_rate: float,
    fmin: float,
    n_bins: int,
    bins_per_octave: int,
    hop: int,
    n_fold: int,
    device: str,
    dtype: torch.dtype,
) -> _Plan:
    """Kernels for a padded signal of length L = n_fold · hop, one `_OctavePlan` per octave.

    An octave is computed in the time domain when 2 · taps (its longest kernel) < _GATHER_COST ·
    chunks (its kept spectrum width in units of n_fold), i.e. when that costs less per frame and bin.
    """
    length = n_fold * hop
    complex_dtype = torch.complex128 if dtype == torch.float64 else torch.complex64
    freqs = cqt_frequencies(fmin, n_bins, bins_per_octave, sample_rate)
    lengths = cqt_lengths(sample_rate, fmin, n_bins, bins_per_octave)
    octaves, signed = [], []
    for top in range(n_bins, 0, -bins_per_octave):
        bins = slice(max(0, top - bins_per_octave), top)
        f, n = freqs[bins, None], lengths[bins, None]
        width = min(2 * math.ceil(SUPPORT_LOBES * length / int(n.min())) + 1, length)
        chunks = math.ceil(width / n_fold)
        taps = int(n.max())
        if 2 * taps < _GATHER_COST * chunks:
            tap = torch.arange(taps, dtype=torch.float64) - taps // 2
            position = tap + n // 2  # index into each periodic Hann window
            window = torch.where((position >= 0) & (position < n), (2 - 2 * torch.cos(2 * math.pi * position / n)) / n, 0)
            phase = -2 * math.pi * f * tap / sample_rate
            weight = torch.stack([window * torch.cos(phase), window * torch.sin(phase)], dim=-1)  # (bins, taps, 2)
            octaves.append(_OctavePlan(weight.transpose(0, 1).reshape(taps, -1).to(device=device, dtype=dtype), None, None))
            continue
        centre = torch.round(f * length / sample_rate).long()
        j = centre - width // 2 + torch.arange(chunks * n_fold)  # signed DFT indices
        theta = 2 * math.pi * (f / sample_rate - j / length)
        kernel = torch.where(j - j[:, :1] < width, _hann_kernel_spectrum(theta, n) / hop, 0)
        octaves.append(_OctavePlan(None, None, kernel.reshape(-1, chunks, n_fold).to(device=device, dtype=complex_dtype)))
        signed.append((len(octaves) - 1, j.reshape(-1, chunks, n_fold)))
    max_index = max((int(j.abs().max()) for _, j in signed), default=0)
    if max_index >= length // 2:  # bands reach Nyquist: index the full DFT modulo L
        max_index = None
    for i, j in signed:
        indices = j % length if max_index is None else j + max_index
        octaves[i] = octaves[i]._replace(indices=indices.to(device))
    return _Plan(octaves[::-1], max_index)


def _hann_kernel_spectrum(theta: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
    """(4 / N) · Σ_n w[n + ⌊N/2⌋] e^{−iθn}: the DTFT of a centred, normalized periodic Hann window.

    With w[j] = 0.5 − 0.5 cos(2πj/N), s = 2π/N and R(φ) = sin(Nφ/2) / sin(φ/2) (= Σ_j e^{−iφ(j − (N−1)/2)}),
        Σ_j w[j] e^{−iθ(j − (N−1)/2)} = 0.5 R(θ) + 0.25 e^{−iπ/N} R(θ − s) + 0.25 e^{iπ/N} R(θ + s),
    and centring on ⌊N/2⌋ instead of (N−1)/2 multiplies by e^{iθ/2} for even N. Since
    sin(N(θ ± s)/2) = −sin(Nθ/2), the three terms share one numerator. Valid for |θ| ≤ π + 2π/N
    (the only zero of a denominator is then φ = 0, where R = N).

    Args:
        theta: radians per sample, float64, any shape broadcasting with n.
        n: window lengths in samples.

    Returns:
        complex128 tensor of the broadcast shape.
    """
    n = n.to(torch.float64)
    half = theta / 2
    sin_half, cos_half, numerator = torch.sin(half), torch.cos(half), torch.sin(n * half)
    a, b = torch.sin(math.pi / n), torch.cos(math.pi / n)

    def ratio(numerator: torch.Tensor, denominator: torch.Tensor) -> torch.Tensor:
        singular = denominator.abs() < 1e-9
        return torch.where(singular, n, numerator / torch.where(singular, 1.0, denominator))

    centre = ratio(numerator, sin_half)
    below = ratio(-numerator, sin_half * b - cos_half * a)  # R(θ − s)
    above = ratio(-numerator, sin_half * b + cos_half * a)  # R(θ + s)
    real = 0.5 * centre + 0.25 * b * (below + above)
    imag = 0.25 * a * (above - below)
    even = torch.remainder(n, 2) == 0
    cos_shift, sin_shift = torch.where(even, cos_half, 1.0), torch.where(even, sin_half, 0.0)
    return torch.complex(real * cos_shift - imag * sin_shift, real * sin_shift + imag * cos_shift) * (4 / n)
