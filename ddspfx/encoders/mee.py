"""Music effects encoder (MEE, reference B.4): a 12-block residual CNN on the waveform."""

from __future__ import annotations

from collections.abc import Sequence

import warnings

import torch
from torch import nn
from torch.nn import functional as F

from ddspfx.dsp.checks import check_audio
from ddspfx.dsp.dynamics import peak_normalize
from ddspfx.encoders.layers import kaiming_init

KERNELS = (25, 25, 15, 15, 10, 10, 10, 10, 5, 5, 5, 5)
CHANNELS = (16, 32, 64, 128, 256, 256, 512, 512, 1024, 1024, 2048, 2048)
STRIDES = (4, 4, 2, 2, 2, 2, 2, 2, 2, 2, 1, 1)  # 4096× downsampling in all


class MEEBlock(nn.Module):
    """`(batch, in, T)` → `(batch, out, floor((T − k) / stride) + 1)`.

    x + PReLU(BN(Conv(in → in, k, "same"))), then PReLU(BN(Conv(in → out, k, stride, "valid"))).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int):
        super().__init__()
        self.residual = nn.Sequential(
            nn.ConstantPad1d(((kernel - 1) // 2, kernel // 2), 0.0),  # "same", also for even kernels
            nn.Conv1d(in_channels, in_channels, kernel),
            nn.BatchNorm1d(in_channels),
            nn.PReLU(),
        )
        self.down = nn.Sequential(
            nn.Conv1d(in_channels, out_channels, kernel, stride=stride), nn.BatchNorm1d(out_channels), nn.PReLU()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(x + self.residual(x))


class MusicEffectsEncoder(nn.Module):
    """Audio `(batch, samples)` → embedding `(batch, channels[-1])` (2048 at full width).

    peak normalization → 12 `MEEBlock`s (kernels KERNELS, output channels CHANNELS, strides STRIDES; the first
    block's input has 1 channel) → global average pool over time. 81,392,228 parameters at full width,
    about 9.7 G multiply-adds per 4-s example at 44.1 kHz: too big for CPU training; `width` scales
    every channel count (0.25 → 5.1 M parameters, ≈ 16× fewer operations).

    Args:
        width: multiplier of the reference channel counts (each rounded, at least 1).
        channels: explicit output channels of the 12 blocks (overrides `width`).
        normalize: peak-normalize each example first (`peak_normalize`, the reference's max_norm).

    Inputs shorter than `min_samples` (54,489 samples ≈ 1.24 s at 44.1 kHz, 3.4 s at 16 kHz: the
    shortest input that leaves one frame after the valid convolutions) are zero-padded at the end to
    that length, with one warning (the papers' 10-s crops never are).

    Raises:
        ValueError: on bad audio shapes.
    """

    def __init__(self, width: float = 1.0, channels: Sequence[int] | None = None, normalize: bool = True):
        super().__init__()
        if channels is None:
            channels = [max(1, round(c * width)) for c in CHANNELS]
        channels = [int(c) for c in channels]
        if len(channels) != len(KERNELS):
            raise ValueError(f"MusicEffectsEncoder: channels must list {len(KERNELS)} blocks, got {len(channels)}")
        inputs = [1, *channels[:-1]]
        self.blocks = nn.Sequential(*(MEEBlock(i, o, k, s) for i, o, k, s in zip(inputs, channels, KERNELS, STRIDES)))
        self.normalize = bool(normalize)
        self.out_dim = channels[-1]
        self.min_samples = 1
        for kernel, stride in zip(reversed(KERNELS), reversed(STRIDES)):
            self.min_samples = (self.min_samples - 1) * stride + kernel
        kaiming_init(self)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        check_audio(audio, "MusicEffectsEncoder")
        if self.normalize:
            audio = peak_normalize(audio)
        if audio.shape[-1] < self.min_samples:
            warnings.warn(
                f"MusicEffectsEncoder: {audio.shape[-1]}-sample inputs are zero-padded to {self.min_samples} "
                f"(its shortest input); use longer crops (segment=) to avoid it", UserWarning, stacklevel=2,
            )
            audio = F.pad(audio, (0, self.min_samples - audio.shape[-1]))
        return self.blocks(audio.unsqueeze(1)).mean(dim=-1)
