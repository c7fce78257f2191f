"""Audio features of timbre remapping (reference timbreremap §4): 7 target features, 3 onset features.

Pure functions, no state, batched and differentiable. Audio is `(batch, samples)`; the per-frame
building blocks take frames `(..., frame_size)` (any leading dimensions) and return `(...)`.

Target features (`target_features`, §4.2), from the first MIN_TARGET_SAMPLES samples:
    frames of FRAME_SIZE = 2048 samples, hop HOP = 512; "transient" = mean of frames 0–1,
    "sustain" = mean of frames 2–65 (§4.1 "mean of n frames from k", `frame_mean`):
    SPL_T, SPL_S   loudness (dB, LKFS style, each frame K-weighted from zero state)
    SC_T,  SC_S    spectral centroid (flat-top window, floored log magnitudes, Kazazis scale)
    SF_T,  SF_S    spectral flatness (dB, 20·log10 of a power ratio, in [−160, 0])
    TC             temporal centroid of one frame of TC_FRAME = 5512 samples (Schlauch scale)
Onset features (`onset_features`, §4.3), from the first `window` samples: RMS (dB), spectral
centroid (semitones, MIDI note numbers) and spectral flatness (dB).

Sample rate. Frame sizes are fixed in samples, as in the reference. Every Hz/ms conversion and
the K-weighting design use the given `sample_rate` (the reference hard-coded 44.1 kHz constants
even for its 48 kHz data, §1 and §14.2; here the features are computed at the true rate).

Reference quirk kept behind `clamp=True`: the reference K-weights with torchaudio's
`lfilter(…, clamp=True)`, which clips each stage's output to [−1, 1]; the gradient through a
clipped sample is 0 (§14.6). Off by default.

Speed. `loudness` (per frame): K-weighting with zero initial state is a causal convolution of
each frame with the first `frame_size` samples of the cascade's impulse response; the response is
computed once per (sample rate, frame size, stages, dtype, device) and all frames are filtered at
once by an rFFT of size ≥ 2·frame_size. `frame_loudness` (used by `target_features`) gets the same
zero-state frame energies from the signal, without framing: the cascade has only 4 states, so
short blocks join exactly into hops and frames (small matrix products, no FFT). The centroid and
flatness spectra are floored |rFFT|² or |rFFT| with a one-pass backward (`_FlooredSpectrum`). The temporal
centroid is linear in x², so its two sums are dot products of x² with fixed weight vectors
(`_temporal_weights`) instead of a 2048-tap convolution.
"""

from __future__ import annotations

import math
from fractions import Fraction
from functools import lru_cache
from typing import NamedTuple

import numpy as np
import torch

from ddspfx.dsp.checks import check_audio
from ddspfx.dsp.filters import biquad_coefficients, lfilter_cascade, next_power_of_two
from ddspfx.dsp.spectral import get_window, rfft_bin_weights

TARGET_FEATURES = ("spl_t", "spl_s", "sc_t", "sc_s", "sf_t", "sf_s", "tc")
TARGET_LABELS = ("SPL_T", "SPL_S", "SC_T", "SC_S", "SF_T", "SF_S", "TC")
TARGET_UNITS = ("dB", "dB", "kazazis", "kazazis", "dB", "dB", "schlauch")
ONSET_FEATURES = ("rms_db", "centroid_st", "flatness_db")
ONSET_UNITS = ("dB", "semitones", "dB")

FRAME_SIZE = 2048  # samples, frames of the loudness / centroid / flatness targets
HOP = 512  # samples
TRANSIENT = (0, 2)  # (first frame, number of frames) averaged for the *_T features
SUSTAIN = (2, 64)  # (first frame, number of frames) averaged for the *_S features
N_FRAMES = SUSTAIN[0] + SUSTAIN[1]  # 66 frames, samples 0 … 35327
TC_FRAME = 5512  # samples, the one frame of the temporal centroid
TC_KERNEL = 2048  # samples, periodic Hann smoothing the energy envelope
MIN_TARGET_SAMPLES = (N_FRAMES - 1) * HOP + FRAME_SIZE  # 35328
ONSET_WINDOW = 256  # samples, default onset analysis window

# K-weighting (pyloudnorm's BS.1770 design): (kind, f0 Hz, gain dB, Q), applied in this order.
K_WEIGHTING_STAGES = (("high_shelf", 1500.0, 4.0, 1 / math.sqrt(2)), ("high_pass", 38.0, 0.0, 0.5))
LOUDNESS_OFFSET_DB = -0.691
LOUDNESS_EPS = 1e-8  # added to the mean square: floor −80.691 dB
CENTROID_MAGNITUDE_FLOOR = 1e-4  # |X| floor of the full centroid
L1_EPS = 1e-12
FLATNESS_POWER_FLOOR = 1e-10
FLATNESS_EPS = 1e-8  # added to the flatness ratio before 20·log10: floor −160 dB
RMS_EPS = 1e-8
CENTROID_HZ_EPS = 1e-8  # added to the centroid in Hz before the semitone log
TC_EPS = 1e-8
KAZAZIS = (-34.61, -0.1621, 21.2985)  # SC' = c0 · Hz^c1 + c2
KAZAZIS_MIN_HZ = 1e-3  # kazazis() input floor: Hz^(−0.1621) stays finite at 0 Hz
SCHLAUCH = (0.03, 1.864)  # TC' = c0 · ms^c1


def _check_rate(sample_rate: float, owner: str) -> None:
    if not (isinstance(sample_rate, (int, float)) and math.isfinite(sample_rate) and sample_rate > 0):
        raise ValueError(f"{owner}: sample_rate must be a finite number > 0, got {sample_rate!r}")


