"""The Trainer's loop on the toy regression: learning, files, logging, clipping, optimizer, scheduler."""

from __future__ import annotations

import math

import pytest
import torch

from ddspfx.train import Trainer, load_checkpoint, seed_everything
from ddspfx.core.devices import resolve_device
from ddspfx.train.trainer import local_batch_size
from tests.train.toy_task import ToyRegression, draw_batch, mse_grad, tb_scalars, toy_config


def valid_loss(task: ToyRegression) -> float:
    """Mean over the toy's validation batches of the MSE, computed here, not by the Trainer."""
    losses = [
        float(((b["x"] @ task.linear.weight.detach().cpu().T - b["y"]) ** 2).mean())
        for b in task.valid_batches(8)
    ]
    return sum(losses) / len(losses)


scalars = tb_scalars


def test_loss_decreases_and_run_folder_is_complete(tmp_path):
    seed_everything(0)
    task = ToyRegression()
    before = valid_loss(task)
    summary = Trainer(task, toy_config(epochs=3, steps_per_epoch=10), tmp_path).fit()

    assert summary["status"] == "finished"
    assert (summary["step"], summary["epoch"], summary["epoch_step"]) == (30, 3, 0)
    after = valid_loss(task)
    assert after < 0.01 * before
    assert summary["valid"]["loss"] == pytest.approx(after, rel=1e-5)

    last = load_checkpoint(tmp_path / "checkpoints" / "last.pt")
    best = load_checkpoint(tmp_path / "checkpoints" / "best.pt")
    for key, value in task.state_dict().items():
        assert torch.equal(last["task"][key], value)
    assert (last["step"], last["epoch"], last["epoch_step"]) == (30, 3, 0)
    assert best["best"] == pytest.approx(summary["best_valid_loss"])
    assert list(tmp_path.joinpath("tb").glob("events.out.tfevents.*"))

    logged = scalars(tmp_path)
    for tag in ("loss/train", "metric/mae/train", "grad_norm", "lr", "loss/valid",
                "metric/mae/valid", "metric/media_probe"):
        assert tag in logged, tag
    assert [s for s, _ in logged["loss/train"]] == list(range(1, 31))
    assert [s for s, _ in logged["loss/valid"]] == [10, 20, 30]
    valid_values = [v for _, v in logged["loss/valid"]]
    assert best["best"] == pytest.approx(min(valid_values), rel=1e-6)
    assert logged["loss/train"][-1][1] < logged["loss/train"][0][1]
    assert task.epochs_seen == [0, 1, 2]
    assert task.media_steps == [10, 20, 30]


def test_log_every_averages_over_the_window(tmp_path):
    seed_everything(0)
    task = ToyRegression()
    Trainer(task, toy_config(epochs=1, steps_per_epoch=6, log_every=3, media_every=None), tmp_path).fit()
    logged = scalars(tmp_path)
    assert [s for s, _ in logged["loss/train"]] == [3, 6]
    assert task.media_steps == []


@pytest.mark.parametrize("grad_clip", [None, 1e-3])
def test_one_sgd_step_matches_closed_form(tmp_path, grad_clip):
    seed_everything(0)
    task = ToyRegression()
    w0 = task.linear.weight.detach().clone()
    cfg = toy_config(epochs=1, steps_per_epoch=1, seed=7, grad_clip=grad_clip,
                     optimizer={"_target_": "torch.optim.SGD", "_partial_": True, "lr": 1.0})
    Trainer(task, cfg, tmp_path).fit()

    batch = draw_batch(8, torch.Generator().manual_seed(7), task.w_true)
    g = mse_grad(w0, batch["x"], batch["y"])
    norm = torch.linalg.vector_norm(g)
    scale = 1.0 if grad_clip is None else min(1.0, grad_clip / (float(norm) + 1e-6))
    assert torch.allclose(task.linear.weight.detach(), w0 - scale * g, rtol=1e-5, atol=1e-7)
    logged_norm = scalars(tmp_path)["grad_norm"][0][1]
    assert logged_norm == pytest.approx(float(norm), rel=1e-5)


def test_adamw_first_step_applies_weight_decay(tmp_path):
    seed_everything(0)
    task = ToyRegression()
    w0 = task.linear.weight.detach().clone()
    lr, wd = 0.01, 0.5
    cfg = toy_config(epochs=1, steps_per_epoch=1, optimizer={
        "_target_": "torch.optim.AdamW", "_partial_": True, "lr": lr, "weight_decay": wd})
    Trainer(task, cfg, tmp_path).fit()
    batch = draw_batch(8, torch.Generator().manual_seed(0), task.w_true)
    g = mse_grad(w0, batch["x"], batch["y"])
    # AdamW's first step: decoupled decay, then m_hat / (sqrt(v_hat) + eps) = g / (|g| + eps).
    expected = w0 * (1 - lr * wd) - lr * g / (g.abs() + 1e-8)
    assert torch.allclose(task.linear.weight.detach(), expected, rtol=1e-5, atol=1e-7)


