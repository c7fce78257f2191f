import pytest
import torch

from ddspfx.encoders.controller import ControllerMLP
from ddspfx.encoders.mee import MusicEffectsEncoder

TINY = dict(width=1 / 16)  # channels 1, 2, 4, …, 128


def n_params(module):
    return sum(p.numel() for p in module.parameters())


def test_full_width_parameter_count():
    with torch.device("meta"):  # 81 M parameters, never allocated
        encoder = MusicEffectsEncoder()
        mlp = ControllerMLP(encoder.out_dim)
    assert encoder.out_dim == 2048
    assert n_params(encoder) == 81_392_228  # reference: ≈ 81.4 M
    assert n_params(encoder) + n_params(mlp) + 512 * 15 + 15 == 88_226_422  # reference: ≈ 88.2 M


@pytest.mark.parametrize("sample_rate,seconds", [(44100, 1.5), (16000, 3.5)])
def test_output_size_small_width(sample_rate, seconds):
    encoder = MusicEffectsEncoder(**TINY)
    assert encoder.out_dim == 128
    assert encoder(torch.randn(2, int(seconds * sample_rate))).shape == (2, 128)


def test_explicit_channels():
    encoder = MusicEffectsEncoder(channels=[2] * 11 + [5])
    assert encoder.out_dim == 5
    assert encoder(torch.randn(2, encoder.min_samples)).shape == (2, 5)
    with pytest.raises(ValueError, match="12 blocks"):
        MusicEffectsEncoder(channels=[4, 8])


def test_gradients_finite_on_silence():
    encoder = MusicEffectsEncoder(**TINY)
    audio = torch.zeros(2, 56000, requires_grad=True)
    encoder(audio).sum().backward()
    assert torch.isfinite(audio.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in encoder.parameters())


def test_bad_input():
    encoder = MusicEffectsEncoder(**TINY)
    assert encoder.min_samples == 54_489
    with pytest.raises(ValueError, match="batch, samples"):
        encoder(torch.zeros(2, 1, 56000))


def test_short_inputs_are_zero_padded_to_the_shortest_input_with_a_warning():
    encoder = MusicEffectsEncoder(**TINY).eval()
    short = torch.randn(2, 32_000)  # a 2-s crop at 16 kHz
    with pytest.warns(UserWarning, match="zero-padded to 54489"):
        out = encoder(short)
    padded = torch.nn.functional.pad(short, (0, 54_489 - 32_000))
    torch.testing.assert_close(out, encoder(padded))
