"""Early stopping (`trainer.early_stopping`): the count of epochs without improvement, the stop,
its checkpoints, resume, members, config errors and the run status of an early-stopped run.

The tasks here validate to a scripted loss per epoch (`losses[epoch]`), so every count is known.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir

from ddspfx.core.checkpoint import save_checkpoint
from ddspfx.eval.provenance import run_status
from ddspfx.train import Trainer, load_checkpoint
from tests.train.members_toy import DTYPE, MemberRegression, members_config
from tests.train.toy_task import ToyRegression, toy_config

CONF = Path(__file__).resolve().parents[2] / "conf"
EPOCHS, STEPS = 20, 2
# improves at epochs 0 and 3 (counted from 0), then never: with patience 3 the run stops after
# epoch 7 (counted from 1), the count being 1, 2, 3 after epochs 5, 6, 7
LOSSES = [5.0, 6.0, 7.0, 4.0, 5.0, 4.0, 7.0] + [8.0] * (EPOCHS - 7)
PATIENCE, STOP = 3, 7


class ScriptedToy(ToyRegression):
    """The toy regression whose validation loss at epoch e (counted from 0) is `losses[e]`."""

    def __init__(self, losses):
        torch.manual_seed(0)  # the same initial weights in every run
        super().__init__()
        self.losses = list(losses)
        self.epoch = 0

    def set_epoch(self, epoch):
        super().set_epoch(epoch)
        self.epoch = epoch

    def validation_step(self, batch):
        out = super().validation_step(batch)
        return {**out, "loss": torch.tensor(self.losses[self.epoch], dtype=torch.float64)}


def config(early_stopping=None, **overrides) -> dict:
    cfg = toy_config(epochs=EPOCHS, steps_per_epoch=STEPS, valid_batch_size=24, media_every=None,
                     early_stopping=early_stopping)
    cfg.update(overrides)
    return cfg


def train(run_dir, losses=LOSSES, stop_after_step=None, stop_in_validation=None, **overrides):
    """Train a `ScriptedToy`; stop after step `stop_after_step` (counted from 1) or in the
    validation of epoch `stop_in_validation` (counted from 0)."""
    task = ScriptedToy(losses)
    trainer = Trainer(task, config(**overrides), run_dir)
    if stop_after_step is not None:
        task.hook = lambda t, call: trainer.request_stop() if call + 1 == stop_after_step else None
    if stop_in_validation is not None:
        task.valid_hook = lambda t: trainer.request_stop() if t.epoch == stop_in_validation else None
    return task, trainer.fit()


def last(run_dir, name="last"):
    return load_checkpoint(Path(run_dir) / "checkpoints" / f"{name}.pt")


def test_stops_after_patience_epochs_without_improvement(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="ddspfx.train.trainer"):
        task, summary = train(tmp_path, early_stopping={"patience": PATIENCE})
    assert summary["status"] == "finished" and summary["signal"] is None
    assert (summary["stopped_early"], summary["stopped_epoch"]) == (True, STOP)
    assert (summary["epoch"], summary["step"], summary["epoch_step"]) == (STOP, STOP * STEPS, 0)
    assert task.epochs_seen == list(range(STOP))
    saved = last(tmp_path)
    assert (saved["epoch"], saved["step"], saved["stopped_early"]) == (STOP, STOP * STEPS, True)
    assert saved["early_stopping"] == {"epochs_without_improvement": PATIENCE, "best": 4.0,
                                       "best_epoch": 3}
    assert torch.equal(saved["task"]["linear.weight"], task.linear.weight.detach())
    assert last(tmp_path, "best")["epoch"] == 4  # best.pt: epoch 3 counted from 0
    lines = [r.getMessage() for r in caplog.records if "early stopping" in r.getMessage()]
    assert lines == ["early stopping after epoch 7: validation loss has not improved by more "
                     "than 0 for 3 epochs (best 4 at epoch 4)"]


def test_nan_never_improves(tmp_path):
    _, summary = train(tmp_path, losses=[1.0] + [float("nan")] * (EPOCHS - 1),
                       early_stopping={"patience": 2})
    assert summary["stopped_epoch"] == 3


def test_min_delta_smaller_improvements_do_not_count(tmp_path):
    """best.pt follows every lower loss; the count only improvements by more than min_delta."""
    losses = [1.0, 0.95, 0.93, 0.92] + [0.91] * (EPOCHS - 4)
    _, summary = train(tmp_path, losses=losses, early_stopping={"patience": 3, "min_delta": 0.1})
    assert (summary["stopped_early"], summary["stopped_epoch"]) == (True, 4)
    assert last(tmp_path, "best")["epoch"] == 4 and last(tmp_path, "best")["best"] == 0.92
    assert last(tmp_path)["early_stopping"]["best"] == 1.0


def test_min_delta_is_measured_from_the_last_improvement(tmp_path):
    """0.89 is more than 0.1 below 1.0 (the last improvement) though only 0.06 below 0.95."""
    losses = [1.0, 0.95, 0.89, 0.85, 0.84] + [0.83] * (EPOCHS - 5)
    _, summary = train(tmp_path, losses=losses, early_stopping={"patience": 3, "min_delta": 0.1})
    assert summary["stopped_epoch"] == 6
    assert last(tmp_path)["early_stopping"] == {"epochs_without_improvement": 3, "best": 0.89,
                                                "best_epoch": 2}


def test_off_by_default_runs_every_epoch(tmp_path):
    epochs = 6
    task, summary = train(tmp_path, losses=[1.0] * epochs, epochs=epochs)
    assert summary["status"] == "finished" and summary["epoch"] == epochs
    assert (summary["stopped_early"], summary["stopped_epoch"]) == (False, None)
    saved = last(tmp_path)
    assert saved["stopped_early"] is False and saved["config"]["early_stopping"] is None
    assert saved["early_stopping"]["epochs_without_improvement"] == epochs - 1  # counted anyway


def test_stop_at_the_last_epoch_is_no_early_stop(tmp_path):
    _, summary = train(tmp_path, early_stopping={"patience": PATIENCE}, epochs=STOP)
    assert (summary["epoch"], summary["stopped_early"]) == (STOP, False)
    assert last(tmp_path)["stopped_early"] is False


# ---------------------------------------------------------------------- resume

ES = {"early_stopping": {"patience": PATIENCE}}


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("early_stopping_uninterrupted")
    task, summary = train(run_dir, **ES)
    assert summary["stopped_epoch"] == STOP
    return task.linear.weight.detach().clone(), last(run_dir)


@pytest.mark.parametrize("stop,epoch,epoch_step", [
    ({"stop_after_step": 5 * STEPS - 1}, 4, 1),   # mid-epoch, the count at 0 (epoch 3 improved)
    ({"stop_after_step": 5 * STEPS}, 4, STEPS),   # before the validation of epoch 4
    ({"stop_in_validation": 4}, 5, 0),            # at the epoch boundary, the count at 1
    ({"stop_after_step": 7 * STEPS - 1}, 6, 1),   # mid-epoch, the count at 2
])
def test_resume_mid_count_stops_at_the_same_epoch(tmp_path, uninterrupted, stop, epoch, epoch_step):
    _, summary = train(tmp_path, **stop, **ES)
    assert summary["status"] == "interrupted" and not summary["stopped_early"]
    saved = last(tmp_path)
    assert (saved["epoch"], saved["epoch_step"], saved["stopped_early"]) == (epoch, epoch_step, False)
    assert saved["early_stopping"]["epochs_without_improvement"] == epoch - 4
    assert run_status(saved)["status"] == "interrupted"

    task, summary = train(tmp_path, resume=True, **ES)
    assert (summary["status"], summary["stopped_early"], summary["stopped_epoch"]) == (
        "finished", True, STOP)
    weight, ref_last = uninterrupted
    assert torch.equal(task.linear.weight.detach(), weight)
    resumed = last(tmp_path)
    for key in ("epoch", "step", "epoch_step", "stopped_early", "early_stopping", "best"):
        assert resumed[key] == ref_last[key], key


def test_checkpoint_without_counts_resumes_from_zero(tmp_path):
    """A last.pt from before early stopping: the count starts at 0 from its best loss."""
    train(tmp_path, stop_after_step=6 * STEPS, **ES)  # interrupted in epoch 5, count 1
    path = tmp_path / "checkpoints" / "last.pt"
    state = load_checkpoint(path)
    del state["early_stopping"], state["stopped_early"]
    save_checkpoint(path, state)
    _, summary = train(tmp_path, resume=True, **ES)
    assert summary["stopped_epoch"] == STOP + 1
    assert last(tmp_path)["early_stopping"]["best"] == 4.0


def test_resuming_an_early_stopped_run_trains_nothing(tmp_path):
    train(tmp_path, **ES)
    before = last(tmp_path)
    task, summary = train(tmp_path, resume=True, epochs=2 * EPOCHS, **ES)
    assert task.calls == 0 and task.epochs_seen == []
    assert (summary["status"], summary["stopped_early"], summary["stopped_epoch"]) == (
        "finished", True, STOP)
    after = last(tmp_path)
    assert (after["epoch"], after["step"], after["config"]["epochs"]) == (STOP, STOP * STEPS, EPOCHS)
    assert after["early_stopping"] == before["early_stopping"]


# ---------------------------------------------------------------------- run status


def test_run_status_of_an_early_stopped_run_is_finished(tmp_path):
    train(tmp_path, **ES)
    status = run_status(last(tmp_path))
    assert status == {"status": "finished", "epochs_done": STOP, "epochs": EPOCHS, "epoch_step": 0,
                      "stopped_early": True}
    assert run_status({"epoch": 3, "epoch_step": 0, "config": {"epochs": 10},
                       "stopped_early": False})["status"] == "interrupted"
    assert run_status({"epoch": 3, "epoch_step": 2, "config": {"epochs": 10},
                       "stopped_early": True})["status"] == "interrupted"


# ---------------------------------------------------------------------- members


class ScriptedMembers(MemberRegression):
    """Members whose validation losses at epoch e are `losses[e]` `(M,)`."""

    def __init__(self, losses):
        super().__init__()
        self.losses = losses

    def validation_step(self, batch):
        out = super().validation_step(batch)
        return {**out, "loss": torch.tensor(self.losses[self.epoch], dtype=DTYPE)}


# members 0 and 1 stall after epoch 0 (counted from 0), member 2 improves until epoch 5
MEMBER_LOSSES = [[1.0, 1.0, 5.0], [1.0, 2.0, 4.0], [1.0, 2.0, 3.0], [1.0, 2.0, 2.0],
                 [1.0, 2.0, 1.0], [1.0, 2.0, 0.5]] + [[1.0, 2.0, 0.5]] * 10


def train_members(run_dir, stop_after_step=None, **overrides):
    task = ScriptedMembers(MEMBER_LOSSES)
    cfg = members_config(epochs=12, steps_per_epoch=STEPS, valid_batch_size=24, scheduler=None,
                         early_stopping={"patience": 2})
    cfg.update(overrides)
    trainer = Trainer(task, cfg, run_dir)
    if stop_after_step is not None:
        task.hook = lambda t, call: trainer.request_stop() if call + 1 == stop_after_step else None
    return task, trainer.fit()


def test_members_stop_when_every_member_has_stalled(tmp_path, caplog):
    initial = MemberRegression().weight.detach().clone()
    with caplog.at_level(logging.INFO, logger="ddspfx.train.trainer"):
        task, summary = train_members(tmp_path)
    assert (summary["status"], summary["stopped_early"], summary["stopped_epoch"]) == (
        "finished", True, 8)
    assert summary["members"]["best_epoch"] == [0, 0, 5]
    counts = last(tmp_path)["early_stopping"]
    assert counts["epochs_without_improvement"].tolist() == [7, 7, 2]
    assert counts["best_epoch"].tolist() == [0, 0, 5]
    assert counts["best"].tolist() == [1.0, 1.0, 0.5]
    # the stalled members kept training with the others
    assert task.calls == 8 * STEPS
    assert not torch.equal(task.weight.detach()[0], initial[0])
    assert any("every member (3)" in r.getMessage() and "[7, 7, 2]" in r.getMessage()
               for r in caplog.records)


def test_members_counts_survive_resume(tmp_path):
    _, summary = train_members(tmp_path, stop_after_step=5 * STEPS + 1)
    assert summary["status"] == "interrupted"
    assert last(tmp_path)["early_stopping"]["epochs_without_improvement"].tolist() == [4, 4, 0]
    _, summary = train_members(tmp_path, resume=True)
    assert summary["stopped_epoch"] == 8
    assert last(tmp_path)["early_stopping"]["epochs_without_improvement"].tolist() == [7, 7, 2]


# ---------------------------------------------------------------------- config


@pytest.mark.parametrize("value,key,shown", [
    ({"patience": 0}, "early_stopping.patience", "0"),
    ({"patience": 2.5}, "early_stopping.patience", "2.5"),
    ({"patience": True}, "early_stopping.patience", "True"),
    ({"min_delta": 0.1}, "early_stopping.patience", "None"),
    ({"patience": 3, "min_delta": -0.1}, "early_stopping.min_delta", "-0.1"),
    ({"patience": 3, "min_delta": "small"}, "early_stopping.min_delta", "'small'"),
    ({"patience": 3, "mode": "max"}, "early_stopping.mode", "'max'"),
    (5, "early_stopping", "5"),
])
def test_bad_early_stopping_config_is_named(tmp_path, value, key, shown):
    with pytest.raises(ValueError, match=rf"trainer\.{key}\b.*{shown}"):
        Trainer(ToyRegression(), toy_config(early_stopping=value), tmp_path)


def test_switched_on_by_override(tmp_path):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="trainer/default",
                      overrides=["trainer.early_stopping={patience:3,min_delta:0.01}",
                                 "trainer.device=cpu"])
    trainer = Trainer(ToyRegression(), cfg.trainer, tmp_path)
    assert trainer.early_stopping.enabled
    assert (trainer.early_stopping.patience, trainer.early_stopping.min_delta) == (3, 0.01)
    trainer.close()
