"""Encoder benchmarks (to be merged into scripts/bench.py): throughput of the mastering/BE-AFX encoders.

    python scripts/_bench_encoders.py [--device cpu|cuda] [--repeats N] [--threads N]

Rows are (benchmark, throughput, time, speed-up vs reference). Every encoder is timed forward +
backward (train mode, gradients of the weights) at batch 16 × 4 s of 44.1-kHz audio, with the
controller MLP [2048, 1024, 512] (ICASSP) or the residual MLP (TASLP MelNeXt). The CQT is also timed
against a plain time-domain reference (nnAudio CQT1992v2's algorithm: every kernel zero-padded to
the next power of two ≥ the longest kernel, one strided conv1d) in the same run.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Callable

import torch
from torch import nn
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ddspfx.dsp.cqt import cqt, cqt_frequencies, cqt_lengths  # noqa: E402
from ddspfx.encoders.controller import ControllerEncoder  # noqa: E402
from ddspfx.encoders.encoder import MLPEncoder  # noqa: E402
from ddspfx.encoders.mee import MusicEffectsEncoder  # noqa: E402
from ddspfx.encoders.melnext import MelNeXt  # noqa: E402
from ddspfx.encoders.time_frequency import TimeFrequencyEncoder  # noqa: E402
from ddspfx.encoders.timbre import TimbreEncoder  # noqa: E402

SAMPLE_RATE = 44100
BATCH, SECONDS = 16, 4.0


def timeit(fn: Callable[[], object], repeats: int, device: torch.device) -> float:
    """Median wall time of `fn` in seconds over `repeats` calls, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def conv1d_cqt_reference(x: torch.Tensor, sample_rate: float, hop: int = 512) -> torch.Tensor:
    """Plain CQT magnitude `(batch, 113, frames)`: kernels zero-padded to one width, a strided conv1d."""
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


def train_step(model: nn.Module, audio: torch.Tensor) -> Callable[[], None]:
    def step():
        model.zero_grad(set_to_none=True)
        model(audio).square().mean().backward()

    return step


def bench_encoders(device: torch.device, repeats: int) -> list[tuple[str, str, str, str]]:
    """Forward+backward throughput of each encoder (+ its MLP body) at batch 16 × 4 s, 44.1 kHz."""
    generator = torch.Generator().manual_seed(0)
    audio = torch.randn(BATCH, int(SECONDS * SAMPLE_RATE), generator=generator).to(device)
    shape = f"{BATCH} × {SECONDS:g} s"
    rows = []

    with torch.no_grad():
        ours = timeit(lambda: cqt(audio, SAMPLE_RATE), repeats, device)
    rows.append((f"CQT 113 bins, forward ({shape})", f"{BATCH / ours:,.1f} examples/s", f"{ours * 1e3:.1f} ms", "-"))
    small = audio[:2]
    with torch.no_grad():
        ours = timeit(lambda: cqt(small, SAMPLE_RATE), repeats, device)
        reference = timeit(lambda: conv1d_cqt_reference(small, SAMPLE_RATE), max(1, repeats // 2), device)
    name = "CQT vs padded-kernel conv1d CQT, forward (2 × 4 s)"
    rows.append((name, f"{2 / ours:,.1f} examples/s", f"{ours * 1e3:.1f} ms", f"{reference / ours:.1f}"))

    mee_width = 1.0 if device.type == "cuda" else 0.25
    models = [
        ("TE + controller MLP", ControllerEncoder(TimbreEncoder(SAMPLE_RATE))),
        ("TFE + controller MLP", ControllerEncoder(TimeFrequencyEncoder(SAMPLE_RATE))),
        (f"MEE width {mee_width:g} + controller MLP", ControllerEncoder(MusicEffectsEncoder(width=mee_width))),
        ("MelNeXt + ResMLP (TASLP)", MLPEncoder(MelNeXt(SAMPLE_RATE), hidden=128, depth=3, batch_norm=True)),
    ]
    for name, model in models:
        model = model.to(device).train()
        seconds = timeit(train_step(model, audio), repeats, device)
        n_params = sum(p.numel() for p in model.parameters())
        name = f"{name} ({n_params / 1e6:.2f} M params), fwd+bwd ({shape})"
        rows.append((name, f"{BATCH / seconds:,.1f} examples/s", f"{seconds * 1e3:.0f} ms", "-"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"\nencoder benchmarks on {name} (torch {torch.__version__})\n")
    print("| benchmark | throughput | time | speed-up vs reference |")
    print("|---|---|---|---|")
    for row in bench_encoders(device, args.repeats):
        print("| " + " | ".join(row) + " |", flush=True)


if __name__ == "__main__":
    main()
