"""An interrupted-then-resumed run ends bit-identical to an uninterrupted one (CPU, same seed)."""

from __future__ import annotations

import logging
import shutil

import pytest
import torch

from ddspfx.train import Trainer, load_checkpoint, seed_everything
from tests.train.toy_task import ToyRegression, tb_scalars, toy_config

EPOCHS, STEPS = 2, 5


def config(**overrides) -> dict:
    """Stateful everything: AdamW moments, clipping, a plateau scheduler, noise from every global
    generator in the loss, and media logging that draws random numbers."""
    cfg = toy_config(
        epochs=EPOCHS,
        steps_per_epoch=STEPS,
        optimizer={"_target_": "torch.optim.AdamW", "_partial_": True, "lr": 0.05,
                   "weight_decay": 0.01},
        grad_clip=0.5,
        scheduler={"_target_": "torch.optim.lr_scheduler.ReduceLROnPlateau", "_partial_": True,
                   "mode": "max", "factor": 0.5, "patience": 0},
    )
    cfg.update(overrides)
    return cfg


def new_task() -> ToyRegression:
    seed_everything(123)  # the same initial weights in every run
    return ToyRegression(rng_noise=True)


def train(run_dir, stop_after_step=None, stop_in_validation=False, **overrides):
    task = new_task()
    trainer = Trainer(task, config(**overrides), run_dir)
    if stop_after_step is not None:
        task.hook = lambda t, call: trainer.request_stop() if call + 1 == stop_after_step else None
    if stop_in_validation:
        task.valid_hook = lambda t: trainer.request_stop()
    return task, trainer, trainer.fit()


def assert_same_state(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run: final task state, last.pt and best.pt."""
    run_dir = tmp_path_factory.mktemp("uninterrupted")
    task, _, summary = train(run_dir)
    assert summary["status"] == "finished"
    ckpt = run_dir / "checkpoints"
    return task.state_dict(), load_checkpoint(ckpt / "last.pt"), load_checkpoint(ckpt / "best.pt")


@pytest.mark.parametrize(
    "stop_after_step,epoch,epoch_step",
    [(3, 0, 3), (STEPS, 0, STEPS), (STEPS + 2, 1, 2)],  # mid-epoch, before validation, epoch 2
)
def test_resume_after_stop_is_bit_identical(tmp_path, reference, stop_after_step, epoch, epoch_step):
    _, _, summary = train(tmp_path, stop_after_step=stop_after_step)
    assert summary["status"] == "interrupted"
    assert summary["step"] == stop_after_step
    saved = load_checkpoint(tmp_path / "checkpoints" / "last.pt")
    assert saved["step"] == stop_after_step
    assert (saved["epoch"], saved["epoch_step"]) == (epoch, epoch_step)

    task, _, summary = train(tmp_path, resume=True)
    assert summary["status"] == "finished"
    assert summary["step"] == EPOCHS * STEPS
    ref_state, ref_last, ref_best = reference
    assert_same_state(task.state_dict(), ref_state)
    last = load_checkpoint(tmp_path / "checkpoints" / "last.pt")
    assert_same_state(last["optimizer"]["state"][0], ref_last["optimizer"]["state"][0])
    assert last["scheduler"] == ref_last["scheduler"]
    assert last["best"] == ref_last["best"]
    best = load_checkpoint(tmp_path / "checkpoints" / "best.pt")
    assert_same_state(best["task"], ref_best["task"])


def test_resume_after_stop_during_validation(tmp_path, reference):
    _, _, summary = train(tmp_path, stop_in_validation=True)
    assert summary["status"] == "interrupted"
    assert (summary["step"], summary["epoch"], summary["epoch_step"]) == (STEPS, 1, 0)
    task, _, summary = train(tmp_path, resume=True)
    assert summary["status"] == "finished"
    assert_same_state(task.state_dict(), reference[0])


def test_extending_a_finished_run_from_the_epoch_boundary(tmp_path, reference):
    _, _, summary = train(tmp_path, epochs=1)
    assert summary["status"] == "finished" and summary["epoch"] == 1
    task, _, summary = train(tmp_path, resume=True, epochs=EPOCHS)
    assert summary["step"] == EPOCHS * STEPS
    assert_same_state(task.state_dict(), reference[0])


def test_resuming_a_finished_run_changes_nothing(tmp_path, reference):
    train(tmp_path)
    task, _, summary = train(tmp_path, resume=True)
    assert summary["status"] == "finished"
    assert summary["step"] == EPOCHS * STEPS
    assert task.calls == 0
    assert_same_state(task.state_dict(), reference[0])


def test_resume_without_checkpoint_starts_fresh(tmp_path, reference, caplog):
    with caplog.at_level(logging.INFO, logger="ddspfx.train.trainer"):
        task, _, summary = train(tmp_path, resume=True)
    assert "starting fresh" in caplog.text
    assert summary["status"] == "finished"
    assert_same_state(task.state_dict(), reference[0])


def test_set_epoch_is_called_again_after_a_mid_epoch_resume(tmp_path):
    train(tmp_path, stop_after_step=STEPS + 2)
    task, _, _ = train(tmp_path, resume=True)
    assert task.epochs_seen == [1]


def test_tensorboard_steps_continue_without_gaps_or_repeats(tmp_path):
    train(tmp_path, stop_after_step=3)
    train(tmp_path, resume=True)
    logged = tb_scalars(tmp_path)
    assert [s for s, _ in logged["loss/train"]] == list(range(1, EPOCHS * STEPS + 1))
    assert [s for s, _ in logged["loss/valid"]] == [STEPS, 2 * STEPS]


def test_events_after_the_checkpoint_of_a_crashed_run_are_hidden(tmp_path, reference):
    """A crash loses the steps after last.pt; the resumed run logs them again, once."""
    train(tmp_path, epochs=1)
    last = tmp_path / "checkpoints" / "last.pt"
    shutil.copy(last, tmp_path / "epoch1.pt")
    train(tmp_path, resume=True, stop_after_step=STEPS + 2)
    shutil.copy(tmp_path / "epoch1.pt", last)  # as if the process died at step 7
    task, _, _ = train(tmp_path, resume=True)
    assert_same_state(task.state_dict(), reference[0])
    assert [s for s, _ in tb_scalars(tmp_path)["loss/train"]] == list(range(1, EPOCHS * STEPS + 1))
