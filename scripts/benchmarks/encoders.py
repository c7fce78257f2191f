"""Encoder benchmarks: the CQT against a padded-kernel conv1d CQT, and encoder training throughput.

Every encoder is timed forward + backward (train mode, gradients of the weights) at batch 16 × 4 s of
44.1-kHz audio, with the controller MLP [2048, 1024, 512] (ICASSP) or the residual MLP (TASLP
MelNeXt). On CPU the MEE runs at width 0.25 (full width on CUDA); the row name says which.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn
from torch.nn import functional as F

from ddspfx.dsp.cqt import cqt, cqt_frequencies, cqt_lengths
from ddspfx.encoders.controller import ControllerEncoder
from ddspfx.encoders.encoder import MLPEncoder
from ddspfx.encoders.mee import MusicEffectsEncoder
from ddspfx.encoders.melnext import MelNeXt
from ddspfx.encoders.time_frequency import TimeFrequencyEncoder
from ddspfx.encoders.timbre import TimbreEncoder

from .common import Row, milliseconds, timeit

SAMPLE_RATE = 44100
BATCH, SECONDS = 16, 4.0
SHAPE = f"{BATCH} × {SECONDS:g} s"


def conv1d_cqt_reference(x: torch.Tensor, sample_rate: float, hop: int = 512) -> torch.Tensor:
    """Plain CQT magnitude `(batch, 113, frames)` as nnAudio's CQT1992v2: every kernel zero-padded to
    the next power of two ≥ the longest kernel, one strided conv1d."""
    freqs, lengths = cqt_frequencies(sample_rate=sample_rate), cqt_lengths(sample_rate)
    width = 2 ** math.ceil(math.log2(int(lengths.max())))
    tap = torch.arange(width, dtype=torch.float64) - width // 2
    n = lengths[:, None].double()
    position = tap + n.floor_divide(2)
    window = torch.where((position >= 0) & (position < n), (2 - 2 * torch.cos(2 * math.pi * position / n)) / n, 0)
    phase = -2 * math.pi * freqs[:, None] * tap / sample_rate
    weight = torch.cat([window * torch.cos(phase), window * torch.sin(phase)]).float().unsqueeze(1).to(x.device)
    padded = F.pad(x.unsqueeze(1), (width // 2, width // 2), mode="reflect")
    out = F.conv1d(padded, weight, stride=hop)[..., : 1 + x.shape[-1] // hop]
    real, imag = out.chunk(2, dim=1)
    return torch.sqrt(real.square() + imag.square() + 1e-12)


def bench_cqt(audio: torch.Tensor, repeats: int, device: torch.device) -> list[Row]:
    """CQT forward on the full batch, then on 2 examples against the conv1d reference."""
    with torch.no_grad():
        ours = timeit(lambda: cqt(audio, SAMPLE_RATE), repeats, device)
        rows = [Row(f"CQT 113 bins, forward ({SHAPE})", f"{BATCH / ours:,.1f} examples/s", milliseconds(ours))]
        small = audio[:2]
        ours = timeit(lambda: cqt(small, SAMPLE_RATE), repeats, device)
        ref = timeit(lambda: conv1d_cqt_reference(small, SAMPLE_RATE), max(1, repeats // 2), device)
    name = f"CQT vs padded-kernel conv1d CQT, forward (2 × {SECONDS:g} s)"
    rows.append(Row(name, f"{2 / ours:,.1f} examples/s", milliseconds(ours), f"{ref / ours:.1f}"))
    return rows


def train_step(model: nn.Module, audio: torch.Tensor) -> Callable[[], None]:
    """A step that back-propagates the mean square embedding into the model's weights."""

    def step():
        model.zero_grad(set_to_none=True)
        model(audio).square().mean().backward()

    return step


def encoders(device: torch.device) -> list[tuple[str, nn.Module]]:
    """The benchmarked encoders by name; the MEE at width 0.25 on CPU (too slow at full width)."""
    mee_width = 1.0 if device.type == "cuda" else 0.25
    return [
        ("TE + controller MLP", ControllerEncoder(TimbreEncoder(SAMPLE_RATE))),
        ("TFE + controller MLP", ControllerEncoder(TimeFrequencyEncoder(SAMPLE_RATE))),
        (f"MEE width {mee_width:g} + controller MLP", ControllerEncoder(MusicEffectsEncoder(width=mee_width))),
        ("MelNeXt + ResMLP (TASLP)", MLPEncoder(MelNeXt(SAMPLE_RATE), hidden=128, depth=3, batch_norm=True)),
    ]


def bench_encoders(audio: torch.Tensor, repeats: int, device: torch.device) -> list[Row]:
    """Forward+backward throughput of each encoder (with its MLP body), in examples/s."""
    rows = []
    for name, model in encoders(device):
        model = model.to(device).train()
        seconds = timeit(train_step(model, audio), repeats, device)
        n_params = sum(p.numel() for p in model.parameters())
        name = f"{name} ({n_params / 1e6:.2f} M params), fwd+bwd ({SHAPE})"
        rows.append(Row(name, f"{BATCH / seconds:,.1f} examples/s", milliseconds(seconds, 0)))
    return rows


def run(device: torch.device, quick: bool) -> list[Row]:
    """CQT rows, then one row per encoder, at batch 16 × 4 s, 44.1 kHz."""
    repeats = 3 if quick else 5
    audio = torch.randn(BATCH, int(SECONDS * SAMPLE_RATE), generator=torch.Generator().manual_seed(0)).to(device)
    return bench_cqt(audio, repeats, device) + bench_encoders(audio, repeats, device)
