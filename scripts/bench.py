"""Benchmarks: real-time factors and speed ratios against plain reference implementations.

    python scripts/bench.py [--quick] [--device cpu|cuda] [--threads N]

Every entry times our implementation and a plain reference in the same run, so the ratio is
meaningful on any machine; absolute times are only worth quoting for a named GPU.
Prints a Markdown table (paste it into the README).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Callable

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ddspfx.synths import FMSynth  # noqa: E402
from ddspfx.synths.fm import dx7_level_to_amplitude  # noqa: E402


def timeit(fn: Callable[[], object], repeats: int, device: torch.device) -> float:
    """Median wall time of `fn` in seconds, after one warm-up call."""
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


def fm_reference(synth: FMSynth, controls: torch.Tensor) -> torch.Tensor:
    """Plain per-operator FM: one float32 running phase (cumulative sum) per operator, as in DDX7."""
    phys = synth.denormalize(controls)
    n = synth.n_samples
    out = torch.zeros(controls.shape[0], n, device=controls.device)
    for carrier, modulator in ((1, 2), (3, 4), (5, 6)):
        ratio = phys[f"ratio_{modulator}"].unsqueeze(-1)
        increment = (2 * math.pi * synth.f0 / synth.sample_rate) * torch.ones(controls.shape[0], n, device=controls.device)
        mod_phase = torch.cumsum(increment * ratio, dim=-1) - increment * ratio
        car_phase = torch.cumsum(increment, dim=-1) - increment
        mod_amp = synth.max_mod_index * dx7_level_to_amplitude(phys[f"level_{modulator}"]).unsqueeze(-1)
        car_amp = dx7_level_to_amplitude(phys[f"level_{carrier}"]).unsqueeze(-1)
        out = out + car_amp * torch.sin(car_phase + mod_amp * torch.sin(mod_phase))
    return out


def forward_backward(render: Callable[[torch.Tensor], torch.Tensor], controls: torch.Tensor) -> Callable[[], None]:
    def step():
        c = controls.detach().requires_grad_()
        render(c).square().mean().backward()

    return step


def bench_fm(device: torch.device, repeats: int) -> list[tuple[str, str, str, str]]:
    """FM render at batch 64 × 0.5 s: real-time factors and ratio to the per-operator reference."""
    synth = FMSynth(duration=0.5).to(device)
    controls = torch.rand(64, 9, generator=torch.Generator().manual_seed(0)).to(device)
    audio_seconds = controls.shape[0] * synth.duration
    rows = []
    with torch.no_grad():
        ours = timeit(lambda: synth(controls), repeats, device)
        ref = timeit(lambda: fm_reference(synth, controls), repeats, device)
    rows.append(("FM render, forward (64 × 0.5 s)", f"{audio_seconds / ours:,.0f}×", f"{ours * 1e3:.1f} ms", f"{ref / ours:.2f}"))
    ours = timeit(forward_backward(synth, controls), repeats, device)
    ref = timeit(forward_backward(lambda c: fm_reference(synth, c), controls), repeats, device)
    rows.append(("FM render, forward+backward", f"{audio_seconds / ours:,.0f}×", f"{ours * 1e3:.1f} ms", f"{ref / ours:.2f}"))
    return rows


def bench_fm_training(device: torch.device, steps: int) -> list[tuple[str, str, str, str]]:
    """Training steps/s of the default FM task (batch 32 × 0.5 s, SOT + 0.05 MR-STFT)."""
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate

    conf_dir = str(Path(__file__).resolve().parents[1] / "conf")
    with initialize_config_dir(config_dir=conf_dir, version_base="1.3"):
        cfg = compose(config_name="fm")
    task = instantiate(cfg.task).to(device)
    optimizer = torch.optim.AdamW(task.parameters(), lr=1e-4)
    generator = torch.Generator().manual_seed(0)

    def step():
        batch = {k: v.to(device) for k, v in task.train_batch(32, generator).items()}
        loss = task(batch)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    seconds = timeit(step, steps, device)
    return [("FM training step (deterministic, bs 32)", f"{1 / seconds:.1f} steps/s", f"{seconds * 1e3:.0f} ms", "-")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    repeats = 3 if args.quick else 15
    rows = bench_fm(device, repeats) + bench_fm_training(device, 5 if args.quick else 20)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"\nddspfx benchmarks on {name} (torch {torch.__version__})\n")
    print("| benchmark | throughput | time | speed-up vs reference |")
    print("|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
