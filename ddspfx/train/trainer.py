"""The Trainer shared by the four tasks: a plain torch loop with DDP, checkpoints and logging.

    trainer = Trainer(task, cfg.trainer, run_dir)
    summary = trainer.fit()   # {"status": "finished" | "interrupted", "step": ..., ...}

One step: `task.train_batch(batch_size / world_size, generator)` → `ddp_task(batch)["loss"]` →
backward → global-norm clipping → optimizer step. A non-finite loss (on any rank) or gradient
skips the step, and so does a `NonFiniteError` raised in the forward pass (e.g. NaN controls
reaching a synth or an effect chain: `ddspfx.params.check_controls`); more than
`max_nonfinite` skips in a row save `last.pt` and raise `TrainingStopped`. In validation, a
batch whose `validation_step` raises `NonFiniteError` counts with a NaN loss (the epoch
completes; `best.pt` is never chosen on NaN). One epoch: `trainer.steps_per_epoch` steps (null: the task's
`epoch_steps`, one pass over its data), then validation on the task's fixed
set, the LR scheduler, the early-stopping count, `best.pt` (if the validation loss improved),
`last.pt`, and every `media_every` epochs `task.log_media`, and one log line (train and valid
loss, time).

Early stopping (`early_stopping: {patience, min_delta}`, off by default): an epoch improves when
its validation loss is below the reference minus `min_delta` (never when NaN); the reference is
the validation loss of the last improving epoch, so with `min_delta` 0 it is the best one
(`best.pt` keeps its own criterion: any strictly lower loss). `epochs_without_improvement` counts
the epochs since the last improving one; when it reaches `patience` at an epoch's end (and
epochs remain), the run ends after that epoch's `best.pt` / `last.pt` with one log line; the
status is "finished", the summary says `stopped_early` / `stopped_epoch`, and `last.pt` holds
`"stopped_early": True` (so `ddspfx.eval.provenance.run_status` counts the run as finished). The
counts are saved in every checkpoint, so a resumed run stops at the epoch an uninterrupted one
does; a checkpoint from before early stopping resumes with a count of 0. Resuming from a
`last.pt` whose count has reached `patience` (an early-stopped run, also with a larger `epochs`)
trains nothing and returns at once, stopped early again; only a count below `patience` lets it
train on. With members, each member has its own reference and count, and the run stops when
every member has reached `patience`; members that stalled earlier keep training with the others
until then. Under DDP the validation losses are merged identically on every rank and the stop is
agreed among the ranks, so all of them stop after the same epoch.

SIGINT / SIGTERM / `request_stop()` end the run after the current step with `last.pt` saved (the
summary says "interrupted" and names the signal); `trainer.resume=true` continues from it
bit-identically (same seed and world size; on CPU, or on GPU with deterministic kernels).

TensorBoard tags: `loss/train`, `metric/<key>/train` (rank 0's share of the batch, mean over the
`log_every` steps, and what was gathered at the end of every epoch and on a stop),
`grad_norm` (before clipping), `lr`, `loss/valid`, `metric/<key>/valid`;
a training key named in `TOP_LEVEL_KEYS` (`beta`) is logged under its own name.

A task with `members = M > 1` trains M independent models at once (`ddspfx.train.members`):
backward of `loss.sum()`, then clipping, non-finite skips, learning-rate schedules and best
weights per member. Its tags are means over the members (over the members stepped, for training
values), plus `members/loss/valid/<m>` when M <= `MEMBER_TAGS_MAX`. A `NonFiniteError` in the
forward pass has no per-member loss: the whole step is skipped and counted for every member.

The tqdm bar is shown only when `progress` is on and stderr is a terminal (not in piped logs,
CI or SLURM). On start, rank 0 deletes `checkpoints/.*.tmp` left by killed checkpoint writes.
"""

from __future__ import annotations

import logging
import math
import signal
import threading
import time
import warnings
from collections import defaultdict
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Mapping

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from ddspfx.core.console import stderr_is_terminal
from ddspfx.core.devices import resolve_device
from ddspfx.core.errors import NonFiniteError, TrainingStopped
from ddspfx.core.task import Task, batch_to
from ddspfx.train import distributed as D
from ddspfx.core.checkpoint import (
    FORMAT_VERSION,
    checkpoint_path,
    load_checkpoint,
    remove_temp_files,
    save_checkpoint,
)
from ddspfx.train.logging import create_writer, log_scalars
from ddspfx.train.members import Members, member_count, short_list
from ddspfx.train.seeding import (
    get_rng_state,
    make_generator,
    preserve_rng,
    seed_everything,
    set_rng_state,
)

log = logging.getLogger(__name__)

TOP_LEVEL_KEYS = frozenset({"beta"})
MEMBER_TAGS_MAX = 32  # per-member TensorBoard scalars only up to this many members
NONFINITE_ADVICE = (
    "Try a lower learning rate (trainer.optimizer.lr), gradient clipping (trainer.grad_clip), "
    "or check the data and the loss for NaN/Inf (silence, log of 0, division by 0).")


def _default_optimizer() -> dict[str, Any]:
    return {"_target_": "torch.optim.AdamW", "_partial_": True, "lr": 1e-4, "weight_decay": 0.01}


