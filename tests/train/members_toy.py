"""A Task with members for the Trainer tests: N_TOTAL noisy linear regressions in float64.

`MemberRegression(ids)` holds the members `ids` (a subset of 0..N_TOTAL-1): weights
`(len(ids), out, in)`, member k fitting y = W_true[k] x + noise[k]. The data of member k do not
depend on which other members are held: every batch draws the x and the noise of all N_TOTAL
members from the Trainer's generator and keeps the rows `ids`. So `MemberRegression((k,))`, a
plain one-member task (scalar losses, the Trainer's ordinary path), is the separate run of
member k of `MemberRegression((0, 1, 2))`.

Test hooks (keyed by member id k, so that they act the same in both): `nan_calls[k]` and
`bad_grad_calls[k]` make training calls' loss NaN or its gradient NaN; `valid_bias[epoch][k]`
is added to the validation loss of that epoch (to place each member's best epoch);
`hook(task, call)` runs at the start of every training forward.
"""

from __future__ import annotations

import torch

from ddspfx.core.task import Task

N_TOTAL = 3
IN_DIM, OUT_DIM = 4, 2
TRUE_SEED, INIT_SEED, VALID_SEED = 1234, 77, 999
NOISE = torch.tensor([0.3, 0.05, 0.6], dtype=torch.float64)  # per member: plateaus differ
DTYPE = torch.float64


def _randn(*shape: int, seed: int | None = None, generator: torch.Generator | None = None):
    if generator is None:
        generator = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=generator, dtype=DTYPE)


class MemberRegression(Task):
    def __init__(self, ids=(0, 1, 2), n_valid: int = 24):
        super().__init__()
        self.ids = list(ids)
        self.members = len(self.ids)
        self.register_buffer("w_true", _randn(N_TOTAL, OUT_DIM, IN_DIM, seed=TRUE_SEED)[self.ids])
        self.weight = torch.nn.Parameter(2.0 * _randn(N_TOTAL, OUT_DIM, IN_DIM, seed=INIT_SEED)[self.ids])
        self.n_valid = n_valid
        self.nan_calls: dict[int, set[int]] = {}
        self.bad_grad_calls: dict[int, set[int]] = {}
        self.valid_bias: dict[int, list[float]] = {}
        self.hook = None
        self.calls = 0
        self.epoch = 0
        self.valid_weights: dict[int, torch.Tensor] = {}  # weights at each epoch's validation

    def _draw(self, batch_size: int, generator: torch.Generator) -> dict:
        x = _randn(N_TOTAL, batch_size, IN_DIM, generator=generator)[self.ids]
        noise = _randn(N_TOTAL, batch_size, OUT_DIM, generator=generator)[self.ids]
        y = x @ self.w_true.cpu().transpose(1, 2) + NOISE[self.ids, None, None] * noise
        return {"x": x, "y": y}

    def train_batch(self, batch_size, generator):
        return self._draw(batch_size, generator)

    def _losses(self, batch) -> torch.Tensor:
        pred = batch["x"] @ self.weight.transpose(1, 2)
        return ((pred - batch["y"]) ** 2).mean(dim=(1, 2))

    def _out(self, losses: torch.Tensor) -> torch.Tensor:
        return losses if self.members > 1 else losses[0]

    def forward(self, batch):
        call, self.calls = self.calls, self.calls + 1
        if self.hook is not None:
            self.hook(self, call)
        losses = self._losses(batch)
        terms = []
        for j, k in enumerate(self.ids):
            term = losses[j]
            if call in self.nan_calls.get(k, ()):
                term = term * float("nan")
            if call in self.bad_grad_calls.get(k, ()):
                term = term + torch.sqrt(0.0 * self.weight[j].sum())  # finite value, NaN gradient
            terms.append(term)
        losses = torch.stack(terms)
        return {"loss": self._out(losses), "wnorm": self._out(self.weight.detach().norm(dim=(1, 2)))}

    def valid_batches(self, batch_size):
        data = self._draw(self.n_valid, torch.Generator().manual_seed(VALID_SEED))
        for start in range(0, self.n_valid, batch_size):
            yield {k: v[:, start : start + batch_size] for k, v in data.items()}

    def validation_step(self, batch):
        self.valid_weights.setdefault(self.epoch, self.weight.detach().clone())
        losses = self._losses(batch)
        bias = self.valid_bias.get(self.epoch)
        if bias is not None:
            losses = losses + torch.tensor(bias, dtype=DTYPE)[self.ids]
        return {"loss": self._out(losses), "scale": torch.tensor(2.0, dtype=DTYPE)}

    def set_epoch(self, epoch):
        self.epoch = epoch


def members_config(**overrides) -> dict:
    """AdamW, clipping that clips, and a plateau schedule that reduces each member's lr at its
    own epochs."""
    cfg = {
        "device": "cpu",
        "seed": 0,
        "epochs": 8,
        "steps_per_epoch": 6,
        "batch_size": 8,
        "valid_batch_size": 8,
        "optimizer": {"_target_": "torch.optim.AdamW", "_partial_": True, "lr": 0.2,
                      "weight_decay": 0.05},
        "grad_clip": 2.0,
        "scheduler": {"_target_": "torch.optim.lr_scheduler.ReduceLROnPlateau", "_partial_": True,
                      "mode": "min", "factor": 0.5, "patience": 0, "threshold": 0.1},
        "max_nonfinite": 3,
        "log_every": 1,
        "media_every": None,
        "progress": False,
        "num_threads": 1,
    }
    cfg.update(overrides)
    return cfg


def members_ddp_worker(rank: int, world_size: int, port: int, run_dir: str, options: dict) -> None:
    """One DDP process (torch.multiprocessing.spawn) training `MemberRegression()`; saves its
    final weights and summary to `<run_dir>/rank<rank>.pt`."""
    import os

    from ddspfx.train import Trainer

    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
        WORLD_SIZE=str(world_size), LOCAL_RANK=str(rank),
    )
    torch.set_num_threads(1)
    task = MemberRegression()
    task.nan_calls = options.get("nan_calls", {}).get(rank, {})
    summary = Trainer(task, members_config(**options.get("cfg", {})), run_dir).fit()
    torch.save({"weight": task.weight.detach().clone(), "summary": summary},
               os.path.join(run_dir, f"rank{rank}.pt"))
