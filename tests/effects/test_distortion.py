import numpy as np
import pytest
import torch

from ddspfx.effects.distortion import ChebyshevDistortion, HardnessClipper, TaylorDistortion

SR = 16000


def clipper_controls(clipper, drive_db, offset, hardness, dtype=torch.float64):
    physical = dict(drive_db=drive_db, offset=offset, hardness=hardness)
    return clipper.normalize(**{k: torch.tensor([float(v)], dtype=dtype) for k, v in physical.items()})


def np_tanh(u):
    return np.tanh(u)


def np_cubic(u):
    return np.where(np.abs(u) < 1.5, u - 4 * u**3 / 27, np.sign(u))


def np_hard(u):
    return (np.abs(u + 1) - np.abs(u - 1)) / 2


def np_shape(u, h):
    """φ_h by explicit cases: tanh → cubic on [0, 1], cubic → hard on [1, 2]."""
    if h <= 1:
        return (1 - h) * np_tanh(u) + h * np_cubic(u)
    return (2 - h) * np_cubic(u) + (h - 1) * np_hard(u)


def np_clipper(x, drive_db, offset, h):
    g = 10 ** (drive_db / 20)
    return (np_shape(g * x + offset, h) - np_shape(offset, h)) / g


def run_clipper(x, drive_db, offset, hardness):
    clipper = HardnessClipper(SR)
    audio = torch.as_tensor(np.asarray(x, dtype=np.float64))[None]
    return clipper(audio, clipper_controls(clipper, drive_db, offset, hardness))[0].numpy()


@pytest.mark.parametrize(
    "x, drive_db, offset, hardness, expected",
    [
        (0.5, 0.0, 0.0, 0.0, np.tanh(0.5)),
        (0.75, 0.0, 0.0, 1.0, 0.6875),  # 0.75 − 4·0.75³/27
        (0.1, 20.0, 0.0, 1.0, 23 / 270),  # u = 1 → (1 − 4/27)/10
        (0.2, 20.0, 0.0, 1.0, 0.1),  # u = 2 beyond the knee → 1/10
        (0.05, 20.0, 0.0, 2.0, 0.05),  # inside the hard clip, slope 1
        (0.3, 20.0, 0.0, 2.0, 0.1),
        (0.7, 0.0, 0.5, 2.0, 0.5),  # clip(1.2) − 0.5
        (-2.0, 0.0, 0.5, 2.0, -1.5),  # clip(−1.5) − 0.5: the offset makes it asymmetric
        (0.75, 0.0, 0.0, 0.5, 0.5 * np.tanh(0.75) + 0.5 * 0.6875),
        (0.3, 20.0, 0.0, 1.5, 0.5 * 0.1 + 0.5 * 0.1),
    ],
)
def test_clipper_known_points(x, drive_db, offset, hardness, expected):
    assert run_clipper([x], drive_db, offset, hardness)[0] == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("hardness", [0.0, 0.3, 1.0, 1.7, 2.0])
@pytest.mark.parametrize("drive_db, offset", [(-10.0, 0.0), (6.0, 0.4), (20.0, 1.0)])
def test_clipper_matches_numpy_reference(hardness, drive_db, offset):
    x = np.linspace(-1.5, 1.5, 301)
    expected = np_clipper(x, drive_db, offset, hardness)
    np.testing.assert_allclose(run_clipper(x, drive_db, offset, hardness), expected, atol=1e-12)


@pytest.mark.parametrize("drive_db, offset, hardness", [(-10, 0, 0), (7, 0.3, 0.6), (20, 1, 2), (3, 0.8, 1.4)])
def test_clipper_keeps_zero_at_zero(drive_db, offset, hardness):
    assert run_clipper([0.0], drive_db, offset, hardness)[0] == pytest.approx(0.0, abs=1e-15)


