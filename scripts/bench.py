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


def build_fm_task(experiment: str | None, device: torch.device):
    """The FM task of `conf/fm.yaml` (with `experiment=fm/<experiment>` if given), on `device`."""
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate

    conf_dir = str(Path(__file__).resolve().parents[1] / "conf")
    overrides = [f"experiment=fm/{experiment}"] if experiment else []
    with initialize_config_dir(config_dir=conf_dir, version_base="1.3"):
        cfg = compose(config_name="fm", overrides=overrides)
    return instantiate(cfg.task).to(device)


def bench_fm_training(device: torch.device, steps: int, experiments: list[str]) -> list[tuple[str, str, str, str]]:
    """Training steps/s of FM models (batch 32 × 0.5 s, SOT + 0.05 MR-STFT) per head."""
    rows = []
    for experiment in experiments:
        task = build_fm_task(experiment, device)
        optimizer = torch.optim.AdamW(task.parameters(), lr=1e-4)
        generator = torch.Generator().manual_seed(0)

        def step():
            batch = {k: v.to(device) for k, v in task.train_batch(32, generator).items()}
            loss = task(batch)["loss"]
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

        seconds = timeit(step, steps, device)
        rows.append((f"FM training step, {experiment} (bs 32)", f"{1 / seconds:.2f} steps/s", f"{seconds * 1e3:.0f} ms", "-"))
    return rows


def bench_posterior_sampling(device: torch.device, repeats: int, experiments: list[str]) -> list[tuple[str, str, str, str]]:
    """Posterior samples/s (with log-densities) for K = 10,000 samples at one input."""
    rows = []
    for experiment in experiments:
        task = build_fm_task(experiment, device).eval()
        controls = torch.rand(1, 9, generator=torch.Generator().manual_seed(0)).to(device)
        with torch.no_grad():
            embedding = task.encoder(task.render(controls))
            seconds = timeit(lambda: task.head.sample_and_log_prob(embedding, 10_000), repeats, device)
        rows.append((f"posterior sampling, {experiment} (K = 10,000)", f"{10_000 / seconds:,.0f} samples/s", f"{seconds * 1e3:.0f} ms", "-"))
    return rows


HEADS = ["gauss_l2", "mog_full_k6_l1", "mog_unif_k24_l1"]


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
    rows = bench_fm(device, repeats)
    rows += bench_posterior_sampling(device, repeats, HEADS)
    rows += bench_fm_training(device, 3 if args.quick else 10, ["deter", *HEADS])
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"\nddspfx benchmarks on {name} (torch {torch.__version__})\n")
    print("| benchmark | throughput | time | speed-up vs reference |")
    print("|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