@dataclass
class TrainerConfig:
    """The `trainer` config node; `conf/trainer/default.yaml` holds the same keys and defaults."""

    device: str = "auto"  # auto (cuda if available, else cpu) | cpu | cuda | cuda:N
    seed: int = 0
    epochs: int = 100
    steps_per_epoch: int | None = 1000  # None: one pass over the task's data (`Task.epoch_steps`)
    batch_size: int = 64  # global: divided among DDP processes
    valid_batch_size: int = 64  # per process
    optimizer: Any = field(default_factory=_default_optimizer)  # partial: params -> optimizer
    grad_clip: float | None = 1.0  # max global L2 norm of the gradients; None = off
    scheduler: Any = None  # None, or partial: optimizer -> scheduler (stepped once per epoch)
    early_stopping: Any = None  # None = off, or {"patience": int >= 1, "min_delta": float >= 0 (0)}
    max_nonfinite: int = 10  # non-finite steps in a row that are skipped; one more stops the run
    #   (a NaN/Inf loss or gradient, or a NonFiniteError in the forward pass)
    log_every: int = 50  # steps
    media_every: int | None = 5  # epochs; None or 0 = never
    resume: bool = False
    num_threads: int | None = None
    find_unused_parameters: bool = False
    progress: bool = True  # tqdm bar, only when stderr is a terminal

    @classmethod
    def from_cfg(cls, cfg: Any) -> "TrainerConfig":
        """From a DictConfig, a mapping, a TrainerConfig or None (all defaults).

        Missing keys take their defaults; unknown keys raise ValueError naming them."""
        if isinstance(cfg, cls):
            return cfg
        values = _to_plain_dict(cfg)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(
                f"unknown trainer config key(s) {unknown}; valid keys: {sorted(known)}"
            )
        config = cls(**values)
        config.validate()
        return config

    def validate(self) -> None:
        """Raise ValueError naming the first key whose value is out of range."""
        _check(self.epochs, "epochs", lambda v: isinstance(v, int) and v >= 0, "an int >= 0")
        for name in ("batch_size", "valid_batch_size", "log_every"):
            _check(getattr(self, name), name, lambda v: isinstance(v, int) and v >= 1, "an int >= 1")
        _check(self.steps_per_epoch, "steps_per_epoch", lambda v: v is None or (isinstance(v, int) and v >= 1),
               "null or an int >= 1")
        _check(self.max_nonfinite, "max_nonfinite", lambda v: isinstance(v, int) and v >= 0,
               "an int >= 0")
        _check(self.grad_clip, "grad_clip", lambda v: v is None or float(v) > 0,
               "null or a number > 0")
        _check(self.media_every, "media_every", lambda v: v is None or (isinstance(v, int) and v >= 0),
               "null or an int >= 0")
        _check(self.num_threads, "num_threads", lambda v: v is None or (isinstance(v, int) and v >= 1),
               "null or an int >= 1")
        _check(self.optimizer, "optimizer", lambda v: callable(v) or isinstance(v, Mapping),
               "a config with _target_ or a callable params -> optimizer")
        _check(self.scheduler, "scheduler", lambda v: v is None or callable(v) or isinstance(v, Mapping),
               "null, a config with _target_ or a callable optimizer -> scheduler")
        _check_early_stopping(self.early_stopping)


EARLY_STOPPING_KEYS = ("patience", "min_delta")


def _check_early_stopping(spec: Any) -> None:
    """`trainer.early_stopping`: null, or {patience: int >= 1, min_delta: number >= 0}."""
    if spec is None:
        return
    _check(spec, "early_stopping", lambda v: isinstance(v, Mapping),
           "null or a mapping {patience: int >= 1, min_delta: number >= 0}")
    for key in spec:
        if key not in EARLY_STOPPING_KEYS:
            raise ValueError(f"unknown key trainer.early_stopping.{key} (= {spec[key]!r}); "
                             f"valid keys: {sorted(EARLY_STOPPING_KEYS)}")
    _check(spec.get("patience"), "early_stopping.patience",
           lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1, "an int >= 1")
    _check(spec.get("min_delta", 0.0), "early_stopping.min_delta",
           lambda v: (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                      and v >= 0), "a number >= 0")


def _check(value: Any, name: str, ok: Callable[[Any], bool], expected: str) -> None:
    try:
        good = ok(value)
    except (TypeError, ValueError):
        good = False
    if not good:
        raise ValueError(f"trainer.{name} must be {expected}, got {value!r}")


def _to_plain_dict(cfg: Any) -> dict[str, Any]:
    if cfg is None:
        return {}
    try:
        from omegaconf import DictConfig, OmegaConf

        if isinstance(cfg, DictConfig):
            return OmegaConf.to_container(cfg, resolve=True)
    except ImportError:  # pragma: no cover - omegaconf is a dependency
        pass
    if isinstance(cfg, Mapping):
        return dict(cfg)
    raise TypeError(f"trainer config must be a mapping or DictConfig, got {type(cfg).__name__}")


def make_factory(spec: Any, what: str) -> Callable[[Any], Any]:
    """`spec` as a callable: itself, or a Hydra config with `_target_` made partial."""
    if isinstance(spec, Mapping):
        if "_target_" not in spec:
            raise ValueError(f"trainer.{what} needs a _target_, got {dict(spec)}")
        from hydra.utils import instantiate

        spec = instantiate({**spec, "_partial_": True}, _convert_="all")
    return spec


