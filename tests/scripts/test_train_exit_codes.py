"""The training scripts' exit statuses (issue 9, items 1, 2 and 8): 130 / 143 after an interrupt
with last.pt saved, 1 when training stops on non-finite steps, 2 for a config error; one line on
stderr, never a traceback."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow  # training subprocesses


def train_fm(*args: str) -> list[str]:
    return [sys.executable, str(ROOT / "train_fm.py"), *args]


@pytest.mark.parametrize("sig,status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupted_run_saves_last_and_exits_with_the_signal_status(tmp_path, tiny_overrides, sig, status):
    run_dir = tmp_path / "run"
    command = train_fm(*tiny_overrides("fm", "trainer.steps_per_epoch=100000", "trainer.num_threads=1"),
                       f"hydra.run.dir={run_dir}")
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (run_dir / "tb").exists():  # created once the signal handlers are in place
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()[1][-2000:]
        time.sleep(0.1)
    time.sleep(0.5)  # a few training steps
    process.send_signal(sig)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == status, stderr[-2000:]
    assert (run_dir / "checkpoints" / "last.pt").is_file()
    assert "Run interrupted" in stdout and "trainer.resume=true" in stdout
    assert "Traceback" not in stderr


def test_diverging_run_stops_with_one_line_and_status_1(tmp_path, tiny_overrides):
    run_dir = tmp_path / "run"
    result = subprocess.run(
        train_fm(*tiny_overrides("fm", "trainer.optimizer.lr=1e3", "trainer.max_nonfinite=1",
                                 "trainer.steps_per_epoch=30"), f"hydra.run.dir={run_dir}"),
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, result.stderr[-2000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("train_fm.py: error: training stopped at step")
    assert "trainer.optimizer.lr" in last and "last.pt was saved" in last
    assert "Traceback" not in result.stderr
    assert (run_dir / "checkpoints" / "last.pt").is_file()


def test_config_error_exits_2_before_writing_anything(tmp_path, tiny_overrides):
    run_dir = tmp_path / "run"
    result = subprocess.run(train_fm(*tiny_overrides("fm", "trainer.batch_size=0"), f"hydra.run.dir={run_dir}"),
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert result.stderr == "train_fm.py: error: trainer.batch_size must be an int >= 1, got 0\n"
    assert not run_dir.exists()


def test_data_error_exits_2_with_one_line(tmp_path, tiny_overrides):
    command = [sys.executable, str(ROOT / "train_mastering.py"), *tiny_overrides("mastering"),
               "source=folder", f"source.root={tmp_path / 'no_such_folder'}", f"hydra.run.dir={tmp_path / 'run'}"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert "train_mastering.py: error:" in result.stderr and "no_such_folder" in result.stderr
