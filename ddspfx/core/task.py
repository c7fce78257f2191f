"""The contract between a task and the engine (the Trainer, `evaluate.py`, `scripts/results.py`).

A task is an `nn.Module` that owns everything a run needs (processors, networks, losses) and knows
how to draw its data. The engine calls only the hooks declared here; it never looks inside a batch.
A new task subclasses `Task`, implements the hooks marked "required", and declares its metrics.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

import torch
from torch import nn

from ddspfx.core.metrics import MetricSpec

Batch = Any
# {estimator: {metric: values}}: values are `(batch,)` per-example tensors, or `(members, batch)`
# for an estimator that has one value per member (the "model" of a task with members > 1).
Scores = dict[str, dict[str, torch.Tensor]]


class Task(nn.Module):
    """Base class of every task (FM, mastering, remap, texture).

    Training (called by the Trainer):

    - `train_batch(batch_size, generator)` (required): a fresh training batch drawn with the CPU
      `torch.Generator` (the Trainer saves its state for resume). Called once per step.
    - `forward(batch)` (required): the training loss, a dict with `"loss"` (a scalar tensor, or
      `(members,)` when `members > 1`) and optionally other scalars logged as `metric/<key>/train`
      (`beta` under its own name). It is `forward` so that DistributedDataParallel sees the call.
    - `valid_batches(batch_size)` (required): the fixed, seeded validation set as batches.
    - `validation_step(batch)` (required): a dict of scalar tensors (or `(members,)` vectors);
      `"loss"` is the monitored value (`best.pt` is chosen on it, per member).
    - `epoch_steps(batch_size)`: steps in one pass over a finite training set; the Trainer uses
      it when `trainer.steps_per_epoch` is null (None: the task draws data without end).
    - `set_epoch(epoch)`: called before every epoch (annealing schedules).
    - `log_media(writer, batch, step)`: audio and figures for TensorBoard (rank 0, no grad).
    - `trainable_parameters()`: what the optimizer updates.

    Evaluation (called by `evaluate.py`):

    - `test_sets(batch_size)` (required): `{name: batches}`, the fixed test set `"test"` first,
      then any extra sets the config asks for.
    - `test_set_info()`: `{name: {"size": n, "seed": s}}` of the test sets, recorded in
      `metrics.json` so that results from different settings are never mixed.
    - `evaluate_batch(batch, generator)` (required): `Scores` of every estimator (the model and the
      task's baselines); `generator` seeds the baselines' random draws.
    - `metric_specs()` (required): a `MetricSpec` for every metric name `evaluate_batch` (or
      `end_test_set`) returns, saying which way is better and which results table shows it.
    - `begin_test_set(name)` and `end_test_set(name)`: set-level metrics, which are not means of
      per-example values (a Fréchet distance between sets of embeddings). `begin_test_set` is
      called before a test set's first batch (reset what the task collects), `end_test_set` after
      its last one; it returns `{estimator: {metric: value}}` with scalar values (or `(members,)`
      for a per-member estimator), stored beside the per-example means. Like torchmetrics'
      reset/compute: the task collects what it needs in `evaluate_batch`.

    Members: a task may hold `members = M` independent models trained in one run (e.g. a grid of
    tiny models). Every trainable parameter then has a leading dimension of size M (slice m is
    member m's); `forward`'s `"loss"` and `validation_step`'s `"loss"` are `(M,)` vectors (other
    keys may be `(M,)` or scalars, logged as the mean over members). `forward` may also return
    `"active"`, a `(M,)` bool mask: the members that train on this step; the others sit it out
    (weights, optimizer state and non-finite count unchanged, their loss ignored), e.g. members
    whose epochs are shorter than the run's (a grid of models on data sets of different sizes).
    The Trainer clips gradients, skips non-finite steps, schedules the learning rate (an
    optimizer whose update is linear in lr: SGD, Adam, AdamW, …; member m starts from
    `member_lr_scale()[m]` times the optimizer's lr when the task defines those `(M,)` factors)
    and keeps the best weights per member; buffers are not composed into `best.pt`. `evaluate_batch` may return `(M, batch)` values for the model (and baselines), with
    `"_mask"`: a `(M, batch)` bool mask of each member's real examples when the members' test
    sets differ in size; results tables count a members run as M runs. `member_info()` (a list of
    M dicts, e.g. each member's experiment, data and preset) is recorded in `metrics.json`.
    """

    members: int = 1

    # --- training --------------------------------------------------------------------------
    def train_batch(self, batch_size: int, generator: torch.Generator) -> Batch:
        raise NotImplementedError(f"{type(self).__name__} must implement train_batch(batch_size, generator)")

    def valid_batches(self, batch_size: int) -> Iterable[Batch]:
        raise NotImplementedError(f"{type(self).__name__} must implement valid_batches(batch_size)")

    def validation_step(self, batch: Batch) -> dict[str, torch.Tensor]:
        raise NotImplementedError(f"{type(self).__name__} must implement validation_step(batch)")

    def epoch_steps(self, batch_size: int) -> int | None:
        return None

    def set_epoch(self, epoch: int) -> None:
        pass

    def log_media(self, writer, batch: Batch, step: int) -> None:
        pass

    def trainable_parameters(self) -> list[nn.Parameter]:
        """Parameters the optimizer updates (all that require gradients, by default)."""
        return [p for p in self.parameters() if p.requires_grad]

    # --- evaluation ------------------------------------------------------------------------
    def test_sets(self, batch_size: int) -> dict[str, Iterable[Batch]]:
        raise NotImplementedError(f"{type(self).__name__} must implement test_sets(batch_size)")

    def test_set_info(self) -> dict[str, dict[str, Any]]:
        return {}

    def evaluate_batch(self, batch: Batch, generator: torch.Generator) -> Scores:
        raise NotImplementedError(f"{type(self).__name__} must implement evaluate_batch(batch, generator)")

    def metric_specs(self) -> list[MetricSpec]:
        raise NotImplementedError(f"{type(self).__name__} must declare metric_specs()")

    def begin_test_set(self, name: str) -> None:
        pass

    def end_test_set(self, name: str) -> dict[str, dict[str, torch.Tensor]]:
        return {}


def batch_to(batch: Batch, device: torch.device) -> Batch:
    """Move a batch (tensor, or dict / list / tuple of them) to `device`."""
    if torch.is_tensor(batch):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, Mapping):
        return {k: batch_to(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(batch_to(v, device) for v in batch)
    return batch
