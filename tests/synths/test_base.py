import pytest
import torch

from ddspfx.dsp.controls import upsample_frames
from ddspfx.params import ParamSpec
from ddspfx.synths import Synth


class Recorder(Synth):
    """Outputs its gain at every sample and keeps the keyword inputs `render` received."""

    conditioning = ("f0",)

    def __init__(self, sample_rate: int = 1000, duration: float = 0.02):
        super().__init__()
        self.sample_rate = sample_rate
        self.duration = duration
        self.params = [ParamSpec("gain", "", 0.0, 2.0), ParamSpec("cutoff", "Hz", 10.0, 1000.0, "log")]
        self.calls = []

    def render(self, n_samples, **inputs):
        self.calls.append({"n_samples": n_samples, **inputs})
        gain = inputs["gain"]
        return gain.unsqueeze(-1).expand(-1, n_samples) if gain.dim() == 1 else gain


class Static(Recorder):
    conditioning = ()
    time_varying = False


def test_static_controls_reach_render_as_physical_values():
    synth = Recorder()
    controls = torch.tensor([[0.5, 0.0], [1.0, 1.0]])
    audio = synth(controls)
    assert synth.n_samples == 20 and audio.shape == (2, 20)
    (call,) = synth.calls
    assert call.keys() == {"n_samples", "gain", "cutoff"} and call["n_samples"] == 20
    torch.testing.assert_close(call["gain"], torch.tensor([1.0, 2.0]))
    torch.testing.assert_close(call["cutoff"], torch.tensor([10.0, 1000.0]))
    assert synth(controls, n_samples=7).shape == (2, 7)


def test_framewise_controls_are_denormalized_then_upsampled():
    synth = Recorder()
    controls = torch.rand(2, 2, 5, generator=torch.Generator().manual_seed(0))
    audio = synth(controls, n_samples=33)
    call = synth.calls[-1]
    physical = synth.denormalize(controls)
    for name in ("gain", "cutoff"):
        assert call[name].shape == (2, 33)
        torch.testing.assert_close(call[name], upsample_frames(physical[name], 33))
    torch.testing.assert_close(audio[:, [0, 8, 16, 24, 32]], physical["gain"])


def test_conditioning_is_passed_through_and_framewise_conditioning_upsampled():
    synth = Recorder()
    controls = torch.rand(2, 2)
    f0 = torch.tensor([110.0, 220.0])
    synth(controls, f0=f0)
    assert torch.equal(synth.calls[-1]["f0"], f0)
    f0_frames = torch.tensor([[100.0, 200.0, 300.0], [50.0, 50.0, 60.0]])
    synth(controls, n_samples=5, f0=f0_frames)
    torch.testing.assert_close(synth.calls[-1]["f0"], upsample_frames(f0_frames, 5))
    synth(controls, f0=440.0)
    torch.testing.assert_close(synth.calls[-1]["f0"], torch.tensor([440.0, 440.0]))


def test_unknown_conditioning_is_rejected_by_name():
    with pytest.raises(ValueError, match=r"unknown conditioning input\(s\) \['loudness'\].*\['f0'\]"):
        Recorder()(torch.rand(2, 2), loudness=torch.zeros(2))
    with pytest.raises(ValueError, match=r"\['f0'\]; accepted: none"):
        Static()(torch.rand(2, 2), f0=torch.full((2,), 110.0))


def test_conditioning_of_the_wrong_shape_is_rejected():
    with pytest.raises(ValueError, match=r"'f0' must have shape \(2,\) or \(2, frames\)"):
        Recorder()(torch.rand(2, 2), f0=torch.ones(3))
    with pytest.raises(ValueError, match="'f0'"):
        Recorder()(torch.rand(2, 2), f0=torch.ones(2, 1, 4))


def test_default_permutations_are_the_identity():
    assert Recorder().equivalent_permutations() == [[0, 1]]


def test_static_synth_refuses_frames():
    with pytest.raises(ValueError, match=r"static, shape \(batch, 2\)"):
        Static()(torch.rand(2, 2, 4))


def test_duration_and_n_samples():
    synth = Recorder(sample_rate=44100, duration=0.1)
    assert synth.n_samples == 4410
    with pytest.raises(ValueError, match="n_samples"):
        synth(torch.rand(1, 2), n_samples=0)
    del synth.duration
    with pytest.raises(ValueError, match="no duration"):
        synth(torch.rand(1, 2))
    assert synth(torch.rand(1, 2), n_samples=3).shape == (1, 3)


def test_render_is_abstract():
    synth = Synth()
    synth.params, synth.sample_rate, synth.duration = [], 100, 0.1
    with pytest.raises(NotImplementedError):
        synth(torch.zeros(1, 0))
