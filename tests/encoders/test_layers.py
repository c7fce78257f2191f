import math

import pytest
import torch
from torch import nn

from ddspfx.encoders.layers import check_audio, kaiming_init


def test_kaiming_init_zero_bias_and_fan_in_std():
    conv = kaiming_init(nn.Conv1d(64, 32, 25))
    assert torch.count_nonzero(conv.bias) == 0
    assert conv.weight.std().item() == pytest.approx(math.sqrt(2 / (64 * 25)), rel=0.05)


def test_check_audio_messages():
    with pytest.raises(ValueError, match=r"Enc: audio must be \(batch, samples\), got shape \(2, 1, 10\)"):
        check_audio(torch.zeros(2, 1, 10), "Enc")
    with pytest.raises(ValueError, match="floating-point"):
        check_audio(torch.zeros(2, 10, dtype=torch.int16), "Enc")
    with pytest.raises(ValueError, match="10 samples, needs at least 11"):
        check_audio(torch.zeros(2, 10), "Enc", min_samples=11)
