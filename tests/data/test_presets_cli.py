"""End to end (one subprocess test): evaluate.py with real-cartridge data faults exits 2 with one line."""

import subprocess
import sys
from pathlib import Path

import pytest

from ddspfx.data.dx7 import init_voice, write_cartridge

ROOT = Path(__file__).resolve().parents[2]


def run(*args, cwd):
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_evaluate_reports_cartridge_faults_in_one_line(tmp_path, tiny_overrides):
    out = tmp_path / "run"
    trained = run(str(ROOT / "train_fm.py"), *tiny_overrides("fm", f"hydra.run.dir={out}"), cwd=ROOT)
    assert trained.returncode == 0, trained.stderr[-2000:]
    write_cartridge(tmp_path / "rom.syx", [init_voice()])  # no playable voice (algorithm 1)
    for bank, expected in (
        ("rom.syx", "no playable voice in 1 cartridge(s) (32 voices rejected: algorithm 32)"),
        ("missing.syx", "missing.syx: unreadable cartridge"),
    ):
        done = run(str(ROOT / "evaluate.py"), f"run={out}", f"+data.presets=[{tmp_path / bank}]", "progress=false", cwd=ROOT)
        lines = [line for line in done.stderr.splitlines() if line.startswith("evaluate.py:")]
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-2000:]
        assert len(lines) == 1 and expected in lines[0]
    # the demo bank is scored end to end by tests/test_readme.py (the README's DX7 example);
    # malformed cartridges are unit-tested in tests/data/test_presets_faults.py
