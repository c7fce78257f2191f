"""Weight initialization shared by the convolutional encoders."""

from __future__ import annotations

from torch import nn


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
