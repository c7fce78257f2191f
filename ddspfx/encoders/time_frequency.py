"""Time–frequency encoder (TFE, reference B.4): Pons temporal and spectral branches on a log-CQT."""

from __future__ import annotations

import torch
from torch import nn

from ddspfx.dsp.checks import check_audio
from ddspfx.dsp.dynamics import peak_normalize
from ddspfx.encoders.cqt_frontend import LogCQT
from ddspfx.encoders.layers import kaiming_init


def _conv_bn_prelu(conv: nn.Module, channels: int, norm: type[nn.Module]) -> nn.Sequential:
    return nn.Sequential(conv, norm(channels), nn.PReLU())


class TimeFrequencyEncoder(nn.Module):
    """Audio `(batch, samples)` → embedding `(batch, 2 · channels)` (128 by default).

    peak normalization → log-CQT `(batch, 1, n_bins, frames)`, then two branches whose outputs are concatenated:
    - time: Conv2d(1 → 64, [1 × time_kernel]) → BN2d → PReLU → max over frequency
      → Conv1d(64 → 64, k = time_kernel_2) → BN1d → PReLU → mean over time → 64;
    - frequency: Conv2d(1 → 64, [freq_kernel × 1]) → BN2d → PReLU → max over time
      → Conv1d(64 → 64, k = n_bins − freq_kernel + 1) → BN1d → PReLU → 64.
    All convolutions are "valid"; PReLUs have one parameter. 453,700 parameters at 113 bins.

    Args:
        sample_rate, fmin, n_bins, bins_per_octave, hop: the `LogCQT` frontend (n_bins None: 113,
            or as many as fit below Nyquist).
        channels: filters per convolution (64).
        time_kernel: width in frames of the first temporal filter (128).
        time_kernel_2: width of the second temporal filter (31).
        freq_kernel: height in bins of the spectral filter (37, ≈ 3 octaves; kept in bins for any n_bins).
        normalize: peak-normalize each example first (`peak_normalize`, the reference's max_norm).

    Raises:
        ValueError: on bad audio shapes or audio shorter than `min_samples`
            (time_kernel + time_kernel_2 − 1 frames: 158 frames ≈ 1.8 s at 44.1 kHz, hop 512).
    """

    def __init__(
        self,
        sample_rate: float = 44100,
        fmin: float = 32.70,
        n_bins: int | None = 113,
        bins_per_octave: int = 12,
        hop: int = 512,
        channels: int = 64,
        time_kernel: int = 128,
        time_kernel_2: int = 31,
        freq_kernel: int = 37,
        normalize: bool = True,
    ):
        super().__init__()
        self.frontend = LogCQT(sample_rate, fmin, n_bins, bins_per_octave, hop)
        n_bins = self.frontend.n_bins
        if not 1 <= freq_kernel <= n_bins:
            raise ValueError(f"TimeFrequencyEncoder: freq_kernel={freq_kernel} must be in [1, n_bins={n_bins}]")
        self.normalize = bool(normalize)
        self.time_conv = _conv_bn_prelu(nn.Conv2d(1, channels, (1, time_kernel)), channels, nn.BatchNorm2d)
        self.time_conv_2 = _conv_bn_prelu(nn.Conv1d(channels, channels, time_kernel_2), channels, nn.BatchNorm1d)
        self.freq_conv = _conv_bn_prelu(nn.Conv2d(1, channels, (freq_kernel, 1)), channels, nn.BatchNorm2d)
        self.freq_conv_2 = _conv_bn_prelu(
            nn.Conv1d(channels, channels, n_bins - freq_kernel + 1), channels, nn.BatchNorm1d
        )
        self.min_frames = time_kernel + time_kernel_2 - 1
        self.min_samples = (self.min_frames - 1) * self.frontend.hop
        self.out_dim = 2 * channels
        kaiming_init(self)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        check_audio(audio, "TimeFrequencyEncoder", self.min_samples)
        if self.normalize:
            audio = peak_normalize(audio)
        image = self.frontend(audio).unsqueeze(1)  # (batch, 1, n_bins, frames)
        temporal = self.time_conv(image).amax(dim=2)  # (batch, 64, frames − 127)
        temporal = self.time_conv_2(temporal).mean(dim=-1)
        spectral = self.freq_conv(image).amax(dim=3)  # (batch, 64, n_bins − 36)
        spectral = self.freq_conv_2(spectral).squeeze(-1)
        return torch.cat([temporal, spectral], dim=1)
