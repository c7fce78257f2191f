import math

import pytest
import torch

from ddspfx.dsp.cqt import cqt
from ddspfx.encoders.cqt_frontend import LogCQT


def test_log_cqt_shape_and_values():
    frontend = LogCQT(sample_rate=44100)
    audio = torch.randn(2, 44100, generator=torch.Generator().manual_seed(0))
    out = frontend(audio)
    assert out.shape == (2, 113, frontend.n_frames(44100)) == (2, 113, 87)
    torch.testing.assert_close(out, torch.log(cqt(audio, 44100) + 1e-6))


def test_log_cqt_finite_on_silence():
    out = LogCQT(sample_rate=16000, n_bins=96)(torch.zeros(1, 16000))
    assert out.shape == (1, 96, 32)
    assert torch.isfinite(out).all() and out.max() < math.log(3e-6)


def test_log_cqt_checks_nyquist_at_construction_and_shape_in_forward():
    with pytest.raises(ValueError, match="exceeds Nyquist"):
        LogCQT(sample_rate=16000)
    with pytest.raises(ValueError, match="batch, samples"):
        LogCQT()(torch.zeros(44100))
