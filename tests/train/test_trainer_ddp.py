"""DistributedDataParallel with 2 CPU processes (gloo), as `torchrun --nproc_per_node=2` runs it.

With SGD, DDP's averaged gradient of two local batches equals the gradient of their
concatenation, so the final weights have a closed form computed here step by step.
"""

from __future__ import annotations

import socket
import time

import pytest
import torch
import torch.multiprocessing as mp
from torch.testing import assert_close

from ddspfx.train import load_checkpoint, seed_everything
from tests.train.toy_task import ToyRegression, ddp_worker, draw_batch, mse_grad, toy_config

WORLD = 2
HANG_GUARD_S = 120  # only to turn a collective deadlock into a failure; never asserted on


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn(run_dir, options: dict, worker=ddp_worker) -> list[dict]:
    """Run `worker` on WORLD processes and return what each rank saved."""
    context = mp.start_processes(
        worker, args=(WORLD, free_port(), str(run_dir), options), nprocs=WORLD,
        join=False, start_method="spawn",
    )
    deadline = time.monotonic() + HANG_GUARD_S
    while not context.join(timeout=1):
        if time.monotonic() > deadline:
            for process in context.processes:
                process.kill()
            pytest.fail("DDP workers did not finish: a collective is probably hanging")
    return [torch.load(run_dir / f"rank{r}.pt") for r in range(WORLD)]


def reference_weights(steps: int, skipped: set[int] = frozenset(), seed: int = 0, lr: float = 0.1,
                      global_batch: int = 8) -> torch.Tensor:
    """SGD on the mean of the ranks' local gradients; each rank r draws from seed + r."""
    seed_everything(0)
    task = ToyRegression()
    w = task.linear.weight.detach().clone()
    generators = [torch.Generator().manual_seed(seed + r) for r in range(WORLD)]
    for step in range(steps):
        batches = [draw_batch(global_batch // WORLD, g, task.w_true) for g in generators]
        if step in skipped:
            continue
        w = w - lr * sum(mse_grad(w, b["x"], b["y"]) for b in batches) / WORLD
    return w


def test_ddp_ranks_agree_and_match_one_big_batch(tmp_path):
    cfg = {"epochs": 2, "steps_per_epoch": 3, "max_nonfinite": 1}
    ranks = spawn(tmp_path, {"cfg": cfg, "nan_calls": {1: [2]}})  # NaN on rank 1 only

    for r in ranks:
        assert r["summary"]["status"] == "finished" and r["summary"]["step"] == 6
    assert torch.equal(ranks[0]["initial"], ranks[1]["initial"])
    assert torch.equal(ranks[0]["weight"], ranks[1]["weight"])
    assert not torch.equal(ranks[0]["weight"], ranks[0]["initial"])
    assert not torch.equal(ranks[0]["batches"][0], ranks[1]["batches"][0])
    assert ranks[0]["batches"][0].shape[0] == 8 // WORLD

    expected = reference_weights(steps=6, skipped={2})
    assert torch.allclose(ranks[0]["weight"], expected, rtol=1e-5, atol=1e-6)

    last = load_checkpoint(tmp_path / "checkpoints" / "last.pt")
    assert last["world_size"] == WORLD and len(last["rng"]) == WORLD
    assert torch.equal(last["task"]["linear.weight"], ranks[0]["weight"])
    assert (tmp_path / "checkpoints" / "best.pt").is_file()


def test_ddp_stop_on_one_rank_then_resume(tmp_path):
    cfg = {"epochs": 2, "steps_per_epoch": 3}
    ranks = spawn(tmp_path, {"cfg": cfg, "stop_call": {0: 3}})  # only rank 0 asks to stop
    for r in ranks:
        assert r["summary"]["status"] == "interrupted" and r["summary"]["step"] == 4
    assert load_checkpoint(tmp_path / "checkpoints" / "last.pt")["step"] == 4

    ranks = spawn(tmp_path, {"cfg": {**cfg, "resume": True}})
    for r in ranks:
        assert r["summary"]["status"] == "finished" and r["summary"]["step"] == 6
    assert torch.equal(ranks[0]["weight"], ranks[1]["weight"])
    assert torch.allclose(ranks[0]["weight"], reference_weights(steps=6), rtol=1e-5, atol=1e-6)


def test_toy_config_is_plain_sgd():
    """The closed form above assumes plain SGD without clipping."""
    cfg = toy_config()
    assert cfg["optimizer"]["_target_"] == "torch.optim.SGD" and cfg["grad_clip"] is None


def test_ddp_with_members_skips_a_member_on_every_rank(tmp_path):
    """Members under DDP: member 2's NaN on rank 1 only skips member 2's step on both ranks;
    the others take the SGD step on the mean of the ranks' gradients."""
    from tests.train.members_toy import MemberRegression, members_ddp_worker

    sgd = {"_target_": "torch.optim.SGD", "_partial_": True, "lr": 0.05}
    cfg = {"epochs": 1, "steps_per_epoch": 4, "optimizer": sgd, "grad_clip": None, "scheduler": None}
    ranks = spawn(tmp_path, {"cfg": cfg, "nan_calls": {1: {2: {1}}}}, members_ddp_worker)
    assert torch.equal(ranks[0]["weight"], ranks[1]["weight"])
    assert ranks[0]["summary"]["members"] == ranks[1]["summary"]["members"]

    task = MemberRegression()
    generators = [torch.Generator().manual_seed(r) for r in range(WORLD)]
    for step in range(4):
        batches = [task.train_batch(8 // WORLD, g) for g in generators]
        loss = sum(task._losses(b) for b in batches).sum() / WORLD
        (grad,) = torch.autograd.grad(loss, task.weight)
        if step == 1:
            grad[2] = 0.0
        task.weight.data -= 0.05 * grad
    assert_close(ranks[0]["weight"], task.weight.detach(), rtol=1e-12, atol=1e-12)
