"""Audio features of timbre remapping (reference timbreremap §4): 7 target features, 3 onset features.

Pure functions, no state, batched and differentiable. Audio is `(batch, samples)`; the per-frame
building blocks take frames `(..., frame_size)` (any leading dimensions) and return `(...)`.

Target features (`target_features`, §4.2), from the first MIN_TARGET_SAMPLES samples:
    frames of FRAME_SIZE = 2048 samples, hop HOP = 512; "transient" = mean of frames 0–1,
    "sustain" = mean of frames 2–65 (§4.1 "mean of n frames from k", `frame_mean`):
    SPL_T, SPL_S   loudness (dB, LKFS style, K-weighted per frame)
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

Speed. Per-frame K-weighting with zero initial state is a causal convolution of each frame with
the first `frame_size` samples of the cascade's impulse response; the response is computed once
per (sample rate, frame size, stages, dtype, device) and all frames are filtered at once by an
rFFT of size ≥ 2·frame_size. The temporal centroid is linear in x², so its two sums are dot
products of x² with fixed weight vectors (`_temporal_weights`) instead of a 2048-tap convolution.
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch

from ddspfx.dsp.checks import check_audio
from ddspfx.dsp.filters import biquad_coefficients, lfilter_cascade, next_power_of_two
from ddspfx.dsp.spectral import get_window

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
        weights = torch.full((grad.shape[-1],), 0.5, dtype=grad.real.dtype, device=grad.device)
        weights[0] = 1.0
        if ctx.n % 2 == 0:
            weights[-1] = 1.0
        return torch.fft.irfft(grad * weights, n=ctx.n, norm="forward")


def _rfft(x: torch.Tensor) -> torch.Tensor:
    """One-sided FFT of `x` `(..., L)` → `(..., L // 2 + 1)` complex (differentiable)."""
    return _RealFFT.apply(x)


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


# ----------------------------------------------------------------------------------------------
# Spectral centroid and flatness


def kazazis(hz: torch.Tensor) -> torch.Tensor:
    """Kazazis scale of a spectral centroid: −34.61·Hz^(−0.1621) + 21.2985.

    Args:
        hz: centroid in Hz, any shape (floored at KAZAZIS_MIN_HZ = 1e−3 Hz).

    Returns:
        same shape, dimensionless (500 Hz → 8.660, 1 kHz → 10.003, 22050 Hz → 14.457).
    """
    c0, c1, c2 = KAZAZIS
    return c0 * torch.pow(hz.clamp(min=KAZAZIS_MIN_HZ), c1) + c2


def _centroid_hz(weights: torch.Tensor, frame_size: int, sample_rate: float) -> torch.Tensor:
    """Centroid in Hz of non-negative per-bin `weights` `(..., bins)` of an rFFT of size frame_size:
    Σ_k k·ŵ_k · sample_rate / frame_size, ŵ = weights / (Σ weights + 1e−12)."""
    bins = torch.arange(weights.shape[-1], dtype=weights.dtype, device=weights.device)
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
    magnitude = _rfft(frames * window).abs().clamp(min=CENTROID_MAGNITUDE_FLOOR)
    return kazazis(_centroid_hz(torch.log1p(magnitude), size, sample_rate))


def _hann_spectrum(frames: torch.Tensor) -> torch.Tensor:
    """rFFT of frames `(..., L)` under a periodic Hann window → `(..., L // 2 + 1)` complex."""
    return _rfft(frames * _window("hann", frames.shape[-1], False, frames.dtype, frames.device))


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


def _flatness_db_from_spectrum(spectrum: torch.Tensor) -> torch.Tensor:
    # |X|² through view_as_real: its backward is one multiply (spectral.power's Re/Im views
    # each scatter into a zero complex tensor).
    floored = torch.view_as_real(spectrum).square().sum(-1).clamp(min=FLATNESS_POWER_FLOOR)
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
    return _flatness_db_from_spectrum(_hann_spectrum(frames))


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
    return c0 * torch.pow(ms.clamp(min=0.0), c1)


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
    sums = frame.square() @ weights.T  # (..., 2): Σ e, Σ n·e
    return sums[..., 1] / (sums[..., 0] + TC_EPS) * (1000.0 / sample_rate)


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
    frames = frame_signal(audio, FRAME_SIZE, HOP, N_FRAMES)  # (batch, 66, 2048)
    per_frame = (
        loudness(frames, sample_rate, clamp),
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
    return torch.stack(
        [rms_db(frame), _semitones_from_spectrum(spectrum, window, sample_rate), _flatness_db_from_spectrum(spectrum)],
        dim=-1,
    )
