import pytest
import torch
import torchaudio

from ddspfx.dsp.spectral import power, stft
from ddspfx.encoders.mel_frontend import LogMel


@pytest.mark.parametrize("sample_rate", [16000, 44100])
def test_log_mel_at_the_actual_sample_rate(sample_rate):
    frontend = LogMel(sample_rate=sample_rate)
    audio = torch.randn(2, sample_rate, generator=torch.Generator().manual_seed(0))
    out = frontend(audio)
    assert out.shape == (2, 64, 1 + sample_rate // 512)
    fb = torchaudio.functional.melscale_fbanks(1025, 0.0, sample_rate / 2, 64, sample_rate, "slaney", "slaney")
    expected = torch.log(fb.T @ power(stft(audio, 2048, 512)) + 1.0)  # ε = 0 → floor e^0
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)


def test_learnable_floor_gets_gradient_and_silence_is_finite():
    frontend = LogMel(sample_rate=16000)
    out = frontend(torch.zeros(1, 4000))
    torch.testing.assert_close(out, torch.zeros_like(out))
    out.sum().backward()
    assert frontend.log_floor.grad.shape == (64,) and (frontend.log_floor.grad > 0).all()


def test_bad_shape():
    with pytest.raises(ValueError, match="batch, samples"):
        LogMel()(torch.zeros(4000))
