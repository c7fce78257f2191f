"""The shared audio input check."""

import pytest
import torch

from ddspfx.dsp.checks import check_audio


def test_check_audio_messages():
    with pytest.raises(ValueError, match=r"Enc: audio must be \(batch, samples\), got shape \(2, 1, 10\)"):
        check_audio(torch.zeros(2, 1, 10), "Enc")
    with pytest.raises(ValueError, match="floating-point"):
        check_audio(torch.zeros(2, 10, dtype=torch.int16), "Enc")
    with pytest.raises(ValueError, match="10 samples, needs at least 11"):
        check_audio(torch.zeros(2, 10), "Enc", min_samples=11)


def test_check_audio_refuses_empty_audio_and_non_tensors():
    with pytest.raises(ValueError, match=r"got shape \(2, 0\)"):
        check_audio(torch.zeros(2, 0), "Fx")
    with pytest.raises(ValueError, match="floating-point tensor, got list"):
        check_audio([0.0, 1.0], "Fx")