def _check_frames(frames: torch.Tensor, owner: str) -> None:
    if not torch.is_tensor(frames) or not frames.is_floating_point() or frames.dim() < 1 or frames.shape[-1] < 1:
        shape = tuple(frames.shape) if torch.is_tensor(frames) else type(frames).__name__
        raise ValueError(f"{owner}: frames must be a real floating tensor (..., frame_size >= 1), got {shape}")


class _RealFFT(torch.autograd.Function):
    """`torch.fft.rfft(x)` over the last dimension, whose backward is one inverse real FFT.

    PyTorch's own rfft backward zero-fills a two-sided spectrum and runs a complex FFT; the
    adjoint of the one-sided transform of length n is n · irfft(g · [1, ½, …, ½, 1], n) (the
    last weight is ½ for odd n), about half the work.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        ctx.n = x.shape[-1]
        return torch.fft.rfft(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        weights = rfft_bin_weights(ctx.n, 0.5, grad.real.dtype, grad.device)
        return torch.fft.irfft(grad * weights, n=ctx.n, norm="forward")


def _rfft(x: torch.Tensor) -> torch.Tensor:
    """One-sided FFT of `x` `(..., L)` → `(..., L // 2 + 1)` complex (differentiable)."""
    return _RealFFT.apply(x)


class _FlooredSpectrum(torch.autograd.Function):
    """max(|rFFT(x·w)|², floor) (power) or max(|rFFT(x·w)|, floor) (magnitude) over the last
    dimension, differentiable in x (not in w); zero gradient where floored.

    Backward: one real scale per bin (2·g for power, g/|X| for magnitude, times the rFFT adjoint's
    bin weights, see `_RealFFT`), one complex-by-real product, one inverse real FFT, × w. Autograd
    through |X|², |X| and the clamp takes several more complex-sized passes.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, window: torch.Tensor, floor: float, magnitude: bool) -> torch.Tensor:
        spectrum = torch.fft.rfft(x * window)
        power = torch.addcmul(spectrum.real.square(), spectrum.imag, spectrum.imag)
        kept = power >= (floor * floor if magnitude else floor)
        out = power.clamp_(min=floor * floor).sqrt_() if magnitude else power.clamp_(min=floor)
        ctx.save_for_backward(spectrum, window, kept, out if magnitude else None)
        ctx.n = x.shape[-1]
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        spectrum, window, kept, abs_spectrum = ctx.saved_tensors  # abs_spectrum: None for power
        weights = rfft_bin_weights(ctx.n, 0.5, grad.dtype, grad.device)
        scale = grad * (2 * weights) if abs_spectrum is None else grad * weights / abs_spectrum
        scale = scale.masked_fill_(~kept, 0.0)
        return torch.fft.irfft(spectrum * scale, n=ctx.n, norm="forward") * window, None, None, None


def _floored_power(frames: torch.Tensor, window: torch.Tensor, floor: float) -> torch.Tensor:
    """max(|rFFT(frames·window)|², floor) of frames `(..., L)` → `(..., L // 2 + 1)` (differentiable)."""
    return _FlooredSpectrum.apply(frames, window, floor, False)


def _floored_magnitude(frames: torch.Tensor, window: torch.Tensor, floor: float) -> torch.Tensor:
    """max(|rFFT(frames·window)|, floor) of frames `(..., L)` → `(..., L // 2 + 1)` (differentiable)."""
    return _FlooredSpectrum.apply(frames, window, floor, True)


# ----------------------------------------------------------------------------------------------
# Frame machinery (§4.1)


def frame_signal(audio: torch.Tensor, frame_size: int, hop: int, n_frames: int | None = None) -> torch.Tensor:
    """Frames of `audio` from sample 0, no padding: frame m is samples m·hop … m·hop + frame_size − 1.

    Args:
        audio: `(..., samples)`.
        frame_size, hop: in samples (≥ 1).
        n_frames: how many frames (default: every full frame, 1 + (samples − frame_size) // hop).
            Only the samples these frames cover are read.

    Returns:
        `(..., n_frames, frame_size)`, a view of `audio`.

    Raises:
        ValueError: bad sizes, or fewer than (n_frames − 1)·hop + frame_size samples.
    """
    for name, value in (("frame_size", frame_size), ("hop", hop)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"frame_signal: {name} must be an int >= 1, got {value!r}")
    samples = audio.shape[-1]
    if n_frames is None:
        n_frames = 1 + (samples - frame_size) // hop if samples >= frame_size else 0
    if not isinstance(n_frames, int) or n_frames < 1:
        raise ValueError(
            f"frame_signal: need at least one frame of {frame_size} samples, got n_frames={n_frames!r} "
            f"for {samples} samples"
        )
    needed = (n_frames - 1) * hop + frame_size
    if samples < needed:
        raise ValueError(
            f"frame_signal: {n_frames} frames of {frame_size} (hop {hop}) need {needed} samples, got {samples}"
        )
    return audio[..., :needed].unfold(-1, frame_size, hop)


def frame_mean(values: torch.Tensor, start: int, count: int) -> torch.Tensor:
    """Mean of `count` consecutive per-frame values from frame `start` (§4.1 "n frames from k").

    Args:
        values: `(..., n_frames)` per-frame feature values (e.g. dB: the mean is in the dB domain).
        start, count: first frame and number of frames.

    Returns:
        `(...)`.
    """
    n_frames = values.shape[-1]
    if not (isinstance(start, int) and isinstance(count, int) and start >= 0 and count >= 1):
        raise ValueError(f"frame_mean: start must be >= 0 and count >= 1, got start={start!r}, count={count!r}")
    if start + count > n_frames:
        raise ValueError(f"frame_mean: frames {start}…{start + count - 1} requested, only {n_frames} frames")
    return values[..., start : start + count].mean(-1)


