"""Benchmarks: real-time factors, throughputs and speed ratios against plain reference implementations.

    python scripts/bench.py [--quick] [--device cpu|cuda] [--threads N] [--only fm,effects,encoders,remap,texture]

Groups (default: all), in `scripts/benchmarks/`:
- fm: FM render forward and forward+backward at 64 × 0.5 s against a per-operator float32-cumsum
  reference; posterior sampling (K = 10,000) and training steps/s per head.
- effects: ParametricEQ forward+backward by frequency sampling against the same biquad cascade through
  torchaudio's lfilter; the exact Compressor forward+backward against a per-sample autograd loop (timed
  on a short excerpt and extrapolated). Goal: Compressor ≥ 300× real time for 16 × 4 s at 44.1 kHz
  on a 2-core CPU.
- encoders: the CQT against a padded-kernel conv1d CQT; forward+backward throughput of the TE, TFE,
  MEE (width 0.25 on CPU) and MelNeXt encoders at 16 × 4 s, 44.1 kHz.
- remap: the Snare808 render (16 × 1 s) forward and forward+backward against the reference's
  cumprod / float32-cumsum / lfilter formulation; the 7 target features forward+backward against
  per-frame lfilter K-weighting and plain rFFT spectra; a paper-MLP training step (steps/s); and the
  goal: one paper model (250 epochs of ~80 hits) trained end to end by the Trainer in < 2 minutes
  on a 2-core CPU (--quick: 25 epochs, extrapolated × 10).
- texture: TexStat forward+backward against auraloss's MR-STFT with the six scales of the texture
  papers (32 × 65,536 samples; the ratio column is TexStat / MR-STFT time, goal ≤ 3×, the
  reference's was ~20×); TexEnv synthesis (16 × 32,768 samples, N 16, K 128) forward and
  forward+backward; TexDSP training steps/s of the default conf/texture.yaml model and the
  texdsp_n16 preset on synthetic rain.

Every ratio compares our implementation with a plain reference timed in the same run, so it is
meaningful on any machine; absolute times are only worth quoting for a named GPU. Times are medians
of repeated calls after a warm-up (fewer with --quick). Prints the device and a Markdown table
(paste it into the README).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]

from benchmarks import effects, encoders, fm, remap, texture  # noqa: E402

GROUPS = {
    "fm": fm.run, "effects": effects.run, "encoders": encoders.run, "remap": remap.run, "texture": texture.run,
}


def parse_args() -> argparse.Namespace:
    """Command-line options; `--only` is checked against the group names."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--only", default=",".join(GROUPS), help=f"comma-separated groups among {', '.join(GROUPS)}")
    args = parser.parse_args()
    args.only = [group.strip() for group in args.only.split(",") if group.strip()]
    unknown = sorted(set(args.only) - set(GROUPS))
    if unknown or not args.only:
        parser.error(f"--only: unknown or no groups {unknown}; choose among {', '.join(GROUPS)}")
    return args


def main() -> None:
    """Run the selected groups in order and print the device line and the Markdown table."""
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"\nddspfx benchmarks on {name} (torch {torch.__version__})\n")
    print("| benchmark | throughput | time | speed-up vs reference |")
    print("|---|---|---|---|", flush=True)
    for group in args.only:
        for row in GROUPS[group](device, args.quick):
            print("| " + " | ".join(row) + " |", flush=True)


if __name__ == "__main__":
    main()
