"""A serial chain of effects with the same contract as one effect (reference B.2, A.13).

Before every member the chain removes the DC of the signal (its mean over samples) and, with
`normalize="peak"`, divides it by its peak max|x|, as the reference chains did. The chain's
controls are its members' controls concatenated in order, and its parameter names are prefixed
by the member name (`"peq.low_shelf_freq"`). Members are registered submodules, so `.to()`,
`state_dict()`, `train()` and `eval()` reach them.
"""

from __future__ import annotations

from collections import Counter
from typing import Mapping, Sequence

import torch
from torch import nn

from ddspfx.dsp.checks import check_audio
from ddspfx.dsp.dynamics import peak_normalize
from ddspfx.params import ParamSpec, ParamsMixin

NORMALIZE_MODES = ("peak", None)


def unique_names(keys: Sequence[str]) -> list[str]:
    """Member names for keys in order: a key used once keeps its name, repeated ones get `key_1`, `key_2`, …

    e.g. ["peq5", "comp", "peq5"] → ["peq5_1", "comp", "peq5_2"].
    """
    counts, seen = Counter(keys), Counter()
    names = []
    for key in keys:
        seen[key] += 1
        names.append(f"{key}_{seen[key]}" if counts[key] > 1 else key)
    return names


def remove_dc(audio: torch.Tensor) -> torch.Tensor:
    """Subtract the mean over samples: `(batch, samples)` → `(batch, samples)`."""
    return audio - audio.mean(dim=-1, keepdim=True)


def _as_named_members(effects) -> list[tuple[str, nn.Module]]:
    """Accept a mapping name → effect, or a list of effects / (name, effect) pairs."""
    if isinstance(effects, Mapping):
        return [(str(name), fx) for name, fx in effects.items()]
    pairs = [item if isinstance(item, tuple) else (type(item).__name__.lower(), item) for item in effects]
    names = unique_names([name for name, _ in pairs])
    return [(name, fx) for name, (_, fx) in zip(names, pairs)]


def _check_member(name: str, fx) -> None:
    if not name or "." in name:
        raise ValueError(f"FXChain: member name {name!r} must be non-empty and contain no '.'")
    if not isinstance(fx, nn.Module) or not hasattr(fx, "params"):
        raise ValueError(
            f"FXChain: member {name!r} must be an effect (an nn.Module with `params`), got {type(fx).__name__}"
        )


class FXChain(ParamsMixin, nn.Module):
    """Effects applied in series: `chain(audio, controls)` → audio.

    Shapes: audio `(batch, samples)`, controls `(batch, n_params)` in [0, 1] (clamped; NaN raises),
    `n_params` the sum over members → audio `(batch, samples)`.

    Args:
        effects: ordered mapping name → effect, or a list of effects (named after their class,
            lower case) or of `(name, effect)` pairs; repeated list names become `name_1`, `name_2`, …
            Any module with the effect contract (`params`, `forward(audio, controls)` and the
            optional capabilities `magnitude_response_db`, `static_curve` of `Effect`) can be a
            member, another FXChain included. All members must share one `sample_rate`.
        normalize: `"peak"` (default) divides the input of every member by its peak after the DC
            removal; None only removes the DC.

    Attributes:
        effects: the members, an `nn.ModuleDict` (state_dict keys `effects.<name>.…`).
        sample_rate: the members' common sample rate in Hz (None if none declares one).
    """

    def __init__(self, effects: Mapping[str, nn.Module] | Sequence, normalize: str | None = "peak"):
        super().__init__()
        if normalize not in NORMALIZE_MODES:
            raise ValueError(f"FXChain: normalize must be one of {NORMALIZE_MODES}, got {normalize!r}")
        members = _as_named_members(effects)
        if not members:
            raise ValueError("FXChain: needs at least one effect")
        for name, fx in members:
            _check_member(name, fx)
        rates = {getattr(fx, "sample_rate", None) for _, fx in members} - {None}
        if len(rates) > 1:
            raise ValueError(f"FXChain: members have different sample rates {sorted(rates)}")
        self.sample_rate = rates.pop() if rates else None
        self.input_norm = normalize  # not `self.normalize`: that is the controls method
        self.effects = nn.ModuleDict(members)

    @property
    def member_names(self) -> list[str]:
        return list(self.effects.keys())

    @property
    def members(self) -> dict[str, nn.Module]:
        """Name → effect, in the order they are applied (a copy; the modules live in `self.effects`)."""
        return dict(self.effects.items())

    @property
    def params(self) -> list[ParamSpec]:
        """Every member's specs in order, named `"<member>.<parameter>"`."""
        return [
            ParamSpec(f"{name}.{p.name}", p.unit, p.min, p.max, p.scale)
            for name, fx in self.effects.items()
            for p in fx.params
        ]

    def split(self, controls: torch.Tensor) -> list[torch.Tensor]:
        """Controls `(batch, n_params[, frames])` → one `(batch, member n_params[, frames])` per member.

        Raises:
            ValueError: wrong shape or NaN (controls are clamped to [0, 1]).
        """
        controls = self.check_controls(controls)
        sizes = [len(fx.params) for fx in self.effects.values()]
        return list(torch.split(controls, sizes, dim=1))

    def prepare(self, audio: torch.Tensor) -> torch.Tensor:
        """What the chain does before each member: DC removal, then peak normalization if enabled."""
        audio = remove_dc(audio)
        if self.input_norm == "peak":
            audio = peak_normalize(audio)
        return audio

    def magnitude_response_db(self, controls: torch.Tensor, freqs_hz: torch.Tensor) -> torch.Tensor | None:
        """Summed magnitude response in dB of the members that have one (the EQs), at `freqs_hz`
        `(n_freqs,)` Hz → `(batch, n_freqs)`; None if no member has one.

        Only the members' own responses: the chain's DC removal and peak normalization are left out.
        """
        responses = [
            response
            for fx, member_controls in zip(self.effects.values(), self.split(controls))
            if (response := fx.magnitude_response_db(member_controls, freqs_hz.to(member_controls))) is not None
        ]
        return torch.stack(responses).sum(0) if responses else None

    def static_curve(self, controls: torch.Tensor, levels_db: torch.Tensor) -> torch.Tensor | None:
        """Static curve (output level in dB) `(batch, n_levels)` of the first member that has one
        (a compressor), for input levels `levels_db` `(n_levels,)` or `(batch, n_levels)` dB; None
        if no member has one."""
        for fx, member_controls in zip(self.effects.values(), self.split(controls)):
            curve = fx.static_curve(member_controls, levels_db.to(member_controls))
            if curve is not None:
                return curve
        return None

    def forward(self, audio: torch.Tensor, controls: torch.Tensor) -> torch.Tensor:
        check_audio(audio, "FXChain")
        if not torch.is_tensor(controls) or controls.shape[:1] != audio.shape[:1]:
            raise ValueError(
                f"FXChain: controls must be a tensor with the audio's batch size {audio.shape[0]}, "
                f"got {tuple(controls.shape) if torch.is_tensor(controls) else type(controls).__name__}"
            )
        for fx, member_controls in zip(self.effects.values(), self.split(controls)):
            audio = fx(self.prepare(audio), member_controls)
        return audio

    def extra_repr(self) -> str:
        return f"normalize={self.input_norm!r}, n_params={self.n_params}"
