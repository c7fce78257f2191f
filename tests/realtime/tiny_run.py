"""A tiny trained remap run shared by the tests of scripts/export_remap.py and scripts/realtime_remap.py.

The run is trained once per test session (`smoke=remap`, ~10 s on a CPU) into the session's base
temporary folder; whichever test module asks first trains it, the others reuse it.
"""

from __future__ import annotations

from pathlib import Path

from tests.conftest import train_tiny

RUN = "tiny_remap_run"


def tiny_remap_run(tmp_path_factory) -> Path:
    """The run folder of a tiny `train_remap.py` run (MLP, 256-sample window, virtual snares)."""
    base = tmp_path_factory.getbasetemp() / RUN
    run_dir = base / "run"
    if (run_dir / "checkpoints" / "last.pt").is_file():
        return run_dir
    base.mkdir(parents=True, exist_ok=True)
    return train_tiny("remap", run_dir, "experiment=remap/mlp", f"data.synthetic.folder={base / 'drums'}")