def build_from_spec(spec: Any, arg: Any, what: str) -> Any:
    """Call `spec(arg)`: `spec` is a callable or a Hydra config with `_target_` (made partial)."""
    return make_factory(spec, what)(arg)


def local_batch_size(global_batch: int, world_size: int) -> int:
    """The batch each process draws: `global_batch / world_size` (must divide exactly)."""
    if global_batch % world_size:
        raise ValueError(
            f"trainer.batch_size={global_batch} is not divisible by the {world_size} DDP processes"
        )
    return global_batch // world_size


def scalar(value: Any, key: str, where: str) -> float:
    """A python float from a scalar tensor or number; ValueError naming `key` otherwise."""
    if torch.is_tensor(value):
        if value.numel() != 1:
            raise ValueError(f"{where}['{key}'] must be a scalar, got shape {tuple(value.shape)}")
        return float(value.detach())
    return float(value)


def train_tag(key: str) -> str:
    if key == "loss":
        return "loss/train"
    return key if key in TOP_LEVEL_KEYS else f"metric/{key}/train"


def valid_tag(key: str) -> str:
    return "loss/valid" if key == "loss" else f"metric/{key}/valid"


class EarlyStopping:
    """Epochs without an improvement of the validation loss, per member, for
    `trainer.early_stopping` (`spec`: that mapping, None = off; the counts are kept anyway).
    `count`: the number of members (1 without members).

    An epoch improves a member when its validation loss is below the member's reference minus
    `min_delta` (never when it is NaN); the reference is the validation loss of the member's last
    improving epoch (inf before the first), so with `min_delta` 0 it is the member's best
    validation loss. Each improvement resets the member's count to 0, any other epoch adds 1.
    `due`: every member has gone `patience` epochs or more without improving.
    """

    def __init__(self, spec: Mapping[str, Any] | None, count: int):
        self.enabled = spec is not None
        self.patience = None if spec is None else int(spec["patience"])
        self.min_delta = 0.0 if spec is None else float(spec.get("min_delta", 0.0))
        self.count = count
        self.wait = torch.zeros(count, dtype=torch.long)
        self.best = torch.full((count,), math.inf, dtype=torch.float64)
        self.best_epoch = torch.full((count,), -1, dtype=torch.long)

    def update(self, loss: torch.Tensor, epoch: int) -> None:
        """Count epoch `epoch` (the validated one, counted from 0) with the validation losses
        `loss` `(count,)`."""
        loss = loss.detach().to("cpu", torch.float64).reshape(self.count)
        improved = loss < self.best - self.min_delta  # False for NaN
        self.best = torch.where(improved, loss, self.best)
        self.best_epoch = torch.where(improved, torch.full_like(self.best_epoch, epoch), self.best_epoch)
        self.wait = torch.where(improved, torch.zeros_like(self.wait), self.wait + 1)

    @property
    def due(self) -> bool:
        return self.enabled and bool((self.wait >= self.patience).all())

    def message(self, epoch: int) -> str:
        """The log line of a stop after `epoch` epochs."""
        head = f"early stopping after epoch {epoch}: "
        delta = f"{self.min_delta:g}"
        if self.count == 1:
            best, best_epoch = float(self.best[0]), int(self.best_epoch[0])
            if not math.isfinite(best):
                where = "no finite validation loss yet"
            else:
                where = f"best {best:.6g}" + (f" at epoch {best_epoch + 1}" if best_epoch >= 0 else "")
            return (f"{head}validation loss has not improved by more than {delta} for "
                    f"{int(self.wait[0])} epochs ({where})")
        return (f"{head}the validation loss of every member ({self.count}) has not improved by "
                f"more than {delta} for {self.patience} epochs or more (epochs without "
                f"improvement per member: {short_list(self.wait.tolist())})")

    def state_dict(self) -> dict[str, Any]:
        """The `"early_stopping"` entry of a checkpoint: python numbers without members, `(M,)`
        tensors with members. `best_epoch` counts from 0 (-1: none, or not known)."""
        if self.count == 1:
            return {"epochs_without_improvement": int(self.wait[0]), "best": float(self.best[0]),
                    "best_epoch": int(self.best_epoch[0])}
        return {"epochs_without_improvement": self.wait.clone(), "best": self.best.clone(),
                "best_epoch": self.best_epoch.clone()}

    def load_state_dict(self, state: Mapping[str, Any] | None, best: Any, best_epoch: Any) -> None:
        """Restore `state_dict()`; None (a checkpoint from before early stopping) counts from 0
        with the reference `best` (`best_epoch`): the checkpoint's best validation loss."""
        if state is None:
            state = {"epochs_without_improvement": 0, "best": best, "best_epoch": best_epoch}

        def vector(value: Any, dtype: torch.dtype) -> torch.Tensor:
            return torch.as_tensor(value, dtype=dtype).reshape(-1).expand(self.count).clone()

        self.wait = vector(state["epochs_without_improvement"], torch.long)
        self.best = vector(state["best"], torch.float64)
        self.best_epoch = vector(state["best_epoch"], torch.long)


