"""ParametricEQ and GraphicEQ: controls, ranges, presets, both filtering paths, against scipy."""

import math
import warnings

import numpy as np
import pytest
import scipy.signal
import torch

from ddspfx.effects.eq import GraphicEQ, ParametricEQ
from tests.dsp.test_filters import cookbook

PEQ_NAMES = [
    f"{band}_{what}"
    for band in ("low_shelf", "peak1", "peak2", "peak3", "high_shelf")
    for what in ("freq", "gain", "q")
]
PEQ_KINDS = ["low_shelf", "peak", "peak", "peak", "high_shelf"]
GEQ_NAMES = ["gain_31", "gain_62", "gain_125", "gain_250", "gain_500", "gain_1k", "gain_2k", "gain_4k", "gain_8k", "gain_16k"]


def no_warnings(factory, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return factory(*args, **kwargs)


def ranges_of(effect):
    return {p.name: (p.min, p.max) for p in effect.params}


def test_parametric_eq_controls_and_icassp_ranges():
    eq = no_warnings(ParametricEQ, sample_rate=44100)  # 0.46·44.1 kHz > 20 kHz: nothing narrowed
    assert eq.n_params == 15 and eq.param_names == PEQ_NAMES
    assert [p.unit for p in eq.params[:3]] == ["Hz", "dB", ""]
    assert [p.scale for p in eq.params[:3]] == ["log", "linear", "linear"]
    table = [(30, 160), (100, 2000), (500, 6000), (2000, 16000), (5000, 20000)]
    ranges = ranges_of(eq)
    for band, freqs in zip(("low_shelf", "peak1", "peak2", "peak3", "high_shelf"), table):
        assert ranges[f"{band}_freq"] == freqs
        assert ranges[f"{band}_gain"] == (-15, 15)
        assert ranges[f"{band}_q"] == (0.1, 2)
    # f0 is log-mapped: control 0.5 is the geometric mean of the range.
    physical = eq.denormalize(torch.full((1, 15), 0.5))
    assert physical["peak1_freq"].item() == pytest.approx(math.sqrt(100 * 2000), rel=1e-5)
    assert physical["peak1_gain"].item() == pytest.approx(0.0, abs=1e-5)


def test_parametric_eq_taslp5_preset_and_overrides():
    eq = no_warnings(ParametricEQ, sample_rate=48000, preset="taslp5", ranges={"peak2_q": [0.5, 1.0]})
    ranges = ranges_of(eq)
    freqs = [ranges[f"{band}_freq"] for band in ("low_shelf", "peak1", "peak2", "peak3", "high_shelf")]
    assert freqs == [(20, 200), (40, 300), (200, 3000), (1000, 6000), (2000, 20000)]
    assert ranges["low_shelf_gain"] == (-10, 10) and ranges["peak1_q"] == (0.1, 3)
    assert ranges["peak2_q"] == (0.5, 1.0)
    with pytest.raises(ValueError, match="unknown preset 'dx7'"):
        ParametricEQ(48000, preset="dx7")
    with pytest.raises(ValueError, match="unknown parameter.*'peak4_q'"):
        ParametricEQ(48000, ranges={"peak4_q": [0.1, 1]})
    with pytest.raises(ValueError, match="'peak1_q'.*min > 0"):
        ParametricEQ(48000, ranges={"peak1_q": [0.0, 1]})
    with pytest.raises(ValueError, match="method"):
        ParametricEQ(48000, method="iir")
    with pytest.raises(ValueError, match="pad"):
        ParametricEQ(48000, pad=-1)


def test_frequency_ranges_are_narrowed_below_0_46_fs():
    with pytest.warns(UserWarning) as record:
        eq = ParametricEQ(sample_rate=16000)
    messages = " ".join(str(w.message) for w in record)
    assert "'peak3_freq'" in messages and "'high_shelf_freq'" in messages and "'peak2_freq'" not in messages
    ranges = ranges_of(eq)
    assert ranges["peak3_freq"] == (2000, 7360) and ranges["high_shelf_freq"] == (5000, 7360)
    assert ranges["peak2_freq"] == (500, 6000)
    with pytest.raises(ValueError, match="'high_shelf_freq'.*above"):
        ParametricEQ(sample_rate=16000, ranges={"high_shelf_freq": [8000, 12000], "peak3_freq": [2000, 4000]})


def test_parametric_eq_matches_scipy_cascade():
    # Physical values → independent cookbook designs → scipy.signal.lfilter, band after band.
    eq = no_warnings(ParametricEQ, sample_rate=48000, method="exact")
    controls = torch.rand(2, 15, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    x = np.random.default_rng(0).standard_normal((2, 6000))
    physical = {k: v.numpy() for k, v in eq.denormalize(controls).items()}
    reference = x.copy()
    for i in range(2):
        for band, kind in zip(("low_shelf", "peak1", "peak2", "peak3", "high_shelf"), PEQ_KINDS):
            design = cookbook(kind, physical[f"{band}_freq"][i], physical[f"{band}_gain"][i], physical[f"{band}_q"][i], 48000)
            reference[i] = scipy.signal.lfilter(*design, reference[i])
    exact = eq(torch.from_numpy(x), controls).numpy()
    np.testing.assert_allclose(exact, reference, atol=1e-9)
    eq.method = "fsm"
    np.testing.assert_allclose(eq(torch.from_numpy(x), controls).numpy(), reference, atol=1e-8)


@pytest.mark.parametrize("sample_rate", [16000, 44100])
def test_parametric_eq_fsm_agrees_with_exact_in_float32(sample_rate):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fsm = ParametricEQ(sample_rate, preset="taslp5")
        exact = ParametricEQ(sample_rate, preset="taslp5", method="exact")
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(3, sample_rate // 2, generator=generator)
    # Random settings plus the corner with every band at its lowest frequency and highest Q.
    controls = torch.cat([torch.rand(2, 15, generator=generator), torch.tensor([[0.0, 1.0, 1.0] * 5])])
    y_fsm, y_exact = fsm(x, controls), exact(x, controls)
    assert y_fsm.dtype == y_exact.dtype == torch.float32
    error = (y_fsm - y_exact).square().mean(-1).sqrt() / y_exact.square().mean(-1).sqrt()
    assert error.max() < 1e-5


def test_coefficients_and_magnitude_response():
    eq = no_warnings(ParametricEQ, sample_rate=48000)
    controls = torch.rand(4, 15, generator=torch.Generator().manual_seed(2))
    b, a = eq.coefficients(controls)
    assert b.shape == a.shape == (4, 5, 3) and b.dtype == torch.float64
    torch.testing.assert_close(a[..., 0], torch.ones(4, 5, dtype=torch.float64))
    freqs = torch.logspace(1, math.log10(20000), 50)
    assert eq.magnitude_response_db(controls, freqs).shape == (4, 50)
    # All gains 0 dB (control 0.5): flat. One peak alone: its gain at its centre frequency.
    flat = torch.full((1, 15), 0.5)
    torch.testing.assert_close(eq.magnitude_response_db(flat, freqs), torch.zeros(1, 50, dtype=torch.float64), atol=1e-9, rtol=0)
    physical = {k: v.double() for k, v in eq.denormalize(flat).items()}
    physical["peak2_gain"] = torch.tensor([12.0], dtype=torch.float64)
    one_peak = eq.normalize(**physical)
    at_centre = eq.magnitude_response_db(one_peak, physical["peak2_freq"])
    assert at_centre.item() == pytest.approx(12.0, abs=1e-6)


def test_bad_controls_raise_clear_errors():
    eq = no_warnings(ParametricEQ, sample_rate=48000)
    x = torch.randn(2, 100)
    with pytest.raises(ValueError, match="'low_shelf_freq'.*time-varying"):
        eq(x, torch.rand(2, 15, 4))
    with pytest.raises(ValueError, match="batch sizes differ"):
        eq(x, torch.rand(3, 15))
    with pytest.raises(ValueError, match="audio"):
        eq(torch.randn(100), torch.rand(1, 15))


def test_gradcheck_parametric_eq_wrt_controls():
    # fast_mode: a random projection of the Jacobian (the full one is checked for fsm_filter).
    generator = torch.Generator().manual_seed(3)
    x = torch.randn(2, 48, generator=generator, dtype=torch.float64)
    controls = (0.1 + 0.8 * torch.rand(2, 15, generator=generator, dtype=torch.float64)).requires_grad_()
    for method in ("fsm", "exact"):
        eq = no_warnings(ParametricEQ, sample_rate=48000, method=method, pad=64)
        assert torch.autograd.gradcheck(lambda c: eq(x, c), (controls,), fast_mode=True)


def test_graphic_eq_q_values_and_controls():
    eq = no_warnings(GraphicEQ, sample_rate=44100)
    assert eq.param_names == GEQ_NAMES and eq.n_params == 10
    assert all((p.min, p.max, p.unit) == (-15, 15, "dB") for p in eq.params)
    q = dict(zip(GEQ_NAMES, eq.q_values.tolist()))
    published = {"gain_31": 0.6667, "gain_62": 0.6667, "gain_125": 0.6667, "gain_1k": 0.6641, "gain_8k": 0.5084, "gain_16k": 0.1267}
    for name, value in published.items():
        assert q[name] == pytest.approx(value, abs=1e-3)
    assert "q_values" in eq.state_dict()
    custom = GraphicEQ(44100, gain_range=(-6, 6), ranges={"gain_1k": [-3, 3]})
    assert ranges_of(custom)["gain_500"] == (-6, 6) and ranges_of(custom)["gain_1k"] == (-3, 3)


def test_graphic_eq_is_a_plain_cascade():
    eq = no_warnings(GraphicEQ, sample_rate=44100)
    x = torch.randn(1, 2000, dtype=torch.float64)
    flat = torch.full((1, 10), 0.5, dtype=torch.float64)
    torch.testing.assert_close(eq(x, flat), x)  # 0 dB everywhere: identity, no normalization
    boost = flat.clone()
    boost[0, GEQ_NAMES.index("gain_1k")] = 0.9  # +12 dB
    assert eq.magnitude_response_db(boost, torch.tensor([1000.0])).item() == pytest.approx(12.0, abs=1e-9)
    controls = torch.rand(2, 10, generator=torch.Generator().manual_seed(4))
    b, a = eq.coefficients(controls)
    assert b.shape == (2, 10, 3)
    xs = torch.randn(2, 8000)
    eq.method = "exact"
    y_exact = eq(xs, controls)
    eq.method = "fsm"
    torch.testing.assert_close(eq(xs, controls), y_exact, atol=1e-5, rtol=0)


def test_graphic_eq_drops_bands_above_0_46_fs():
    with pytest.warns(UserWarning, match=r"\['gain_8k', 'gain_16k'\].*dropped"):
        eq = GraphicEQ(sample_rate=16000, ranges={"gain_16k": [-1, 1]})
    assert eq.param_names == GEQ_NAMES[:8] and eq.q_values.shape == (8,)
    assert eq(torch.randn(2, 500), torch.rand(2, 8)).shape == (2, 500)


def test_gradcheck_graphic_eq_wrt_controls():
    eq = no_warnings(GraphicEQ, sample_rate=44100, pad=64)
    x = torch.randn(2, 48, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    controls = torch.rand(2, 10, generator=torch.Generator().manual_seed(6), dtype=torch.float64).requires_grad_()
    assert torch.autograd.gradcheck(lambda c: eq(x, c), (controls,), fast_mode=True)
