"""MelNeXt (reference A.13): a 1-D ConvNeXt over time on a log-mel spectrogram, mels as channels."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from ddspfx.dsp.checks import check_audio
from ddspfx.dsp.dynamics import peak_normalize
from ddspfx.encoders.mel_frontend import LogMel
from ddspfx.nn.mlp import Swish


class ConvNeXtBlock1d(nn.Module):
    """`(batch, C, T)` → `(batch, C, T)`: x + Linear(Swish(Linear(LayerNorm(DepthwiseConv(x))))).

    Depthwise conv (kernel 7, "same") → LayerNorm over channels → pointwise C → 2C → Swish
    (learnable per-channel slope) → pointwise 2C → C, plus the residual.
    """

    def __init__(self, channels: int, kernel: int = 7, expansion: int = 2):
        super().__init__()
        self.depthwise = nn.Conv1d(channels, channels, kernel, padding=kernel // 2, groups=channels)
        self.norm = nn.LayerNorm(channels, eps=1e-6)
        self.expand = nn.Linear(channels, expansion * channels)
        self.act = Swish(expansion * channels)
        self.project = nn.Linear(expansion * channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.depthwise(x).transpose(1, 2)  # channels last for the norm and pointwise layers
        y = self.project(self.act(self.expand(self.norm(y))))
        return x + y.transpose(1, 2)


class MelNeXt(nn.Module):
    """Audio `(batch, samples)` → embedding `(batch, channels[-1])` (128 by default).

    `LogMel` (n_fft 2048, hop 512, 64 mels at `sample_rate`, learnable per-mel floor) → a 1 × 1 conv
    stem n_mels → channels[0], as in the reference only where n_mels ≠ channels[0] → one `ConvNeXtBlock1d` per entry of `channels`; where the channel count
    changes, a grouped conv (kernel 2, stride 2, groups gcd(in, out)) first halves the time resolution
    → mean over time. 254,848 parameters with the defaults (no stem: 64 mels = 64 channels).

    Args:
        sample_rate: of the input audio, in Hz.
        n_fft, hop, n_mels: the `LogMel` frontend.
        channels: block widths ([64, 64, 64, 128, 128, 128]).
        kernel: depthwise kernel size (7).
        expansion: pointwise expansion factor (2).
        normalize: peak-normalize each example first (`peak_normalize`; off in the reference).
        stem: None (the reference): a stem only where n_mels ≠ channels[0]; True: always (ddspfx's
            earlier layout, +4,160 weights with the defaults); False: never (needs n_mels = channels[0]).

    Raises:
        ValueError: on bad audio shapes or audio too short for one frame after the downsamplings.
    """

    def __init__(
        self,
        sample_rate: float = 16000,
        n_fft: int = 2048,
        hop: int = 512,
        n_mels: int = 64,
        channels: Sequence[int] = (64, 64, 64, 128, 128, 128),
        kernel: int = 7,
        expansion: int = 2,
        normalize: bool = False,
        stem: bool | None = None,
    ):
        super().__init__()
        channels = [int(c) for c in channels]
        self.frontend = LogMel(sample_rate, n_fft, hop, n_mels)
        if stem is None:
            stem = n_mels != channels[0]
        if not stem and n_mels != channels[0]:
            raise ValueError(f"MelNeXt: stem=False needs n_mels == channels[0], got {n_mels} and {channels[0]}")
        self.stem = nn.Conv1d(n_mels, channels[0], 1) if stem else nn.Identity()
        layers: list[nn.Module] = []
        previous = channels[0]
        for width in channels:
            if width != previous:
                layers.append(nn.Conv1d(previous, width, 2, stride=2, groups=math.gcd(previous, width)))
            layers.append(ConvNeXtBlock1d(width, kernel, expansion))
            previous = width
        self.blocks = nn.Sequential(*layers)
        self.normalize = bool(normalize)
        self.out_dim = channels[-1]
        n_down = sum(a != b for a, b in zip(channels, channels[1:]))
        self.min_samples = (2**n_down - 1) * hop

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        check_audio(audio, "MelNeXt", self.min_samples)
        if self.normalize:
            audio = peak_normalize(audio)
        return self.blocks(self.stem(self.frontend(audio))).mean(dim=-1)
