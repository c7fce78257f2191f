import numpy as np
import pytest
import torch
from scipy.signal import get_window

from ddspfx.encoders import MeanSTFT


def test_meanstft_matches_numpy_at_init():
    frontend = MeanSTFT(n_fft=256)
    audio = torch.randn(3, 1000, generator=torch.Generator().manual_seed(0))
    frame = audio[:, :256].double().numpy() * get_window("hann", 256)
    expected = np.log(np.abs(np.fft.rfft(frame)) + 1.0)  # ε = 0 → offset exp(0) = 1
    np.testing.assert_allclose(frontend(audio).detach().numpy(), expected, atol=1e-5)
    assert frontend.out_dim == 129


def test_meanstft_pads_short_audio_and_is_finite_on_silence():
    frontend = MeanSTFT(n_fft=2048)
    out = frontend(torch.zeros(2, 100))
    assert out.shape == (2, 1025)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out, torch.zeros_like(out))  # log(0 + e^0)


def test_meanstft_rejects_wrong_shape():
    with pytest.raises(ValueError, match="batch, samples"):
        MeanSTFT(64)(torch.zeros(2, 1, 100))
