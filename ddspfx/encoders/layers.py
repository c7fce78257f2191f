"""Small pieces shared by the convolutional encoders: input checks and weight initialization."""

from __future__ import annotations

import torch
from torch import nn


def check_audio(audio: torch.Tensor, name: str, min_samples: int = 1) -> None:
    """Raise ValueError unless `audio` is a real floating-point `(batch, samples)` tensor.

    Args:
        audio: the input to check.
        name: the encoder's name, used in the message.
        min_samples: the fewest samples the encoder can process.
    """
    if audio.dim() != 2:
        raise ValueError(f"{name}: audio must be (batch, samples), got shape {tuple(audio.shape)}")
    if not audio.is_floating_point():
        raise ValueError(f"{name}: audio must be a real floating-point tensor, got {audio.dtype}")
    if audio.shape[1] < min_samples:
        raise ValueError(f"{name}: audio has {audio.shape[1]} samples, needs at least {min_samples}")


def kaiming_init(module: nn.Module) -> nn.Module:
    """Kaiming-normal weights (leaky_relu gain with slope 0, fan_in) and zero bias on every Conv1d/Conv2d.

    Returns the module, so that it can wrap a constructor call.
    """
    for layer in module.modules():
        if isinstance(layer, (nn.Conv1d, nn.Conv2d)):
            nn.init.kaiming_normal_(layer.weight, mode="fan_in", nonlinearity="leaky_relu")
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
    return module
