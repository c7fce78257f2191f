"""Frontends: audio `(batch, samples)` → a feature vector `(batch, out_dim)`."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ddspfx.dsp.checks import check_audio


class MeanSTFT(nn.Module):
    """Log-magnitude spectrum of the first `n_fft` samples, with a learnable per-bin floor.

        X_k = |rfft(hann · y[:n_fft])|_k,   feature_k = log(X_k + exp(ε_k)),   ε_k = 0 at init

    The synth sounds are stationary, so one frame describes them. Audio shorter than `n_fft` is
    zero-padded.

    Args:
        n_fft: frame length in samples; out_dim = n_fft // 2 + 1 bins.
    """

    def __init__(self, n_fft: int = 2048):
        super().__init__()
        self.n_fft = int(n_fft)
        self.out_dim = self.n_fft // 2 + 1
        self.register_buffer("window", torch.hann_window(self.n_fft), persistent=False)
        self.log_floor = nn.Parameter(torch.zeros(self.out_dim))

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        check_audio(audio, "MeanSTFT")
        frame = audio[:, : self.n_fft]
        if frame.shape[1] < self.n_fft:
            frame = F.pad(frame, (0, self.n_fft - frame.shape[1]))
        magnitude = torch.fft.rfft(frame * self.window).abs()
        return torch.log(magnitude + torch.exp(self.log_floor))
