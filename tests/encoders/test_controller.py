import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from torch import nn

from ddspfx.encoders.controller import ControllerEncoder, ControllerMLP
from ddspfx.encoders.melnext import MelNeXt


def n_params(module):
    return sum(p.numel() for p in module.parameters())


def test_tfe_controller_matches_published_count_via_hydra():
    config = OmegaConf.create(
        {
            "_target_": "ddspfx.encoders.controller.ControllerEncoder",
            "network": {"_target_": "ddspfx.encoders.time_frequency.TimeFrequencyEncoder", "sample_rate": 44100},
            "mlp_layers": [2048, 1024, 512],
        }
    )
    encoder = instantiate(config)
    assert encoder.out_dim == 512
    head = nn.Linear(encoder.out_dim, 15)  # the head's output layer (not part of the encoder)
    assert n_params(encoder) + n_params(head) == 3_355_734


def test_controller_mlp_layers():
    mlp = ControllerMLP(128, [32, 16])
    assert mlp.out_dim == 16
    assert [type(m) for m in mlp[0]] == [nn.Linear, nn.BatchNorm1d, nn.PReLU]
    assert mlp[0][2].weight.numel() == 1
    assert ControllerMLP(7, []).out_dim == 7


def test_forward_shape_and_gradient():
    encoder = ControllerEncoder(MelNeXt(sample_rate=16000, channels=[16, 32]), mlp_layers=[64, 24])
    audio = torch.randn(4, 16000, requires_grad=True)
    out = encoder(audio)
    assert out.shape == (4, 24)
    out.sum().backward()
    assert torch.isfinite(audio.grad).all()


def test_network_without_out_dim():
    with pytest.raises(ValueError, match="out_dim"):
        ControllerEncoder(nn.Linear(3, 4))
