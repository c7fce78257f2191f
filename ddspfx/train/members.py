"""Members: M independent models trained in one run, and what the Trainer does per member.

A task with `members = M > 1` (see `ddspfx.core.task`) gives every trainable parameter a leading
dimension M (slice m is member m's) and returns `(M,)` losses. The Trainer backpropagates
`loss.sum()` and hands the rest to `Members`:

    members = Members(task, params, optimizer, scheduler_factory, grad_clip, max_nonfinite)
    norms = members.clip_gradients()             # (M,) per-member L2 norms, then clipping
    members.step(active)                         # optimizer step of the active members
    messages, stop = members.count_nonfinite(skipped, bad_loss, where)
    metrics = members.split_valid(metrics)       # per-member validation values kept here
    members.schedule(); members.update_best(epoch)
    members.compose_best(task_state)             # the task state of best.pt

Per member, as a separate run of that member would have it:

- clipping: member m's global L2 norm over its slices of all gradients, and the coefficient
  `max_norm / (norm + 1e-6)` clamped to 1 of `torch.nn.utils.clip_grads_with_norm_`;
- non-finite steps: a member whose loss or gradient norm is not finite keeps its weights and its
  optimizer state for that step (`ddspfx.train.member_optim`). Non-finite steps in a row are
  counted per member; a member past `max_nonfinite` is reported once and keeps training (it
  moves again as soon as its loss and gradient are finite). The run stops only when every
  member is past `max_nonfinite` at once. A `NonFiniteError` raised in the forward pass (NaN
  controls reaching a synth, …) leaves no per-member loss: the whole step is skipped and
  counted as non-finite for every member;
- learning rate: one scheduler object per member (ReduceLROnPlateau stepped with the member's
  own validation loss), applied as in `ddspfx.train.member_optim`;
- best: the validation loss and the weights of the member's best epoch. `best.pt` is composite:
  every member's slices of the trainable parameters come from its own best epoch.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping

import torch
from torch import nn

from ddspfx.train.member_optim import LINEAR_IN_LR, MemberOptimizer, MemberSchedules, member_rows

LIST_LIMIT = 10  # members named in one message


def member_count(task: nn.Module) -> int:
    """`task.members` (1 when absent); ValueError unless an int >= 1."""
    count = getattr(task, "members", 1)
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"task.members must be an int >= 1, got {count!r}")
    return count


def member_lr_scale(task: nn.Module, members: int) -> torch.Tensor | None:
    """`task.member_lr_scale()`: `(M,)` positive factors of the optimizer's lr per member (e.g. a
    grid of model types with their own learning rates), or None when the task has none."""
    scale = getattr(task, "member_lr_scale", None)
    if scale is None:
        return None
    scale = torch.as_tensor(scale() if callable(scale) else scale, dtype=torch.float64).cpu()
    if tuple(scale.shape) != (members,) or not bool(torch.isfinite(scale).all() and (scale > 0).all()):
        raise ValueError(f"task.member_lr_scale must be ({members},) positive finite factors, got {scale.tolist()}")
    return scale


def parameter_names(task: nn.Module, params: list[torch.Tensor], members: int) -> list[list[str]]:
    """The `state_dict` names of every trainable parameter (aliases included); ValueError naming
    the first one without a leading dimension of size `members`."""
    names: dict[int, list[str]] = {}
    for name, p in task.named_parameters(remove_duplicate=False):
        names.setdefault(id(p), []).append(name)
    out = []
    for i, p in enumerate(params):
        found = names.get(id(p), [])
        if p.dim() == 0 or p.shape[0] != members:
            label = found[0] if found else f"trainable_parameters()[{i}]"
            raise ValueError(
                f"task.members = {members}, but trainable parameter '{label}' has shape "
                f"{tuple(p.shape)}: every trainable parameter needs a leading member dimension "
                f"of size {members}")
        out.append(found)
    return out


def member_grad_norms(grads: list[torch.Tensor], members: int) -> torch.Tensor:
    """Per-member global L2 norm `(M,)` of gradients `(M, …)` (dtype and device of the grads)."""
    per_tensor = [torch.linalg.vector_norm(g.reshape(members, -1), 2.0, dim=1) for g in grads]
    return torch.linalg.vector_norm(torch.stack(per_tensor), 2.0, dim=0)


def clip_member_grads_(grads: list[torch.Tensor], norms: torch.Tensor, max_norm: float) -> None:
    """Scale member m's gradients by `min(1, max_norm / (norms[m] + 1e-6))` in place, as
    `clip_grads_with_norm_` does for one model; members with a non-finite norm are left alone."""
    coef = torch.clamp(max_norm / (norms + 1e-6), max=1.0)
    coef = torch.where(torch.isfinite(norms), coef, torch.ones_like(coef))
    for g in grads:
        g.mul_(member_rows(coef, g))


def short_list(values: list) -> str:
    """'[0, 3, 7]': at most LIST_LIMIT values, then '…'."""
    shown = ", ".join(map(str, values[:LIST_LIMIT]))
    return f"[{shown}{', …' if len(values) > LIST_LIMIT else ''}]"


def member_list(mask: torch.Tensor) -> str:
    """'[0, 3, 7] (3 of 8)' of the True entries of `mask` `(M,)` (`short_list`)."""
    index = mask.nonzero().flatten().tolist()
    return f"{short_list(index)} ({len(index)} of {mask.numel()})"


class MemberBest:
    """Best validation loss `(M,)`, its epoch `(M,)` (-1: none yet) and each member's slices of
    the trainable parameters at that epoch."""

    def __init__(self, params: list[torch.Tensor], names: list[list[str]], members: int):
        self.params = params
        self.names = names
        self.value = torch.full((members,), math.inf, dtype=torch.float64)
        self.epoch = torch.full((members,), -1, dtype=torch.long)
        self.weights: list[torch.Tensor | None] = [None] * len(params)

    def update(self, loss: torch.Tensor, epoch: int) -> bool:
        """Keep the members whose `loss` `(M,)` beats their best (never NaN); True if any did."""
        improved = loss < self.value
        if not improved.any():
            return False
        self.value = torch.where(improved, loss, self.value)
        self.epoch[improved] = epoch
        for i, p in enumerate(self.params):
            kept = self.weights[i] if self.weights[i] is not None else p.detach()
            self.weights[i] = torch.where(member_rows(improved, p), p.detach(), kept)
        return True

    def compose(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """`state` (a task `state_dict`) with the best slices of the members that have one."""
        state = dict(state)
        has_best = self.epoch >= 0
        for names, weights in zip(self.names, self.weights):
            for name in names if weights is not None else ():
                state[name] = torch.where(member_rows(has_best, weights), weights, state[name])
        return state

    def state_dict(self) -> dict[str, Any]:
        weights = {names[0]: w.clone() for names, w in zip(self.names, self.weights)
                   if names and w is not None}
        return {"best": self.value.clone(), "best_epoch": self.epoch.clone(), "best_weights": weights}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.value = state["best"].to(torch.float64).clone()
        self.epoch = state["best_epoch"].to(torch.long).clone()
        weights = state["best_weights"]
        self.weights = [
            weights[names[0]].to(p.device, p.dtype).clone() if names and names[0] in weights else None
            for names, p in zip(self.names, self.params)
        ]


class Members:
    """The Trainer's per-member bookkeeping for a task with `members = M > 1`.

    task, params: the task and its trainable parameters (each `(M, …)`, checked here).
    optimizer: the run's optimizer over `params`. scheduler_factory: `holder -> scheduler`
    (called once per member) or None. grad_clip, max_nonfinite: the trainer config values.
    """

    def __init__(self, task: nn.Module, params: list[torch.Tensor], optimizer: torch.optim.Optimizer,
                 scheduler_factory: Callable | None, grad_clip: float | None, max_nonfinite: int):
        self.count = member_count(task)
        self.params = params
        self.names = parameter_names(task, params, self.count)
        if scheduler_factory is not None and not isinstance(optimizer, LINEAR_IN_LR):
            raise ValueError(
                f"trainer.optimizer: {type(optimizer).__name__} cannot give members their own "
                f"learning rates (its update is not linear in lr); with task.members > 1 and a "
                f"scheduler use one of {[c.__name__ for c in LINEAR_IN_LR]}")
        self.optimizer = MemberOptimizer(optimizer, self.count)
        self.schedules = MemberSchedules(optimizer, scheduler_factory, self.count, member_lr_scale(task, self.count))
        self.best = MemberBest(params, self.names, self.count)
        self.grad_clip = grad_clip
        self.max_nonfinite = max_nonfinite
        self.nonfinite = torch.zeros(self.count, dtype=torch.long)
        self._reported = torch.zeros(self.count, dtype=torch.bool)
        self.grad_norm = torch.full((self.count,), math.nan, dtype=torch.float64)
        self.valid: dict[str, torch.Tensor] = {}

    # ------------------------------------------------------------------ training step

    def check_loss(self, loss: Any) -> None:
        if not torch.is_tensor(loss) or tuple(loss.shape) != (self.count,):
            shape = tuple(loss.shape) if torch.is_tensor(loss) else type(loss).__name__
            raise TypeError(f"task.forward(batch)['loss'] must be a ({self.count},) tensor "
                            f"(one loss per member, task.members = {self.count}), got {shape}")

    def clip_gradients(self) -> torch.Tensor:
        """Per-member gradient norms before clipping `(M,)` float64 CPU; clips to `grad_clip`."""
        grads = [p.grad for p in self.params if p.grad is not None]
        if not grads:
            self.grad_norm = torch.zeros(self.count, dtype=torch.float64)
            return self.grad_norm
        norms = member_grad_norms(grads, self.count)
        if self.grad_clip is not None:
            clip_member_grads_(grads, norms, float(self.grad_clip))
        self.grad_norm = norms.detach().to("cpu", torch.float64)
        return self.grad_norm

    def step(self, active: torch.Tensor) -> None:
        """Optimizer step of the members where `active` `(M,)` is True, each with its own lr."""
        self.optimizer.step(active, self.schedules.lr)

    def train_means(self, out: Mapping[str, Any], active: torch.Tensor) -> dict[str, float]:
        """`task.forward` outputs as floats: scalars as they are, `(M,)` vectors averaged over
        the `active` members."""
        means = {}
        for key, value in out.items():
            value = torch.as_tensor(value).detach()
            if value.numel() == 1:
                means[key] = float(value)
            elif tuple(value.shape) == (self.count,):
                means[key] = float(value[active.to(value.device)].mean())
            else:
                raise ValueError(f"task.forward(batch)['{key}'] must be a scalar or a "
                                 f"({self.count},) vector, got shape {tuple(value.shape)}")
        return means

    def check_active(self, active: Any) -> torch.Tensor:
        """`task.forward`'s optional `"active"`: a `(M,)` bool mask (CPU) of the members that
        train on this step; ValueError otherwise."""
        active = torch.as_tensor(active).detach()
        if active.dtype != torch.bool or tuple(active.shape) != (self.count,):
            raise ValueError(f"task.forward(batch)['active'] must be a ({self.count},) bool mask, "
                             f"got {active.dtype} of shape {tuple(active.shape)}")
        return active.cpu()

    def count_nonfinite(self, skipped: torch.Tensor, bad_loss: torch.Tensor,
                        where: str, cause: str | None = None,
                        idle: torch.Tensor | None = None) -> tuple[list[str], bool]:
        """Count the skipped members `(M,)` (and reset the others, except the `idle` ones, which
        sat the step out and keep their count); returns the warnings to show and whether every
        member is past `max_nonfinite` (the run must stop). `cause`: what was non-finite in
        place of the loss (e.g. "forward pass (…)")."""
        counted = torch.where(skipped, self.nonfinite + 1, 0)
        self.nonfinite = counted if idle is None else torch.where(idle, self.nonfinite, counted)
        over = self.nonfinite > self.max_nonfinite
        messages = []
        fresh_skips = skipped & ~over
        for mask, what in ((fresh_skips & bad_loss, cause or "loss"),
                           (fresh_skips & ~bad_loss, "gradient")):
            if mask.any():
                messages.append(f"non-finite {what} at {where} in member(s) {member_list(mask)}: "
                                f"their step skipped, their weights unchanged")
        newly = over & ~self._reported
        if newly.any():
            messages.append(
                f"member(s) {member_list(newly)} non-finite in more than trainer.max_nonfinite="
                f"{self.max_nonfinite} steps in a row at {where}: they keep their last finite "
                f"weights (and move again once finite) while the others train")
        self._reported = over
        return messages, bool(over.all())

    def stop_message(self) -> str:
        return (f"every member {member_list(self.nonfinite > self.max_nonfinite)} had a "
                f"non-finite loss or gradient in more than trainer.max_nonfinite="
                f"{self.max_nonfinite} steps in a row")

    # ------------------------------------------------------------------ epoch end

    def valid_value(self, value: Any, key: str) -> torch.Tensor:
        """A validation value as float64 CPU, `()` or `(M,)`; ValueError naming `key` otherwise."""
        value = torch.as_tensor(value).detach().to("cpu", torch.float64)
        if value.numel() == 1:
            return value.reshape(())
        if tuple(value.shape) != (self.count,):
            raise ValueError(f"task.validation_step(batch)['{key}'] must be a scalar or a "
                             f"({self.count},) vector, got shape {tuple(value.shape)}")
        return value

    def split_valid(self, metrics: Mapping[str, torch.Tensor]) -> dict[str, float]:
        """Keep the `(M,)` validation values in `self.valid`; return the means over members."""
        if metrics["loss"].dim() != 1:
            raise ValueError(f"task.validation_step(batch)['loss'] must be a ({self.count},) "
                             f"vector (one loss per member), got a scalar")
        self.valid = {k: v for k, v in metrics.items() if v.dim() == 1}
        return {k: float(v.mean()) for k, v in metrics.items()}

    def schedule(self) -> None:
        """Step every member's scheduler with its latest validation loss."""
        self.schedules.step(self.valid["loss"])

    def update_best(self, epoch: int) -> bool:
        """Keep the best weights of the members whose latest validation loss beats their best
        (`epoch`: the validated one, counted from 0); True if any member improved."""
        return self.best.update(self.valid["loss"], epoch)

    @property
    def best_mean(self) -> float:
        """Mean of the per-member best losses (the validation loss of `best.pt`), inf until
        every member has one."""
        return float(self.best.value.mean())

    def mean_lr(self) -> float:
        return float(self.schedules.lr[:, 0].mean())

    def compose_best(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return self.best.compose(state)

    # ------------------------------------------------------------------ checkpoint, summary

    def state_dict(self) -> dict[str, Any]:
        """The `"members"` entry of a checkpoint (keys documented in `ddspfx.core.checkpoint`)."""
        return {
            "count": self.count,
            "lr": self.schedules.lr.clone(),
            **self.best.state_dict(),
            "nonfinite": self.nonfinite.clone(),
            "valid": {k: v.clone() for k, v in self.valid.items()},
            "grad_norm": self.grad_norm.clone(),
            "optimizer": self.optimizer.state_dict(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if state is None or state.get("count") != self.count:
            found = None if state is None else state.get("count")
            raise ValueError(f"trainer.resume: the checkpoint holds {found} member(s), "
                             f"task.members = {self.count}")
        self.best.load_state_dict(state)
        self.nonfinite = state["nonfinite"].to(torch.long).clone()
        self._reported = self.nonfinite > self.max_nonfinite
        self.valid = {k: v.clone() for k, v in state["valid"].items()}
        self.grad_norm = state["grad_norm"].clone()
        self.optimizer.load_state_dict(state["optimizer"])

    def summary(self) -> dict[str, list]:
        """Per-member lists for `Trainer.fit`'s summary (None where there is no value yet)."""
        def finite(values: torch.Tensor) -> list:
            return [v if math.isfinite(v) else None for v in values.tolist()]

        return {
            "best_valid_loss": finite(self.best.value),
            "best_epoch": [e if e >= 0 else None for e in self.best.epoch.tolist()],
            "valid_loss": self.valid["loss"].tolist() if "loss" in self.valid else None,
            "lr": self.schedules.lr[:, 0].tolist(),
            "nonfinite": self.nonfinite.tolist(),
            "grad_norm": self.grad_norm.tolist(),
        }
