"""ddspfx.dsp.dynamics against the closed forms of the quadratic-knee static curve."""

import math

import numpy as np
import pytest
import torch

from ddspfx.dsp.dynamics import (
    peak_normalize,
    amplitude_to_db,
    db_to_amplitude,
    gain_computer,
    gain_reduction,
    soft_clip_curve,
)


def numpy_curve(x, threshold, ratio, knee):
    """The piecewise static curve of reference A.13, written branch by branch."""
    y = np.empty_like(x)
    for i, level in enumerate(x):
        if 2 * (level - threshold) < -knee:
            y[i] = level
        elif knee > 0 and 2 * abs(level - threshold) <= knee:
            y[i] = level + (1 / ratio - 1) * (level - threshold + knee / 2) ** 2 / (2 * knee)
        else:
            y[i] = threshold + (level - threshold) / ratio
    return y


def f64(values):
    return torch.tensor(values, dtype=torch.float64)


def test_amplitude_to_db_values_and_gradient_at_zero():
    x = f64([1.0, 0.1, -0.5, 0.0, 1e-5]).requires_grad_()
    db = amplitude_to_db(x)
    torch.testing.assert_close(db, f64([0.0, -20.0, 20 * math.log10(0.5), -80.0, -80.0]))
    db.sum().backward()
    assert torch.isfinite(x.grad).all()
    torch.testing.assert_close(x.grad, f64([20 / math.log(10), 200 / math.log(10), -40 / math.log(10), 0.0, 0.0]))
    torch.testing.assert_close(db_to_amplitude(amplitude_to_db(f64([0.3, 2.0]))), f64([0.3, 2.0]))
    with pytest.raises(ValueError, match="floor"):
        amplitude_to_db(x, floor=0.0)


def test_gain_computer_closed_form_points():
    # T = −20 dB, R = 4, W = 10 dB: the knee spans [−25, −15] dB
    levels = f64([-40.0, -25.0, -20.0, -15.0, 0.0])
    expected = f64([-40.0, -25.0, -20.0 - 0.75 * 25 / 20, -18.75, -15.0])
    torch.testing.assert_close(gain_computer(levels, -20.0, 4.0, 10.0), expected)
    torch.testing.assert_close(gain_reduction(levels, -20.0, 4.0, 10.0), levels - expected)


def test_hard_knee_values_and_finite_gradients():
    levels = f64([-30.0, -20.0, -10.0]).requires_grad_()
    threshold, ratio, knee = (f64([v]).requires_grad_() for v in (-20.0, 4.0, 0.0))
    y = gain_computer(levels, threshold, ratio, knee)
    torch.testing.assert_close(y, f64([-30.0, -20.0, -17.5]))
    y.sum().backward()
    for t in (levels, threshold, ratio, knee):
        assert torch.isfinite(t.grad).all()
    torch.testing.assert_close(levels.grad, f64([1.0, 1.0, 0.25]))  # at x = T either side is right; ours is 1
    torch.testing.assert_close(knee.grad, f64([0.0]))  # the curve is flat in W at W = 0 except at x = T


@pytest.mark.parametrize("threshold, ratio, knee", [(-20.0, 4.0, 10.0), (-6.0, 2.0, 0.0), (-35.0, 10.0, 12.0), (0.0, 1.0, 3.0)])
def test_gain_computer_matches_piecewise_reference(threshold, ratio, knee):
    levels = np.linspace(-80, 10, 901)
    ours = gain_computer(torch.from_numpy(levels), threshold, ratio, knee).numpy()
    np.testing.assert_allclose(ours, numpy_curve(levels, threshold, ratio, knee), atol=1e-12)


def test_knee_edges_are_continuous_in_value_and_slope():
    threshold, ratio, knee = -20.0, 4.0, 10.0
    for edge in (threshold - knee / 2, threshold + knee / 2):
        x = f64([edge - 1e-7, edge + 1e-7]).requires_grad_()
        y = gain_computer(x, threshold, ratio, knee)
        y.sum().backward()
        assert abs(y[1] - y[0]).item() < 1e-6
        assert abs(x.grad[1] - x.grad[0]).item() < 1e-6


def test_gradcheck_gain_computer_and_soft_clip():
    levels = f64([-50.0, -24.0, -21.0, -16.0, -3.0]).requires_grad_()
    params = [f64([v]).requires_grad_() for v in (-20.0, 3.0, 10.0)]
    assert torch.autograd.gradcheck(gain_computer, (levels, *params))
    assert torch.autograd.gradcheck(soft_clip_curve, (levels, params[0], params[2]))


def test_soft_clip_curve():
    levels = f64([-40.0, -26.0, -20.0, -14.0, 0.0, 30.0])
    y = soft_clip_curve(levels, -20.0, 12.0)  # knee spans [−26, −14]
    torch.testing.assert_close(y, f64([-40.0, -26.0, -20.0 - 12 / 8, -20.0, -20.0, -20.0]))
    torch.testing.assert_close(soft_clip_curve(levels, -20.0, 0.0), levels.clamp_max(-20.0))


def test_bad_parameters_are_named():
    with pytest.raises(ValueError, match="knee_db"):
        gain_computer(f64([0.0]), -10.0, 2.0, -1.0)
    with pytest.raises(ValueError, match="ratio"):
        gain_computer(f64([0.0]), -10.0, 0.5, 1.0)
    with pytest.raises(ValueError, match="knee_db"):
        soft_clip_curve(f64([0.0]), -10.0, float("nan"))


def test_peak_normalize_peaks_at_one_and_keeps_silence_finite():
    audio = torch.tensor([[0.1, -0.4, 0.2], [0.0, 0.0, 0.0]], requires_grad=True)
    out = peak_normalize(audio)
    torch.testing.assert_close(out[0], torch.tensor([0.25, -1.0, 0.5]))
    torch.testing.assert_close(out[1], torch.zeros(3))
    out.sum().backward()
    assert torch.isfinite(audio.grad).all()