def test_reduce_lr_on_plateau_gets_the_validation_loss(tmp_path):
    seed_everything(0)
    task = ToyRegression()
    lr0, epochs = 0.05, 4
    cfg = toy_config(
        epochs=epochs,
        optimizer={"_target_": "torch.optim.SGD", "_partial_": True, "lr": lr0},
        # mode=max: every decrease of the loss counts as "no improvement"
        scheduler={"_target_": "torch.optim.lr_scheduler.ReduceLROnPlateau", "_partial_": True,
                   "mode": "max", "factor": 0.5, "patience": 0},
    )
    trainer = Trainer(task, cfg, tmp_path)
    trainer.fit()
    valid = [v for _, v in scalars(tmp_path)["loss/valid"]]
    assert all(b < a for a, b in zip(valid, valid[1:]))
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(lr0 * 0.5 ** (epochs - 1))
    ckpt = load_checkpoint(tmp_path / "checkpoints" / "last.pt")
    assert ckpt["scheduler"]["num_bad_epochs"] == 0 and ckpt["scheduler"]["mode"] == "max"


def test_unknown_config_key_is_named(tmp_path):
    with pytest.raises(ValueError, match="stepz_per_epoch"):
        Trainer(ToyRegression(), toy_config(stepz_per_epoch=3), tmp_path)


@pytest.mark.parametrize("key,value", [("epochs", -1), ("batch_size", 0), ("grad_clip", 0.0),
                                        ("log_every", 1.5), ("max_nonfinite", -1)])
def test_bad_config_value_is_named(tmp_path, key, value):
    with pytest.raises(ValueError, match=f"trainer.{key}"):
        Trainer(ToyRegression(), toy_config(**{key: value}), tmp_path)


def test_global_batch_must_divide_among_processes():
    assert local_batch_size(12, 3) == 4
    with pytest.raises(ValueError, match="not divisible"):
        local_batch_size(10, 3)


def test_device_resolution():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="trainer.device"):
        resolve_device("gpu0")


def test_bad_task_output_is_explained(tmp_path):
    class NoLoss(ToyRegression):
        def forward(self, batch):
            return {"mse": super().forward(batch)["loss"]}

    with pytest.raises(TypeError, match="'loss'"):
        Trainer(NoLoss(), toy_config(), tmp_path).fit()


def test_zero_epochs_trains_nothing(tmp_path):
    task = ToyRegression()
    w0 = task.linear.weight.detach().clone()
    summary = Trainer(task, toy_config(epochs=0), tmp_path).fit()
    assert summary["status"] == "finished" and summary["step"] == 0
    assert summary["best_valid_loss"] is None
    assert torch.equal(task.linear.weight.detach(), w0)
    assert not math.isnan(float(w0.sum()))


def test_optimizer_may_be_a_callable(tmp_path):
    seed_everything(0)
    task = ToyRegression()
    cfg = toy_config(epochs=1, optimizer=lambda params: torch.optim.SGD(params, lr=0.1))
    assert Trainer(task, cfg, tmp_path).fit()["status"] == "finished"
    assert "lambda" in load_checkpoint(tmp_path / "checkpoints" / "last.pt")["config"]["optimizer"]


def test_stop_during_the_last_validation_still_finishes(tmp_path):
    task = ToyRegression()
    trainer = Trainer(task, toy_config(epochs=1), tmp_path)
    task.valid_hook = lambda t: trainer.request_stop()
    summary = trainer.fit()
    assert summary["status"] == "finished" and summary["epoch"] == 1


class FiniteToy(ToyRegression):
    """A toy with a finite training set of 20 examples: an epoch is ceil(20 / batch) steps."""

    def epoch_steps(self, batch_size: int) -> int:
        return math.ceil(20 / batch_size)


def test_null_steps_per_epoch_takes_the_tasks_epoch_length(tmp_path):
    summary = Trainer(FiniteToy(), toy_config(epochs=2, steps_per_epoch=None, batch_size=8), tmp_path).fit()
    assert (summary["step"], summary["epoch"]) == (6, 2)


def test_null_steps_per_epoch_needs_a_task_with_an_epoch_length(tmp_path):
    with pytest.raises(ValueError, match="steps_per_epoch is null"):
        Trainer(ToyRegression(), toy_config(steps_per_epoch=None), tmp_path)
