"""SIGTERM / SIGINT end the run after the current step with last.pt saved."""

from __future__ import annotations

import os
import signal

import pytest

from ddspfx.train import Trainer, load_checkpoint
from tests.train.toy_task import ToyRegression, toy_config


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_saves_last_and_interrupts(tmp_path, sig):
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    task = ToyRegression()
    task.hook = lambda t, call: os.kill(os.getpid(), sig) if call == 2 else None
    summary = Trainer(task, toy_config(), tmp_path).fit()

    assert summary["status"] == "interrupted"
    assert summary["step"] == 3 and task.calls == 3  # the step in progress was finished
    saved = load_checkpoint(tmp_path / "checkpoints" / "last.pt")
    assert (saved["step"], saved["epoch"], saved["epoch_step"]) == (3, 0, 3)
    assert {s: signal.getsignal(s) for s in before} == before


def test_second_sigint_aborts_at_once(tmp_path):
    before = signal.getsignal(signal.SIGINT)

    def press_ctrl_c_twice(task, call):
        if call == 1:
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)

    task = ToyRegression()
    task.hook = press_ctrl_c_twice
    with pytest.raises(KeyboardInterrupt):
        Trainer(task, toy_config(), tmp_path).fit()
    assert task.calls == 2
    assert not (tmp_path / "checkpoints" / "last.pt").exists()
    assert signal.getsignal(signal.SIGINT) == before
