"""A tiny Task for the Trainer tests: noise-free linear regression y = W_true x.

The model is `nn.Linear(in_dim, out_dim, bias=False)`; the loss is the mean squared error over
batch and outputs, so its gradient has the closed form dL/dW = 2 / (B * out) (W x - y)^T x.
Test hooks: `hook(task, call)` runs at the start of every training forward (call = 0, 1, ...),
`nan_calls` / `bad_grad_calls` make chosen calls' loss NaN or its gradient NaN,
`rng_noise` makes the loss draw from python's, numpy's and torch's global generators.
"""

from __future__ import annotations

import random

import numpy as np
import torch
from torch import nn

from ddspfx.core.task import Task

VALID_SEED = 999
W_SEED = 1234


def true_weights(in_dim: int = 4, out_dim: int = 2) -> torch.Tensor:
    return torch.randn(out_dim, in_dim, generator=torch.Generator().manual_seed(W_SEED))


def draw_batch(batch_size: int, generator: torch.Generator, w_true: torch.Tensor) -> dict:
    """The toy's training batch: x ~ N(0, I) of shape (batch, in_dim), y = x W_true^T."""
    x = torch.randn(batch_size, w_true.shape[1], generator=generator)
    return {"x": x, "y": x @ w_true.T}


def mse_grad(w: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Closed-form gradient of mean((x w^T - y)^2) with respect to w, shape (out, in)."""
    return 2.0 / (x.shape[0] * y.shape[1]) * (x @ w.T - y).T @ x


class ToyRegression(Task):
    def __init__(self, in_dim: int = 4, out_dim: int = 2, n_valid: int = 24, rng_noise: bool = False):
        super().__init__()
        self.register_buffer("w_true", true_weights(in_dim, out_dim))
        self.linear = nn.Linear(in_dim, out_dim, bias=False)
        self.n_valid = n_valid
        self.rng_noise = rng_noise
        self.hook = None
        self.valid_hook = None
        self.nan_calls: set[int] = set()
        self.bad_grad_calls: set[int] = set()
        self.calls = 0
        self.snapshots: list[torch.Tensor] = []  # weights at the start of every training forward
        self.batches: list[torch.Tensor] = []  # x of every training batch
        self.epochs_seen: list[int] = []
        self.media_steps: list[int] = []

    def train_batch(self, batch_size, generator):
        batch = draw_batch(batch_size, generator, self.w_true.cpu())
        self.batches.append(batch["x"].clone())
        return batch

    def forward(self, batch):
        call, self.calls = self.calls, self.calls + 1
        self.snapshots.append(self.linear.weight.detach().clone())
        if self.hook is not None:
            self.hook(self, call)
        pred = self.linear(batch["x"])
        if self.rng_noise:
            pred = pred + 0.01 * torch.randn_like(pred)
        loss = ((pred - batch["y"]) ** 2).mean()
        if self.rng_noise:
            loss = loss * (1.0 + 0.1 * random.random() + 0.1 * float(np.random.rand()))
        if call in self.nan_calls:
            loss = loss * float("nan")
        if call in self.bad_grad_calls:
            loss = loss + torch.sqrt(0.0 * self.linear.weight.sum())  # finite value, NaN gradient
        return {"loss": loss, "mae": (pred - batch["y"]).abs().mean().detach()}

    def valid_batches(self, batch_size):
        g = torch.Generator().manual_seed(VALID_SEED)
        x = torch.randn(self.n_valid, self.linear.in_features, generator=g)
        y = x @ self.w_true.cpu().T
        for start in range(0, self.n_valid, batch_size):
            yield {"x": x[start : start + batch_size], "y": y[start : start + batch_size]}

    def validation_step(self, batch):
        if self.valid_hook is not None:
            self.valid_hook(self)
        err = self.linear(batch["x"]) - batch["y"]
        return {"loss": (err**2).mean(), "mae": err.abs().mean()}

    def set_epoch(self, epoch):
        self.epochs_seen.append(epoch)

    def log_media(self, writer, batch, step):
        self.media_steps.append(step)
        probe = torch.randn(3)  # draws from the global generator on purpose
        writer.add_scalar("metric/media_probe", float(probe.sum()), step)


def toy_config(**overrides) -> dict:
    """A fast trainer config for the toy (SGD unless overridden)."""
    cfg = {
        "device": "cpu",
        "seed": 0,
        "epochs": 2,
        "steps_per_epoch": 5,
        "batch_size": 8,
        "valid_batch_size": 8,
        "optimizer": {"_target_": "torch.optim.SGD", "_partial_": True, "lr": 0.1},
        "grad_clip": None,
        "max_nonfinite": 3,
        "log_every": 1,
        "media_every": 1,
        "progress": False,
        "num_threads": 1,
    }
    cfg.update(overrides)
    return cfg


def tb_scalars(run_dir) -> dict[str, list[tuple[int, float]]]:
    """{tag: [(step, value), ...]} of the scalars TensorBoard shows for `<run_dir>/tb`."""
    from pathlib import Path

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(Path(run_dir) / "tb"))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def ddp_worker(rank: int, world_size: int, port: int, run_dir: str, options: dict) -> None:
    """Entry point of one DDP process (torch.multiprocessing.spawn): trains the toy with the
    Trainer and saves what the test compares to `<run_dir>/rank<rank>.pt`."""
    import os

    from ddspfx.train import Trainer, seed_everything

    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
        WORLD_SIZE=str(world_size), LOCAL_RANK=str(rank),
    )
    torch.set_num_threads(1)
    seed_everything(0)
    task = ToyRegression()
    initial = task.linear.weight.detach().clone()
    task.nan_calls = set(options.get("nan_calls", {}).get(rank, ()))
    trainer = Trainer(task, toy_config(**options.get("cfg", {})), run_dir)
    stop_call = options.get("stop_call", {}).get(rank)
    if stop_call is not None:
        task.hook = lambda t, call: trainer.request_stop() if call == stop_call else None
    summary = trainer.fit()
    torch.save(
        {"weight": task.linear.weight.detach().clone(), "initial": initial,
         "batches": task.batches, "summary": summary},
        os.path.join(run_dir, f"rank{rank}.pt"),
    )
