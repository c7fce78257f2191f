import math

import pytest
import torch
from torch import nn

from ddspfx.encoders.layers import kaiming_init


def test_kaiming_init_zero_bias_and_fan_in_std():
    conv = kaiming_init(nn.Conv1d(64, 32, 25))
    assert torch.count_nonzero(conv.bias) == 0
    assert conv.weight.std().item() == pytest.approx(math.sqrt(2 / (64 * 25)), rel=0.05)
