"""Compressor, SimpleCompressor and SoftClipper against closed forms and a per-sample numpy reference."""

import math

import numpy as np
import pytest
import torch

from ddspfx.dsp.dynamics import amplitude_to_db, db_to_amplitude, gain_reduction
from ddspfx.dsp.recursive import attack_release, one_pole, time_constant_to_alpha
from ddspfx.effects.dynamics import Compressor, SimpleCompressor, SoftClipper


def numpy_compressor(x, fs, threshold, attack_ms, release_ms, ratio, knee, makeup, floor=1e-4):
    """Reference B.3 written sample by sample for one example (without the input mutation): the
    smoothed gain reduction is 0 at the first sample and updates from the second one on."""
    alpha_attack = math.exp(-1 / (attack_ms * 1e-3 * fs))
    alpha_release = math.exp(-1 / (release_ms * 1e-3 * fs))
    out = np.empty_like(x)
    out[0] = x[0] * 10 ** (makeup / 20)
    state = 0.0
    for n, sample in enumerate(x):
        if n == 0:
            continue
        level = 20 * math.log10(max(abs(sample), floor))
        if 2 * (level - threshold) < -knee:
            static = level
        elif knee > 0 and 2 * abs(level - threshold) <= knee:
            static = level + (1 / ratio - 1) * (level - threshold + knee / 2) ** 2 / (2 * knee)
        else:
            static = threshold + (level - threshold) / ratio
        reduction = level - static
        alpha = alpha_attack if reduction > state else alpha_release
        state = alpha * state + (1 - alpha) * reduction
        out[n] = sample * 10 ** ((makeup - state) / 20)
    return out


