"""Streaming timbre-remapping benchmark: the real-time factor of `ddspfx.realtime.StreamingRemapper`.

A virtual snare performance (`ddspfx.data.virtual_drums`, "maple_14x5", 44.1 kHz) streamed in
blocks of 64 samples on one CPU thread (`torch.set_num_threads(1)`, as an audio callback runs):
the onset detector, the onset-feature windows, a paper-size MLP mapper (`RemapMapper`, untrained:
the cost does not depend on the weights) and the 1-s Snare808 render of every hit. The real-time
factor is seconds of audio per second of processing (median of `repeats` runs after a warm-up);
the goal is ≥ 50× real time.

    python scripts/benchmarks/realtime_remap.py [seconds] [block]
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ddspfx.data.virtual_drums import VIRTUAL_SNARES, render_performance  # noqa: E402
from ddspfx.export import RemapMapper  # noqa: E402
from ddspfx.heads.mapping import build_mapping  # noqa: E402
from ddspfx.realtime import StreamingRemapper  # noqa: E402
from ddspfx.synths.snare808 import Snare808, load_preset  # noqa: E402

SAMPLE_RATE = 44100
DRUM = "maple_14x5"
GOAL = 50.0  # × real time
# Raw onset-feature statistics of the scale the virtual snares give (dB, semitones, dB).
ONSET_MIN, ONSET_MAX, ONSET_REFERENCE = (-45.0, 95.0, -45.0), (-10.0, 120.0, -10.0), (-25.0, 110.0, -30.0)


def build_streamer(window: int = 256, sample_rate: int = SAMPLE_RATE) -> StreamingRemapper:
    """A `StreamingRemapper` with the paper MLP on the snare_1 preset and a 1-s Snare808."""
    torch.manual_seed(0)
    synth = Snare808(sample_rate=sample_rate)
    preset, damping = load_preset("snare_1", sample_rate)
    mapper = RemapMapper(build_mapping("mlp", synth.n_params), torch.tensor(ONSET_MIN), torch.tensor(ONSET_MAX),
                         torch.tensor(ONSET_REFERENCE), preset, damping, window=window, sample_rate=sample_rate)
    return StreamingRemapper(mapper, synth, sample_rate, window)


def bench_streaming(seconds: float = 10.0, block: int = 64, repeats: int = 3) -> dict:
    """Real-time factor of the streaming processor at 44.1 kHz on one CPU thread.

    Returns:
        {"real_time_factor": median × real time, "best": best run, "seconds": audio seconds,
         "block": samples, "hits": hits triggered, "wall_s": median processing seconds,
         "render_ms": median ms of one 1-s hit render, "block_us": median µs per block without
         the renders, "goal": 50, "threads": 1}
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        audio, _ = render_performance(VIRTUAL_SNARES[DRUM], seconds, seed=0, sample_rate=SAMPLE_RATE)
        audio = audio.numpy()
        streamer = build_streamer()
        streamer.process_signal(audio[:SAMPLE_RATE], block)  # warm-up: compiled kernels, first torch calls
        walls, hits = [], 0
        for _ in range(repeats):
            streamer.reset()
            start = time.perf_counter()
            streamer.process_signal(audio, block)
            walls.append(time.perf_counter() - start)
            hits = len(streamer.hits)
        render_ms = _render_ms(streamer)
    finally:
        torch.set_num_threads(threads)
    wall = statistics.median(walls)
    blocks = -(-len(audio) // block)
    return {
        "real_time_factor": seconds / wall,
        "best": seconds / min(walls),
        "seconds": seconds,
        "block": block,
        "hits": hits,
        "wall_s": wall,
        "render_ms": render_ms,
        "block_us": max(0.0, wall - hits * render_ms / 1000) / blocks * 1e6,
        "goal": GOAL,
        "threads": 1,
    }


@torch.no_grad()
def _render_ms(streamer: StreamingRemapper, repeats: int = 10) -> float:
    """Median ms of one hit render (features and mapper included) by the streamer's modules."""
    window = torch.zeros(1, streamer.window)
    window[0, :64] = 0.5
    from ddspfx.dsp.features import onset_features

    def hit():
        streamer.renderer(streamer.mapper(onset_features(window, streamer.sample_rate, streamer.window)))

    hit()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        hit()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main(argv: list[str]) -> None:
    seconds = float(argv[0]) if argv else 10.0
    block = int(argv[1]) if len(argv) > 1 else 64
    result = bench_streaming(seconds, block)
    verdict = "meets" if result["real_time_factor"] >= GOAL else "misses"
    print(f"streaming remap, {result['seconds']:g} s at 44.1 kHz in blocks of {block}, 1 thread: "
          f"{result['real_time_factor']:,.0f}× real time (best {result['best']:,.0f}×; {verdict} the {GOAL:g}× goal), "
          f"{result['hits']} hits, {result['render_ms']:.2f} ms per hit render, {result['block_us']:.1f} µs per block")


if __name__ == "__main__":
    main(sys.argv[1:])
