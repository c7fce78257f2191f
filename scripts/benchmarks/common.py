"""Helpers shared by the benchmark groups: timing, a forward+backward step, row formatting."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, NamedTuple

import torch

REPO_ROOT = Path(__file__).resolve().parents[2]


class Row(NamedTuple):
    """One line of the Markdown table; `speedup` is reference time / our time ("-" when none)."""

    benchmark: str
    throughput: str
    time: str
    speedup: str = "-"


def timeit(fn: Callable[[], object], repeats: int, device: torch.device) -> float:
    """Median wall time of `fn` in seconds over `repeats` calls, after one warm-up call.

    On CUDA the device is synchronized around each call, so queued kernels are counted.
    """
    fn()
    times = sorted(time_call(fn, device) for _ in range(repeats))
    return times[len(times) // 2]


def time_call(fn: Callable[[], object], device: torch.device) -> float:
    """Wall time of one call of `fn` in seconds (the device synchronized around it on CUDA)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def forward_backward(render: Callable[[torch.Tensor], torch.Tensor], controls: torch.Tensor) -> Callable[[], None]:
    """A step that renders from fresh leaf `controls` and back-propagates the mean square output."""

    def step():
        c = controls.detach().requires_grad_()
        render(c).square().mean().backward()

    return step


def real_time(audio_seconds: float, seconds: float) -> str:
    """Real-time factor: seconds of audio processed per second of wall time, e.g. "1,234× RT"."""
    return f"{audio_seconds / seconds:,.0f}× RT"


def milliseconds(seconds: float, digits: int = 1) -> str:
    """Wall time in milliseconds, e.g. "18.4 ms"."""
    return f"{seconds * 1e3:.{digits}f} ms"
