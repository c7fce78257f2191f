"""Log constant-Q frontend: audio `(batch, samples)` → log-CQT image `(batch, n_bins, frames)`."""

from __future__ import annotations

import torch
from torch import nn

from ddspfx.dsp.checks import check_audio
from ddspfx.dsp.cqt import bins_below_nyquist, cqt, cqt_frequencies

REFERENCE_BINS = 113  # the ICASSP encoders' CQT: C1 (32.70 Hz) to 21.1 kHz at 44.1 kHz


class LogCQT(nn.Module):
    """log(CQT + floor) of audio, with the bins of `ddspfx.dsp.cqt.cqt` (reference B.4).

    The CQT magnitude is amplitude-normalized (a sine of amplitude A gives ≈ A in its bin), so for
    peak-normalized audio the features lie in [log(floor), ~0].

    Args:
        sample_rate: of the input audio, in Hz.
        fmin: lowest centre frequency in Hz (32.70 = C1).
        n_bins: number of bins; the top bin fmin · 2^((n_bins − 1) / bins_per_octave) must be
            ≤ Nyquist (113 bins reach 21.1 kHz and need sample_rate ≥ 42.2 kHz; at 16 kHz use ≤ 96).
            None: 113, or as many as fit below Nyquist (96 at 16 kHz from C1).
        bins_per_octave: frequency resolution.
        hop: frame hop in samples; frames = 1 + samples // hop.
        floor: added before the log (units of the audio).

    Raises:
        ValueError: at construction when the top bin exceeds Nyquist; in forward on a bad shape.
    """

    def __init__(
        self,
        sample_rate: float = 44100,
        fmin: float = 32.70,
        n_bins: int | None = REFERENCE_BINS,
        bins_per_octave: int = 12,
        hop: int = 512,
        floor: float = 1e-6,
    ):
        super().__init__()
        if n_bins is None:
            n_bins = bins_below_nyquist(fmin, bins_per_octave, sample_rate, at_most=REFERENCE_BINS)
        cqt_frequencies(fmin, n_bins, bins_per_octave, sample_rate)  # validates against Nyquist
        self.sample_rate, self.fmin, self.hop = float(sample_rate), float(fmin), int(hop)
        self.n_bins, self.bins_per_octave, self.floor = int(n_bins), int(bins_per_octave), float(floor)

    def n_frames(self, samples: int) -> int:
        """Frames produced for an input of `samples` samples."""
        return 1 + samples // self.hop

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        check_audio(audio, "LogCQT")
        magnitude = cqt(audio, self.sample_rate, self.fmin, self.n_bins, self.bins_per_octave, self.hop)
        return torch.log(magnitude + self.floor)
