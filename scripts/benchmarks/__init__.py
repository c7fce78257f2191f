"""Benchmark groups run by `scripts/bench.py`: `fm`, `effects` and `encoders`.

Each group module exposes `run(device, quick) -> list[Row]`; shared timing and formatting helpers
live in `common`. Run them through `python scripts/bench.py`, which puts the repository root on
`sys.path` so that `ddspfx` imports.
"""
