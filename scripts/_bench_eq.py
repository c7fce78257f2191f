"""Benchmark of the parametric EQ: frequency sampling against the torchaudio lfilter cascade.

    python scripts/_bench_eq.py [--device cpu|cuda] [--repeats N]

To be merged into scripts/bench.py (`bench_peq`).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path
from typing import Callable

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ddspfx.dsp.filters import lfilter_cascade  # noqa: E402
from ddspfx.effects.eq import ParametricEQ  # noqa: E402


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


def bench_peq(device: torch.device, repeats: int) -> list[tuple[str, str, str, str]]:
    """ParametricEQ forward+backward (gradient w.r.t. controls), batch 16 × 4 s at 44.1 kHz.

    Ours: the default frequency-sampling path. Reference: the same 5-biquad cascade (same
    coefficients, cast to float32) through `torchaudio.functional.lfilter`, section after
    section, in float32 — the plain way to run it.
    """
    sample_rate, seconds, batch = 44100, 4.0, 16
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the high shelf's range is narrowed at 44.1 kHz
        eq = ParametricEQ(sample_rate, method="fsm").to(device)
    generator = torch.Generator().manual_seed(0)
    audio = (0.1 * torch.randn(batch, int(seconds * sample_rate), generator=generator)).to(device)
    controls = torch.rand(batch, eq.n_params, generator=generator).to(device)

    def reference(c: torch.Tensor) -> torch.Tensor:
        b, a = eq.coefficients(c)
        return lfilter_cascade(audio, b.float(), a.float())

    def forward_backward(render: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[], None]:
        def step():
            c = controls.detach().requires_grad_()
            render(c).square().mean().backward()

        return step

    ours = timeit(forward_backward(lambda c: eq(audio, c)), repeats, device)
    ref = timeit(forward_backward(reference), repeats, device)
    audio_seconds = batch * seconds
    return [
        (
            "ParametricEQ fwd+bwd, frequency sampling (16 × 4 s, 44.1 kHz)",
            f"{audio_seconds / ours:,.0f}× RT",
            f"{ours * 1e3:.1f} ms",
            f"{ref / ours:.2f}",
        ),
        (
            "ParametricEQ fwd+bwd, reference: torchaudio lfilter cascade (float32)",
            f"{audio_seconds / ref:,.0f}× RT",
            f"{ref * 1e3:.1f} ms",
            "1.00",
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    device = torch.device(args.device)
    print("| benchmark | throughput | time | speed-up vs reference |")
    print("|---|---|---|---|")
    for row in bench_peq(device, args.repeats):
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
