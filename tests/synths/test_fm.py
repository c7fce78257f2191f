import itertools
import math

import numpy as np
import pytest
import torch
from scipy.special import jv

from ddspfx.synths import FMSynth
from ddspfx.synths.fm import dx7_level_to_amplitude


def controls_for(synth, levels, ratios):
    """Controls from DX7 levels (6) and modulator ratios (3), through the synth's own specs."""
    physical = {f"level_{i + 1}": torch.tensor([float(v)]) for i, v in enumerate(levels)}
    physical.update({f"ratio_{op}": torch.tensor([float(r)]) for op, r in zip((2, 4, 6), ratios)})
    return synth.normalize(**physical)


def line_amplitudes(audio, sample_rate, freqs):
    """Amplitudes of the spectral lines at integer `freqs` (Hz) of a 1 s render."""
    spectrum = np.abs(np.fft.rfft(audio.double().numpy())) / (len(audio) / 2)
    assert len(audio) == sample_rate
    return spectrum[np.asarray(freqs)]


def test_control_layout_and_units():
    synth = FMSynth()
    assert synth.param_names == [f"level_{i}" for i in range(1, 7)] + ["ratio_2", "ratio_4", "ratio_6"]
    assert synth.n_params == 9


@pytest.mark.parametrize("w, ratio", [(0.231378, 1.0), (0.462756, 2.0), (0.598104, 3.0)])
def test_published_ratio_mapping(w, ratio):
    synth = FMSynth()
    controls = torch.full((1, 9), w)
    assert synth.denormalize(controls)["ratio_2"].item() == pytest.approx(ratio, abs=1e-4)


@pytest.mark.parametrize("w, amp", [(0.0, 1.9387e-4), (0.5, 0.01392), (0.75, 0.1180), (1.0, 1.0)])
def test_published_level_mapping(w, amp):
    synth = FMSynth()
    level = synth.denormalize(torch.full((1, 9), w))["level_1"]
    assert dx7_level_to_amplitude(level).item() == pytest.approx(amp, rel=1e-3)


def test_lone_carrier_is_a_110_hz_sine():
    synth = FMSynth(duration=1.0)
    # Only operator 1 at full level; everything else at level 0 (−74.25 dB, index 2.4e-3 rad).
    audio = synth(controls_for(synth, [99, 0, 0, 0, 0, 0], [1, 1, 1]))[0]
    t = torch.arange(synth.sample_rate, dtype=torch.float64) / synth.sample_rate
    sine = torch.sin(2 * math.pi * 110.0 * t)
    assert torch.allclose(audio.double(), sine, atol=3e-3)
    lines = line_amplitudes(audio, synth.sample_rate, [110, 220, 330, 440])
    assert lines[0] == pytest.approx(1.0, abs=1e-3)
    assert lines[1:].max() < 2e-3


@pytest.mark.parametrize("ratio, level", [(4.0, 92.0), (6.0, 85.0)])
def test_modulated_carrier_matches_bessel_lines(ratio, level):
    synth = FMSynth(duration=1.0)
    audio = synth(controls_for(synth, [99, level, 0, 0, 0, 0], [ratio, 1, 1]))[0]
    index = synth.max_mod_index * dx7_level_to_amplitude(torch.tensor(level)).item()
    # sin(ωc t + I sin(ωm t)) = Σ_n J_n(I) sin((ωc + n ωm) t); with these ratios no two lines fold together.
    orders = np.arange(-3, 6)
    freqs = np.abs(110 * (1 + ratio * orders)).astype(int)
    measured = line_amplitudes(audio, synth.sample_rate, freqs)
    expected = np.abs(jv(orders, index))
    np.testing.assert_allclose(measured, expected, atol=1.5e-3)


def test_equivalent_permutations_are_the_six_pair_orders():
    assert FMSynth().equivalent_permutations() == [
        [0, 1, 2, 3, 4, 5, 6, 7, 8],
        [0, 1, 4, 5, 2, 3, 6, 8, 7],
        [2, 3, 0, 1, 4, 5, 7, 6, 8],
        [2, 3, 4, 5, 0, 1, 7, 8, 6],
        [4, 5, 0, 1, 2, 3, 8, 6, 7],
        [4, 5, 2, 3, 0, 1, 8, 7, 6],
    ]
    index = torch.arange(9).unsqueeze(0)
    orders = itertools.permutations(range(3))
    assert [FMSynth().permute_branches(index, o)[0].tolist() for o in orders] == FMSynth().equivalent_permutations()


def test_branch_permutations_leave_audio_unchanged():
    synth = FMSynth(duration=0.1)
    controls = torch.rand(4, 9, generator=torch.Generator().manual_seed(0))
    reference = synth(controls)
    for order in itertools.permutations(range(3)):
        permuted = synth.permute_branches(controls, order)
        if order != (0, 1, 2):
            assert not torch.equal(permuted, controls)
        torch.testing.assert_close(synth(permuted), reference, atol=1e-5, rtol=0)


def test_long_render_has_no_phase_drift():
    synth = FMSynth(duration=20.0)
    controls = controls_for(synth, [99, 90, 80, 70, 60, 50], [7.13, 3.3, 0.77])
    audio = synth(controls)[0].double()
    # The float32 values the synth plays, evaluated in float64 from here on.
    physical = {k: v.double() for k, v in synth.denormalize(controls).items()}
    amp = dx7_level_to_amplitude(torch.stack([physical[f"level_{i}"] for i in range(1, 7)], 1))[0]
    n = torch.arange(audio.numel(), dtype=torch.float64)
    reference = torch.zeros_like(n)
    for k, op in enumerate((2, 4, 6)):
        ratio = physical[f"ratio_{op}"][0]
        mod = synth.max_mod_index * amp[2 * k + 1] * torch.sin(2 * math.pi * ratio * 110.0 * n / 44100)
        reference += amp[2 * k] * torch.sin(2 * math.pi * 110.0 * n / 44100 + mod)
    tail = slice(-44100, None)  # the last second, where float32 phase accumulation drifts most
    assert (audio[tail] - reference[tail]).abs().max() < 1e-4


def test_bad_settings_and_inputs_raise():
    with pytest.raises(ValueError, match="f0"):
        FMSynth(f0=30000)
    synth = FMSynth(duration=0.05)
    with pytest.raises(ValueError, match="static"):
        synth(torch.rand(2, 9, 4))
    with pytest.raises(ValueError, match="unknown conditioning.*'f0'"):
        synth(torch.rand(2, 9), f0=torch.full((2,), 220.0))


def test_normalize_inverts_denormalize():
    synth = FMSynth()
    controls = torch.rand(5, 9, dtype=torch.float64)
    torch.testing.assert_close(synth.normalize(**synth.denormalize(controls)), controls)


def test_gradcheck_float64():
    synth = FMSynth(sample_rate=8000, duration=0.01, f0=220.0)
    controls = (0.1 + 0.8 * torch.rand(2, 9, dtype=torch.float64)).requires_grad_()
    assert torch.autograd.gradcheck(synth, (controls,), eps=1e-6, atol=1e-5)
