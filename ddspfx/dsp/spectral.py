"""Short-time Fourier transform helpers: windows, STFT, safe magnitude, mel filterbank.

This is the one STFT implementation of the project; losses, features and encoders build on it.
Pure functions, no state. Shapes: audio is `(..., samples)` (normally `(batch, samples)`),
spectra are `(..., bins, frames)` with `bins = n_fft // 2 + 1`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
import torchaudio

# Coefficients of scipy.signal.windows.flattop (a0..a4), the same values scipy uses.
FLATTOP_COEFFICIENTS = (0.21557895, 0.41663158, 0.277263158, 0.083578947, 0.006947368)

WINDOW_NAMES = ("hann", "flattop")


def get_window(
    name: str,
    n: int,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Periodic (DFT-even) analysis window, equal to `scipy.signal.get_window(name, n)`.

    A periodic window of length n is the symmetric window of length n + 1 without its last
    sample:  w[k] = Σ_j (−1)^j a_j cos(2π j k / n),  k = 0 … n−1, with
    hann: a = (0.5, 0.5);  flattop: a = FLATTOP_COEFFICIENTS.

    Args:
        name: "hann" or "flattop".
        n: window length in samples (≥ 1).
        dtype, device: of the returned tensor (torch defaults when None).

    Returns:
        `(n,)` window, computed in float64 and cast to `dtype` ([1.0] for n = 1, as in scipy).
    """
    if n < 1:
        raise ValueError(f"get_window: window length must be >= 1, got {n}")
    if name == "hann":
        coefficients = (0.5, 0.5)
    elif name == "flattop":
        coefficients = FLATTOP_COEFFICIENTS
    else:
        raise ValueError(f"get_window: unknown window {name!r}; expected one of {WINDOW_NAMES}")
    if n == 1:
        return torch.ones(1, dtype=dtype or torch.get_default_dtype(), device=device)
    phase = 2 * math.pi * torch.arange(n, dtype=torch.float64) / n
    window = sum((-1) ** j * a * torch.cos(j * phase) for j, a in enumerate(coefficients))
    return window.to(dtype=dtype or torch.get_default_dtype(), device=device)


