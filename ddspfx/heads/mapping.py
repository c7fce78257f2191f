"""Mapping networks of timbre remapping: onset features `(batch, 3)` → parameter modulations
`(batch, n_params)` in [−1, 1] (reference §6).

The task turns modulations into synth controls as θ = clip(θ_preset + d ⊙ m(x), 0, 1) with a
per-parameter damping d (`modulate`). Inputs are centred on the reference hit, so the bias-free
linear mapping gives exactly zero modulation (the preset) for the reference hit.

| name    | structure                                                        | weights |
|---------|------------------------------------------------------------------|---------|
| linear  | Linear(3→14), no bias, hard clamp to [−1, 1]                     | 42      |
| mlp     | Linear(3→32) → LayerNorm (no affine) → ReLU → Linear(32→14), tanh | 590     |
| mlp_lrg | three [Linear → LayerNorm → ReLU] of width 64, Linear(64→14), tanh | 9,486   |

Weights start from N(0, init_std²) (1e−6 linear, 1e−3 MLPs), biases at 0, so training starts
from (nearly) the preset.

Every linear layer is `rowwise_linear`, in a single model (`RowwiseLinear`, an nn.Linear) as in
`stacked_forward` (many models at once): an explicit multiply-and-sum whose rounding per row does
not depend on how many rows or models are computed, so a model of a stack gets bit for bit its own
model's outputs and gradients (matmul kernels block by shape and round differently with the row
count).
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from ddspfx.core.errors import ConfigError

N_INPUTS = 3  # onset features: RMS (dB), spectral centroid (semitones), spectral flatness (dB)


def rowwise_linear(x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor] = None) -> torch.Tensor:
    """x Wᵀ + b as an explicit multiply-and-sum over the input dimension: inputs `(..., batch, n_in)`,
    weight `(..., n_out, n_in)`, bias `(..., n_out)` (leading dimensions: stacked models) →
    `(..., batch, n_out)`. Each output row, and each model's weight and bias gradient (sums over
    its own rows), is rounded the same whatever the number of rows and of models; a matmul's is not.
    """
    y = (x.unsqueeze(-2) * weight.unsqueeze(-3)).sum(-1)
    if bias is None:
        return y
    return y + bias.unsqueeze(-2)


class RowwiseLinear(nn.Linear):
    """nn.Linear (same parameters and state dict) computed by `rowwise_linear`."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return rowwise_linear(input, self.weight, self.bias)


class LinearMapping(nn.Module):
    """m(x) = clamp(W x, −1, 1), W `(n_params, n_inputs)`, no bias."""

    def __init__(self, n_params: int = 14, n_inputs: int = N_INPUTS, init_std: float = 1e-6):
        super().__init__()
        self.linear = RowwiseLinear(n_inputs, n_params, bias=False)
        nn.init.normal_(self.linear.weight, std=init_std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """`(batch, n_inputs)` → modulations `(batch, n_params)` in [−1, 1]."""
        return self.linear(x).clamp(-1.0, 1.0)


class MLPMapping(nn.Module):
    """m(x) = tanh(Linear(h_L)), h_l = ReLU(LayerNorm(Linear(h_{l−1}))), h_0 = x.

    Args:
        n_params: outputs (modulations).
        n_inputs: input features.
        hidden: width of the hidden layers.
        layers: number of hidden [Linear → LayerNorm → ReLU] blocks (1 for "mlp", 3 for "mlp_lrg").
        init_std: standard deviation of the initial weights (biases start at 0).
    """

    def __init__(self, n_params: int = 14, n_inputs: int = N_INPUTS, hidden: int = 32, layers: int = 1,
                 init_std: float = 1e-3):
        super().__init__()
        if layers < 1 or hidden < 1:
            raise ValueError(f"MLPMapping: layers and hidden must be >= 1, got layers={layers}, hidden={hidden}")
        blocks: list[nn.Module] = []
        width = n_inputs
        for _ in range(layers):
            blocks += [RowwiseLinear(width, hidden), nn.LayerNorm(hidden, elementwise_affine=False), nn.ReLU()]
            width = hidden
        self.hidden = nn.Sequential(*blocks)
        self.out = RowwiseLinear(width, n_params)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, std=init_std)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """`(batch, n_inputs)` → modulations `(batch, n_params)` in (−1, 1)."""
        return torch.tanh(self.out(self.hidden(x)))


