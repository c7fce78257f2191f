"""Log-mel frontend with a learnable per-band floor: audio `(batch, samples)` → `(batch, n_mels, frames)`."""

from __future__ import annotations

import torch
from torch import nn

from ddspfx.dsp.checks import check_audio
from ddspfx.dsp.spectral import mel_filterbank, power, stft


class LogMel(nn.Module):
    """log(mel_m + exp(ε_m)) of the mel power spectrogram, with a learnable ε per band (init 0).

    The floor exp(ε) plays the role of MeanSTFT's per-bin floor (reference A.4) for mel bands.
    Power spectrogram |STFT|² (Hann, centred frames, reflect padding, unnormalized) times a mel
    filterbank on the Slaney mel scale with Slaney area normalization (the librosa / nnAudio
    defaults), built at the audio's actual `sample_rate` (the reference's 22,050 Hz on 16-kHz audio
    was a mismatch).

    Args:
        sample_rate: of the input audio, in Hz.
        n_fft, hop: STFT size and hop in samples; frames = 1 + samples // hop.
        n_mels: number of bands.
        f_min, f_max: band edges in Hz (f_max defaults to Nyquist).
    """

    def __init__(
        self,
        sample_rate: float = 16000,
        n_fft: int = 2048,
        hop: int = 512,
        n_mels: int = 64,
        f_min: float = 0.0,
        f_max: float | None = None,
    ):
        super().__init__()
        self.sample_rate, self.n_fft, self.hop, self.n_mels = float(sample_rate), int(n_fft), int(hop), int(n_mels)
        fb = mel_filterbank(self.n_fft // 2 + 1, sample_rate, n_mels, f_min, f_max, norm="slaney", mel_scale="slaney")
        self.register_buffer("filterbank", fb, persistent=False)
        self.log_floor = nn.Parameter(torch.zeros(self.n_mels))

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        check_audio(audio, "LogMel")
        mel = self.filterbank @ power(stft(audio, self.n_fft, self.hop))  # (batch, n_mels, frames)
        return torch.log(mel + torch.exp(self.log_floor)[:, None])
