"""Timbre encoder (TE, reference B.4): Pons-style timbre filters on a log-CQT."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ddspfx.dsp.checks import check_audio
from ddspfx.dsp.dynamics import peak_normalize
from ddspfx.encoders.cqt_frontend import LogCQT
from ddspfx.encoders.layers import kaiming_init

# Frequency heights of the filters (in bins, for the reference's 113 bins) and, per height,
# (time width in frames, channels): 22 channels per height, 66 in all.
REFERENCE_BINS = 113
FREQ_KERNELS = (85, 51, 25)
TIME_KERNELS_CHANNELS = ((1, 10), (3, 6), (5, 3), (7, 3))
TIME_POOL = 4


class TimbreEncoder(nn.Module):
    """Audio `(batch, samples)` → timbre embedding `(batch, 66)`.

    peak normalization → log-CQT `(batch, n_bins, frames)` → 12 parallel Conv2d(1 → c, [f × t]) with
    f ∈ FREQ_KERNELS, (t, c) ∈ TIME_KERNELS_CHANNELS; each branch pads time by (t − 1) / 2 frames
    on both sides with the constant `pad_value`, max-pools over its whole remaining frequency axis
    (n_bins − f + 1) and over 4 frames in time (stride 4) → `(batch, c, frames // 4)`. The 12 outputs
    are concatenated (66 channels, every branch in its own channels — the reference overwrote them)
    → mean over time → BatchNorm1d(66) → PReLU (one parameter).

    Filter heights are fractions of the frequency axis (85/113 ≈ 75 %, 45 %, 22 %), so for another
    `n_bins` they are scaled to round(f · n_bins / 113) bins (at least 1); 10,503 parameters at 113 bins.

    Args:
        sample_rate, fmin, n_bins, bins_per_octave, hop: the `LogCQT` frontend (n_bins None: 113,
            or as many as fit below Nyquist).
        pad_value: constant used to pad the time axis (1e-6 as in the reference, in log-CQT units).
        normalize: peak-normalize each example first (`peak_normalize`, the reference's max_norm).

    Raises:
        ValueError: on bad audio shapes or audio shorter than 4 frames (3 · hop samples).
    """

    def __init__(
        self,
        sample_rate: float = 44100,
        fmin: float = 32.70,
        n_bins: int | None = 113,
        bins_per_octave: int = 12,
        hop: int = 512,
        pad_value: float = 1e-6,
        normalize: bool = True,
    ):
        super().__init__()
        self.frontend = LogCQT(sample_rate, fmin, n_bins, bins_per_octave, hop)
        self.pad_value, self.normalize = float(pad_value), bool(normalize)
        n_bins = self.frontend.n_bins
        self.freq_kernels = tuple(max(1, round(f * n_bins / REFERENCE_BINS)) for f in FREQ_KERNELS)
        self.branches = nn.ModuleList(
            nn.Conv2d(1, channels, (f, t)) for f in self.freq_kernels for t, channels in TIME_KERNELS_CHANNELS
        )
        self.out_dim = sum(branch.out_channels for branch in self.branches)
        self.norm = nn.BatchNorm1d(self.out_dim)
        self.act = nn.PReLU()
        kaiming_init(self)

    def features(self, audio: torch.Tensor) -> torch.Tensor:
        """The concatenated, time-pooled branch outputs `(batch, 66, frames // 4)` before the mean."""
        check_audio(audio, "TimbreEncoder", min_samples=(TIME_POOL - 1) * self.frontend.hop)
        if self.normalize:
            audio = peak_normalize(audio)
        image = self.frontend(audio).unsqueeze(1)  # (batch, 1, n_bins, frames)
        outputs = []
        for branch in self.branches:
            t = branch.kernel_size[1]
            padded = F.pad(image, ((t - 1) // 2, t // 2), value=self.pad_value)
            out = branch(padded)  # (batch, c, n_bins − f + 1, frames)
            out = F.max_pool2d(out, (out.shape[2], TIME_POOL))
            outputs.append(out.squeeze(2))
        return torch.cat(outputs, dim=1)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        return self.act(self.norm(self.features(audio).mean(dim=-1)))
