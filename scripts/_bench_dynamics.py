"""Compressor benchmark (to be merged into scripts/bench.py).

    python scripts/_bench_dynamics.py [--device cpu|cuda] [--repeats N] [--threads N]

Times `Compressor` forward+backward (gradients with respect to its six controls) at batch 16 × 4 s
at 44.1 kHz, against the obvious implementation: the same gain computer, and the attack/release
smoother as a per-sample torch loop recorded by autograd. The loop is timed on a short excerpt and
extrapolated linearly to the full length (its cost per sample does not depend on the length).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Callable

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ddspfx.dsp.dynamics import amplitude_to_db, db_to_amplitude, gain_reduction  # noqa: E402
from ddspfx.dsp.recursive import time_constant_to_alpha  # noqa: E402
from ddspfx.effects.dynamics import LEVEL_FLOOR, Compressor  # noqa: E402


def median_time(fn: Callable[[], object], repeats: int, device: torch.device) -> float:
    """Median wall time of `fn` in seconds over `repeats` calls, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def reference_compressor(compressor: Compressor, audio: torch.Tensor, controls: torch.Tensor) -> torch.Tensor:
    """The obvious differentiable compressor: vectorized gain computer, per-sample attack/release loop."""
    p = compressor.denormalize(controls)
    column = {name: value.unsqueeze(-1) for name, value in p.items()}
    reduction = gain_reduction(
        amplitude_to_db(audio, LEVEL_FLOOR), column["threshold_db"], column["ratio"], column["knee_db"]
    )
    alpha_attack = time_constant_to_alpha(p["attack_ms"], compressor.sample_rate)
    alpha_release = time_constant_to_alpha(p["release_ms"], compressor.sample_rate)
    state = torch.zeros_like(alpha_attack)
    smoothed = []
    for n in range(reduction.shape[-1]):
        alpha = torch.where(reduction[:, n] > state, alpha_attack, alpha_release)
        state = alpha * state + (1 - alpha) * reduction[:, n]
        smoothed.append(state)
    return audio * db_to_amplitude(column["makeup_db"] - torch.stack(smoothed, dim=-1))


def _forward_backward(render: Callable[[torch.Tensor], torch.Tensor], controls: torch.Tensor) -> Callable[[], None]:
    def step():
        c = controls.detach().requires_grad_()
        render(c).square().mean().backward()

    return step


def bench_compressor(device: torch.device, repeats: int) -> list[tuple[str, str, str, str]]:
    """Compressor forward+backward at batch 16 × 4 s, 44.1 kHz: real-time factor and ratio to the loop.

    Returns rows (benchmark, throughput, time, speed-up vs reference).
    """
    batch, seconds, sample_rate, excerpt = 16, 4.0, 44100, 2000
    generator = torch.Generator().manual_seed(0)
    n = int(seconds * sample_rate)
    envelope = torch.rand(batch, 1, generator=generator) * torch.linspace(0, 8, n).sin().abs()
    audio = (torch.randn(batch, n, generator=generator) * envelope).to(device)
    controls = torch.rand(batch, 6, generator=generator).to(device)
    compressor = Compressor(sample_rate).to(device)

    ours = median_time(_forward_backward(lambda c: compressor(audio, c), controls), repeats, device)
    short = audio[:, :excerpt].contiguous()
    reference = median_time(
        _forward_backward(lambda c: reference_compressor(compressor, short, c), controls),
        max(1, min(repeats, 3)), device,
    ) * (n / excerpt)
    audio_seconds = batch * seconds
    name = (
        f"Compressor, forward+backward (16 × 4 s @ 44.1 kHz; reference: per-sample loop timed on "
        f"{excerpt:,} samples, extrapolated)"
    )
    return [(name, f"{audio_seconds / ours:,.0f}× RT", f"{ours * 1e3:.1f} ms", f"{reference / ours:,.0f}")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print("| benchmark | throughput | time | speed-up vs reference |")
    print("|---|---|---|---|")
    for row in bench_compressor(torch.device(args.device), args.repeats):
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
