import math

import pytest
import torch

from ddspfx.effects.gain import Gain

SR = 16000


@pytest.mark.parametrize("gain_db, factor", [(0.0, 1.0), (20.0, 10.0), (-20.0, 0.1), (20 * math.log10(2), 2.0)])
def test_gain_scales_by_db(gain_db, factor):
    gain = Gain(SR)
    audio = torch.randn(3, 50, dtype=torch.float64)
    controls = gain.normalize(gain_db=torch.full((3,), gain_db, dtype=torch.float64))
    torch.testing.assert_close(gain(audio, controls), factor * audio)


def test_control_mapping_and_ranges():
    gain = Gain(SR)
    assert gain.param_names == ["gain_db"] and gain.sample_rate == SR
    values = gain.denormalize(torch.tensor([[0.0], [0.5], [1.0]]))["gain_db"]
    torch.testing.assert_close(values, torch.tensor([-20.0, 0.0, 20.0]))
    narrow = Gain(SR, ranges={"gain_db": [-6, 6]})
    assert narrow.denormalize(torch.ones(1, 1))["gain_db"].item() == pytest.approx(6.0)
    with pytest.raises(ValueError, match="gain"):
        Gain(SR, ranges={"gain": [-6, 6]})


def test_time_varying_controls_are_refused():
    gain = Gain(SR)
    with pytest.raises(ValueError, match="gain_db"):
        gain(torch.zeros(2, 8), torch.zeros(2, 1, 3))


def test_gradcheck():
    gain = Gain(SR)
    audio = torch.randn(2, 6, dtype=torch.float64, requires_grad=True)
    controls = torch.tensor([[0.2], [0.9]], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(gain, (audio, controls))
