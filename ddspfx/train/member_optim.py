"""One torch optimizer and one LR schedule per member, for parameters shared by M members.

Every parameter has a leading member dimension M (slice m is member m's). The optimizer built
from the config (AdamW, Adam, SGD, …) updates all members at once; this module makes its step
equal, for every member, to the step of a separate run of that member alone:

- learning rate: each member has its own lr (one scheduler object per member, driving an
  `LRHolder`). The optimizer steps with the largest lr of the members it steps (`lr_ref`) and
  member m's slice of the change is rescaled: `p_m ← lerp(p_old_m, p_step_m, lr_m / lr_ref)`.
  This is exact in real arithmetic for the optimizers in `LINEAR_IN_LR`, whose update is
  `p ← p − lr·(wd·p + u)` (AdamW) or `p ← p − lr·u` with `u` and the state independent of lr.
  The members with `lr_m == lr_ref` get the optimizer's result bit for bit; the others differ
  from a separate run by rounding only (a few ulps of p per step).
- skipped members: a member that is not stepped keeps its slices of the parameters and of every
  per-member optimizer state tensor (leading dimension M).
- scalar state (Adam's `step`, NAdam's `mu_product`): one value per member is kept here. The
  members that are stepped are grouped by their scalar state (and by whether their state was
  never created, "fresh"); the optimizer runs once per group with that group's values. Until a
  member has skipped a step there is one group, so one optimizer step per training step.

Adam and AdamW (without amsgrad, maximize, capturable, differentiable or fused) take an exact
path instead (`member_adam_step`): one vectorized step of all members with per-member step
counts and learning rates, written with the same operations in the same order as torch's
single-tensor Adam, so every member's parameters and moments equal those of a separate run bit
for bit (on the CPU; on CUDA, where torch defaults to its foreach kernels, to rounding), whatever
the members' lrs and step counts, in one pass.
"""

from __future__ import annotations

from typing import Any, Callable

import torch

LINEAR_IN_LR = (
    torch.optim.SGD,
    torch.optim.Adam,
    torch.optim.AdamW,
    torch.optim.Adamax,
    torch.optim.NAdam,
    torch.optim.RAdam,
    torch.optim.RMSprop,
    torch.optim.Adagrad,
    torch.optim.Adadelta,
)


