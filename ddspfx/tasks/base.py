"""The contract between a task and the Trainer.

A task is an `nn.Module` that owns everything a run needs (processors, networks, losses) and knows
how to draw its data. The Trainer only calls the methods below; it never looks inside a batch.
"""

from __future__ import annotations

from typing import Any, Iterable

import torch
from torch import nn

Batch = Any


class Task(nn.Module):
    """Base class of the four tasks (FM, mastering, remap, texture).

    Subclasses implement:

    - `train_batch(batch_size, generator)`: draw a fresh training batch with the given
      `torch.Generator` (CPU). Called once per step; the Trainer saves the generator's state.
    - `forward(batch)`: the training loss; returns a dict with at least `"loss"` (scalar tensor)
      and optionally other scalars to log under `metric/…/train`. It is `forward` so that
      DistributedDataParallel sees the call.
    - `valid_batches(batch_size)`: the fixed, seeded validation set as an iterable of batches.
    - `validation_step(batch)`: dict of scalar tensors; `"loss"` is the monitored value
      (the checkpoint `best.pt` is chosen on it).

    and may override:

    - `set_epoch(epoch)`: called before every epoch (annealing schedules).
    - `log_media(writer, batch, step)`: audio and figures for TensorBoard (rank 0 only).
    """

    def train_batch(self, batch_size: int, generator: torch.Generator) -> Batch:
        raise NotImplementedError

    def valid_batches(self, batch_size: int) -> Iterable[Batch]:
        raise NotImplementedError

    def validation_step(self, batch: Batch) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def set_epoch(self, epoch: int) -> None:
        pass

    def log_media(self, writer, batch: Batch, step: int) -> None:
        pass

    def trainable_parameters(self):
        """Parameters the optimizer updates (all that require gradients, by default)."""
        return [p for p in self.parameters() if p.requires_grad]


def batch_to(batch: Batch, device: torch.device) -> Batch:
    """Move a batch (tensor, or dict / list / tuple of them) to `device`."""
    if torch.is_tensor(batch):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: batch_to(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(batch_to(v, device) for v in batch)
    return batch
