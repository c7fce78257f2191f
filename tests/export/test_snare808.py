"""ddspfx/export/snare808.py: the TorchScript Snare808 renders what Snare808.forward renders.

Tolerance. Both paths compute the noise high-pass in float64 (Snare808: the biquad recursion;
the export: an exact FFT convolution with the closed-form impulse response) and round once to
float32; everything else is the same float32/float64 operations. Their float64 results differ by
rounding only (≲ 1e-12), so after rounding to float32 a sample can differ by one ulp of the
filtered noise and then of the tanh output, |y| ≤ 1: ≤ 2⁻²³ ≈ 1.2e-7 per rounding. atol = 1e-6
leaves room for a few such roundings and is far below anything audible (−120 dBFS).
"""

import io
import re

import numpy as np
import pytest
import scipy.signal
import torch

from ddspfx.dsp.filters import biquad_coefficients
from ddspfx.export import ScriptedSnare808, export_snare808
from ddspfx.synths import Snare808

ATOL = 1e-6


def random_controls(n: int, seed: int = 0) -> torch.Tensor:
    """Random controls plus the corners: all 0, all 1, Q = 0.5 (double pole), fc = Nyquist."""
    controls = torch.rand(n, 14, generator=torch.Generator().manual_seed(seed))
    controls[0], controls[1] = 0.0, 1.0
    controls[2, 9] = 0.0  # Q = 0.5: a double pole
    controls[3, 8], controls[3, 9] = 1.0, 1.0  # fc at Nyquist (clamped), Q = 10
    controls[4, 8], controls[4, 9] = 0.0, 1.0  # fc = 20 Hz, Q = 10: the longest ringing
    return controls


def saved_and_loaded(module: torch.jit.ScriptModule) -> torch.jit.ScriptModule:
    buffer = io.BytesIO()
    torch.jit.save(module, buffer)
    buffer.seek(0)
    return torch.jit.load(buffer)


def test_the_scripted_synth_renders_what_snare808_renders():
    synth = Snare808()
    controls = random_controls(24)
    scripted = saved_and_loaded(export_snare808(synth))
    with torch.no_grad():
        expected = synth(controls)
        rendered = scripted(controls)
    assert rendered.shape == expected.shape == (24, 44100) and rendered.dtype == torch.float32
    difference = (rendered - expected).abs()
    assert difference.max() <= ATOL
    assert (difference == 0).float().mean() > 0.9  # most samples are bit-identical
    assert torch.equal(ScriptedSnare808(synth)(controls), rendered)  # eager and scripted: the same ops


def test_other_rates_lengths_and_the_reference_clamp():
    synth = Snare808(sample_rate=48000, duration=0.25, noise_seed=3, noise_length=5000, filter_clamp=True)
    controls = random_controls(6, seed=1)
    scripted = export_snare808(synth)
    with torch.no_grad():
        assert (scripted(controls) - synth(controls)).abs().max() <= ATOL  # the 5000-sample buffer cycles
        short = scripted.render(controls, 700)
        assert (short - synth(controls, n_samples=700)).abs().max() <= ATOL
    assert scripted.sample_rate == 48000 and scripted.n_samples == 12000 and scripted.param_names == synth.param_names


def test_fresh_noise_is_new_at_every_call():
    scripted = export_snare808(Snare808(noise="fresh", duration=0.1))
    controls = torch.full((2, 14), 0.5)
    a, b = scripted(controls), scripted(controls)
    assert a.shape == (2, 4410) and torch.isfinite(a).all() and a.abs().max() <= 1
    assert not torch.equal(a, b) and not torch.equal(a[0], a[1])


def test_the_closed_form_impulse_response_matches_scipy():
    """h of the RBJ high-pass at the edges of Snare808's range, against scipy's float64 recursion."""
    module = ScriptedSnare808(Snare808())
    freq = torch.tensor([20.0, 11025.0, 22050.0, 2500.0, 700.0], dtype=torch.float64)
    q = torch.tensor([10.0, 0.5, 10.0, 2.0, 0.5], dtype=torch.float64)
    b, a = module._coefficients(freq, q)
    h = module._impulse_response(b, a, 44100)
    impulse = np.zeros(44100)
    impulse[0] = 1.0
    for i in range(len(freq)):
        expected = scipy.signal.lfilter(b[i].numpy(), a[i].numpy(), impulse)
        np.testing.assert_allclose(h[i].numpy(), expected, rtol=0, atol=1e-9 * np.abs(expected).max())
    reference_b, reference_a = biquad_coefficients("high_pass", freq, 0.0, q, 44100)
    assert torch.allclose(b, reference_b, rtol=1e-15, atol=0) and torch.allclose(a, reference_a, rtol=1e-15, atol=0)


@pytest.mark.parametrize("controls, message", [
    (torch.rand(2, 13), "shape (batch, 14)"),
    (torch.rand(14), "shape (batch, 14)"),
    (torch.full((1, 14), float("nan")), "NaN"),
])
def test_bad_controls_raise(controls, message):
    scripted = export_snare808(Snare808(duration=0.05))
    with pytest.raises(Exception, match=re.escape(message)):
        scripted(controls)


def test_out_of_range_controls_are_clamped_as_in_snare808():
    synth = Snare808(duration=0.05)
    controls = torch.tensor([[-0.5] * 7 + [1.5] * 7])
    with torch.no_grad():
        assert (export_snare808(synth)(controls) - synth(controls)).abs().max() <= ATOL


def test_only_a_snare808_can_be_exported():
    with pytest.raises(TypeError, match="expected a Snare808"):
        ScriptedSnare808(torch.nn.Linear(2, 2))