def member_rows(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """`values` `(M,)` as `(M, 1, …, 1)` broadcastable against `like` `(M, …)`, on its device
    (dtype kept for bool masks, else `like`'s)."""
    dtype = values.dtype if values.dtype == torch.bool else like.dtype
    return values.to(like.device, dtype).reshape((-1,) + (1,) * (like.dim() - 1))


class LRHolder(torch.optim.Optimizer):
    """What a scheduler drives for one member: the optimizer's param groups (hyperparameters
    only; one empty dummy tensor per group) and a `step` that does nothing."""

    def __init__(self, optimizer: torch.optim.Optimizer):
        groups = [
            {**{k: v.clone() if torch.is_tensor(v) else v for k, v in g.items()
                if k not in ("params", "initial_lr")},
             "params": [torch.empty(0)]}
            for g in optimizer.param_groups
        ]
        super().__init__(groups, dict(optimizer.defaults))
        self._opt_called = True  # schedulers warn if they think step() was never called

    def step(self, closure: Callable | None = None) -> None:
        return None


class MemberSchedules:
    """Per-member learning rates: `(M, G)` for G param groups, from one scheduler per member
    (`factory(holder)`), or the optimizer's lrs for every member without scheduler; member m
    starts at `lr_scale[m]` (default 1) times the optimizer's lrs."""

    def __init__(self, optimizer: torch.optim.Optimizer, factory: Callable | None, members: int,
                 lr_scale: torch.Tensor | None = None):
        self.members = members
        self.base = [float(g["lr"]) for g in optimizer.param_groups]
        self.scale = (torch.ones(members, dtype=torch.float64) if lr_scale is None
                      else torch.as_tensor(lr_scale, dtype=torch.float64).reshape(members))
        self.holders = [LRHolder(optimizer) for _ in range(members)] if factory else []
        for holder, scale in zip(self.holders, self.scale.tolist()):
            for group in holder.param_groups:  # member m starts at its own lr, before its scheduler
                group["lr"] = float(group["lr"]) * scale
        self.schedulers = [factory(h) for h in self.holders]
        for scheduler in self.schedulers[:1]:
            if getattr(scheduler, "cycle_momentum", False):
                raise ValueError(
                    f"trainer.scheduler: {type(scheduler).__name__} with cycle_momentum=True "
                    "changes the momentum per member, which members do not support; set "
                    "cycle_momentum: false")
        self.lr = self._read()

    def _read(self) -> torch.Tensor:
        if not self.holders:
            return self.scale.unsqueeze(1) * torch.tensor(self.base, dtype=torch.float64)
        return torch.tensor([[float(g["lr"]) for g in h.param_groups] for h in self.holders],
                            dtype=torch.float64)

    def step(self, valid_loss: torch.Tensor) -> None:
        """Step every member's scheduler (ReduceLROnPlateau with `valid_loss[m]`, `(M,)`)."""
        plateau = torch.optim.lr_scheduler.ReduceLROnPlateau
        for scheduler, loss in zip(self.schedulers, valid_loss.tolist()):
            if isinstance(scheduler, plateau):
                scheduler.step(loss)
            else:
                scheduler.step()
        self.lr = self._read()

    def state_dict(self) -> list[dict[str, Any]] | None:
        if not self.schedulers:
            return None
        return [{"scheduler": s.state_dict(), "groups": h.state_dict()["param_groups"]}
                for s, h in zip(self.schedulers, self.holders)]

    def load_state_dict(self, states: list[dict[str, Any]] | None) -> bool:
        """Restore the schedulers; False (nothing restored) if `states` does not fit them."""
        if not self.schedulers:
            return states is None
        if not isinstance(states, list) or len(states) != self.members:
            return False
        for scheduler, holder, state in zip(self.schedulers, self.holders, states):
            scheduler.load_state_dict(state["scheduler"])
            holder.load_state_dict({"state": {}, "param_groups": state["groups"]})
        self.lr = self._read()
        return True


EXACT_ADAM = (torch.optim.Adam, torch.optim.AdamW)
_EXACT_ADAM_OFF = ("amsgrad", "maximize", "capturable", "differentiable", "fused")  # flags that leave the exact path


def exact_adam(optimizer: torch.optim.Optimizer) -> bool:
    """True when `member_adam_step` reproduces `optimizer` (Adam or AdamW with float hyperparameters
    and none of `_EXACT_ADAM_OFF` set)."""
    if type(optimizer) not in EXACT_ADAM:
        return False
    for group in optimizer.param_groups:
        if any(group.get(flag) for flag in _EXACT_ADAM_OFF):
            return False
        if any(torch.is_tensor(v) for v in (group["lr"], *group["betas"], group["eps"], group["weight_decay"])):
            return False
    return True


def member_adam_step(param: torch.Tensor, state: dict[str, Any], steps: torch.Tensor, active: torch.Tensor,
                     lr: list[float], group: dict[str, Any], decoupled: bool) -> None:
    """One Adam(W) step of the `active` members `(M,)` of `param` `(M, …)`, in place, with member
    m's lr `lr[m]` and its step count `steps[m]` (`(M,)` float64, incremented here for the active
    members). The operations and their order are those of torch's `_single_tensor_adam`, with the
    per-member scalars (1 − lr·wd, −lr/(1 − β1^t), √(1 − β2^t)) computed as Python floats as it does
    and broadcast over each member's slice; inactive members keep their slices of `param` and of
    `state["exp_avg"]`, `state["exp_avg_sq"]`."""
    beta1, beta2 = group["betas"]
    eps, weight_decay = group["eps"], group["weight_decay"]
    steps += active.to(steps.dtype)
    counts = [max(int(t), 1) for t in steps.tolist()]  # inactive fresh members: any count, their result is dropped
    rows = member_rows(active, param)
    column = lambda values: torch.tensor(values, dtype=param.dtype, device=param.device).reshape(rows.shape)  # noqa: E731
    grad, new = param.grad, param.detach().clone()
    if weight_decay != 0:
        if decoupled:
            new.mul_(column([1 - rate * weight_decay for rate in lr]))
        else:
            grad = grad.add(new, alpha=weight_decay)
    exp_avg = state["exp_avg"].clone().lerp_(grad, 1 - beta1)
    exp_avg_sq = state["exp_avg_sq"].clone().mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
    step_size = column([-(rate / (1 - beta1**t)) for rate, t in zip(lr, counts)])
    denom = (exp_avg_sq.sqrt() / column([(1 - beta2**t) ** 0.5 for t in counts])).add_(eps)
    new.add_(step_size * exp_avg / denom)  # addcdiv's `self + value * t1 / t2`
    param.copy_(torch.where(rows, new, param))
    state["exp_avg"].copy_(torch.where(rows, exp_avg, state["exp_avg"]))
    state["exp_avg_sq"].copy_(torch.where(rows, exp_avg_sq, state["exp_avg_sq"]))


class MemberOptimizer:
    """Steps `optimizer` for the members in a mask, each with its own lr (see the module doc).

    `params`: the optimizer's parameters, each `(M, …)`. Per-member scalar state is kept in
    `scalars[param index][key]` `(M,)` float64; `fresh` `(M,)` marks members never stepped.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, members: int):
        self.optimizer = optimizer
        self.members = members
        self.params = [p for g in optimizer.param_groups for p in g["params"]]
        self.group_of = [gi for gi, g in enumerate(optimizer.param_groups) for _ in g["params"]]
        self.scalars: dict[int, dict[str, torch.Tensor]] = {}
        self.fresh = torch.ones(members, dtype=torch.bool)
        self.exact = exact_adam(optimizer)

    # ------------------------------------------------------------------ step

    def step(self, active: torch.Tensor, lr: torch.Tensor) -> None:
        """One optimizer step for the members where `active` `(M,)` bool is True, with lr `(M, G)`
        float64; the other members' parameter and state slices are left as they were."""
        if self.exact:
            self._exact_step(active, lr)
            return
        passes = self._passes(active)
        if len(passes) == 1 and bool(active.all()):
            uniform = bool((lr == lr[:1]).all())
            old = None if uniform else [p.detach().clone() for p in self.params]
            ratios = self._run_pass(passes[0], lr)
            if old is not None:
                with torch.no_grad():
                    for i, p in enumerate(self.params):
                        p.copy_(self._rescaled(old[i], p, ratios[:, self.group_of[i]]))
            return
        self._multi_pass(passes, lr)

    def _exact_step(self, active: torch.Tensor, lr: torch.Tensor) -> None:
        """Adam(W) through `member_adam_step`: one pass, exact per member (module doc)."""
        decoupled = isinstance(self.optimizer, torch.optim.AdamW)
        with torch.no_grad():
            for i, p in enumerate(self.params):
                if p.grad is None:  # as torch's Adam: no gradient, no step and no state
                    continue
                group = self.optimizer.param_groups[self.group_of[i]]
                state = self.optimizer.state[p]
                if "exp_avg" not in state:
                    state.update(step=torch.tensor(0.0), exp_avg=torch.zeros_like(p, memory_format=torch.preserve_format),
                                 exp_avg_sq=torch.zeros_like(p, memory_format=torch.preserve_format))
                steps = self.scalars.setdefault(i, {}).setdefault("step", torch.zeros(self.members, dtype=torch.float64))
                member_adam_step(p, state, steps, active.cpu(), lr[:, self.group_of[i]].tolist(), group,
                                 decoupled or bool(group.get("decoupled_weight_decay", False)))
                state["step"].fill_(float(steps.max()))  # a summary only: the per-member counts are `steps`
        self.fresh &= ~active.cpu()

    @staticmethod
    def _rescaled(old: torch.Tensor, new: torch.Tensor, ratio: torch.Tensor) -> torch.Tensor:
        """`old + ratio·(new − old)` per member (`ratio` `(M,)`; exact for ratios 0 and 1)."""
        return torch.lerp(old, new.detach(), member_rows(ratio, old))

    def _passes(self, active: torch.Tensor) -> list[torch.Tensor]:
        """Masks `(M,)` of the active members that share their scalar state (one optimizer
        run each), in order of their first member."""
        columns = [self.fresh.double()] + [
            torch.where(self.fresh, 0.0, values)
            for i in sorted(self.scalars) for _, values in sorted(self.scalars[i].items())
        ]
        _, inverse = torch.unique(torch.stack(columns, dim=1), dim=0, return_inverse=True)
        masks = [active & (inverse == k) for k in inverse[active].unique().tolist()]
        return sorted(masks, key=lambda m: int(m.nonzero()[0]))

    def _run_pass(self, mask: torch.Tensor, lr: torch.Tensor) -> torch.Tensor:
        """Step the optimizer with the scalar state of the members in `mask` and the largest
        of their lrs; returns each member's lr ratio `(M, G)` (0 outside `mask`)."""
        first = int(mask.nonzero()[0])
        if self.fresh[first]:
            for p in self.params:
                if p.grad is not None:
                    self.optimizer.state[p] = {}
        else:
            self._load_scalars(first)
        ref = lr[mask].max(dim=0).values
        for group, value in zip(self.optimizer.param_groups, ref.tolist()):
            _set_lr(group, value)
        self.optimizer.step()
        self._record_scalars(mask)
        self.fresh &= ~mask
        ratios = torch.where(ref > 0, lr / ref.clamp_min(torch.finfo(lr.dtype).tiny), 0.0)
        return torch.where(mask[:, None], ratios, 0.0)

    def _load_scalars(self, member: int) -> None:
        for i, keys in self.scalars.items():
            state = self.optimizer.state.get(self.params[i], {})
            for key, values in keys.items():
                if key in state:
                    state[key] = _set_scalar(state[key], float(values[member]))

    def _record_scalars(self, mask: torch.Tensor) -> None:
        for i, p in enumerate(self.params):
            for key, value in self.optimizer.state.get(p, {}).items():
                if _is_scalar(value):
                    values = self.scalars.setdefault(i, {}).setdefault(
                        key, torch.zeros(self.members, dtype=torch.float64))
                    values[mask] = float(value)

    def _multi_pass(self, passes: list[torch.Tensor], lr: torch.Tensor) -> None:
        """Several optimizer runs from the same starting point, each kept for its members."""
        old_params = [p.detach().clone() for p in self.params]
        old_state = [_clone_state(self.optimizer.state.get(p, {})) for p in self.params]
        new_params = [t.clone() for t in old_params]
        new_state = [self._slices(s, i) for i, s in enumerate(old_state)]
        with torch.no_grad():
            for n, mask in enumerate(passes):
                if n:
                    self._restore(old_params, old_state)
                ratios = self._run_pass(mask, lr)
                for i, p in enumerate(self.params):
                    rows = member_rows(mask, p)
                    stepped = self._rescaled(old_params[i], p, ratios[:, self.group_of[i]])
                    new_params[i] = torch.where(rows, stepped, new_params[i])
                    for key, value in self._slices(self.optimizer.state.get(p, {}), i).items():
                        kept = new_state[i].get(key, torch.zeros_like(value))
                        new_state[i][key] = torch.where(member_rows(mask, value), value, kept)
            for i, p in enumerate(self.params):
                p.copy_(new_params[i])
                state = self.optimizer.state.get(p)
                if state is not None:
                    state.update(new_state[i])

    def _restore(self, params: list[torch.Tensor], states: list[dict]) -> None:
        for p, old, state in zip(self.params, params, states):
            p.copy_(old)
            self.optimizer.state[p] = _clone_state(state)

    def _slices(self, state: dict[str, Any], index: int) -> dict[str, torch.Tensor]:
        """The per-member state tensors (leading dimension M) of parameter `index`."""
        out = {}
        for key, value in state.items():
            if _is_scalar(value):
                continue
            if not (torch.is_tensor(value) and value.dim() >= 1 and value.shape[0] == self.members):
                raise ValueError(
                    f"{type(self.optimizer).__name__} keeps state {key!r} of parameter {index} "
                    f"that has no leading member dimension ({self.members}), so it cannot be "
                    f"kept per member; use another trainer.optimizer with members")
            out[key] = value
        return out

    # ------------------------------------------------------------------ checkpoint

    def state_dict(self) -> dict[str, Any]:
        scalars = {str(i): {k: v.clone() for k, v in keys.items()} for i, keys in self.scalars.items()}
        return {"scalars": scalars, "fresh": self.fresh.clone()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.scalars = {int(i): {k: v.to(torch.float64).clone() for k, v in keys.items()}
                        for i, keys in state["scalars"].items()}
        self.fresh = state["fresh"].to(torch.bool).clone()


def _is_scalar(value: Any) -> bool:
    return (torch.is_tensor(value) and value.dim() == 0) or isinstance(value, (int, float))


def _set_scalar(current: Any, value: float) -> Any:
    if torch.is_tensor(current):
        current.fill_(value)
        return current
    return type(current)(value)


def _set_lr(group: dict[str, Any], value: float) -> None:
    if torch.is_tensor(group["lr"]):
        group["lr"].fill_(value)
    else:
        group["lr"] = value


def _clone_state(state: dict[str, Any]) -> dict[str, Any]:
    return {k: v.clone() if torch.is_tensor(v) else v for k, v in state.items()}