def stft(
    x: torch.Tensor,
    n_fft: int,
    hop: int,
    window: str | torch.Tensor = "hann",
    win_length: int | None = None,
    center: bool = True,
    pad_mode: str = "reflect",
) -> torch.Tensor:
    """Complex one-sided STFT, unnormalized: X[k, m] = Σ_n w[n] x_pad[m·hop + n] e^{−2πi kn/n_fft}.

    With `center`, the signal is padded by n_fft // 2 samples on both sides (`pad_mode`), so
    frame m is centred on sample m·hop. If the signal is too short for reflect padding
    (samples ≤ n_fft // 2) it is zero-padded instead. A window shorter than n_fft is
    zero-padded on both sides to n_fft (as `torch.stft` does). Odd n_fft is fine.

    Args:
        x: `(..., samples)` real audio.
        n_fft: FFT size in samples.
        hop: hop size in samples (may exceed n_fft).
        window: a name for `get_window` or a `(win_length,)` tensor.
        win_length: window length in samples (default n_fft).
        center: pad so that frames are centred on multiples of hop.
        pad_mode: `torch.nn.functional.pad` mode for centring ("reflect", "constant", …).

    Returns:
        `(..., n_fft // 2 + 1, frames)` complex tensor,
        frames = 1 + (padded_samples − n_fft) // hop.
    """
    win_length = win_length or n_fft
    if isinstance(window, str):
        window = get_window(window, win_length, dtype=x.dtype, device=x.device)
    if window.shape != (win_length,):
        raise ValueError(f"stft: window has shape {tuple(window.shape)}, expected ({win_length},)")
    leading_shape, samples = x.shape[:-1], x.shape[-1]
    frames_in = x.reshape(-1, 1, samples)
    if center:
        frames_in = _pad_centered(frames_in, n_fft // 2, pad_mode)
    if frames_in.shape[-1] < n_fft:
        raise ValueError(
            f"stft: signal of {samples} samples is shorter than n_fft={n_fft} (use center=True)"
        )
    spectrum = torch.stft(
        frames_in[:, 0],
        n_fft=n_fft,
        hop_length=hop,
        win_length=win_length,
        window=window.to(dtype=x.dtype, device=x.device),
        center=False,
        return_complex=True,
    )
    return spectrum.reshape(*leading_shape, *spectrum.shape[-2:])


def _pad_centered(x: torch.Tensor, pad: int, pad_mode: str) -> torch.Tensor:
    """Pad `(batch, 1, samples)` by `pad` on both sides; zero padding when reflect is impossible."""
    if pad == 0:
        return x
    if pad_mode == "reflect" and x.shape[-1] <= pad:
        pad_mode = "constant"
    return F.pad(x, (pad, pad), mode=pad_mode)


def magnitude(X: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Differentiable magnitude |X| ≈ sqrt(Re² + Im² + eps), finite with finite gradients at X = 0.

    The gradient w.r.t. (Re, Im) is (Re, Im) / sqrt(Re² + Im² + eps): zero at X = 0, never NaN.
    The bias is at most sqrt(eps) (1e-6 for the default), in the units of X.

    Args:
        X: complex spectrum, any shape.
        eps: added under the square root (units of |X|²).

    Returns:
        real tensor of X's shape.
    """
    return torch.sqrt(X.real.square() + X.imag.square() + eps)


def power(X: torch.Tensor) -> torch.Tensor:
    """Power spectrum |X|² = Re² + Im² (smooth everywhere). Real tensor of X's shape."""
    return X.real.square() + X.imag.square()


def mel_filterbank(
    n_freqs: int,
    sample_rate: float,
    n_mels: int,
    f_min: float = 0.0,
    f_max: float | None = None,
    norm: str | None = None,
    mel_scale: str = "htk",
) -> torch.Tensor:
    """Triangular mel filterbank from `torchaudio.functional.melscale_fbanks`.

    Filter i rises linearly from mel point i to i+1 and falls to i+2, with n_mels + 2 points
    equally spaced on the mel scale between f_min and f_max (Hz); bin k of the one-sided
    spectrum is at k · (sample_rate / 2) / (n_freqs − 1) Hz.

    Args:
        n_freqs: number of one-sided frequency bins (n_fft // 2 + 1).
        sample_rate: in Hz.
        n_mels: number of filters.
        f_min, f_max: band edges in Hz (f_max defaults to sample_rate / 2).
        norm: None (peak 1) or "slaney" (area normalization).
        mel_scale: "htk" or "slaney".

    Returns:
        `(n_mels, n_freqs)` float32 matrix, so that `mel = fb @ spectrum` for a
        `(..., n_freqs, frames)` spectrum.
    """
    f_max = sample_rate / 2 if f_max is None else f_max
    fb = torchaudio.functional.melscale_fbanks(
        n_freqs=n_freqs,
        f_min=float(f_min),
        f_max=float(f_max),
        n_mels=n_mels,
        sample_rate=int(sample_rate),
        norm=norm,
        mel_scale=mel_scale,
    )
    return fb.T.contiguous()


def rfft_bin_weights(n: int, interior: float = 2.0, dtype: torch.dtype = torch.float64, device=None) -> torch.Tensor:
    """`(n // 2 + 1,)` weights of the rFFT bins of an n-sample signal: 1 at DC (and at Nyquist for
    even n), `interior` elsewhere. 2 counts each one-sided bin for its negative twin (Parseval sums,
    the analytic signal); ½ is the adjoint of the rFFT on its real input."""
    weights = torch.full((n // 2 + 1,), float(interior), dtype=dtype, device=device)
    weights[0] = 1.0
    if n % 2 == 0:
        weights[-1] = 1.0
    return weights
