"""Neural proxy of the DSP compressor, and the hybrid proxy/exact compressor (reference note B.3).

`ProxyTCN` is a micro-TCN with FiLM conditioning (Steinmetz style) that outputs a gain mask in
(0, 1); `ProxyCompressor` wraps it with the explicit threshold and makeup gains of the "compfull"
proxy; `HybridCompressor` is "comphalf": the frozen proxy while training, the exact compressor
(`ddspfx.effects.dynamics.Compressor`) in eval mode, switched by the standard `train()`/`eval()`.

Train a proxy with `python scripts/train_proxy.py` (it writes `checkpoints/proxy_compressor.pt`).
"""

from __future__ import annotations

import os
import warnings
from typing import Any, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ddspfx.dsp.checks import check_audio
from ddspfx.effects.base import Effect, with_ranges
from ddspfx.effects.dynamics import Compressor
from ddspfx.nn.blocks import linear_bn_prelu_stack
from ddspfx.params import ParamSpec
from ddspfx.core.checkpoint import load_checkpoint

TRAIN_SCRIPT = "scripts/train_proxy.py"

# Dilations repeat every STACK_SIZE blocks: dilation of block n = growth ** (n % STACK_SIZE).
STACK_SIZE = 10

COMPRESSOR_PARAMS = Compressor.default_params  # the same controls and default ranges as the exact compressor

# The controls the TCN is conditioned on (threshold and makeup are applied as explicit gains).
CONDITIONING = ("attack_ms", "release_ms", "ratio", "knee_db")

ARCHITECTURE_KEYS = ("n_blocks", "kernel_size", "dilation_growth", "channels")
DEFAULT_ARCHITECTURE = {"n_blocks": 5, "kernel_size": 13, "dilation_growth": 10, "channels": 8}  # "Rf3000"

_warned_untrained = False