class DirectModulation(nn.Module):
    """No network: one free modulation vector per hit, indexed by the hit's position in the set
    it optimises (the direct-optimisation baseline of reference §8). Starts at zero (the preset).
    """

    def __init__(self, n_hits: int, n_params: int = 14):
        super().__init__()
        self.modulation = nn.Parameter(torch.zeros(n_hits, n_params))

    def forward(self, index: torch.Tensor) -> torch.Tensor:
        """Hit indices `(batch,)` → modulations `(batch, n_params)` (unbounded; the task clips θ)."""
        return self.modulation[index]


MAPPINGS = {
    "linear": lambda n_params, init_std=1e-6: LinearMapping(n_params, init_std=init_std),
    "mlp": lambda n_params, init_std=1e-3: MLPMapping(n_params, hidden=32, layers=1, init_std=init_std),
    "mlp_lrg": lambda n_params, init_std=1e-3: MLPMapping(n_params, hidden=64, layers=3, init_std=init_std),
}


def build_mapping(kind: str, n_params: int = 14, init_std: float | None = None) -> nn.Module:
    """The mapping network called `kind` ("linear", "mlp", "mlp_lrg") with the paper's sizes.

    Raises:
        ConfigError (a ValueError): unknown kind (the message lists the known ones).
    """
    if kind not in MAPPINGS:
        raise ConfigError(f"unknown mapping model {kind!r}; known: {sorted(MAPPINGS)}")
    return MAPPINGS[kind](n_params) if init_std is None else MAPPINGS[kind](n_params, init_std=init_std)


def modulate(preset: torch.Tensor, damping: torch.Tensor, modulation: torch.Tensor) -> torch.Tensor:
    """θ = clip(θ_preset + d ⊙ m, 0, 1): preset and damping `(n_params,)`, modulation `(batch, n_params)`."""
    return (preset + damping * modulation).clamp(0.0, 1.0)


# --- stacked mappings: many models of one kind as one batched computation ------------------------


def stacked_parameters(mappings: list[nn.Module]) -> dict[str, torch.Tensor]:
    """The parameters of several mappings of one kind (`build_mapping`) stacked on a leading model
    axis: `{state_dict name: (G, ...)}`, read by `stacked_forward`."""
    if not mappings:
        raise ValueError("stacked_parameters: no mappings given")
    names = [name for name, _ in mappings[0].named_parameters()]
    return {name: torch.stack([dict(m.named_parameters())[name].detach() for m in mappings]) for name in names}


def stacked_forward(kind: str, params: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """G mappings of kind `kind` at once: inputs `(G, batch, n_inputs)` → modulations
    `(G, batch, n_params)`, model g with the parameters `params[name][g]` (`stacked_parameters`
    names). Model g's outputs, and its parameters' gradients, equal bit for bit those of
    `build_mapping(kind)` with its weights on its own rows (`rowwise_linear`).
    """
    if kind == "linear":
        return rowwise_linear(x, params["linear.weight"]).clamp(-1.0, 1.0)
    if kind not in MAPPINGS:
        raise ConfigError(f"unknown mapping model {kind!r}; known: {sorted(MAPPINGS)}")
    h = x
    layer = 0
    while f"hidden.{layer}.weight" in params:
        weight, bias = params[f"hidden.{layer}.weight"], params[f"hidden.{layer}.bias"]
        h = rowwise_linear(h, weight, bias)
        h = torch.relu(torch.nn.functional.layer_norm(h, h.shape[-1:]))
        layer += 3  # Linear, LayerNorm, ReLU
    return torch.tanh(rowwise_linear(h, params["out.weight"], params["out.bias"]))
