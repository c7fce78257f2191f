import numpy as np
import pytest
import torch

from ddspfx.effects.base import Effect
from ddspfx.effects.chain import FXChain, unique_names
from ddspfx.effects.distortion import HardnessClipper, TaylorDistortion
from ddspfx.effects.gain import Gain
from ddspfx.params import ParamSpec

SR = 16000


class BufferedScale(Effect):
    """Multiplies by a stored buffer and a learnable weight (to see `.to()` and `state_dict`)."""

    def __init__(self, sample_rate=SR):
        super().__init__()
        self.sample_rate = sample_rate
        self.params = []
        self.register_buffer("scale", torch.tensor(0.5))
        self.weight = torch.nn.Parameter(torch.tensor(1.0))

    def process(self, audio):
        return audio * self.scale * self.weight


class Recorder(Effect):
    """Identity with one dummy control that keeps a copy of every input it sees."""

    def __init__(self, sample_rate=SR):
        super().__init__()
        self.sample_rate = sample_rate
        self.params = [ParamSpec("unused", "", 0.0, 1.0)]
        self.inputs = []

    def process(self, audio, unused):
        self.inputs.append(audio.detach().clone())
        return audio + 0.3  # adds DC so that the next member's input must have it removed


def np_prepare(x, peak=True):
    x = x - x.mean(axis=-1, keepdims=True)
    return x / np.abs(x).max(axis=-1, keepdims=True) if peak else x


def test_members_are_registered_submodules():
    chain = FXChain({"a": BufferedScale(), "g": Gain(SR)})
    assert set(chain.state_dict()) == {"effects.a.scale", "effects.a.weight"}
    assert [p is chain.members["a"].weight for p in chain.parameters()] == [True]
    chain = chain.to(torch.float64)
    assert chain.members["a"].scale.dtype == torch.float64
    assert chain.members["a"].weight.dtype == torch.float64
    chain.eval()
    assert not chain.members["g"].training
    chain.train()
    assert chain.members["g"].training


def test_names_params_and_split():
    chain = FXChain({"vol": Gain(SR), "dist": HardnessClipper(SR), "taylor": TaylorDistortion(SR, order=2)})
    assert chain.member_names == ["vol", "dist", "taylor"]
    assert chain.param_names == [
        "vol.gain_db", "dist.drive_db", "dist.offset", "dist.hardness", "taylor.p_1", "taylor.p_2",
    ]
    assert chain.n_params == 6 and chain.sample_rate == SR
    controls = torch.arange(12.0).reshape(2, 6) / 12
    parts = chain.split(controls)
    assert [tuple(p.shape) for p in parts] == [(2, 1), (2, 3), (2, 2)]
    torch.testing.assert_close(torch.cat(parts, dim=1), controls)
    physical = chain.denormalize(controls)
    assert physical["vol.gain_db"][1].item() == pytest.approx(-20 + 40 * 6 / 12)
    torch.testing.assert_close(chain.normalize(**physical), controls)


def test_list_construction_names_repeats():
    chain = FXChain([Gain(SR), HardnessClipper(SR), Gain(SR), ("t", TaylorDistortion(SR))])
    assert chain.member_names == ["gain_1", "hardnessclipper", "gain_2", "t"]


def test_chain_is_prepared_composition_and_order_matters():
    torch.manual_seed(0)
    gain, clip = Gain(SR), HardnessClipper(SR)
    audio = torch.randn(2, 64, dtype=torch.float64) + 0.2
    c_gain = torch.tensor([[0.9], [0.8]], dtype=torch.float64)
    c_clip = torch.tensor([[0.7, 0.5, 1.0], [0.9, 0.2, 0.4]], dtype=torch.float64)

    gain_first = FXChain({"g": gain, "c": clip})(audio, torch.cat([c_gain, c_clip], dim=1))
    clip_first = FXChain({"c": clip, "g": gain})(audio, torch.cat([c_clip, c_gain], dim=1))

    x = audio.numpy()
    g = 10 ** (gain.denormalize(c_gain)["gain_db"].numpy()[:, None] / 20)
    manual = clip(torch.as_tensor(np_prepare(g * np_prepare(x))), c_clip).numpy()
    np.testing.assert_allclose(gain_first.numpy(), manual, atol=1e-12)
    assert not torch.allclose(gain_first, clip_first, atol=1e-3)


