"""Controller encoder (reference B.4): a network's embedding followed by the controller MLP body."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ddspfx.nn.blocks import linear_bn_prelu_stack


class ControllerMLP(nn.Sequential):
    """`(batch, in_dim)` → `(batch, layers[-1])`: Linear → BatchNorm1d → PReLU (one parameter) per layer.

    The ICASSP controller without its output layer (a head adds Linear → sigmoid).

    Args:
        in_dim: input features.
        layers: hidden sizes ([2048, 1024, 512]); empty → identity with out_dim = in_dim.
    """

    def __init__(self, in_dim: int, layers: Sequence[int] = (2048, 1024, 512)):
        super().__init__(*linear_bn_prelu_stack([int(in_dim), *layers]))
        self.out_dim = int(layers[-1]) if len(layers) else int(in_dim)


class ControllerEncoder(nn.Module):
    """Audio `(batch, samples)` → `network` → `ControllerMLP` → embedding `(batch, mlp_layers[-1])`.

    TimeFrequencyEncoder + ControllerMLP + Linear(512 → 15) has 3,355,734 parameters (reference B.4).

    Args:
        network: an encoder with `out_dim` (TimbreEncoder, TimeFrequencyEncoder, MusicEffectsEncoder,
            MelNeXt, …).
        mlp_layers: hidden sizes of the controller MLP.
    """

    def __init__(self, network: nn.Module, mlp_layers: Sequence[int] = (2048, 1024, 512)):
        super().__init__()
        if not hasattr(network, "out_dim"):
            raise ValueError(f"ControllerEncoder: network {type(network).__name__} has no out_dim attribute")
        self.network = network
        self.mlp = ControllerMLP(network.out_dim, list(mlp_layers))
        self.out_dim = self.mlp.out_dim

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.network(audio))
