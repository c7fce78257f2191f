"""The Linear → LayerNorm → LeakyReLU stack of the TexDSP networks."""

import pytest
import torch
from torch import nn

from ddspfx.nn.layernorm_mlp import LinearLNLeakyReLU, layernorm_mlp


def test_stack_layout_and_any_leading_shape():
    mlp = layernorm_mlp(5, 12, 3)
    assert len(mlp) == 3 and all(isinstance(block, LinearLNLeakyReLU) for block in mlp)
    assert [type(m) for m in mlp[0]] == [nn.Linear, nn.LayerNorm, nn.LeakyReLU]
    assert mlp[0][0].in_features == 5 and mlp[2][0].in_features == 12
    assert mlp(torch.randn(2, 7, 5)).shape == (2, 7, 12)
    assert mlp(torch.randn(4, 5)).shape == (4, 12)


def test_frames_are_processed_independently():
    mlp = layernorm_mlp(3, 8, 2)
    x = torch.randn(2, 4, 3)
    assert torch.allclose(mlp(x)[:, 1], mlp(x[:, 1]), atol=1e-6)


def test_bad_depth_is_named():
    with pytest.raises(ValueError, match="depth"):
        layernorm_mlp(3, 8, 0)