class TCNBlock(nn.Module):
    """Dilated causal valid conv (no bias) → FiLM → PReLU, plus a cropped 1×1 grouped residual.

    Shapes: x `(batch, in_channels, samples)`, cond `(batch, cond_dim)`
    → `(batch, out_channels, samples − (kernel_size − 1) · dilation)`.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, dilation: int, cond_dim: int):
        super().__init__()
        if out_channels % in_channels:
            raise ValueError(f"TCNBlock: out_channels ({out_channels}) must be a multiple of in_channels ({in_channels})")
        self.conv = nn.Conv1d(in_channels, out_channels, kernel_size, dilation=dilation, bias=False)
        self.film = nn.Linear(cond_dim, 2 * out_channels)
        self.act = nn.PReLU(out_channels)
        self.residual = nn.Conv1d(in_channels, out_channels, 1, groups=in_channels, bias=False)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        gamma, beta = self.film(cond).unsqueeze(-1).chunk(2, dim=1)
        y = self.act(gamma * y + beta)
        return y + self.residual(x)[..., -y.shape[-1]:]


class ProxyTCN(nn.Module):
    """Causal micro-TCN with FiLM conditioning that applies a learned gain mask to its input.

        mask = sigmoid(conv1×1(blocks(pad(x), MLP(c))))  ∈ (0, 1),     y = mask · x

    `pad` left-pads `receptive_field − 1` zeros, so the output has the input's length and
    sample t only depends on samples ≤ t.

    Args:
        n_blocks: number of TCN blocks (5).
        kernel_size: kernel of the dilated convolutions, samples (13).
        dilation_growth: dilation of block n is growth ** (n mod 10): 1, 10, 100, 1000, 10000.
        channels: channels of every block (8).
        n_cond: number of conditioning inputs (4).
        cond_dims: widths of the conditioning MLP after its input ((16, 32, 32)).

    Shapes: x `(batch, samples)`, cond `(batch, n_cond)` → `(batch, samples)`.
    """

    def __init__(
        self,
        n_blocks: int = 5,
        kernel_size: int = 13,
        dilation_growth: int = 10,
        channels: int = 8,
        n_cond: int = 4,
        cond_dims: Sequence[int] = (16, 32, 32),
    ):
        super().__init__()
        for name, value in (("n_blocks", n_blocks), ("kernel_size", kernel_size),
                            ("dilation_growth", dilation_growth), ("channels", channels), ("n_cond", n_cond)):
            if int(value) != value or value < 1:
                raise ValueError(f"ProxyTCN: {name} must be a positive integer, got {value!r}")
        self.n_blocks, self.kernel_size = int(n_blocks), int(kernel_size)
        self.dilation_growth, self.channels = int(dilation_growth), int(channels)
        self.n_cond = int(n_cond)
        self.cond = linear_bn_prelu_stack([self.n_cond, *cond_dims], per_channel=True)
        self.blocks = nn.ModuleList(
            TCNBlock(1 if n == 0 else self.channels, self.channels, self.kernel_size, d, cond_dims[-1])
            for n, d in enumerate(self.dilations)
        )
        self.output = nn.Conv1d(self.channels, 1, 1)

    @property
    def dilations(self) -> list[int]:
        """Dilation of each block, samples."""
        return [self.dilation_growth ** (n % STACK_SIZE) for n in range(self.n_blocks)]

    @property
    def receptive_field(self) -> int:
        """Number of input samples that output sample t depends on (t and the ones before), samples."""
        return 1 + sum((self.kernel_size - 1) * d for d in self.dilations)

    @property
    def config(self) -> dict[str, int]:
        """The architecture as plain values: {n_blocks, kernel_size, dilation_growth, channels}."""
        return {k: getattr(self, k) for k in ARCHITECTURE_KEYS}

    def mask(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """Gain mask in (0, 1): x `(batch, samples)`, cond `(batch, n_cond)` → `(batch, samples)`."""
        if x.dim() != 2 or cond.dim() != 2 or cond.shape != (x.shape[0], self.n_cond):
            raise ValueError(
                f"ProxyTCN: expected x (batch, samples) and cond (batch, {self.n_cond}), "
                f"got {tuple(x.shape)} and {tuple(cond.shape)}"
            )
        h = F.pad(x.unsqueeze(1), (self.receptive_field - 1, 0))
        c = self.cond(cond)
        for block in self.blocks:
            h = block(h, c)
        return torch.sigmoid(self.output(h)).squeeze(1)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return self.mask(x, cond) * x


def _db_to_gain(db: torch.Tensor) -> torch.Tensor:
    """Decibels `(batch,)` → linear amplitude gain `(batch, 1)`."""
    return torch.pow(10.0, db / 20.0).unsqueeze(-1)


def _ranges_of(params: Sequence[ParamSpec]) -> dict[str, list[float]]:
    return {p.name: [p.min, p.max] for p in params}


class ProxyCompressor(Effect):
    """Neural proxy of the DSP compressor ("compfull", "explicit threshold/makeup" variant).

        x_T = x / 10^(T/20),   y = ProxyTCN(x_T, q[attack, release, ratio, knee]) · 10^(T/20) · 10^(MU/20)

    where q are the normalized controls. Same 6 controls, in the same order and with the same
    default ranges as `ddspfx.effects.dynamics.Compressor`: threshold_db [−40, 0] dB, attack_ms
    [1, 60] ms (log), release_ms [10, 500] ms (log), ratio [2, 10] (log), knee_db [0, 12] dB,
    makeup_db [0, 20] dB.

    Args:
        sample_rate: Hz; must be the sample rate the proxy was trained at.
        ranges: `{name: [min, max]}` overrides; must equal the ranges the proxy was trained with.
        checkpoint: path of a file written by scripts/train_proxy.py; None keeps random weights
            (and warns once, unless `trainable`).
        trainable: False (default) freezes the weights (requires_grad False) and keeps the network
            in eval mode whatever `train()` says, so that it can be used inside a model that
            trains; True is for training the proxy itself.
        n_blocks, kernel_size, dilation_growth, channels: the `ProxyTCN` architecture; None takes
            the checkpoint's value, or without checkpoint the defaults 5, 13, 10, 8.

    Shapes: audio `(batch, samples)`, controls `(batch, 6)` in [0, 1] → `(batch, samples)`.

    Raises (with a checkpoint): FileNotFoundError, `CheckpointError` for an unreadable file, and
    ValueError naming the file when its sample rate, architecture or ranges differ.
    """

    def __init__(
        self,
        sample_rate: float = 44100,
        ranges: Mapping[str, Sequence[float]] | None = None,
        checkpoint: str | os.PathLike | None = None,
        trainable: bool = False,
        n_blocks: int | None = None,
        kernel_size: int | None = None,
        dilation_growth: int | None = None,
        channels: int | None = None,
    ):
        super().__init__()
        self.sample_rate = sample_rate
        self.params = with_ranges(COMPRESSOR_PARAMS, ranges, type(self).__name__)
        state = None if checkpoint is None else _read(checkpoint)
        given = dict(n_blocks=n_blocks, kernel_size=kernel_size, dilation_growth=dilation_growth, channels=channels)
        fallback = DEFAULT_ARCHITECTURE if state is None else state["config"]
        architecture = {k: fallback[k] if v is None else v for k, v in given.items()}
        self.tcn = ProxyTCN(**architecture, n_cond=len(CONDITIONING))
        self.trainable = bool(trainable)
        self.checkpoint = None if checkpoint is None else str(checkpoint)
        if state is not None:
            self._load_state(state, checkpoint)
        elif not self.trainable:
            _warn_untrained()
        if not self.trainable:
            self.tcn.requires_grad_(False)
            self.tcn.eval()

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, trainable: bool = False) -> "ProxyCompressor":
        """Build the proxy with the sample rate, ranges and architecture saved in `path`."""
        config = _read(path)["config"]
        return cls(sample_rate=config["sample_rate"], ranges=config["ranges"], checkpoint=path, trainable=trainable)

    @property
    def receptive_field(self) -> int:
        """Samples of past input (the current one included) that each output sample depends on."""
        return self.tcn.receptive_field

    @property
    def config(self) -> dict[str, Any]:
        """Architecture, sample rate and ranges as plain values (saved in checkpoints)."""
        return {**self.tcn.config, "sample_rate": float(self.sample_rate), "ranges": _ranges_of(self.params)}

    def load(self, path: str | os.PathLike) -> None:
        """Load the TCN weights of a scripts/train_proxy.py checkpoint after checking it matches."""
        self._load_state(_read(path), path)

    def _load_state(self, state: dict[str, Any], path: str | os.PathLike) -> None:
        saved, mine = state["config"], self.config
        problems = []
        if float(saved.get("sample_rate", float("nan"))) != mine["sample_rate"]:
            problems.append(f"sample_rate {saved.get('sample_rate')} Hz (this proxy: {mine['sample_rate']} Hz)")
        for key in ARCHITECTURE_KEYS:
            if saved.get(key) != mine[key]:
                problems.append(f"{key} {saved.get(key)} (this proxy: {mine[key]})")
        saved_ranges = {k: [float(v) for v in r] for k, r in dict(saved.get("ranges", {})).items()}
        for name, bounds in mine["ranges"].items():
            if saved_ranges.get(name) != bounds:
                problems.append(f"range of {name} {saved_ranges.get(name)} (this proxy: {bounds})")
        if problems:
            raise ValueError(
                f"proxy checkpoint {path} does not match this ProxyCompressor: " + "; ".join(problems)
                + ". Leave the architecture arguments unset to take the file's, use "
                "ProxyCompressor.from_checkpoint(path), or train a proxy for these settings with " + TRAIN_SCRIPT
            )
        try:
            self.tcn.load_state_dict(state["state_dict"])
        except RuntimeError as e:
            raise ValueError(f"proxy checkpoint {path}: weights do not fit the architecture: {e}") from e

    def train(self, mode: bool = True) -> "ProxyCompressor":
        super().train(mode)
        if not self.trainable:
            self.tcn.eval()
        return self

    def forward(self, audio: torch.Tensor, controls: torch.Tensor) -> torch.Tensor:
        if torch.is_tensor(controls) and controls.dim() == 3:
            raise ValueError(
                f"{type(self).__name__}: controls must be static, shape (batch, {self.n_params}), "
                f"got time-varying {tuple(controls.shape)}"
            )
        return super().forward(audio, controls)

    def process(self, audio: torch.Tensor, **physical: torch.Tensor) -> torch.Tensor:
        """Audio `(batch, samples)` and physical values `(batch,)` by name → `(batch, samples)`."""
        check_audio(audio, type(self).__name__)
        dtype = self.tcn.output.weight.dtype
        specs = {p.name: p for p in self.params}
        cond = torch.stack([specs[n].normalize(physical[n]) for n in CONDITIONING], dim=-1)
        threshold = _db_to_gain(physical["threshold_db"].to(dtype))
        makeup = _db_to_gain(physical["makeup_db"].to(dtype))
        scaled = audio.to(dtype) / threshold
        return (self.tcn(scaled, cond.to(dtype)) * threshold * makeup).to(audio.dtype)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, checkpoint={self.checkpoint}, trainable={self.trainable}"


def _read(path: str | os.PathLike) -> dict[str, Any]:
    """Read a proxy checkpoint and check it has the keys scripts/train_proxy.py writes."""
    state = load_checkpoint(path)
    config = state.get("config")
    if "state_dict" not in state or not isinstance(config, dict) or "sample_rate" not in config:
        raise ValueError(
            f"{path} is not a proxy compressor checkpoint (expected the 'state_dict' and 'config' "
            f"written by {TRAIN_SCRIPT}; found keys {sorted(state)})"
        )
    missing = [k for k in (*ARCHITECTURE_KEYS, "ranges") if k not in config]
    if missing:
        raise ValueError(f"proxy checkpoint {path}: config lacks {missing}")
    return state


def _warn_untrained() -> None:
    global _warned_untrained
    if not _warned_untrained:
        _warned_untrained = True
        warnings.warn(
            f"ProxyCompressor has random (untrained) weights: pass checkpoint=... with a file "
            f"written by `python {TRAIN_SCRIPT}`",
            UserWarning,
            stacklevel=3,
        )


class HybridCompressor(Effect):
    """The "comphalf" option: the frozen neural proxy in training mode, the exact DSP compressor
    in eval mode (`self.training`, set by the standard `nn.Module.train()` / `eval()`).

    The proxy's weights never change (requires_grad False, its BatchNorm always in eval mode).

    Args:
        sample_rate: Hz.
        ranges: `{name: [min, max]}` overrides, shared by both implementations.
        checkpoint: proxy weights written by scripts/train_proxy.py (its architecture is taken
            from the file; its sample rate and ranges must match); None gives an untrained proxy
            (with a warning).

    Shapes: audio `(batch, samples)`, controls `(batch, 6)` in [0, 1] → `(batch, samples)`.
    """

    def __init__(
        self,
        sample_rate: float = 44100,
        ranges: Mapping[str, Sequence[float]] | None = None,
        checkpoint: str | os.PathLike | None = None,
    ):
        super().__init__()
        self.sample_rate = sample_rate
        self.exact = Compressor(sample_rate=sample_rate, ranges=ranges)
        self.proxy = ProxyCompressor(sample_rate=sample_rate, ranges=ranges, checkpoint=checkpoint)
        self.params = self.exact.params  # the proxy declares the same controls (COMPRESSOR_PARAMS)

    @property
    def active(self) -> Effect:
        """The implementation used now: the proxy in training mode, the exact compressor in eval mode."""
        return self.proxy if self.training else self.exact

    def process(self, audio: torch.Tensor, **physical: torch.Tensor) -> torch.Tensor:
        return self.active.process(audio, **physical)

    def forward(self, audio: torch.Tensor, controls: torch.Tensor) -> torch.Tensor:
        return self.active(audio, controls)

    def static_curve(self, controls: torch.Tensor, levels_db: torch.Tensor) -> torch.Tensor:
        """The exact compressor's static curve (the proxy approximates it), `(batch, n_levels)` dB."""
        return self.exact.static_curve(controls, levels_db)