@pytest.mark.parametrize("normalize", ["peak", None])
def test_every_member_input_is_dc_free_and_normalized(normalize):
    recorders = [Recorder(), Recorder(), Recorder()]
    chain = FXChain(recorders, normalize=normalize)
    audio = 3.0 * torch.randn(2, 100, dtype=torch.float64) + 1.0
    chain(audio, torch.zeros(2, 3, dtype=torch.float64))
    for rec in recorders:
        (x,) = rec.inputs
        torch.testing.assert_close(x.mean(dim=-1), torch.zeros(2, dtype=torch.float64), atol=1e-12, rtol=0)
        peaks = x.abs().amax(dim=-1)
        if normalize == "peak":
            torch.testing.assert_close(peaks, torch.ones(2, dtype=torch.float64))
        else:
            assert (peaks > 2.0).all()
    np.testing.assert_allclose(recorders[0].inputs[0].numpy(), np_prepare(audio.numpy(), normalize == "peak"))


def test_silence_stays_finite_with_finite_gradients():
    chain = FXChain({"g": Gain(SR), "c": HardnessClipper(SR)})
    audio = torch.zeros(2, 32, requires_grad=True)
    controls = torch.full((2, 4), 0.5, requires_grad=True)
    out = chain(audio, controls)
    out.sum().backward()
    assert torch.isfinite(out).all() and (out == 0).all()
    assert torch.isfinite(audio.grad).all() and torch.isfinite(controls.grad).all()


def test_gradcheck():
    torch.manual_seed(1)
    chain = FXChain({"g": Gain(SR), "c": HardnessClipper(SR), "t": TaylorDistortion(SR, order=3)})
    audio = torch.randn(2, 10, dtype=torch.float64, requires_grad=True)
    controls = (0.1 + 0.8 * torch.rand(2, 7, dtype=torch.float64)).requires_grad_()
    assert torch.autograd.gradcheck(chain, (audio, controls))


def test_bad_input():
    chain = FXChain({"g": Gain(SR), "c": HardnessClipper(SR)})
    audio = torch.zeros(2, 16)
    with pytest.raises(ValueError, match=r"\(batch, 4\)"):
        chain(audio, torch.zeros(2, 3))
    with pytest.raises(ValueError, match="batch size"):
        chain(audio, torch.zeros(3, 4))
    with pytest.raises(ValueError, match="NaN"):
        chain(audio, torch.full((2, 4), float("nan")))
    with pytest.raises(ValueError, match="audio"):
        chain(torch.zeros(16), torch.zeros(1, 4))
    with pytest.raises(ValueError, match="normalize"):
        FXChain([Gain(SR)], normalize="rms")
    with pytest.raises(ValueError, match="at least one"):
        FXChain({})
    with pytest.raises(ValueError, match="'a.b'"):
        FXChain({"a.b": Gain(SR)})
    with pytest.raises(ValueError, match="sample rates"):
        FXChain([Gain(SR), Gain(44100)])
    with pytest.raises(ValueError, match="effect"):
        FXChain({"x": torch.nn.Linear(2, 2)})


def test_unique_names():
    assert unique_names(["peq5", "comp", "limiter", "peq5", "softclip"]) == [
        "peq5_1", "comp", "limiter", "peq5_2", "softclip",
    ]


def test_effects_declare_no_response_or_curve_by_default():
    gain = Gain(SR)
    assert gain.magnitude_response_db(torch.rand(2, 1), torch.tensor([100.0])) is None
    assert gain.static_curve(torch.rand(2, 1), torch.tensor([-20.0])) is None


def test_chain_magnitude_response_is_the_sum_over_its_eqs():
    from ddspfx.effects.eq import GraphicEQ, ParametricEQ

    peq, geq = ParametricEQ(44100), GraphicEQ(44100)
    chain = FXChain({"peq": peq, "g": Gain(44100), "geq": geq})
    controls = torch.rand(2, 26, generator=torch.Generator().manual_seed(0))
    freqs = torch.logspace(1.5, 4.2, 40)
    expected = peq.magnitude_response_db(controls[:, :15], freqs) + geq.magnitude_response_db(controls[:, 16:], freqs)
    torch.testing.assert_close(chain.magnitude_response_db(controls, freqs), expected)
    assert FXChain([Gain(SR), HardnessClipper(SR)]).magnitude_response_db(torch.rand(1, 4), freqs) is None


def test_chain_static_curve_is_its_first_compressors():
    from ddspfx.effects.dynamics import Compressor, SimpleCompressor

    first, second = Compressor(SR), SimpleCompressor(SR)
    chain = FXChain({"g": Gain(SR), "c1": first, "c2": second})
    controls = torch.rand(2, 12, generator=torch.Generator().manual_seed(1))
    levels = torch.linspace(-60.0, 0.0, 13)
    torch.testing.assert_close(chain.static_curve(controls, levels), first.static_curve(controls[:, 1:7], levels))
    assert FXChain([Gain(SR)]).static_curve(torch.rand(1, 1), levels) is None
