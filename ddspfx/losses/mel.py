"""Log-mel spectrogram loss."""

from __future__ import annotations

import torch

from ddspfx.dsp.spectral import get_window, mel_filterbank, power, stft
from ddspfx.losses.base import PairLoss, check_pair


class LogMelLoss(PairLoss):
    """MSE between log(mel power + 1) spectrograms (reference note A.7 / A.11 "Mel").

        L(ŷ, y) = mean_{i,m} ( log(M_ŷ[i, m] + 1) − log(M_y[i, m] + 1) )²,
        M[i, m] = Σ_k fb[i, k] |X[k, m]|²,

    with X the Hann STFT (centred, reflect padding) and fb the HTK triangular mel filterbank
    (torchaudio, peak 1, no area normalization) between f_min and f_max.

    Args:
        sample_rate: of the audio, in Hz.
        n_fft: FFT size in samples (window length = n_fft).
        hop: hop size in samples.
        n_mels: number of mel bands.
        f_min, f_max: band edges in Hz (f_max defaults to sample_rate / 2).

    Shapes: estimate, target `(batch, samples)` → scalar (forward) or `(batch,)` (per_example).
    Units: squared natural log of (power + 1), power in (audio units × samples)².
    """

    domain = "audio"

    def __init__(
        self,
        sample_rate: float = 44100,
        n_fft: int = 4096,
        hop: int = 1024,
        n_mels: int = 128,
        f_min: float = 0.0,
        f_max: float | None = None,
    ):
        super().__init__()
        self.sample_rate, self.n_fft, self.hop, self.n_mels = sample_rate, n_fft, hop, n_mels
        self.register_buffer("window", get_window("hann", n_fft), persistent=False)
        fb = mel_filterbank(n_fft // 2 + 1, sample_rate, n_mels, f_min=f_min, f_max=f_max)
        self.register_buffer("filterbank", fb, persistent=False)

    def log_mel(self, x: torch.Tensor) -> torch.Tensor:
        """`(batch, samples)` audio → `(batch, n_mels, frames)` log(mel power + 1)."""
        spectrum = stft(x, self.n_fft, self.hop, window=self.window.to(x.dtype))
        return torch.log1p(self.filterbank.to(x.dtype) @ power(spectrum))

    def per_example(self, estimate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        check_pair(estimate, target, type(self).__name__)
        return (self.log_mel(estimate) - self.log_mel(target)).square().mean(dim=(-2, -1))
