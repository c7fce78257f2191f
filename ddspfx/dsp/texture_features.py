"""TexDSP input features of a frame (reference textures §4.1): ERB band energies and the spectral centroid.

Per frame x of n samples at fs Hz (batched `(batch, n)`):

- `erb_band_energies`: the L2 norm over time of each ERB subband b_i, i = 1 … N (bands 1 … N of
  `ddspfx.dsp.filterbanks.erb_filterbank`, whole-frame zero-phase filtering), on a log scale:

      energy_i = log(sqrt(‖b_i‖₂² + ε²)),   ε = ENERGY_EPS (audio units · √samples)

  a smooth form of log(‖b_i‖₂ + ε): equal to log‖b_i‖₂ for ‖b_i‖₂ ≫ ε, log ε on silence, with a
  finite gradient everywhere (the feature regularizer differentiates it on the model's output).
  The reference used the raw norms (183, 86, 63, … for a fire frame): a log keeps quiet and loud
  textures on one scale for the network. By Parseval ‖b_i‖² is computed from the frame's rFFT
  power (no subband is formed in time): ‖b_i‖² = Σ_k w_k |X_k|² H_i(f_k)² / n, with w_k = 2 except
  w_0 = 1 (and w_{n/2} = 1 for even n).
- `log_spectral_centroid`: the centroid of the Hann-windowed (symmetric window over the whole
  frame) rFFT magnitude, c = Σ_k f_k |X_k| / Σ_k |X_k| Hz, clamped to [1 Hz, fs/2], returned as
  log2(c)/log2(fs/2) ∈ [0, 1] (the thesis's normalization; the reference main branch fed raw Hz
  to the network, a bug). Silence gives the 1-Hz floor, 0.

Pure functions, no state; inputs float32 or float64, outputs in the input's dtype.
"""

from __future__ import annotations

import math

import torch

from ddspfx.dsp.filterbanks import erb_filterbank
from ddspfx.dsp.spectral import rfft_bin_weights

ENERGY_EPS = 1e-6  # ε of the log band energies, in units of the audio · √samples
CENTROID_MIN_HZ = 1.0  # floor of the centroid (silence, DC-only frames): feature 0


def _check_frames(audio: torch.Tensor, owner: str) -> None:
    if not isinstance(audio, torch.Tensor) or not audio.is_floating_point():
        kind = getattr(audio, "dtype", type(audio).__name__)
        raise ValueError(f"{owner}: audio must be a floating-point tensor, got {kind}")
    if audio.ndim != 2 or audio.shape[-1] < 2:
        raise ValueError(f"{owner}: expected frames of shape (batch, samples >= 2), got {tuple(audio.shape)}")


def erb_band_energies(
    audio: torch.Tensor,
    sample_rate: float,
    n_bands: int,
    low: float = 20.0,
    high: float | None = None,
    eps: float = ENERGY_EPS,
) -> torch.Tensor:
    """Log L2 norms of ERB subbands 1 … N (module docstring): `(batch, n)` → `(batch, N)`.

    Args:
        audio: frames `(batch, n)`.
        sample_rate: Hz.
        n_bands: N ERB bands (the edge bands are left out, as in the reference).
        low, high: ERB bank range in Hz (high: None for Nyquist).
        eps: ε of log(sqrt(‖b‖² + ε²)), audio units · √samples.

    Returns:
        `(batch, N)` natural logs of the band norms, log(eps) on silence.
    """
    _check_frames(audio, "erb_band_energies")
    n = audio.shape[-1]
    responses, _ = erb_filterbank(n, sample_rate, n_bands, low, high, audio.dtype, audio.device)
    gains = responses[1:-1].square() * rfft_bin_weights(n, 2.0, audio.dtype, audio.device) / n  # (N, bins)
    power = torch.view_as_real(torch.fft.rfft(audio)).square().sum(-1)  # (batch, bins)
    squared_norms = (power @ gains.T).clamp_min(0.0)
    return 0.5 * torch.log(squared_norms + eps * eps)


def spectral_centroid_hz(audio: torch.Tensor, sample_rate: float) -> torch.Tensor:
    """Centroid of the Hann-windowed full-frame |rFFT| in Hz, `(batch, n)` → `(batch,)`; 0 on silence."""
    _check_frames(audio, "spectral_centroid_hz")
    n = audio.shape[-1]
    window = torch.hann_window(n, periodic=False, dtype=audio.dtype, device=audio.device)
    magnitude = torch.fft.rfft(audio * window).abs()  # gradient 0 where a bin is 0
    freqs = torch.arange(n // 2 + 1, dtype=audio.dtype, device=audio.device) * (sample_rate / n)
    total = magnitude.sum(-1)
    positive = total > 0
    return torch.where(positive, (magnitude @ freqs) / torch.where(positive, total, 1.0), 0.0)


def log_spectral_centroid(audio: torch.Tensor, sample_rate: float) -> torch.Tensor:
    """log2(centroid)/log2(fs/2), centroid clamped to [1 Hz, fs/2]: `(batch, n)` → `(batch, 1)` in [0, 1]."""
    nyquist = sample_rate / 2
    if not nyquist > CENTROID_MIN_HZ:
        raise ValueError(f"log_spectral_centroid: sample_rate must exceed {2 * CENTROID_MIN_HZ} Hz, got {sample_rate}")
    centroid = spectral_centroid_hz(audio, sample_rate).clamp(CENTROID_MIN_HZ, nyquist)
    return (torch.log2(centroid) / math.log2(nyquist)).unsqueeze(-1)


def texture_features(
    audio: torch.Tensor,
    sample_rate: float,
    n_bands: int,
    low: float = 20.0,
    high: float | None = None,
) -> dict[str, torch.Tensor]:
    """Both features of every frame: `{"energy": (batch, N), "centroid": (batch, 1)}` (module docstring)."""
    return {
        "energy": erb_band_energies(audio, sample_rate, n_bands, low, high),
        "centroid": log_spectral_centroid(audio, sample_rate),
    }