@lru_cache(maxsize=32)
def _window(name: str, size: int, symmetric: bool, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """`(size,)` window; symmetric = the periodic window of size − 1 closed by its first sample."""
    if not symmetric or size == 1:
        return get_window(name, size, dtype=torch.float64).to(dtype=dtype, device=device)
    periodic = get_window(name, size - 1, dtype=torch.float64)
    return torch.cat([periodic, periodic[:1]]).to(dtype=dtype, device=device)


# ----------------------------------------------------------------------------------------------
# Loudness (K-weighting)


def k_weighting_coefficients(sample_rate: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The two K-weighting biquads (RBJ cookbook, a0 = 1) at `sample_rate` Hz, in order:
    high shelf +4 dB, Q 1/√2, 1500 Hz; high pass Q 0.5, 38 Hz (pyloudnorm's coefficients).

    Returns:
        b, a: `(2, 3)` float64 each (one row per stage).
    """
    _check_rate(sample_rate, "k_weighting_coefficients")
    rows = [
        biquad_coefficients(kind, *(torch.tensor(v, dtype=torch.float64) for v in (f0, gain_db, q)), sample_rate)
        for kind, f0, gain_db, q in K_WEIGHTING_STAGES
    ]
    return torch.stack([b for b, _ in rows]), torch.stack([a for _, a in rows])


@lru_cache(maxsize=32)
def _k_weighting_response(
    sample_rate: float, frame_size: int, stages: tuple[int, ...], dtype: torch.dtype, device: torch.device
) -> torch.Tensor:
    """rFFT (size next_power_of_two(2·frame_size − 1)) of the first frame_size samples of the
    impulse response of the K-weighting `stages`, designed and filtered in float64.
    Returns `(n_fft // 2 + 1,)` complex of `dtype` on `device`."""
    b, a = k_weighting_coefficients(sample_rate)
    impulse = torch.zeros(frame_size, dtype=torch.float64)
    impulse[0] = 1.0
    with torch.no_grad():
        response = lfilter_cascade(impulse, b[list(stages)], a[list(stages)])
    n_fft = next_power_of_two(2 * frame_size - 1)
    return torch.fft.rfft(response, n=n_fft).to(dtype=dtype, device=device)


class _CausalConvolution(torch.autograd.Function):
    """y = first L samples of x * h for frames x `(..., L)`, given H = rFFT of h (L taps) of size
    n ≥ 2L − 1: y = irfft(rfft(x, n)·H)[:L]. Its adjoint (the backward) is the correlation
    g ↦ irfft(rfft(g, n)·conj(H))[:L] (lags that wrap around land on h's zero padding)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, response: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(response)
        return _apply_response(x, response)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (response,) = ctx.saved_tensors
        return _apply_response(grad, response.conj()), None


def _apply_response(x: torch.Tensor, response: torch.Tensor) -> torch.Tensor:
    n = 2 * (response.shape[-1] - 1)
    return torch.fft.irfft(torch.fft.rfft(x, n=n) * response, n=n)[..., : x.shape[-1]]


def _convolve_response(frames: torch.Tensor, sample_rate: float, stages: tuple[int, ...]) -> torch.Tensor:
    """Zero-state filtering of each frame `(..., L)` through the K-weighting `stages`."""
    size = frames.shape[-1]
    complex_dtype = torch.promote_types(frames.dtype, torch.complex64)
    response = _k_weighting_response(float(sample_rate), size, stages, complex_dtype, frames.device)
    return _CausalConvolution.apply(frames, response)


def k_weight(frames: torch.Tensor, sample_rate: float, clamp: bool = False) -> torch.Tensor:
    """K-weight each frame independently, with zero initial filter state.

    Args:
        frames: `(..., frame_size)` audio frames.
        sample_rate: in Hz (designs the filters).
        clamp: reference quirk — clip each stage's output to [−1, 1], as torchaudio's
            `lfilter(…, clamp=True)` does after filtering each stage (zero gradient where clipped).

    Returns:
        `(..., frame_size)` in frames' dtype.
    """
    _check_frames(frames, "k_weight")
    _check_rate(sample_rate, "k_weight")
    if not clamp:
        return _convolve_response(frames, sample_rate, (0, 1))
    for stage in range(len(K_WEIGHTING_STAGES)):
        frames = _convolve_response(frames, sample_rate, (stage,)).clamp(-1.0, 1.0)
    return frames


def loudness(frames: torch.Tensor, sample_rate: float, clamp: bool = False) -> torch.Tensor:
    """LKFS-style loudness of each frame: −0.691 + 10·log10(mean(k²) + 1e−8), k = K-weighted frame.

    Args:
        frames: `(..., frame_size)` audio frames.
        sample_rate: in Hz.
        clamp: the reference's ±1 clipping of each K-weighting stage (see `k_weight`).

    Returns:
        `(...)` in dB (≥ −80.691; −80.691 for silence).
    """
    weighted = k_weight(frames, sample_rate, clamp)
    return LOUDNESS_OFFSET_DB + 10 * torch.log10(weighted.square().mean(-1) + LOUDNESS_EPS)


# Signal-level loudness of overlapping frames (`frame_loudness`)
LOUDNESS_BLOCK = 32  # samples, the smallest segment of `frame_loudness` (dense block × block products)


class _LoudnessOperators(NamedTuple):
    """Fixed matrices of `frame_loudness`; m = hop // LOUDNESS_BLOCK blocks per hop, M =
    frame_size // hop hops per frame. All act on row vectors (x @ matrix)."""

    block_rest: torch.Tensor  # (block, block): x ↦ (I − Q_b Q_bᵀ)·T·x, T the block's zero-state filter
    block_alpha: torch.Tensor  # (block, 4) float64: x ↦ α = Q_bᵀ·T·x
    block_state: torch.Tensor  # (block, 4) float64: x ↦ end state Σ_j A^(block−1−j)·B·x[j]
    hop_to_v: torch.Tensor  # (4m, 4m) float64, `_join_operators`
    hop_to_state: torch.Tensor  # (4m, 4) float64
    hop_basis: torch.Tensor  # (4m, 4m) float64, orthogonal; its last 4 columns give a hop's α
    frame_to_v: torch.Tensor  # (4M, 4M) float64


class _Dyadic(NamedTuple):
    """An exact array ints / 2**shift, ints a numpy object array of Python ints. The K-weighting
    coefficients are float64 numbers, i.e. dyadic rationals: their sums and products stay exact."""

    ints: np.ndarray
    shift: int

    @staticmethod
    def of(values: np.ndarray) -> _Dyadic:
        """From an object array of Fractions (or ints) whose denominators are powers of two."""
        exact = [Fraction(v) for v in values.ravel().tolist()]
        shift = max(v.denominator.bit_length() - 1 for v in exact)
        ints = [v.numerator << (shift - v.denominator.bit_length() + 1) for v in exact]
        return _Dyadic(np.array(ints, dtype=object).reshape(values.shape), shift)

    def __matmul__(self, other: _Dyadic) -> _Dyadic:
        return _Dyadic(self.ints @ other.ints, self.shift + other.shift)

    def f64(self) -> np.ndarray:
        """The values, each rounded once to float64 (Python's int division rounds correctly)."""
        return np.vectorize(lambda v: v / (1 << self.shift), otypes=[np.float64])(self.ints)


def _k_weighting_state_space(sample_rate: float) -> tuple[_Dyadic, _Dyadic, _Dyadic, float]:
    """The K-weighting cascade as one 4-state system, each biquad in transposed direct form II:
    z[n+1] = A·z[n] + B·x[n], y[n] = C·z[n] + D·x[n], z = (shelf states, high-pass states).

    Returns:
        A `(4, 4)`, B `(4,)`, C `(4,)` exact (`_Dyadic`), D float64.
    """
    coefficients = k_weighting_coefficients(sample_rate)
    b, a = (np.array([[Fraction(v) for v in row] for row in c.tolist()]) for c in coefficients)
    A = np.zeros((4, 4), dtype=object)
    B = np.zeros(4, dtype=object)
    for stage in (0, 1):
        rows = slice(2 * stage, 2 * stage + 2)
        A[rows, rows] = [[-a[stage, 1], 1], [-a[stage, 2], 0]]
        B[rows] = b[stage, 1:] - a[stage, 1:] * b[stage, 0]
    # The high pass's input is the shelf's output z[0] + b₀·x, entering through its B₂.
    A[2:, 0] = B[2:]
    B[2:] = B[2:] * b[0, 0]
    C = np.array([b[1, 0], 0, 1, 0], dtype=object)
    return _Dyadic.of(A), _Dyadic.of(B), _Dyadic.of(C), float(b[0, 0] * b[1, 0])


def _powers(A: _Dyadic, count: int) -> list[_Dyadic]:
    """A⁰ … A^(count−1), exact."""
    powers = [_Dyadic(np.eye(4, dtype=int).astype(object), 0)]
    for _ in range(count - 1):
        powers.append(powers[-1] @ A)
    return powers


@lru_cache(maxsize=8)
def _k_weighting_design(sample_rate: float, frame_size: int, hop: int, block: int) -> tuple[np.ndarray, ...]:
    """What `_loudness_operators` needs of the K-weighting, computed exactly and rounded once to
    float64. Float64 arithmetic would accumulate round-off through the high pass's double pole
    near z = 1 (≈3e−9 dB in the loudness of low-frequency input; ≈3e−11 dB when built exactly).

    Returns:
        response `(block,)` h[0 … block − 1]; phi `(block, 4)`, row n = C·Aⁿ; psi `(block, 4)`,
        row j = (A^(block−1−j)·B)ᵀ; hop_powers `(hop // block + 1, 4, 4)`, A_b⁰ … A_b^m with
        A_b = A^block; frame_powers `(frame_size // hop + 1, 4, 4)`, A_h⁰ … A_h^M with A_h = A^hop.
    """
    A, B, C, D = _k_weighting_state_space(sample_rate)
    powers = _powers(A, block + 1)
    phi = np.stack([(C @ power).f64() for power in powers[:block]])
    response = np.array([D] + [float((C @ power @ B).f64()) for power in powers[: block - 1]])
    psi = np.stack([(powers[block - 1 - j] @ B).f64() for j in range(block)])
    hop_powers = _powers(powers[block], hop // block + 1)
    frame_powers = _powers(hop_powers[-1], frame_size // hop + 1)
    return response, phi, psi, *(np.stack([power.f64() for power in ps]) for ps in (hop_powers, frame_powers))


def _f64(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float64))


def _join_operators(powers: np.ndarray, r: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Operators that join m consecutive segments of ℓ samples (`frame_loudness`).

    Args:
        powers: `(m + 1, 4, 4)` float64, A_ℓ⁰ … A_ℓ^m with A_ℓ = A^ℓ.
        r: `(4, 4)`, the segment's R (its zero-input responses are Φ_ℓ = Q_ℓ·R).

    Returns:
        to_v `(4m, 4m)`: (s_c)_c ↦ (R·g_c)_c, g_c = Σ_{c' < c} A_ℓ^(c−1−c')·s_c' the state child c
            starts from; to_state `(4m, 4)`: (s_c)_c ↦ Σ_c A_ℓ^(m−1−c)·s_c, the joined end state;
        basis `(4m, 4m)` orthogonal, last 4 columns Q_Z where Z = (R·A_ℓ^c)_c = Q_Z·R_Z is the
            joined segment's Φ in the children's Q_ℓ coordinates; R_Z `(4, 4)`. All float64.
    """
    m = powers.shape[0] - 1
    to_g = np.zeros((m, 4, m, 4))
    for c in range(m):
        for earlier in range(c):
            to_g[earlier, :, c, :] = powers[c - 1 - earlier].T
    to_v = _f64(to_g.reshape(4 * m, 4 * m)) @ torch.block_diag(*[r.T] * m)
    to_state = _f64(np.concatenate([powers[m - 1 - c].T for c in range(m)]))
    q, r_joined = torch.linalg.qr(torch.cat([r @ _f64(powers[c]) for c in range(m)]), mode="complete")
    return to_v, to_state, torch.cat([q[:, 4:], q[:, :4]], dim=1), r_joined[:4]


@lru_cache(maxsize=16)
def _loudness_operators(
    sample_rate: float, frame_size: int, hop: int, block: int, dtype: torch.dtype, device: torch.device
) -> _LoudnessOperators:
    """The matrices of `frame_loudness` (float64; block_rest in `dtype`) on `device`."""
    response, phi, psi, hop_powers, frame_powers = _k_weighting_design(sample_rate, frame_size, hop, block)
    lag = np.subtract.outer(np.arange(block), np.arange(block))
    toeplitz = _f64(np.where(lag >= 0, response[np.maximum(lag, 0)], 0.0))
    q, r = torch.linalg.qr(_f64(phi))
    hop_to_v, hop_to_state, hop_basis, r_hop = _join_operators(hop_powers, r)
    operators = _LoudnessOperators(
        block_rest=(toeplitz - q @ (q.T @ toeplitz)).T.to(dtype),
        block_alpha=(q.T @ toeplitz).T,
        block_state=_f64(psi),
        hop_to_v=hop_to_v,
        hop_to_state=hop_to_state,
        hop_basis=hop_basis,
        frame_to_v=_join_operators(frame_powers, r_hop)[0],
    )
    return _LoudnessOperators(*(t.to(device).contiguous() for t in operators))


def _per_row(x: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    """x @ matrix for x `(rows, ..., k)` and a constant matrix `(k, n)` → `(rows, ..., n)`, as a
    batched product: one matrix product of the same shape per row, forward and backward.

    Row independence: a row's result and gradient are then bit-for-bit the same whatever other
    rows share the batch. A single product over the flattened rows is not: BLAS blocks its rows by
    their total number, so a row's rounding depends on the batch size (the remap grid trains
    members in other batches than their single runs, see `ddspfx.tasks.remap_grid`).
    """
    rows, inner = x.shape[0], math.prod(x.shape[1:-1])
    flat = x.reshape(rows, inner, x.shape[-1])
    return torch.bmm(flat, matrix.expand(rows, *matrix.shape)).reshape(*x.shape[:-1], matrix.shape[-1])


def _join_v(alpha: torch.Tensor, state: torch.Tensor, to_v: torch.Tensor) -> torch.Tensor:
    """v = (α_c + R·g_c)_c `(rows, ..., 4m)` of m children, from their α and end states `(rows, ..., m, 4)`."""
    return alpha.flatten(-2) + _per_row(state.flatten(-2), to_v)


def _frame_energies(
    audio: torch.Tensor, sample_rate: float, n_frames: int, frame_size: int, hop: int
) -> torch.Tensor:
    """Σₙ y_k[n]² of every frame's zero-state K-weighted output y_k (see `frame_loudness`).

    Args:
        audio: `(..., samples)`, samples ≥ (n_frames − 1)·hop + frame_size.
        sample_rate: in Hz.
        n_frames, frame_size, hop: frames from sample 0; LOUDNESS_BLOCK | hop | frame_size.

    Returns:
        `(..., n_frames)` float64; each signal's row is independent of the others (`_per_row`).
    """
    rest_dtype = torch.promote_types(audio.dtype, torch.float32)
    block = LOUDNESS_BLOCK
    ops = _loudness_operators(float(sample_rate), frame_size, hop, block, rest_dtype, audio.device)
    needed = (n_frames - 1) * hop + frame_size
    lead = audio.shape[:-1]
    audio = audio[..., :needed].reshape(-1, needed)  # (rows, needed): one row per signal
    blocks = audio.reshape(audio.shape[0], needed // hop, hop // block, block)
    # The energy off the span of Φ is a plain sum of squares: audio's precision is enough for it.
    rest = _per_row(blocks.to(rest_dtype), ops.block_rest).square().sum(-1).to(torch.float64)  # (rows, hops, m)
    blocks = blocks.to(torch.float64)
    alpha, state = _per_row(blocks, ops.block_alpha), _per_row(blocks, ops.block_state)  # (rows, hops, m, 4)
    v = _per_row(_join_v(alpha, state, ops.hop_to_v), ops.hop_basis)
    rest = rest.sum(-1) + v[..., :-4].square().sum(-1)  # (rows, hops)
    alpha, state = v[..., -4:], _per_row(state.flatten(-2), ops.hop_to_state)
    per_frame = frame_size // hop
    windows = (t.unfold(-2, per_frame, 1).transpose(-1, -2) for t in (alpha, state))  # (rows, n_frames, M, 4)
    energies = rest.unfold(-1, per_frame, 1).sum(-1) + _join_v(*windows, ops.frame_to_v).square().sum(-1)
    return energies.reshape(*lead, n_frames)


def frame_loudness(audio: torch.Tensor, sample_rate: float, n_frames: int, clamp: bool = False) -> torch.Tensor:
    """`loudness` of the frames `frame_signal(audio, FRAME_SIZE, HOP, n_frames)`, computed from the
    signal: the same zero-state K-weighting of each frame, without filtering frame by frame.

    clamp=False (exact): a segment of ℓ samples filtered from zero state gives y = T_ℓ·x; the
    cascade has 4 states, so its zero-input responses span 4 columns Φ_ℓ = Q_ℓ·R_ℓ. Keep per
    segment its energy off that span, α = Q_ℓᵀ·y and its end state s. In m joined segments, child
    c starts from the state g_c its predecessors leave and gains Φ_ℓ·g_c = Q_ℓ·(R_ℓ·g_c), so the
    joined energy is Σ_c (energy off the span)_c + |v|², v = (α_c + R_ℓ·g_c)_c; v splits again into
    the joined α and energy off the joined span (an orthogonal 4m × 4m change of basis). Blocks of
    LOUDNESS_BLOCK samples join into hops, every FRAME_SIZE / HOP consecutive hops into a frame.
    All energies are sums of squares, so no large terms cancel (a loud past never enters a frame);
    states, α and v are float64; the matrices come from exact powers of A (`_k_weighting_design`).

    Args:
        audio: `(..., samples)`, samples ≥ (n_frames − 1)·HOP + FRAME_SIZE; later samples are unused.
        sample_rate: in Hz.
        n_frames: number of frames, from sample 0.
        clamp: the reference's ±1 clipping of each stage (then frame by frame, see `k_weight`).

    Returns:
        `(..., n_frames)` in dB, audio's dtype (≥ −80.691; −80.691 for silence).
    """
    _check_frames(audio, "frame_loudness")
    frames = frame_signal(audio, FRAME_SIZE, HOP, n_frames)  # validates the sizes
    if clamp:
        return loudness(frames, sample_rate, clamp=True)
    _check_rate(sample_rate, "frame_loudness")
    energy = _frame_energies(audio, sample_rate, n_frames, FRAME_SIZE, HOP)
    return (LOUDNESS_OFFSET_DB + 10 * torch.log10(energy / FRAME_SIZE + LOUDNESS_EPS)).to(audio.dtype)


# ----------------------------------------------------------------------------------------------
# Spectral centroid and flatness


def _power(x: torch.Tensor, exponent: float) -> torch.Tensor:
    """x^exponent for x ≥ 0 as exp(exponent·ln x) in float64, returned in x's dtype; 0 ↦ 0 with
    zero gradient (for exponent > 0).

    Not `torch.pow`: on CPU it computes the last elements of a tensor (after its vectorized loop)
    with another implementation that can differ in the last bit, so a row's value and gradient
    would depend on the rows after it. exp and log give an element the same value wherever it
    sits (row independence, see `_per_row`); float64 keeps float32 results within their rounding.
    """
    x64 = x.to(torch.float64)
    positive = x64 > 0
    safe = torch.where(positive, x64, 1.0)  # no log(0) in the backward of the masked branch
    return torch.where(positive, torch.exp(exponent * torch.log(safe)), 0.0).to(x.dtype)


def kazazis(hz: torch.Tensor) -> torch.Tensor:
    """Kazazis scale of a spectral centroid: −34.61·Hz^(−0.1621) + 21.2985.

    Args:
        hz: centroid in Hz, any shape (floored at KAZAZIS_MIN_HZ = 1e−3 Hz).

    Returns:
        same shape, dimensionless (500 Hz → 8.660, 1 kHz → 10.003, 22050 Hz → 14.457).
    """
    c0, c1, c2 = KAZAZIS
    return c0 * _power(hz.clamp(min=KAZAZIS_MIN_HZ), c1) + c2


def _centroid_hz(weights: torch.Tensor, frame_size: int, sample_rate: float, by_row: bool = False) -> torch.Tensor:
    """Centroid in Hz of non-negative per-bin `weights` `(..., bins)` of an rFFT of size frame_size:
    Σ_k k·ŵ_k · sample_rate / frame_size, ŵ = weights / (Σ weights + 1e−12).

    The two sums are one matrix product over all frames (as the scripted onset features compute
    them, `ddspfx.export.streaming`), or with `by_row` two reductions over the bins: then every
    frame's value and gradient are independent of the other frames of the batch (see `_per_row`).
    """
    bins = torch.arange(weights.shape[-1], dtype=weights.dtype, device=weights.device)
    if by_row:
        return (weights * bins).sum(-1) / (weights.sum(-1) + L1_EPS) * (sample_rate / frame_size)
    sums = weights @ torch.stack([torch.ones_like(bins), bins], dim=-1)  # (..., 2): Σ w, Σ k·w
    return sums[..., 1] / (sums[..., 0] + L1_EPS) * (sample_rate / frame_size)


def spectral_centroid_full(frames: torch.Tensor, sample_rate: float) -> torch.Tensor:
    """The target spectral centroid of each frame (§4.2), Kazazis scale.

    Symmetric flat-top window (5 terms, denominator L − 1); |rFFT| floored at 1e−4; ln(1 + |X|);
    L1-normalized centroid in bins, × sample_rate / L → Hz; then `kazazis`. Silence gives the
    mean bin, L/4 bins (sample_rate / 4 Hz: 11025 Hz → 13.644 at 44.1 kHz).

    Args:
        frames: `(..., L)` audio frames.
        sample_rate: in Hz.

    Returns:
        `(...)` dimensionless (Kazazis scale).
    """
    _check_frames(frames, "spectral_centroid_full")
    _check_rate(sample_rate, "spectral_centroid_full")
    size = frames.shape[-1]
    window = _window("flattop", size, True, frames.dtype, frames.device)
    magnitude = _floored_magnitude(frames, window, CENTROID_MAGNITUDE_FLOOR)
    return kazazis(_centroid_hz(torch.log1p(magnitude), size, sample_rate, by_row=True))


def _hann(frames: torch.Tensor) -> torch.Tensor:
    """The periodic Hann window `(L,)` of frames `(..., L)`."""
    return _window("hann", frames.shape[-1], False, frames.dtype, frames.device)


def _hann_spectrum(frames: torch.Tensor) -> torch.Tensor:
    """rFFT of frames `(..., L)` under a periodic Hann window → `(..., L // 2 + 1)` complex."""
    return _rfft(frames * _hann(frames))


def _semitones_from_spectrum(spectrum: torch.Tensor, frame_size: int, sample_rate: float) -> torch.Tensor:
    hz = _centroid_hz(spectrum.abs(), frame_size, sample_rate)
    return 12 * torch.log2((hz + CENTROID_HZ_EPS) / 440.0) + 69


def spectral_centroid_semitones(frames: torch.Tensor, sample_rate: float) -> torch.Tensor:
    """The onset spectral centroid of each frame (§4.3): periodic Hann, |rFFT| (no floor, no
    compression), L1-normalized (eps 1e−12) centroid in Hz, then 12·log2((Hz + 1e−8)/440) + 69.

    Args:
        frames: `(..., L)` audio frames.
        sample_rate: in Hz.

    Returns:
        `(...)` in semitones (MIDI note numbers; silence gives 0 Hz → about −355).
    """
    _check_frames(frames, "spectral_centroid_semitones")
    _check_rate(sample_rate, "spectral_centroid_semitones")
    return _semitones_from_spectrum(_hann_spectrum(frames), frames.shape[-1], sample_rate)


def _flatness_db_from_power(floored: torch.Tensor) -> torch.Tensor:
    """20·log10(flatness + 1e−8) of powers `(..., bins)` already floored at 1e−10."""
    # ≤ 1 by the AM–GM inequality; the clamp only removes rounding above 1.
    flatness = (torch.exp(torch.log(floored).mean(-1)) / floored.mean(-1)).clamp(max=1.0)
    return 20 * torch.log10(flatness + FLATNESS_EPS)


def spectral_flatness_db(frames: torch.Tensor) -> torch.Tensor:
    """Spectral flatness of each frame (§4.2): periodic Hann, P = max(|rFFT|², 1e−10),
    flatness = exp(mean ln P) / mean P, output 20·log10(flatness + 1e−8).

    Args:
        frames: `(..., L)` audio frames.

    Returns:
        `(...)` in dB, in [−160, 20·log10(1 + 1e−8) ≈ 9e−8] (20·log10 of a power ratio ≤ 1;
        silence and white spectra give ≈ 0).
    """
    _check_frames(frames, "spectral_flatness_db")
    return _flatness_db_from_power(_floored_power(frames, _hann(frames), FLATNESS_POWER_FLOOR))


# ----------------------------------------------------------------------------------------------
# Temporal centroid and RMS


def schlauch(ms: torch.Tensor) -> torch.Tensor:
    """Schlauch scale of a temporal centroid: 0.03·ms^1.864 (ms floored at 0).

    Args:
        ms: temporal centroid in milliseconds, any shape.

    Returns:
        same shape, dimensionless (10 ms → 2.193, 20 ms → 7.984, 50 ms → 44.06).
    """
    c0, c1 = SCHLAUCH
    return c0 * _power(ms.clamp(min=0.0), c1)


@lru_cache(maxsize=8)
def _temporal_weights(size: int, kernel: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """`(2, size)` weights c0, c1 with Σ_n e[n] = Σ_m x²[m]·c0[m] and Σ_n n·e[n] = Σ_m x²[m]·c1[m].

    e = conv1d(x², w, padding="same") (a cross-correlation; left pad (kernel − 1)//2), so
    e[n] = Σ_m x²[m]·w[m − n + left], n = 0 … size − 1, w the periodic Hann of `kernel` taps.
    Built from cumulative sums of w and j·w in float64.
    """
    w = get_window("hann", kernel, dtype=torch.float64)
    taps = torch.arange(kernel, dtype=torch.float64)
    sum_w = torch.cat([torch.zeros(1, dtype=torch.float64), torch.cumsum(w, 0)])
    sum_jw = torch.cat([torch.zeros(1, dtype=torch.float64), torch.cumsum(taps * w, 0)])
    shifted = torch.arange(size) + (kernel - 1) // 2  # m + left
    low = (shifted - (size - 1)).clamp(0, kernel)  # taps j = m + left − n with n ≤ size − 1
    high = (shifted + 1).clamp(0, kernel)  # … and n ≥ 0
    c0 = sum_w[high] - sum_w[low]
    c1 = shifted.double() * c0 - (sum_jw[high] - sum_jw[low])  # Σ_j (m + left − j)·w[j]
    return torch.stack([c0, c1]).to(dtype=dtype, device=device)


def temporal_centroid_ms(frame: torch.Tensor, sample_rate: float) -> torch.Tensor:
    """Temporal centroid of each frame in ms (§4.2): e = conv1d(x², periodic Hann(2048),
    padding "same": 1023 zeros left, 1024 right), TC = Σ n·e[n] / (Σ e + 1e−8) / sample_rate · 1000.

    Args:
        frame: `(..., L)` audio (the targets use L = TC_FRAME = 5512 from sample 0).
        sample_rate: in Hz.

    Returns:
        `(...)` in ms (0 for silence).
    """
    _check_frames(frame, "temporal_centroid_ms")
    _check_rate(sample_rate, "temporal_centroid_ms")
    weights = _temporal_weights(frame.shape[-1], TC_KERNEL, frame.dtype, frame.device)
    energy = frame.square()
    # Σ e, Σ n·e as reductions, not a matrix product over the rows: row-independent (see `_per_row`).
    sum_e, sum_ne = ((energy * w).sum(-1) for w in weights)
    return sum_ne / (sum_e + TC_EPS) * (1000.0 / sample_rate)


def temporal_centroid(frame: torch.Tensor, sample_rate: float) -> torch.Tensor:
    """The target temporal centroid (§4.2): `schlauch(temporal_centroid_ms(frame, sample_rate))`.

    Args:
        frame: `(..., L)` audio.
        sample_rate: in Hz.

    Returns:
        `(...)` dimensionless (Schlauch scale).
    """
    return schlauch(temporal_centroid_ms(frame, sample_rate))


def rms_db(frames: torch.Tensor) -> torch.Tensor:
    """RMS level of each frame: 20·log10(sqrt(mean x² + 1e−8) + 1e−8).

    Args:
        frames: `(..., L)` audio frames.

    Returns:
        `(...)` in dB (≈ −80 dB for silence).
    """
    _check_frames(frames, "rms_db")
    return 20 * torch.log10(torch.sqrt(frames.square().mean(-1) + RMS_EPS) + RMS_EPS)


# ----------------------------------------------------------------------------------------------
# Feature vectors


def target_features(audio: torch.Tensor, sample_rate: float, clamp: bool = False) -> torch.Tensor:
    """The 7 target features of §4.2, in TARGET_FEATURES order.

    Args:
        audio: `(batch, samples)`, samples ≥ MIN_TARGET_SAMPLES (35328); later samples are unused.
        sample_rate: in Hz (filter design and Hz/ms conversions; frame sizes stay in samples).
        clamp: the reference's ±1 clipping of each K-weighting stage (see `k_weight`).

    Returns:
        `(batch, 7)`: SPL_T, SPL_S (dB), SC_T, SC_S (Kazazis), SF_T, SF_S (dB), TC (Schlauch).

    Raises:
        ValueError: audio not `(batch, samples)` floating, shorter than 35328 samples, or bad rate.
    """
    check_audio(audio, "target_features", MIN_TARGET_SAMPLES)
    _check_rate(sample_rate, "target_features")
    if audio.shape[-1] > MIN_TARGET_SAMPLES:  # one slice: its backward then runs once, not per feature
        audio = audio[:, :MIN_TARGET_SAMPLES]
    frames = frame_signal(audio, FRAME_SIZE, HOP, N_FRAMES)  # (batch, 66, 2048)
    per_frame = (
        frame_loudness(audio, sample_rate, N_FRAMES, clamp),
        spectral_centroid_full(frames, sample_rate),
        spectral_flatness_db(frames),
    )
    columns = [frame_mean(values, *span) for values in per_frame for span in (TRANSIENT, SUSTAIN)]
    columns.append(temporal_centroid(audio[:, :TC_FRAME], sample_rate))
    return torch.stack(columns, dim=-1)


def onset_features(audio: torch.Tensor, sample_rate: float, window: int = ONSET_WINDOW) -> torch.Tensor:
    """The 3 onset (network input) features of §4.3 on the first `window` samples.

    Args:
        audio: `(batch, samples)`, samples ≥ window.
        sample_rate: in Hz.
        window: analysis window in samples (256; 2048 in the reference's ablation).

    Returns:
        `(batch, 3)`: RMS (dB), spectral centroid (semitones), spectral flatness (dB).

    Raises:
        ValueError: audio not `(batch, samples)` floating, shorter than window, or bad window / rate.
    """
    if not isinstance(window, int) or window < 1:
        raise ValueError(f"onset_features: window must be an int >= 1, got {window!r}")
    check_audio(audio, "onset_features", window)
    _check_rate(sample_rate, "onset_features")
    frame = audio[:, :window]
    spectrum = _hann_spectrum(frame)
    # |X|² through view_as_real: its backward is one multiply (spectral.power's Re/Im views each
    # scatter into a zero complex tensor).
    power = torch.view_as_real(spectrum).square().sum(-1).clamp(min=FLATNESS_POWER_FLOOR)
    return torch.stack(
        [rms_db(frame), _semitones_from_spectrum(spectrum, window, sample_rate), _flatness_db_from_power(power)],
        dim=-1,
    )
