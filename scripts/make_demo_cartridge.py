"""Write a DX7 cartridge of 32 voices the ddx7_56 FM synth can play (a test set for `evaluate.py`).

    python scripts/make_demo_cartridge.py banks/ddx7_56_demo.syx [--seed 0] [--algorithm 5]
    python evaluate.py run=<fm run> '+data.presets=[banks/ddx7_56_demo.syx]'

The factory banks (ROM1A/ROM1B) hold no voice this synth can play (their voices use other
algorithms or feedback), so this script makes a bank that does: algorithm 5 (or 6), feedback 0,
ratio-mode operators, carriers (operators 1, 3, 5) at ratio 1, modulators (2, 4, 6) at DX7 coarse /
fine ratios within [0.5, 10], output levels drawn on the DX7 0–99 scale (carriers 60–99, modulators
0–99; a level of 0 switches a modulator off). Voice names are DEMO 01 … DEMO 32. The same seed
writes the same file. Every voice is playable and no two are duplicates, so all 32 are kept.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ddspfx.data.dx7 import N_VOICES, Operator, init_voice, select_ddx7_56, write_cartridge  # noqa: E402

COARSE = (0, 1, 2, 3, 4, 5, 6, 7, 8, 9)  # ratio 0.5, 1, …, 9 before the fine part
FINE = (0, 0, 0, 0, 25, 41, 50, 75)  # ×(1 + fine/100), mostly harmonic


def demo_voices(seed: int = 0, algorithm: int = 5, n: int = N_VOICES) -> list:
    """`n` playable, distinct ddx7_56 voices drawn with `seed`."""
    if algorithm not in (5, 6):
        raise ValueError(f"algorithm must be 5 or 6 (the ddx7_56 synth), got {algorithm}")
    rng = random.Random(seed)
    voices, seen = [], set()
    while len(voices) < n:
        ops = []
        for number in range(1, 7):
            if number % 2:  # carriers 1, 3, 5: ratio 1
                ops.append(Operator(output_level=rng.randint(60, 99), coarse=1, fine=0))
            else:
                coarse = rng.choice(COARSE)
                fine = 0 if coarse == 9 else rng.choice(FINE)  # 9 × 1.25 would leave [0.5, 10]
                level = 0 if rng.random() < 0.15 else rng.randint(30, 99)
                ops.append(Operator(output_level=level, coarse=coarse, fine=fine))
        voice = init_voice(operators=tuple(ops), algorithm=algorithm, feedback=0, name=f"DEMO {len(voices) + 1:02d}")
        selection = select_ddx7_56([voice])
        key = tuple(float(v[0]) for v in selection.physical.values()) if selection.kept else None
        if key is not None and key not in seen:
            seen.add(key)
            voices.append(voice)
    return voices


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", type=Path, help="the .syx file to write (its folder is created)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--algorithm", type=int, default=5, choices=(5, 6))
    args = parser.parse_args(argv)
    args.path.parent.mkdir(parents=True, exist_ok=True)
    write_cartridge(args.path, demo_voices(args.seed, args.algorithm))
    print(f"Wrote {args.path}: {N_VOICES} playable ddx7_56 voices (algorithm {args.algorithm}, seed {args.seed})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
