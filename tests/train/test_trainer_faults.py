"""Faults the Trainer must survive or report in one line (issue 9: items 1, 2, 8, 9).

- a `NonFiniteError` raised in the forward pass (NaN controls reaching a synth) is a skipped,
  counted non-finite step; in validation it makes the batch's loss NaN;
- interrupted runs name their signal; orphan `checkpoints/.*.tmp` files go on start;
- tqdm bars only on a terminal; training scalars are flushed at the end of every epoch.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import warnings

import pytest
import torch

from ddspfx.core.errors import NonFiniteError, TrainingStopped
from ddspfx.params import check_controls
from ddspfx.train import Trainer, load_checkpoint, seed_everything
from tests.conftest import FakeStderr
from tests.train.members_toy import MemberRegression, members_config
from tests.train.toy_task import ToyRegression, tb_scalars, toy_config


def raise_nan_controls_on(calls):
    """A training hook raising what `check_controls` raises on NaN controls at `calls`."""
    def hook(task, call):
        if call in calls:
            check_controls(torch.full((2, 3), math.nan), 3, owner="FMSynth")
    return hook


def messages(record, text: str) -> list[str]:
    return [str(w.message) for w in record if text in str(w.message)]


def test_check_controls_raises_nonfinite_error_with_the_same_message():
    with pytest.raises(NonFiniteError, match="^FMSynth: controls contain NaN$") as error:
        check_controls(torch.tensor([[0.5, math.nan]]), 2, owner="FMSynth")
    assert isinstance(error.value, ValueError)  # callers catching ValueError still do


def test_nonfinite_error_in_forward_is_a_skipped_step(tmp_path):
    seed_everything(0)
    task = ToyRegression()
    task.hook = raise_nan_controls_on({2, 4})
    cfg = toy_config(epochs=1, steps_per_epoch=8, max_nonfinite=1)  # two skips, not in a row
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        summary = Trainer(task, cfg, tmp_path).fit()
    assert summary["status"] == "finished" and summary["step"] == 8
    skipped = messages(record, "controls contain NaN")
    assert len(skipped) == 2 and "step 3" in skipped[0] and "forward pass" in skipped[0]
    snaps = task.snapshots + [task.linear.weight.detach()]
    for call in range(8):
        assert torch.equal(snaps[call + 1], snaps[call]) == (call in {2, 4}), call


def test_persistent_nonfinite_forward_stops_with_last_saved(tmp_path):
    seed_everything(0)
    task = ToyRegression()
    task.hook = raise_nan_controls_on(set(range(2, 100)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(TrainingStopped) as error:
            Trainer(task, toy_config(epochs=2, steps_per_epoch=10, max_nonfinite=3), tmp_path).fit()
    message = str(error.value)
    assert "\n" not in message
    assert "max_nonfinite=3" in message and "controls contain NaN" in message
    assert "last.pt was saved" in message and "learning rate" in message
    assert isinstance(error.value, RuntimeError)
    saved = load_checkpoint(tmp_path / "checkpoints" / "last.pt")
    assert saved["step"] == 2 + 3 + 1
    assert torch.equal(saved["task"]["linear.weight"], task.snapshots[2])


def test_nonfinite_forward_with_members_skips_the_whole_step(tmp_path):
    task = MemberRegression()
    start = task.weight.detach().clone()

    def hook(t, call):
        if call == 0:
            raise NonFiniteError("FXChain: controls contain NaN")

    task.hook = hook
    with pytest.warns(RuntimeWarning, match=r"forward pass \(FXChain: controls contain NaN\)"):
        trainer = Trainer(task, members_config(epochs=1, steps_per_epoch=1), tmp_path)
        summary = trainer.fit()
    assert summary["status"] == "finished"
    assert torch.equal(task.weight.detach(), start)  # no member moved
    assert summary["members"]["nonfinite"] == [1, 1, 1]


def test_nonfinite_error_in_validation_counts_as_nan(tmp_path):
    seed_everything(0)
    task = ToyRegression()

    def valid_hook(t):
        if task.epochs_seen[-1] == 1:  # the second epoch's validation fails
            raise NonFiniteError("FMSynth: controls contain NaN")

    task.valid_hook = valid_hook
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        summary = Trainer(task, toy_config(epochs=2, steps_per_epoch=3), tmp_path).fit()
    failed = messages(record, "validation")
    assert len(failed) == 1  # one warning per validation, not one per batch
    assert "epoch 2" in failed[0] and "3 batch(es)" in failed[0] and "counts as NaN" in failed[0]
    assert summary["status"] == "finished" and summary["epoch"] == 2
    assert math.isnan(summary["valid"]["loss"])
    assert summary["best_valid_loss"] is not None and math.isfinite(summary["best_valid_loss"])
    best = load_checkpoint(tmp_path / "checkpoints" / "best.pt")
    assert best["step"] == 3  # chosen on epoch 1, not on the NaN epoch


def test_signal_is_named_in_the_summary(tmp_path):
    task = ToyRegression()
    task.hook = lambda t, call: os.kill(os.getpid(), signal.SIGTERM) if call == 1 else None
    summary = Trainer(task, toy_config(), tmp_path).fit()
    assert (summary["status"], summary["signal"]) == ("interrupted", "SIGTERM")
    task = ToyRegression()
    summary = Trainer(task, toy_config(epochs=1), tmp_path / "clean").fit()
    assert (summary["status"], summary["signal"]) == ("finished", None)


def test_orphan_temp_checkpoints_are_removed_on_start(tmp_path, caplog):
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    orphans = [folder / ".last.pt.123.abcd1234.tmp", folder / ".best.pt.9.00ff00ff.tmp"]
    for orphan in orphans:
        orphan.write_bytes(b"PK half a zip")
    (folder / "keep.txt").write_text("not a temporary file")
    with caplog.at_level(logging.INFO, logger="ddspfx.train.trainer"):
        Trainer(ToyRegression(), toy_config(epochs=1, steps_per_epoch=1), tmp_path).fit()
    assert not any(orphan.exists() for orphan in orphans)
    assert (folder / "keep.txt").exists() and (folder / "last.pt").exists()
    lines = [r.getMessage() for r in caplog.records if "temporary checkpoint" in r.getMessage()]
    assert len(lines) == 1 and "2 temporary checkpoint file(s)" in lines[0]


@pytest.mark.parametrize("tty", [False, True])
def test_progress_bar_only_on_a_terminal(tmp_path, monkeypatch, tty):
    monkeypatch.setattr("sys.stderr", FakeStderr(tty))
    trainer = Trainer(ToyRegression(), toy_config(progress=True), tmp_path)
    bar = trainer._progress_bar()
    assert (bar is not None) == tty
    if bar is not None:
        bar.close()


def test_one_log_line_per_epoch(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="ddspfx.train.trainer"):
        Trainer(ToyRegression(), toy_config(epochs=2, steps_per_epoch=3), tmp_path).fit()
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("epoch ")]
    assert len(lines) == 2
    assert lines[0].startswith("epoch 1/2 step 3: train loss ") and "valid loss" in lines[0]


class WithBeta(ToyRegression):
    def forward(self, batch):
        return {**super().forward(batch), "beta": torch.tensor(0.25)}


def test_training_scalars_are_flushed_at_the_end_of_every_epoch(tmp_path):
    """Fewer steps than log_every in an epoch: the steps gathered are logged at its end."""
    Trainer(WithBeta(), toy_config(epochs=2, steps_per_epoch=3, log_every=50), tmp_path).fit()
    logged = tb_scalars(tmp_path)
    for tag in ("loss/train", "beta", "grad_norm", "lr", "metric/mae/train"):
        assert [step for step, _ in logged[tag]] == [3, 6], tag
    assert logged["beta"][0][1] == pytest.approx(0.25)


def test_window_is_flushed_before_a_stop(tmp_path):
    task = WithBeta()
    trainer = Trainer(task, toy_config(epochs=2, steps_per_epoch=5, log_every=50), tmp_path)
    task.hook = lambda t, call: trainer.request_stop() if call == 1 else None
    assert trainer.fit()["status"] == "interrupted"
    assert [step for step, _ in tb_scalars(tmp_path)["loss/train"]] == [2]


def test_nonfinite_error_in_log_media_skips_the_media_not_the_run(tmp_path):
    seed_everything(0)
    task = ToyRegression()

    def log_media(writer, batch, step):
        check_controls(torch.full((1, 2), math.nan), 2, owner="FMSynth")

    task.log_media = log_media
    cfg = toy_config(epochs=2, steps_per_epoch=2, media_every=1)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        summary = Trainer(task, cfg, tmp_path).fit()
    assert summary["status"] == "finished" and summary["epoch"] == 2
    assert len(messages(record, "media of epoch")) == 2
