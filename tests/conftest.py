"""Shared test helpers.

`tiny_overrides(task)`: the Hydra overrides of an end-to-end test run. They are the smoke config
group `conf/smoke/<task>.yaml` (the same tiny-run values as `scripts/sweeps/<task>.sh --quick`) on
the CPU; a test adds on top only what it really needs. `run_script(script, *args)`: a repository
script run as a user runs it. `RecordingWriter`: a TensorBoard writer that records the tags logged.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def tiny_overrides(task: str, *extra: str) -> list[str]:
    """Overrides for a tiny CPU training run of `task` (fm, mastering, ...), then `extra`."""
    return [f"smoke={task}", "trainer.device=cpu", *extra]


@pytest.fixture(name="tiny_overrides", scope="session")
def tiny_overrides_fixture():
    """The `tiny_overrides(task, *extra)` function, as a fixture."""
    return tiny_overrides


class FakeStderr:
    """A stand-in for `sys.stderr` that is, or is not, a terminal (for progress-bar tests)."""

    def __init__(self, tty: bool):
        self.tty = tty

    def isatty(self):
        return self.tty

    def write(self, text):
        return len(text)

    def flush(self):
        pass


def run_script(script: str, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    """`python <repository>/<script> args...` from the repository root, output captured as text."""
    return subprocess.run([sys.executable, str(ROOT / script), *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


def train_tiny(task: str, run_dir: Path, *extra: str) -> Path:
    """Train a tiny CPU run of `train_<task>.py` (`tiny_overrides(task, *extra)`) into `run_dir`;
    the test fails with the script's stderr when it does not finish."""
    result = run_script(f"train_{task}.py", *tiny_overrides(task, *extra), f"hydra.run.dir={run_dir}")
    assert result.returncode == 0, result.stderr[-3000:]
    return run_dir


class RecordingWriter:
    """A stand-in for a TensorBoard `SummaryWriter` that keeps the tags of the audio and figures logged."""

    def __init__(self):
        self.tags: list[str] = []

    def add_audio(self, tag, *args, **kwargs):
        self.tags.append(tag)

    def add_figure(self, tag, figure, *args, **kwargs):
        self.tags.append(tag)
