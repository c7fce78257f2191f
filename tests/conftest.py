"""Shared test helpers.

`tiny_overrides(task)`: the Hydra overrides of an end-to-end test run. They are the smoke config
group `conf/smoke/<task>.yaml` (the same tiny-run values as `scripts/sweeps/<task>.sh --quick`) on
the CPU; a test adds on top only what it really needs.
"""

from __future__ import annotations

import pytest


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
