"""The TexDSP decoder: controls in the synth's layout, small starting amplitudes, gradients."""

import math

import pytest
import torch

from ddspfx.nn.texenv_decoder import TexDSPDecoder
from ddspfx.synths.texenv import TexEnvSynth


def test_controls_fit_the_synth_and_start_quiet():
    torch.manual_seed(0)
    synth = TexEnvSynth(n_samples=4096, n_bands=4, n_coefficients=8)
    decoder = TexDSPDecoder(24, n_bands=4, n_coefficients=8, hidden=16, depth=2, initial_amplitude=0.02)
    controls = decoder(torch.randn(3, 5, 24))
    assert controls.shape == (3, 5, synth.n_params) and decoder.n_params == synth.n_params
    assert (controls > 0).all() and (controls < 1).all()
    amplitudes, phases = controls[..., :32], controls[..., 32:]
    assert amplitudes.mean().item() == pytest.approx(0.02, rel=0.5)
    assert 0.3 < phases.mean().item() < 0.7
    audio = synth(controls.reshape(15, -1))
    assert audio.shape == (15, 4096) and torch.isfinite(audio).all()


def test_amplitude_bias_is_the_logit_of_the_initial_amplitude():
    decoder = TexDSPDecoder(8, n_bands=2, n_coefficients=3, hidden=4, depth=1, initial_amplitude=0.1)
    assert torch.allclose(decoder.amplitude[-1].bias, torch.full((6,), math.log(0.1 / 0.9)))


def test_every_weight_gets_a_gradient():
    decoder = TexDSPDecoder(8, n_bands=2, n_coefficients=3, hidden=4, depth=1)
    decoder(torch.randn(2, 8)).square().sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in decoder.parameters())


def test_bad_initial_amplitude_is_named():
    with pytest.raises(ValueError, match="initial_amplitude"):
        TexDSPDecoder(8, 2, 3, initial_amplitude=0.0)
