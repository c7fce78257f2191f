import pytest
import torch

from ddspfx.encoders.time_frequency import TimeFrequencyEncoder


def n_params(module):
    return sum(p.numel() for p in module.parameters())


def test_parameter_count_matches_reference():
    encoder = TimeFrequencyEncoder()
    assert encoder.out_dim == 128
    assert n_params(encoder) == 453_700


@pytest.mark.parametrize("sample_rate,n_bins,hop,seconds", [(44100, 113, 512, 2), (16000, 96, 256, 3)])
def test_output_size(sample_rate, n_bins, hop, seconds):
    encoder = TimeFrequencyEncoder(sample_rate=sample_rate, n_bins=n_bins, hop=hop)
    out = encoder(torch.randn(2, seconds * sample_rate, generator=torch.Generator().manual_seed(0)))
    assert out.shape == (2, 128)


def test_gradients_finite_on_silence():
    encoder = TimeFrequencyEncoder(sample_rate=16000, n_bins=60, hop=256, time_kernel=16, time_kernel_2=5)
    audio = torch.zeros(2, 16000, requires_grad=True)
    encoder(audio).sum().backward()
    assert torch.isfinite(audio.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in encoder.parameters())


def test_bad_input():
    encoder = TimeFrequencyEncoder()
    with pytest.raises(ValueError, match="batch, samples"):
        encoder(torch.zeros(44100 * 2))
    # 157 frames: one fewer than the 128 + 31 − 1 the valid convolutions need.
    with pytest.raises(ValueError, match="needs at least 80384"):
        encoder(torch.zeros(1, 156 * 512))
    with pytest.raises(ValueError, match="freq_kernel"):
        TimeFrequencyEncoder(sample_rate=16000, n_bins=30)