class Trainer:
    """Trains a `Task` (see `ddspfx.core.task`) as configured by the `trainer` config node.

    task: the model, not yet on its device (the Trainer moves it; after `fit` it holds the
    final weights on that device). cfg: `TrainerConfig`, DictConfig or dict. run_dir: the
    run folder (`tb/` and `checkpoints/` go under it).
    """

    def __init__(self, task: Task, cfg: Any, run_dir: str | Path):
        self.cfg = TrainerConfig.from_cfg(cfg)
        self.run_dir = Path(run_dir)
        if self.cfg.num_threads:
            torch.set_num_threads(self.cfg.num_threads)
        world_size = D.env_world_size() if not D.is_distributed() else D.get_world_size()
        self.device = resolve_device(self.cfg.device, world_size, D.env_local_rank())
        self.dist = D.init_distributed(D.default_backend(self.device.type))
        self.batch_size = local_batch_size(self.cfg.batch_size, self.dist.world_size)
        seed_everything(self.cfg.seed)
        self.task = task.to(self.device)
        self.model = self._wrap(self.task)
        self.params = list(self.task.trainable_parameters())
        self.optimizer = build_from_spec(self.cfg.optimizer, self.params, "optimizer")
        self.members = self._build_members(task)
        self.early_stopping = EarlyStopping(self.cfg.early_stopping,
                                            1 if self.members is None else self.members.count)
        self.stopped_early = False
        self.scheduler = (
            None if self.cfg.scheduler is None or self.members is not None
            else build_from_spec(self.cfg.scheduler, self.optimizer, "scheduler")
        )
        self.generator = make_generator(self.cfg.seed + self.dist.rank)
        self.steps_per_epoch = self._epoch_length(task)
        self.step = 0
        self.epoch = 0
        self.epoch_step = 0
        self.best = math.inf
        self.valid_metrics: dict[str, float] = {}
        self.nonfinite = 0
        self.writer = None
        self._stop = False
        self._signal: int | None = None  # the first SIGINT / SIGTERM received
        self._sigint_count = 0
        self._epoch_start = time.perf_counter()
        self._epoch_losses: list[float] = []
        self._old_handlers: dict[int, Any] = {}
        self._window: dict[str, float] = defaultdict(float)
        self._window_steps = 0

    # ------------------------------------------------------------------ public

    @property
    def is_main(self) -> bool:
        return self.dist.rank == 0

    def request_stop(self) -> None:
        """End the run after the current step, saving `last.pt` (status "interrupted")."""
        self._stop = True

    def fit(self) -> dict[str, Any]:
        """Train until `epochs` are done, early stopping ends the run, or a stop is requested.

        Returns {"status": "finished" | "interrupted", "signal" ("SIGINT" / "SIGTERM" when a
        signal interrupted the run, else None), "step", "epoch", "epoch_step",
        "best_valid_loss" (None before any validation), "valid" (latest metrics),
        "stopped_early" (True when early stopping ended the run before `epochs`; the status is
        then "finished"), "stopped_epoch" (the epochs done when it did, else None),
        "run_dir"}, and with members "members": per-member lists (`Members.summary`); then
        "best_valid_loss" and "valid" are means over the members. Raises `TrainingStopped` (a
        RuntimeError) after too many non-finite steps in a row (for every member at once, with
        members), with `last.pt` saved.
        """
        self._install_signal_handlers()
        try:
            if self.is_main:
                removed = remove_temp_files(self.run_dir)
                if removed:
                    log.info("removed %d temporary checkpoint file(s) left by killed writes in %s",
                             len(removed), removed[0].parent)
            if self.cfg.resume:
                self._resume()
            if self.is_main:
                # on resume, hide what an earlier process logged after this checkpoint
                purge = self.step + 1 if self.step else None
                self.writer = create_writer(self.run_dir, purge_step=purge)
            status = self._train()
        finally:
            self._restore_signal_handlers()
            self.close()
        return self.summary(status)

    def summary(self, status: str) -> dict[str, Any]:
        summary = {
            "status": status,
            "signal": None if self._signal is None else signal.Signals(self._signal).name,
            "step": self.step,
            "epoch": self.epoch,
            "epoch_step": self.epoch_step,
            "best_valid_loss": None if math.isinf(self.best) else self.best,
            "valid": dict(self.valid_metrics),
            "stopped_early": self.stopped_early,
            "stopped_epoch": self.epoch if self.stopped_early else None,
            "run_dir": str(self.run_dir),
        }
        if self.members is not None:
            summary["members"] = self.members.summary()
        return summary

    def close(self) -> None:
        """Close the TensorBoard writer and leave a process group this Trainer created."""
        if self.writer is not None:
            self.writer.close()
            self.writer = None
        if self.dist.initialized_here:
            D.cleanup()

    # ------------------------------------------------------------------ set-up

    def _wrap(self, task: nn.Module) -> nn.Module:
        if not self.dist.is_distributed:
            return task
        device_ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(
            task, device_ids=device_ids, find_unused_parameters=self.cfg.find_unused_parameters
        )

    def _epoch_length(self, task: Task) -> int:
        """`trainer.steps_per_epoch`, or when it is null the task's `epoch_steps(batch_size)`."""
        if self.cfg.steps_per_epoch is not None:
            return self.cfg.steps_per_epoch
        steps = task.epoch_steps(self.cfg.batch_size)
        if not isinstance(steps, int) or steps < 1:
            raise ValueError(
                f"trainer.steps_per_epoch is null but {type(task).__name__} has no epoch length "
                f"(epoch_steps gave {steps!r}); set trainer.steps_per_epoch")
        return steps

    def _cuda(self) -> torch.device | None:
        return self.device if self.device.type == "cuda" else None

    def _build_members(self, task: Task) -> Members | None:
        if member_count(task) == 1:
            return None
        factory = None if self.cfg.scheduler is None else make_factory(self.cfg.scheduler, "scheduler")
        return Members(self.task, self.params, self.optimizer, factory, self.cfg.grad_clip,
                       self.cfg.max_nonfinite)

    # ------------------------------------------------------------------ loop

    def _train(self) -> str:
        self.optimizer.zero_grad(set_to_none=True)
        if self.epoch_step == 0 and self._early_stop_due():
            # resumed from a last.pt whose counts had already reached the patience: nothing to
            # train, and last.pt is left as it is (as when resuming a finished run)
            self.stopped_early = True
            if self.is_main:
                log.info("trainer.resume: %s; nothing left to train",
                         self.early_stopping.message(self.epoch))
            return "finished"
        while self.epoch < self.cfg.epochs:
            if not self._train_epoch():
                return "interrupted"
            self._end_epoch()
            if self.stopped_early:
                return "finished"
            if self.epoch < self.cfg.epochs and self._stop_agreed():
                return "interrupted"
        return "finished"

    def _train_epoch(self) -> bool:
        """Run the remaining steps of `self.epoch`; False if stopped (last.pt saved)."""
        with preserve_rng(self._cuda()):
            self.task.set_epoch(self.epoch)
        self.task.train()
        bar = self._progress_bar()
        start, start_step = time.perf_counter(), self.epoch_step
        self._epoch_start, self._epoch_losses = start, []
        try:
            while self.epoch_step < self.steps_per_epoch:
                loss = self._train_step()
                if math.isfinite(loss):
                    self._epoch_losses.append(loss)
                rate = (self.epoch_step - start_step) / (time.perf_counter() - start)
                self._update_bar(bar, loss, rate)
                if self._stop_agreed():
                    log.warning("stop requested: saving last.pt at step %d", self.step)
                    self._flush_window()
                    self._save("last")
                    return False
        finally:
            if bar is not None:
                bar.close()
        self._flush_window()  # fewer than log_every steps since the last flush
        return True

    def _train_step(self) -> float:
        """One optimizer step (or a skipped one); returns the loss (NaN if non-finite)."""
        batch = batch_to(self.task.train_batch(self.batch_size, self.generator), self.device)
        try:
            out, error = self._forward(batch), None
        except NonFiniteError as e:  # e.g. NaN controls: no loss, the step is non-finite
            out, error = None, e
        if self.members is not None:
            return self._members_step(out, error)
        bad = error is not None or not bool(torch.isfinite(out["loss"].detach()))
        (bad_loss,) = D.any_rank_flags([bad], self.device)
        loss = None if out is None else out["loss"]
        grad_norm = math.nan
        if not bad_loss:
            loss.backward()
            grad_norm = self._clip_gradients()
            if math.isfinite(grad_norm):
                self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        self.epoch_step += 1
        if bad_loss or not math.isfinite(grad_norm):
            self._skipped(_cause(error) if error is not None else "loss" if bad_loss else "gradient")
            return math.nan
        self.nonfinite = 0
        self._accumulate({k: scalar(v, k, "task.forward(batch)") for k, v in out.items()}, grad_norm)
        return scalar(loss, "loss", "task.forward(batch)")

    def _members_step(self, out: Mapping[str, torch.Tensor] | None,
                      error: NonFiniteError | None = None) -> float:
        """`_train_step` with members: each member is stepped or skipped on its own; returns
        the mean loss of the members stepped (NaN if none). A `NonFiniteError` in the forward
        pass (`error`, `out` None) skips the whole step for every member."""
        idle = torch.zeros(self.members.count, dtype=torch.bool)
        if out is not None and "active" in out:
            out = dict(out)
            idle = ~self.members.check_active(out.pop("active"))
        if error is not None:
            bad = torch.ones(self.members.count, dtype=torch.bool, device=self.device)
        else:
            bad = ~torch.isfinite(out["loss"].detach()) & ~idle.to(self.device)
        bad_loss = D.any_rank_mask(bad).cpu()
        loss = None if out is None else out["loss"]
        active = torch.zeros_like(bad_loss)
        if (bad_loss | idle).all():
            self.members.grad_norm.fill_(math.nan)
        else:
            loss.sum().backward()
            active = ~bad_loss & ~idle & torch.isfinite(self.members.clip_gradients())
            if active.any():
                self.members.step(active)
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        self.epoch_step += 1
        self._members_skipped(~active & ~idle, bad_loss, None if error is None else _cause(error), idle)
        self.nonfinite = int(self.members.nonfinite.min())
        if not active.any():
            return math.nan
        means = self.members.train_means(out, active)
        self._accumulate(means, float(self.members.grad_norm[active].mean()))
        return means["loss"]

    def _forward(self, batch) -> dict[str, torch.Tensor]:
        out = self.model(batch)
        if not isinstance(out, Mapping) or "loss" not in out:
            raise TypeError("task.forward(batch) must return a dict with a scalar 'loss'")
        if self.members is not None:
            self.members.check_loss(out["loss"])
        elif not torch.is_tensor(out["loss"]) or out["loss"].numel() != 1:
            raise TypeError("task.forward(batch)['loss'] must be a scalar tensor")
        return out

    def _clip_gradients(self) -> float:
        """Global L2 norm of the gradients before clipping (clips to `grad_clip` if set)."""
        params = [p for p in self.params if p.grad is not None]
        if not params:
            return 0.0
        grads = [p.grad for p in params]
        norm = torch.nn.utils.get_total_norm(grads, 2.0)
        if self.cfg.grad_clip is not None and torch.isfinite(norm):
            torch.nn.utils.clip_grads_with_norm_(params, float(self.cfg.grad_clip), norm)
        return float(norm)

    def _skipped(self, what: str) -> None:
        """Count a skipped step; after more than `max_nonfinite` in a row save `last.pt` and
        raise `TrainingStopped`."""
        self.nonfinite += 1
        if self.is_main:
            warnings.warn(
                f"non-finite {what} at step {self.step} (epoch {self.epoch}): step skipped, "
                f"weights unchanged ({self.nonfinite} in a row)",
                RuntimeWarning,
                stacklevel=2,
            )
        if self.nonfinite > self.cfg.max_nonfinite:
            self._save("last")
            raise TrainingStopped(
                f"training stopped at step {self.step}: non-finite loss, gradient or forward "
                f"pass in {self.nonfinite} steps in a row (more than trainer.max_nonfinite="
                f"{self.cfg.max_nonfinite}; last: non-finite {what}). Those steps were skipped, "
                f"so the weights are still finite; last.pt was saved in "
                f"{self.run_dir / 'checkpoints'}. {NONFINITE_ADVICE}"
            )

    def _members_skipped(self, skipped: torch.Tensor, bad_loss: torch.Tensor,
                         cause: str | None = None, idle: torch.Tensor | None = None) -> None:
        """Count the skipped members `(M,)` (`idle` ones, which sat the step out, keep their
        count); when every member is past the limit, save and raise `TrainingStopped`. `cause`:
        what was non-finite instead of the loss (a forward error)."""
        messages, stop = self.members.count_nonfinite(
            skipped, bad_loss, f"step {self.step} (epoch {self.epoch})", cause, idle)
        if self.is_main:
            for message in messages:
                warnings.warn(message, RuntimeWarning, stacklevel=3)
        if stop:
            self._save("last")
            raise TrainingStopped(
                f"training stopped at step {self.step}: {self.members.stop_message()}. Those "
                f"steps were skipped, so the weights are still finite; last.pt was saved in "
                f"{self.run_dir / 'checkpoints'}. {NONFINITE_ADVICE}"
            )

    def _stop_agreed(self) -> bool:
        (stop,) = D.any_rank_flags([self._stop], self.device)
        return stop

    def _early_stop_due(self) -> bool:
        """True when early stopping is on, epochs remain and every member has gone `patience`
        epochs without improving; every rank takes the same decision (the validation losses
        are merged identically on every rank, and the flag is agreed like `_stop_agreed`'s)."""
        if not self.early_stopping.enabled or self.epoch >= self.cfg.epochs:
            return False
        (due,) = D.any_rank_flags([self.early_stopping.due], self.device)
        return due

    # ------------------------------------------------------------------ logging

    def _accumulate(self, values: Mapping[str, float], grad_norm: float) -> None:
        for key, value in values.items():
            self._window[train_tag(key)] += value
        self._window["grad_norm"] += grad_norm
        self._window_steps += 1
        if self.step % self.cfg.log_every == 0:
            self._flush_window()

    def _flush_window(self) -> None:
        """Log the means of the gathered training scalars (nothing if none were gathered)."""
        if not self._window_steps:
            return
        scalars = {k: v / self._window_steps for k, v in self._window.items()}
        scalars["lr"] = (self.optimizer.param_groups[0]["lr"] if self.members is None
                         else self.members.mean_lr())
        if self.is_main:
            log_scalars(self.writer, scalars, self.step)
        self._window.clear()
        self._window_steps = 0

    def _progress_bar(self):
        if not (self.cfg.progress and self.is_main and stderr_is_terminal()):
            return None
        from tqdm import tqdm

        return tqdm(
            total=self.steps_per_epoch,
            initial=self.epoch_step,
            desc=f"epoch {self.epoch + 1}/{self.cfg.epochs}",
            dynamic_ncols=True,
            leave=False,
        )

    @staticmethod
    def _update_bar(bar, loss: float, steps_per_s: float) -> None:
        if bar is None:
            return
        bar.set_postfix({"loss": f"{loss:.4g}", "steps/s": f"{steps_per_s:.2f}"}, refresh=False)
        bar.update(1)

    # ------------------------------------------------------------------ epoch end

    def _end_epoch(self) -> None:
        """Validation, scheduler, early-stopping count, best.pt, last.pt, then media (in that
        order); sets `stopped_early` when the run is to end after this epoch."""
        metrics, first_batch = self._validate()
        if self.members is not None:
            metrics = self.members.split_valid(metrics)
        self.valid_metrics = metrics
        if self.is_main:
            log_scalars(self.writer, self._valid_scalars(metrics), self.step)
        self._step_scheduler(metrics["loss"])
        self.epoch += 1
        self.epoch_step = 0
        if self.is_main:
            train_loss = (sum(self._epoch_losses) / len(self._epoch_losses)
                          if self._epoch_losses else math.nan)
            log.info("epoch %d/%d step %d: train loss %.6g, valid loss %.6g (%.1f s)",
                     self.epoch, self.cfg.epochs, self.step, train_loss, metrics["loss"],
                     time.perf_counter() - self._epoch_start)
        improved = self._improved(metrics["loss"])
        self._count_improvement(metrics["loss"])
        self.stopped_early = self._early_stop_due()  # saved in best.pt / last.pt
        if improved:
            self._save("best")
        self._save("last")
        if self.stopped_early and self.is_main:
            log.info("%s", self.early_stopping.message(self.epoch))
        if self._media_due():
            self._log_media(first_batch)
        if self.writer is not None:
            self.writer.flush()

    def _valid_scalars(self, metrics: Mapping[str, float]) -> dict[str, float]:
        scalars = {valid_tag(k): v for k, v in metrics.items()}
        if self.members is not None and self.members.count <= MEMBER_TAGS_MAX:
            for m, value in enumerate(self.members.valid["loss"].tolist()):
                scalars[f"members/loss/valid/{m}"] = value
        return scalars

    def _improved(self, valid_loss: float) -> bool:
        """Update the best validation loss (per member with members); True if `best.pt` is due."""
        if self.members is not None:
            improved = self.members.update_best(self.epoch - 1)
            self.best = self.members.best_mean
            return improved
        if valid_loss < self.best:  # False for NaN
            self.best = valid_loss
            return True
        return False

    def _count_improvement(self, valid_loss: float) -> None:
        """Update the early-stopping counts (per member with members) with this validation."""
        loss = (self.members.valid["loss"] if self.members is not None
                else torch.tensor([valid_loss], dtype=torch.float64))
        self.early_stopping.update(loss, self.epoch - 1)

    def _validate(self) -> tuple[dict[str, Any], Any]:
        """Mean of `task.validation_step` over the validation batches, sharded over ranks and
        merged identically on every rank (floats, or float64 `()` / `(M,)` tensors with
        members); also returns the first batch (on CPU)."""
        sums: dict[str, Any] = defaultdict(float)
        counts: dict[str, int] = defaultdict(int)
        first_batch = None
        failed: list[tuple[int, NonFiniteError]] = []
        self.task.eval()
        try:
            with torch.no_grad(), preserve_rng(self._cuda()):
                for i, batch in enumerate(self.task.valid_batches(self.cfg.valid_batch_size)):
                    if i == 0:
                        first_batch = batch
                    if i % self.dist.world_size != self.dist.rank:
                        continue
                    out = self._validation_step(batch, i, failed)
                    for key, value in out.items():
                        sums[key] += self._valid_value(value, key)
                        counts[key] += 1
        finally:
            self.task.train()
        if failed:
            warnings.warn(
                f"validation at epoch {self.epoch + 1}: non-finite {_cause(failed[0][1])} in "
                f"{len(failed)} batch(es) (first: batch {failed[0][0]}); their loss counts as "
                f"NaN (best.pt is not chosen on it)", RuntimeWarning, stacklevel=2)
        if first_batch is None:
            raise ValueError(f"task.valid_batches({self.cfg.valid_batch_size}) yielded no batches")
        return self._merge_valid(dict(sums), dict(counts)), first_batch

    def _validation_step(self, batch, index: int,
                         failed: list[tuple[int, NonFiniteError]]) -> Mapping[str, Any]:
        """`task.validation_step`; a `NonFiniteError` makes the batch's loss NaN (appended to
        `failed`)."""
        try:
            return self.task.validation_step(batch_to(batch, self.device))
        except NonFiniteError as error:
            failed.append((index, error))
            if self.members is not None:
                return {"loss": torch.full((self.members.count,), math.nan, dtype=torch.float64)}
            return {"loss": math.nan}

    def _valid_value(self, value: Any, key: str) -> Any:
        if self.members is not None:
            return self.members.valid_value(value, key)
        return scalar(value, key, "task.validation_step(batch)")

    def _merge_valid(self, sums: dict[str, Any], counts: dict[str, int]) -> dict[str, Any]:
        total: dict[str, Any] = defaultdict(float)
        n: dict[str, int] = defaultdict(int)
        for rank_sums, rank_counts in D.all_gather_objects((sums, counts)):
            for key, value in rank_sums.items():
                total[key] += value
                n[key] += rank_counts[key]
        if "loss" not in total:
            raise KeyError("task.validation_step(batch) must return a dict with a 'loss'")
        return {key: total[key] / n[key] for key in sorted(total)}

    def _step_scheduler(self, valid_loss: float) -> None:
        if self.members is not None:
            self.members.schedule()
            return
        if self.scheduler is None:
            return
        if isinstance(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            self.scheduler.step(valid_loss)
        else:
            self.scheduler.step()

    def _media_due(self) -> bool:
        every = self.cfg.media_every
        return bool(every) and self.epoch % every == 0

    def _log_media(self, batch) -> None:
        if not self.is_main:
            return
        self.task.eval()
        try:
            with torch.no_grad(), preserve_rng(self._cuda()):
                self.task.log_media(self.writer, batch_to(batch, self.device), self.step)
        except NonFiniteError as error:
            warnings.warn(f"media of epoch {self.epoch} skipped: {error}", RuntimeWarning, stacklevel=2)
        finally:
            self.task.train()

    # ------------------------------------------------------------------ checkpoints

    def _state(self, best: bool = False) -> dict[str, Any]:
        """Checkpoint dict (keys documented in `ddspfx.core.checkpoint`); a collective call.
        `best`: with members, the task state holds every member's best weights."""
        rng = D.all_gather_objects(get_rng_state(self.generator, self._cuda()))
        task_state = self.task.state_dict()
        if best and self.members is not None:
            task_state = self.members.compose_best(task_state)
        state = {
            "task": task_state,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self._scheduler_state(),
            "step": self.step,
            "epoch": self.epoch,
            "epoch_step": self.epoch_step,
            "best": self.best,
            "valid": dict(self.valid_metrics),
            "nonfinite": self.nonfinite,
            "early_stopping": self.early_stopping.state_dict(),
            "stopped_early": self.stopped_early,
            "rng": rng,
            "world_size": self.dist.world_size,
            "config": self._config_record(),
            "version": FORMAT_VERSION,
        }
        if self.members is not None:
            state["members"] = self.members.state_dict()
        return state

    def _scheduler_state(self) -> Any:
        if self.members is not None:
            return self.members.schedules.state_dict()
        return None if self.scheduler is None else self.scheduler.state_dict()

    def _config_record(self) -> dict[str, Any]:
        """The config as plain values (a callable optimizer / scheduler is kept as its repr)."""
        record = asdict(self.cfg)
        for key in ("optimizer", "scheduler"):
            if callable(record[key]):
                record[key] = repr(record[key])
        return record

    def _save(self, name: str) -> None:
        """Write `<run_dir>/checkpoints/<name>.pt` on rank 0; every rank must call it."""
        state = self._state(best=name == "best")
        if self.is_main:
            save_checkpoint(checkpoint_path(self.run_dir, name), state)
        D.barrier()

    def _resume(self) -> None:
        path = checkpoint_path(self.run_dir, "last")
        if not path.is_file():
            log.info("trainer.resume: no checkpoint at %s, starting fresh", path)
            return
        state = load_checkpoint(path, map_location="cpu")
        self.task.load_state_dict(state["task"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.members is not None:
            self.members.load_state_dict(state.get("members"))
        self._resume_scheduler(state.get("scheduler"))
        self.step, self.epoch, self.epoch_step = state["step"], state["epoch"], state["epoch_step"]
        self.best = state["best"]
        self.valid_metrics = dict(state.get("valid", {}))
        self.nonfinite = state.get("nonfinite", 0)
        if self.members is not None:
            reference = (self.members.best.value, self.members.best.epoch)
        else:
            reference = (self.best, -1)
        self.early_stopping.load_state_dict(state.get("early_stopping"), *reference)
        self._resume_rng(state["rng"])
        log.info("resumed from %s: %d epoch(s) + %d step(s) done, step %d", path, self.epoch,
                 self.epoch_step, self.step)

    def _resume_scheduler(self, scheduler_state: Any) -> None:
        if self.members is not None:
            if not self.members.schedules.load_state_dict(scheduler_state):
                warnings.warn("trainer.resume: the scheduler config differs from the checkpoint's; "
                              "its state is not restored")
            return
        if self.scheduler is not None and scheduler_state is not None:
            self.scheduler.load_state_dict(scheduler_state)
        elif (self.scheduler is None) != (scheduler_state is None):
            warnings.warn("trainer.resume: the scheduler config differs from the checkpoint's; "
                          "its state is not restored")

    def _resume_rng(self, rng: list[dict[str, Any]]) -> None:
        if len(rng) == self.dist.world_size:
            set_rng_state(rng[self.dist.rank], self.generator, self._cuda())
            return
        warnings.warn(
            f"trainer.resume: the checkpoint was written by {len(rng)} process(es), this run has "
            f"{self.dist.world_size}; the data stream is reseeded and differs from an "
            f"uninterrupted run"
        )
        seed = self.cfg.seed + 1_000_003 * self.step
        seed_everything(seed)
        self.generator = make_generator(seed + self.dist.rank)

    # ------------------------------------------------------------------ signals

    def _install_signal_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._old_handlers[sig] = signal.getsignal(sig)
            signal.signal(sig, self._on_signal)

    def _restore_signal_handlers(self) -> None:
        for sig, handler in self._old_handlers.items():
            signal.signal(sig, handler)
        self._old_handlers.clear()

    def _on_signal(self, signum: int, frame) -> None:
        if self._signal is None:
            self._signal = signum
        if signum == signal.SIGINT:
            self._sigint_count += 1
            if self._sigint_count > 1:
                raise KeyboardInterrupt("second SIGINT: aborting without saving")
        log.warning("%s received: stopping after the current step (Ctrl-C again aborts)",
                    signal.Signals(signum).name)
        self.request_stop()


def _cause(error: BaseException) -> str:
    """'forward pass (<message>)': what a `NonFiniteError` says, for the skip warnings."""
    return f"forward pass ({error})"