def burst(samples, seed=0, loud=(30, 100)):
    """Quiet sine (−26 dB) with a loud burst (−2 dB) in [loud), plus a little noise; float64 (1, samples)."""
    t = torch.arange(samples, dtype=torch.float64)
    envelope = torch.where((t >= loud[0]) & (t < loud[1]), 0.8, 0.05)
    noise = 0.01 * torch.randn(samples, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return (envelope * torch.sin(0.37 * t) + noise).unsqueeze(0)


def physical(effect, **values):
    return effect.normalize(**{k: torch.tensor([v], dtype=torch.float64) for k, v in values.items()})


def smoothed_reduction_db(out, x, makeup_db):
    """y_L recovered from the output gain: makeup − 20·log10(out/x)."""
    return makeup_db - 20 * torch.log10(out / x)


def test_simple_compressor_ratio_is_linear_like_the_reference():
    comp = SimpleCompressor(16000)
    controls = torch.tensor([[0.5, 0.5, 0.355, 0.5, 0.5]], dtype=torch.float64)
    assert comp.denormalize(controls)["ratio"].item() == pytest.approx(2 + 8 * 0.355)  # 4.84 (log scale: 3.54)
    assert Compressor(16000).params[3].scale == "log"  # the DSP compressor's ratio stays log (reference B.3)


@pytest.mark.parametrize("backend", ["numba", "scan"])  # the CPU kernel and the device (CUDA) path
def test_compressor_matches_per_sample_reference(backend):
    fs = 8000
    x = burst(1500, loud=(0, 700)).repeat(3, 1) * torch.tensor([[1.0], [0.5], [2.0]], dtype=torch.float64)
    comp = Compressor(fs, backend=backend)
    controls = torch.rand(3, 6, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    controls[0, 4] = 0.0  # a hard knee
    out = comp(x, controls)
    p = comp.denormalize(controls)
    for b in range(3):
        args = [p[name][b].item() for name in comp.param_names]
        np.testing.assert_allclose(out[b].numpy(), numpy_compressor(x[b].numpy(), fs, *args), rtol=1e-10, atol=1e-12)


def test_attack_and_release_time_constants_from_a_step():
    fs, attack_ms, release_ms = 8000, 10.0, 50.0
    level = torch.cat([torch.full((100,), 0.01), torch.full((1000,), 1.0), torch.full((3000,), 0.01)])
    x = level.to(torch.float64).unsqueeze(0)
    comp = Compressor(fs)
    controls = physical(comp, threshold_db=-20.0, attack_ms=attack_ms, release_ms=release_ms, ratio=4.0,
                        knee_db=0.0, makeup_db=0.0)
    y = smoothed_reduction_db(comp(x, controls), x, 0.0)[0]
    jump = 15.0  # 20 dB over the threshold at ratio 4
    assert y[:100].abs().max() < 1e-9
    assert y[1099].item() == pytest.approx(jump, abs=1e-3)
    reached = 100 + int(torch.nonzero(y[100:] >= (1 - 1 / math.e) * jump)[0])
    assert abs(reached - (100 + attack_ms * 1e-3 * fs - 1)) <= 2
    fallen = 1100 + int(torch.nonzero(y[1100:] <= y[1099] / math.e)[0])
    assert abs(fallen - (1100 + release_ms * 1e-3 * fs - 1)) <= 2


@pytest.mark.parametrize("effect", [Compressor(16000), SimpleCompressor(16000)])
def test_makeup_gain_is_exact_below_threshold(effect):
    t = torch.arange(800, dtype=torch.float64)
    x = (0.05 * torch.sin(0.1 * t)).unsqueeze(0)  # ≤ −26 dB
    values = {"threshold_db": -20.0, "ratio": 3.0, "knee_db": 0.0, "makeup_db": 7.0}
    values.update({"attack_ms": 5.0, "release_ms": 50.0} if isinstance(effect, Compressor) else {"time_ms": 20.0})
    out = effect(x, physical(effect, **values))
    torch.testing.assert_close(out, x * 10 ** (7.0 / 20), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("backend", ["numba", "scan"])
def test_gradcheck_compressor_all_six_controls(backend):
    fs = 2000  # attack ≈ 7 and 4 samples, release ≈ 96 and 60 samples: both phases within 200 samples
    comp = Compressor(fs, backend=backend)
    x = torch.cat([burst(200, seed=1), burst(200, seed=2, loud=(60, 120))]).requires_grad_()
    controls = torch.tensor([[0.5, 0.3, 0.4, 0.5, 0.5, 0.3], [0.6, 0.15, 0.3, 0.8, 0.1, 0.7]], dtype=torch.float64)
    controls.requires_grad_()
    p = comp.denormalize(controls)
    reduction = gain_reduction(amplitude_to_db(x), p["threshold_db"][:, None], p["ratio"][:, None], p["knee_db"][:, None])
    smoothed = attack_release(reduction, *(time_constant_to_alpha(p[k], fs) for k in ("attack_ms", "release_ms")))
    assert (smoothed[:, 90] > 5).all() and (smoothed[:, -1] < smoothed[:, 90] / 2).all()  # attack, then release
    assert torch.autograd.gradcheck(lambda c, a: comp(a, c), (controls, x))


def test_simple_compressor_is_a_one_pole_on_the_gain_reduction():
    fs = 2000
    comp = SimpleCompressor(fs)
    x = torch.cat([burst(200, seed=3), burst(200, seed=4, loud=(50, 150))])
    controls = torch.tensor([[0.5, 0.4, 0.5, 0.5, 0.3], [0.7, 0.6, 0.2, 0.0, 0.6]], dtype=torch.float64)
    p = comp.denormalize(controls)
    reduction = gain_reduction(amplitude_to_db(x), p["threshold_db"][:, None], p["ratio"][:, None], p["knee_db"][:, None])
    smoothed = one_pole(reduction, time_constant_to_alpha(p["time_ms"], fs))
    expected = x * db_to_amplitude(p["makeup_db"][:, None] - smoothed)
    torch.testing.assert_close(comp(x, controls), expected, rtol=1e-12, atol=1e-12)


def test_simple_compressor_time_constant_comes_from_its_own_control():
    fs = 8000
    comp = SimpleCompressor(fs)
    x = torch.cat([torch.full((100,), 0.01), torch.full((2000,), 1.0)]).to(torch.float64).unsqueeze(0)
    for time_ms in (2.0, 40.0):
        for threshold_db in (-30.0, -10.0):
            controls = physical(comp, threshold_db=threshold_db, time_ms=time_ms, ratio=2.0, knee_db=0.0, makeup_db=0.0)
            y = smoothed_reduction_db(comp(x, controls), x, 0.0)[0]
            jump = -threshold_db / 2
            reached = 100 + int(torch.nonzero(y[100:] >= (1 - 1 / math.e) * jump)[0])
            assert abs(reached - (100 + time_ms * 1e-3 * fs - 1)) <= 2


@pytest.mark.parametrize("backend", ["numba", "scan"])
def test_gradcheck_simple_compressor_all_five_controls(backend):
    comp = SimpleCompressor(2000, backend=backend)
    x = torch.cat([burst(200, seed=5), burst(200, seed=6, loud=(80, 160))]).requires_grad_()
    controls = torch.tensor([[0.5, 0.4, 0.5, 0.5, 0.3], [0.6, 0.3, 0.8, 0.2, 0.7]], dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda c, a: comp(a, c), (controls.requires_grad_(), x))


@pytest.mark.parametrize(
    "effect",
    [Compressor(44100), SimpleCompressor(44100), SoftClipper(44100),
     Compressor(44100, backend="scan"), SimpleCompressor(44100, backend="scan")],
)
@pytest.mark.parametrize("kind", ["silence", "full scale"])
def test_no_nan_on_silence_or_full_scale(effect, kind):
    g = torch.Generator().manual_seed(7)
    if kind == "silence":
        x = torch.zeros(3, 2000)
    else:
        x = torch.sign(torch.randn(3, 2000, generator=g))
        x[:, ::7] = 0.0  # exact zeros among full-scale samples
    x.requires_grad_()
    controls = torch.rand(3, effect.n_params, generator=g)
    controls[0] = 0.0
    controls[1] = 1.0
    controls.requires_grad_()
    out = effect(x, controls)
    out.square().mean().backward()
    for t in (out, x.grad, controls.grad):
        assert torch.isfinite(t).all()
    if kind == "silence":
        assert (out == 0).all()


@pytest.mark.parametrize("effect", [Compressor(16000), SimpleCompressor(16000), SoftClipper(16000)])
def test_input_is_not_modified(effect):
    x = burst(500).float()
    x[0, ::5] = 1e-5  # below the level floor: the reference wrote the floor into them
    before = x.clone()
    controls = torch.full((1, effect.n_params), 0.5)
    out = effect(x, controls)
    assert torch.equal(x, before)
    assert (out[0, ::5].abs() < 1e-4).all()


def test_soft_clipper_values():
    clipper = SoftClipper(44100)  # "analysis": T [−20, 0], W [0, 12]
    controls = clipper.normalize(threshold_db=torch.tensor([-12.0]), knee_db=torch.tensor([6.0]))
    threshold = 10 ** (-12 / 20)
    x = torch.tensor([[0.01, -0.1, 0.15, 1.0, -4.0, threshold]], dtype=torch.float64)
    out = clipper(x, controls)
    torch.testing.assert_close(out[0, :3], x[0, :3])  # −40, −20 and −16.5 dB: below the knee [−15, −9]
    torch.testing.assert_close(out[0, 3:5], torch.tensor([threshold, -threshold], dtype=torch.float64))
    torch.testing.assert_close(out[0, 5], torch.tensor(10 ** ((-12 - 6 / 8) / 20), dtype=torch.float64))


def test_soft_clipper_presets():
    assert [(p.min, p.max) for p in SoftClipper(preset="analysis").params] == [(-20.0, 0.0), (0.0, 12.0)]
    assert [(p.min, p.max) for p in SoftClipper(preset="limiter").params] == [(-6.0, 0.0), (0.0, 6.0)]
    with pytest.raises(ValueError, match="preset"):
        SoftClipper(preset="brickwall")


def test_static_curve_closed_form():
    comp = Compressor(44100)
    values = {"threshold_db": [-20.0, -10.0], "attack_ms": [5.0, 5.0], "release_ms": [50.0, 50.0],
              "ratio": [4.0, 2.0], "knee_db": [10.0, 0.0], "makeup_db": [3.0, 0.0]}
    controls = comp.normalize(**{k: torch.tensor(v, dtype=torch.float64) for k, v in values.items()})
    levels = torch.tensor([-40.0, -25.0, -20.0, -15.0, 0.0], dtype=torch.float64)
    curve = comp.static_curve(controls, levels)
    assert curve.shape == (2, 5)
    torch.testing.assert_close(curve[0], torch.tensor([-40.0, -25.0, -20.0 - 0.75 * 25 / 20, -18.75, -15.0],
                                                      dtype=torch.float64) + 3.0)
    torch.testing.assert_close(curve[1], torch.tensor([-40.0, -25.0, -20.0, -15.0, -5.0], dtype=torch.float64))


def test_bad_input_is_named():
    comp = Compressor(44100)
    with pytest.raises(ValueError, match="threshold_db"):
        comp(torch.zeros(1, 100), torch.zeros(1, 6, 4))
    with pytest.raises(ValueError, match="knee_db"):
        Compressor(44100, ranges={"knee_db": [-3.0, 6.0]})
    with pytest.raises(ValueError, match="time_ms"):
        SimpleCompressor(44100, ranges={"time_ms": [0.0, 6.0]})
    assert Compressor(44100, ranges={"attack_ms": [5.0, 30.0]}).params[1].max == 30.0


def test_compressors_name_a_bad_backend():
    with pytest.raises(ValueError, match="SimpleCompressor: backend"):
        SimpleCompressor(16000, backend="cuda")
