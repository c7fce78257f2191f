"""Non-finite losses and gradients skip their step; too many in a row stop the run cleanly."""

from __future__ import annotations

import warnings

import pytest
import torch

from ddspfx.train import Trainer, load_checkpoint, seed_everything
from tests.train.toy_task import ToyRegression, toy_config


def nonfinite_warnings(record) -> list[str]:
    return [str(w.message) for w in record if "non-finite" in str(w.message)]


@pytest.mark.parametrize("kind", ["nan_calls", "bad_grad_calls"])
def test_isolated_nonfinite_steps_are_skipped(tmp_path, kind):
    seed_everything(0)
    task = ToyRegression()
    setattr(task, kind, {2, 4})
    # max_nonfinite=1: two skips that are not in a row must not stop the run
    cfg = toy_config(epochs=1, steps_per_epoch=8, max_nonfinite=1)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        summary = Trainer(task, cfg, tmp_path).fit()
    assert summary["status"] == "finished" and summary["step"] == 8

    messages = nonfinite_warnings(record)
    assert len(messages) == 2
    assert "step 3" in messages[0] and "step 5" in messages[1]  # steps count from 1
    snaps = task.snapshots + [task.linear.weight.detach()]
    for call in range(8):
        unchanged = torch.equal(snaps[call + 1], snaps[call])
        assert unchanged == (call in {2, 4}), call
    assert torch.isfinite(task.linear.weight).all()


def test_skipped_steps_still_consume_their_data(tmp_path):
    """A skip leaves the data stream where an unskipped run would be: the batch after it is the
    same as in a clean run."""
    seed_everything(0)
    clean = ToyRegression()
    Trainer(clean, toy_config(epochs=1, steps_per_epoch=4), tmp_path / "a").fit()
    seed_everything(0)
    skipping = ToyRegression()
    skipping.nan_calls = {1}
    with pytest.warns(RuntimeWarning, match="non-finite loss"):
        Trainer(skipping, toy_config(epochs=1, steps_per_epoch=4), tmp_path / "b").fit()
    for a, b in zip(clean.batches, skipping.batches, strict=True):
        assert torch.equal(a, b)


def test_persistent_nan_stops_with_a_clear_error(tmp_path):
    seed_everything(0)
    task = ToyRegression()
    task.nan_calls = set(range(2, 100))
    max_nonfinite = 3
    cfg = toy_config(epochs=2, steps_per_epoch=10, max_nonfinite=max_nonfinite)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        with pytest.raises(RuntimeError, match="non-finite loss") as error:
            Trainer(task, cfg, tmp_path).fit()
    message = str(error.value)
    assert "learning rate" in message and f"max_nonfinite={max_nonfinite}" in message
    assert len(nonfinite_warnings(record)) == max_nonfinite + 1
    assert task.calls == 2 + max_nonfinite + 1

    weight = task.linear.weight.detach()
    assert torch.isfinite(weight).all()
    assert torch.equal(weight, task.snapshots[2])  # nothing changed after the last good step
    saved = load_checkpoint(tmp_path / "checkpoints" / "last.pt")
    assert saved["step"] == task.calls
    assert torch.equal(saved["task"]["linear.weight"], weight)


def test_max_nonfinite_zero_tolerates_none(tmp_path):
    task = ToyRegression()
    task.nan_calls = {0}
    with pytest.warns(RuntimeWarning), pytest.raises(RuntimeError, match="non-finite"):
        Trainer(task, toy_config(max_nonfinite=0), tmp_path).fit()
    assert task.calls == 1
