import pytest
import torch

from ddspfx.encoders.encoder import MLPEncoder
from ddspfx.encoders.melnext import MelNeXt


def n_params(module):
    return sum(p.numel() for p in module.parameters())


def test_parameter_count():
    encoder = MelNeXt()
    assert encoder.out_dim == 128
    # the reference: no stem (64 mels = 64 channels); ε 64 + 3 blocks(64) 52,032
    # + grouped downsampling 384 + 3 blocks(128) 202,368
    assert n_params(encoder) == 254_848
    assert isinstance(encoder.stem, torch.nn.Identity)
    assert n_params(MelNeXt(stem=True)) == 254_848 + 64 * 64 + 64  # + a 1×1 conv 64 → 64 with bias
    assert n_params(MelNeXt(n_mels=80)) == 254_848 + 16 + 80 * 64 + 64  # 80 mels: ε +16, stem 80 → 64
    with pytest.raises(ValueError, match="stem=False"):
        MelNeXt(n_mels=80, stem=False)


def test_taslp_encoder_has_the_reference_weight_count():
    # MelNeXt + ResMLP(depth 3, 128, batch norm): no input block since 128 = 128 (reference A.13)
    encoder = MLPEncoder(frontend=MelNeXt(sample_rate=16000), hidden=128, depth=3, batch_norm=True)
    assert n_params(encoder) == 356_224


@pytest.mark.parametrize("sample_rate", [16000, 44100])
def test_output_size(sample_rate):
    encoder = MelNeXt(sample_rate=sample_rate)
    assert encoder(torch.randn(2, 3 * sample_rate)).shape == (2, 128)


def test_time_resolution_halves_where_channels_grow():
    encoder = MelNeXt(sample_rate=16000)
    seen = []
    encoder.blocks.register_forward_hook(lambda module, args, out: seen.append(out.shape))
    encoder.blocks[3].register_forward_hook(lambda module, args, out: seen.append(out.shape))
    encoder(torch.randn(2, 64000))  # 126 frames
    assert seen == [(2, 128, 63), (2, 128, 63)]
    assert isinstance(encoder.blocks[3], torch.nn.Conv1d) and encoder.blocks[3].stride == (2,)


def test_taslp_encoder_with_resmlp_body():
    encoder = MLPEncoder(frontend=MelNeXt(sample_rate=16000), hidden=128, depth=3, batch_norm=True)
    audio = torch.randn(3, 32000, requires_grad=True)
    out = encoder(audio)
    assert out.shape == (3, 128) and encoder.out_dim == 128
    out.sum().backward()
    assert torch.isfinite(audio.grad).all()


def test_gradients_finite_on_silence_and_bad_input():
    encoder = MelNeXt(sample_rate=16000, normalize=True)
    audio = torch.zeros(2, 16000, requires_grad=True)
    encoder(audio).sum().backward()
    assert torch.isfinite(audio.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in encoder.parameters())
    with pytest.raises(ValueError, match="batch, samples"):
        encoder(torch.zeros(16000))
    with pytest.raises(ValueError, match="needs at least 512"):
        encoder(torch.zeros(2, 100))