def test_clipper_gradcheck():
    torch.manual_seed(0)
    clipper = HardnessClipper(SR)
    audio = (torch.rand(2, 12, dtype=torch.float64) - 0.5).requires_grad_()
    controls = torch.tensor([[0.4, 0.3, 0.2], [0.8, 0.6, 0.7]], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(clipper, (audio, controls))


def test_clipper_gradients_finite_at_kinks_and_extremes():
    clipper = HardnessClipper(SR)
    # hardness exactly 0, 1, 2 (the hat-weight kinks), drive at both ends, offset at both ends
    controls = torch.tensor(
        [[0.0, 0.0, 0.0], [1.0, 1.0, 0.5], [1.0, 0.0, 1.0], [1 / 3, 0.0, 0.5]], dtype=torch.float64
    ).requires_grad_()
    # x such that g·x hits ±1 and ±1.5 exactly at drive 0 dB, plus large values
    x = torch.tensor([-100.0, -1.5, -1.0, 0.0, 1.0, 1.5, 100.0], dtype=torch.float64)
    audio = x.repeat(4, 1).requires_grad_()
    clipper(audio, controls).sum().backward()
    assert torch.isfinite(audio.grad).all() and torch.isfinite(controls.grad).all()


def test_clipper_ranges_and_contract():
    clipper = HardnessClipper(SR, ranges={"drive_db": [0.0, 6.0]})
    assert clipper.sample_rate == SR
    assert clipper.param_names == ["drive_db", "offset", "hardness"]
    assert clipper.denormalize(torch.ones(1, 3))["drive_db"].item() == pytest.approx(6.0)
    with pytest.raises(ValueError, match="drive"):
        HardnessClipper(SR, ranges={"drive": [0.0, 6.0]})


def test_time_varying_controls_are_refused():
    clipper = HardnessClipper(SR)
    with pytest.raises(ValueError, match="drive_db"):
        clipper(torch.zeros(2, 8), torch.zeros(2, 3, 4))


def one_hot_controls(effect, index, value=1.0, dtype=torch.float64):
    """Controls with coefficient `index` (position in param_names) at `value`, all others 0."""
    physical = {name: torch.zeros(1, dtype=dtype) for name in effect.param_names}
    physical[effect.param_names[index]] = torch.tensor([value], dtype=dtype)
    return effect.normalize(**physical)


@pytest.mark.parametrize("k", [0, 1, 2, 3, 7, 16, 23])
def test_chebyshev_term_is_cos_k_theta(k):
    cheb = ChebyshevDistortion(SR)
    theta = np.linspace(0.0, np.pi, 257)
    audio = torch.as_tensor(np.cos(theta))[None]
    y = cheb(audio, one_hot_controls(cheb, k))[0].numpy()
    np.testing.assert_allclose(y, np.cos(k * theta), atol=1e-9)


def test_chebyshev_third_order_gives_pure_third_harmonic():
    cheb = ChebyshevDistortion(SR)
    n, cycles = 1024, 8
    sine = np.sin(2 * np.pi * cycles * np.arange(n) / n)  # full scale: peak exactly 1
    y = cheb(torch.as_tensor(sine)[None], one_hot_controls(cheb, 3))[0].numpy()
    energy = np.abs(np.fft.rfft(y)) ** 2
    assert np.argmax(energy) == 3 * cycles
    assert energy[3 * cycles] / energy.sum() > 1 - 1e-12
    np.testing.assert_allclose(np.abs(np.fft.rfft(y))[3 * cycles], n / 2, rtol=1e-9)  # amplitude 1


def test_chebyshev_clamps_input_to_unit_interval():
    cheb = ChebyshevDistortion(SR, order=6)
    torch.manual_seed(1)
    controls = torch.rand(1, 6, dtype=torch.float64)
    loud = torch.tensor([[-3.0, -1.0, 2.0, 1.0]], dtype=torch.float64)
    np.testing.assert_allclose(cheb(loud, controls).numpy(), cheb(loud.clamp(-1, 1), controls).numpy())


def test_chebyshev_matches_numpy_chebval():
    cheb = ChebyshevDistortion(SR)
    torch.manual_seed(2)
    controls = torch.rand(1, 24, dtype=torch.float64)
    x = np.linspace(-1, 1, 101)
    coeffs = cheb.denormalize(controls)
    c = np.array([coeffs[f"p_{k}"].item() for k in range(24)])
    y = cheb(torch.as_tensor(x)[None], controls)[0].numpy()
    np.testing.assert_allclose(y, np.polynomial.chebyshev.chebval(x, c), atol=1e-10)


def test_taylor_first_term_is_identity():
    taylor = TaylorDistortion(SR)
    x = torch.linspace(-1, 1, 65, dtype=torch.float64)[None]
    torch.testing.assert_close(taylor(x, one_hot_controls(taylor, 0)), x)


def test_taylor_matches_numpy_polyval():
    taylor = TaylorDistortion(SR)
    assert taylor.param_names == [f"p_{k}" for k in range(1, 25)]
    torch.manual_seed(3)
    controls = torch.rand(2, 24, dtype=torch.float64)
    x = torch.linspace(-1.2, 1.2, 97, dtype=torch.float64).repeat(2, 1)
    y = taylor(x, controls).numpy()
    coeffs = taylor.denormalize(controls)
    for b in range(2):
        c = [0.0] + [coeffs[f"p_{k}"][b].item() for k in range(1, 25)]
        expected = np.polynomial.polynomial.polyval(x[b].numpy(), c)
        np.testing.assert_allclose(y[b], expected, rtol=1e-10, atol=1e-12)


def test_order_is_configurable():
    assert TaylorDistortion(SR, order=3).param_names == ["p_1", "p_2", "p_3"]
    assert ChebyshevDistortion(SR, order=4).param_names == ["p_0", "p_1", "p_2", "p_3"]
    cheb = ChebyshevDistortion(SR, order=2, ranges={"p_1": [0.0, 2.0]})
    assert cheb.denormalize(torch.ones(1, 2))["p_1"].item() == pytest.approx(2.0)
    for bad in (0, 2.5, "3"):
        with pytest.raises(ValueError, match="order"):
            TaylorDistortion(SR, order=bad)


@pytest.mark.parametrize("cls", [TaylorDistortion, ChebyshevDistortion])
def test_polynomial_gradcheck(cls):
    torch.manual_seed(4)
    effect = cls(SR, order=5)
    audio = (1.8 * torch.rand(2, 10, dtype=torch.float64) - 0.9).requires_grad_()
    controls = torch.rand(2, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(effect, (audio, controls))


def test_hardness_clipper_gives_finite_gradients_on_inf():
    # before the input clamp: ∂/∂drive = x·φ'(g·x + o) = Inf · 0 = NaN
    from ddspfx.effects.distortion import HardnessClipper as _Clipper

    clipper = _Clipper(16000)
    audio = torch.tensor([[0.5, float("inf"), -float("inf"), 0.1]], requires_grad=True)
    controls = torch.full((1, 3), 0.5, requires_grad=True)
    out = clipper(audio, controls)
    out.sum().backward()
    assert torch.isfinite(out).all() and torch.isfinite(audio.grad).all() and torch.isfinite(controls.grad).all()
    # Inf is clipped like a very large finite value, and finite values are unchanged by the clamp
    torch.testing.assert_close(out[0, 1:3], clipper(torch.tensor([[1e30, -1e30]]), controls.detach())[0])
    x = torch.linspace(-50, 50, 101)[None]
    from ddspfx.effects.distortion import hardness_shape
    p = clipper.denormalize(controls.detach())
    g = 10 ** (p["drive_db"] / 20)
    raw = (hardness_shape(g * x + p["offset"], p["hardness"]) - hardness_shape(p["offset"], p["hardness"])) / g
    torch.testing.assert_close(clipper(x, controls.detach()), raw)


def test_taylor_does_not_overflow_at_large_amplitude():
    from ddspfx.effects.distortion import TaylorDistortion as _Taylor, taylor_series

    taylor = _Taylor(16000)
    audio = torch.full((1, 8), 100.0, requires_grad=True)  # 100^24 = 1e48 overflows float32
    controls = torch.rand(1, 24, generator=torch.Generator().manual_seed(0), requires_grad=True)
    assert not torch.isfinite(taylor_series(audio.detach(), taylor.coefficients(taylor.denormalize(controls.detach())), bound=None)).all()
    out = taylor(audio, controls)
    out.sum().backward()
    assert torch.isfinite(out).all() and torch.isfinite(audio.grad).all() and torch.isfinite(controls.grad).all()
    torch.testing.assert_close(out, taylor(torch.full((1, 8), 2.0), controls.detach()))  # clamped to ±2
    # on [−2, 2] nothing changes: Σ p_k x^k by numpy
    x = torch.linspace(-2, 2, 41, dtype=torch.float64)[None]
    c = torch.rand(1, 24, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) * 2 - 1
    import numpy as np
    expected = np.polynomial.polynomial.polyval(x.numpy(), np.concatenate([[0.0], c[0].numpy()]))
    np.testing.assert_allclose(taylor_series(x, c).numpy(), expected, rtol=1e-12, atol=1e-12)
