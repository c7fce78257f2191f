"""Snare808 and its presets against reference timbreremap §1–2 and numpy/scipy float64 references."""

import json
import math

import numpy as np
import pytest
import scipy.signal
import torch

from ddspfx.dsp.envelopes import decay_envelope_sum
from ddspfx.dsp.filters import biquad_coefficients
from ddspfx.synths import Snare808
from ddspfx.synths.registry import build_synth
from ddspfx.synths.snare808 import (
    PARAM_NAMES,
    PRESETS_DIR,
    high_pass,
    load_preset,
    pitched_phase,
    preset_names,
)

EXPECTED_NAMES = [
    "osc1.freq", "osc1.mod", "osc2.freq", "osc2.mod", "freq_env.decay", "osc1_env.decay",
    "osc2_env.decay", "noise_env.decay", "noise_filter.freq", "noise_filter.q", "osc1_gain.gain",
    "osc2_gain.gain", "noise_gain.gain", "tanh.in_gain",
]  # fmt: skip

# Reference §2: the normalized preset vectors (5 decimals), the independent expectation.
PRESET_VECTORS = {
    "snare_1": [0.08081, 0.46667, 0.11111, 0.43333, 0.02010, 0.09548, 0.07035, 0.09548, 0.11257, 0.15789, 0.81818, 0.72727, 0.84848, 0.25000],
    "snare_2": [0.08030, 0.36667, 0.17475, 0.44667, 0.00582, 0.06181, 0.04849, 0.04925, 0.10327, 0.00000, 0.63636, 0.60606, 0.75758, 0.52083],
    "snare_3": [0.07727, 0.55333, 0.16717, 0.41333, 0.01165, 0.07139, 0.04078, 0.13015, 0.06718, 0.05263, 0.69697, 0.71212, 0.24242, 0.42708],
    "open_snare": [0.05808, 0.47667, 0.10909, 0.51000, 0.05477, 0.27538, 0.01658, 0.04523, 0.45302, 0.07368, 0.75758, 0.69697, 0.10606, 0.43750],
    "noisy_snare": [0.24242, 0.47333, 0.34343, 0.66667, 0.39045, 0.04523, 0.09548, 0.97437, 0.17680, 0.57895, 0.15152, 0.15152, 0.53030, 0.77083],
}  # fmt: skip
# (noise_filter.freq Hz, noise_filter.q) of the five presets
PRESET_FILTERS = [(2500, 2.0), (2295, 0.5), (1500, 1.0), (10000, 1.2), (3915, 6.0)]


# ---------------------------------------------------------------------------------------------
# Independent float64 numpy references, written from reference §1.2–1.3
# ---------------------------------------------------------------------------------------------


def np_envelope(decay_ms, n, sr):
    """Linear attack over int(0.001·sr) samples, then the cumulative product of [1, r, r, …]."""
    attack = int(0.001 * sr)
    r = 1 - 6.91 / (decay_ms * sr / 1000)
    decay = np.cumprod(np.concatenate([[1.0], np.full(n - attack - 1, r)]))
    return np.concatenate([(np.arange(attack) + 1) / attack, decay])[:n]


def np_phase(freq, mod, freq_decay_ms, n, sr):
    """φ[0] = 0, φ[n] = Σ_{k<n} ω0 (1 + m e_f[k]), as a float64 cumulative sum."""
    increments = 2 * np.pi * freq / sr * (1 + mod * np_envelope(freq_decay_ms, n, sr))
    return np.concatenate([[0.0], np.cumsum(increments)[:-1]])


def np_high_pass_coefficients(fc, q, sr):
    """The reference's bilinear high-pass (Nigel Redmon form)."""
    k = np.tan(np.pi * fc / sr)
    norm = 1 / (1 + k / q + k * k)
    return np.array([norm, -2 * norm, norm]), np.array([1.0, 2 * (k * k - 1) * norm, (1 - k / q + k * k) * norm])


def np_snare(values, noise, sr, clamp=False):
    """The whole synth (reference §1.3) in float64 from physical values by name."""
    n = len(noise)
    gain = {key: 10 ** (values[key] / 20) for key in ("osc1_gain.gain", "osc2_gain.gain", "noise_gain.gain", "tanh.in_gain")}
    tone = 0.0
    for osc in ("osc1", "osc2"):
        phase = np_phase(values[f"{osc}.freq"], values[f"{osc}.mod"], values["freq_env.decay"], n, sr)
        tone = tone + gain[f"{osc}_gain.gain"] * np.sin(phase) * np_envelope(values[f"{osc}_env.decay"], n, sr)
    b, a = np_high_pass_coefficients(values["noise_filter.freq"], values["noise_filter.q"], sr)
    filtered = scipy.signal.lfilter(b, a, noise * np_envelope(values["noise_env.decay"], n, sr))
    if clamp:
        filtered = np.clip(filtered, -1, 1)
    return np.tanh(gain["tanh.in_gain"] * (tone + gain["noise_gain.gain"] * filtered))


def physical(synth, controls):
    """{name: float} physical values of one control vector `(14,)`."""
    return {name: value.item() for name, value in synth.denormalize(controls[None].double()).items()}


def write_preset(tmp_path, data, name="preset.json"):
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def preset_data(**overrides):
    data = json.loads((PRESETS_DIR / "snare_1.json").read_text())
    data.update(overrides)
    return data


# ---------------------------------------------------------------------------------------------
# Parameters and presets
# ---------------------------------------------------------------------------------------------


def test_parameter_order_names_units_and_ranges():
    synth = Snare808()
    assert synth.param_names == EXPECTED_NAMES == list(PARAM_NAMES)
    table = {p.name: (p.unit, p.min, p.max, p.scale) for p in synth.params}
    assert table["osc1.freq"] == table["osc2.freq"] == ("Hz", 20, 2000, "linear")
    assert table["osc1.mod"] == table["osc2.mod"] == ("ratio", -1, 2, "linear")
    for name in ("freq_env.decay", "osc1_env.decay", "osc2_env.decay", "noise_env.decay"):
        assert table[name] == ("ms", 10, 2000, "linear")
    assert table["noise_filter.freq"] == ("Hz", 20, 22050, "linear")
    assert table["noise_filter.q"] == ("", 0.5, 10, "linear")
    for name in ("osc1_gain.gain", "osc2_gain.gain", "noise_gain.gain"):
        assert table[name] == ("dB", -60, 6, "linear")
    assert table["tanh.in_gain"] == ("dB", -24, 24, "linear")
    assert Snare808(sample_rate=48000).params[8].max == 24000
    assert synth.time_varying is False and synth.conditioning == ()


def test_registry_builds_it():
    synth = build_synth("snare808", sample_rate=16000, duration=0.1)
    assert isinstance(synth, Snare808) and synth.n_samples == 1600


def test_preset_names():
    assert preset_names() == sorted(PRESET_VECTORS)


@pytest.mark.parametrize("name", sorted(PRESET_VECTORS))
def test_presets_round_trip_to_the_published_vectors(name):
    preset, damping = load_preset(name)
    assert preset.dtype == damping.dtype == torch.float32 and preset.shape == damping.shape == (14,)
    np.testing.assert_allclose(preset.numpy(), PRESET_VECTORS[name], atol=1e-5)
    expected_damping = np.ones(14)
    expected_damping[[0, 2]] = 0.01
    np.testing.assert_allclose(damping.numpy(), expected_damping, rtol=1e-7)


def test_preset_by_absolute_and_relative_path(tmp_path, monkeypatch):
    data = preset_data()
    del data["damping"]
    path = write_preset(tmp_path, data, "mine.json")
    preset, damping = load_preset(path)
    torch.testing.assert_close(preset, load_preset("snare_1")[0])
    assert torch.equal(damping, torch.ones(14))  # no damping section: all 1
    monkeypatch.chdir(tmp_path)
    assert torch.equal(load_preset("mine.json")[0], preset)


def test_preset_normalization_follows_the_sample_rate():
    preset, _ = load_preset("snare_1", sample_rate=48000)
    assert preset[8].item() == pytest.approx((2500 - 20) / (24000 - 20), abs=1e-6)


def _bad(**changes):
    """snare_1 with `changes` applied as {section: {key: value or None to delete}}."""
    data = preset_data()
    for section, entries in changes.items():
        for key, value in entries.items():
            if value is None:
                del data[section][key]
            else:
                data[section][key] = value
    return data


@pytest.mark.parametrize(
    "data, match",
    [
        ("{not json", r"preset\.json: invalid JSON"),
        ("[1, 2]", r"preset\.json: a preset must be a JSON object"),
        ({"damping": {}}, r"preset\.json: needs a \"preset\" section"),
        (_bad(preset={"osc3.freq": 100}), r"preset\.json: unknown key\(s\) \['osc3.freq'\] in \"preset\"; valid keys are \['osc1.freq'"),
        (_bad(damping={"gain": 0.5}), r"unknown key\(s\) \['gain'\] in \"damping\""),
        (_bad(preset={"noise_filter.q": None}), r"preset\.json: \"preset\" is missing key\(s\) \['noise_filter.q'\]"),
        (_bad(preset={"osc1.freq": 2500}), r"preset\.json: preset value of 'osc1.freq' is 2500 Hz, outside its range \[20, 2000\] Hz"),
        (_bad(preset={"noise_filter.q": 0.1}), r"'noise_filter.q' is 0.1, outside its range \[0.5, 10\]"),
        (_bad(preset={"tanh.in_gain": "loud"}), r"preset value of 'tanh.in_gain' must be a finite number, got 'loud'"),
        (_bad(preset={"osc1.mod": True}), r"preset value of 'osc1.mod' must be a finite number, got True"),
        (_bad(damping={"osc2.freq": "x"}), r"damping of 'osc2.freq' must be a finite number"),
        (_bad(damping={"osc1.freq": -0.5}), r"preset\.json: damping of 'osc1.freq' must be >= 0, got -0.5"),
    ],
)  # fmt: skip
def test_bad_preset_files_raise(tmp_path, data, match):
    with pytest.raises(ValueError, match=match):
        load_preset(write_preset(tmp_path, data))


def test_unknown_preset_name_and_missing_file(tmp_path):
    with pytest.raises(ValueError, match=r"unknown Snare808 preset 'snare_9'; known presets are \['noisy_snare'.*'snare_3'\]"):
        load_preset("snare_9")
    with pytest.raises(ValueError, match=r"absent\.json: preset file not found"):
        load_preset(tmp_path / "absent.json")


def test_out_of_range_filter_frequency_at_a_low_sample_rate():
    with pytest.raises(ValueError, match=r"'noise_filter.freq' is 10000 Hz, outside its range \[20, 4000\] Hz"):
        load_preset("open_snare", sample_rate=8000)


# ---------------------------------------------------------------------------------------------
# Oscillators, filter, whole synth
# ---------------------------------------------------------------------------------------------


def test_unmodulated_oscillator_is_an_exact_sine():
    sr, n = 44100, 44100
    freq = torch.tensor([[440.0, 1999.0]])
    env_sum = decay_envelope_sum(torch.tensor([50.0]), n, sr)
    y = torch.sin(pitched_phase(freq, torch.zeros(1, 2), env_sum, sr))[0].double().numpy()
    t = np.arange(n) / sr
    np.testing.assert_allclose(y, np.sin(2 * np.pi * np.array([[440.0], [1999.0]]) * t), rtol=0, atol=1e-5)
    assert y[0, 0] == 0.0


@pytest.mark.parametrize("freq, mod, decay", [(180.0, 0.4, 50.0), (2000.0, 2.0, 2000.0), (500.0, -1.0, 787.0)])
def test_modulated_phase_matches_the_cumulative_sum(freq, mod, decay):
    sr, n = 44100, 44100
    env_sum = decay_envelope_sum(torch.tensor([decay]), n, sr)
    phase = pitched_phase(torch.tensor([[freq]]), torch.tensor([[mod]]), env_sum, sr)[0, 0].double().numpy()
    reference = np_phase(freq, mod, decay, n, sr)
    assert (phase >= 0).all() and (phase < 2 * np.pi).all()
    difference = np.angle(np.exp(1j * (phase - reference)))  # wrapped to (−π, π]
    assert np.abs(difference).max() < 2e-6


@pytest.mark.parametrize("fc, q", [(20.0, 0.5), (2500.0, 2.0), (3915.0, 6.0), (21000.0, 10.0)])
def test_high_pass_coefficients_are_the_references(fc, q):
    sr = 44100
    b_ref, a_ref = np_high_pass_coefficients(fc, q, sr)
    b, a = biquad_coefficients("high_pass", torch.tensor(fc, dtype=torch.float64), 0.0, q, sr)
    np.testing.assert_allclose(b.numpy(), b_ref, rtol=1e-11, atol=1e-14)
    np.testing.assert_allclose(a.numpy(), a_ref, rtol=1e-11, atol=1e-14)
    _, response = scipy.signal.freqz(b.numpy(), a.numpy(), worN=[fc], fs=sr)
    assert abs(response[0]) == pytest.approx(q, rel=1e-9)  # |H(fc)| = Q


def enveloped_noise(n, decay_ms, sr=44100, dtype=torch.float32):
    """Uniform noise in [−1, 1) times the snare envelope: what the filter sees, `(1, n)`."""
    noise = torch.rand(n, generator=torch.Generator().manual_seed(5), dtype=torch.float64) * 2 - 1
    return (noise * torch.from_numpy(np_envelope(decay_ms, n, sr))).to(dtype)[None]


@pytest.mark.parametrize("method", ["recursive", "fsm"])
@pytest.mark.parametrize("fc, q", PRESET_FILTERS)
def test_high_pass_equals_scipy_lfilter_at_the_presets(method, fc, q):
    x = enveloped_noise(44100, 2000.0)
    y = high_pass(x, torch.tensor([float(fc)]), torch.tensor([q]), 44100, method=method)
    assert y.dtype == torch.float32
    reference = scipy.signal.lfilter(*np_high_pass_coefficients(fc, q, 44100), x[0].double().numpy())
    assert np.abs(y[0].double().numpy() - reference).max() < 1e-5


@pytest.mark.parametrize("fc", [20.0, 22050.0])
def test_high_pass_stress_low_cutoff_high_q_and_nyquist(fc):
    """Q = 10 rings longest at the ends of the range. The recursion is exact; frequency sampling
    aliases the impulse response beyond its padding back: |error| ≤ max|x|·Σ_{t ≥ n_fft − n} |h[t]|."""
    n, sr, q = 44100, 44100, 10.0
    x = enveloped_noise(n, 2000.0)
    fc_design = min(fc, (math.pi - 1e-3) * sr / (2 * math.pi))  # the design keeps w0 ≤ π − 1e-3
    b, a = np_high_pass_coefficients(fc_design, q, sr)
    reference = scipy.signal.lfilter(b, a, x[0].double().numpy())
    n_fft = 131072  # next power of two ≥ 2n
    impulse = np.zeros(4 * n_fft)
    impulse[0] = 1.0
    tail_bound = np.abs(scipy.signal.lfilter(b, a, impulse)[n_fft - n :]).sum() * np.abs(x.numpy()).max()
    for method, tolerance in (("recursive", 1e-5), ("fsm", tail_bound + 1e-5)):
        y = high_pass(x, torch.tensor([fc]), torch.tensor([q]), sr, method=method)
        assert np.abs(y[0].double().numpy() - reference).max() < tolerance, method


def test_bad_filter_method_raises():
    with pytest.raises(ValueError, match="method must be one of"):
        high_pass(torch.zeros(1, 8), torch.tensor([100.0]), torch.tensor([1.0]), 44100, method="iir")


@pytest.mark.parametrize("name, clamp", [("snare_1", False), ("open_snare", False), ("noisy_snare", False), ("noisy_snare", True)])
def test_synth_matches_the_numpy_reference(name, clamp):
    synth = Snare808(filter_clamp=clamp)
    preset, _ = load_preset(name)
    audio = synth(preset[None])[0].double().numpy()
    reference = np_snare(physical(synth, preset), synth.noise.double().numpy(), 44100, clamp=clamp)
    assert np.abs(audio - reference).max() < 2e-5


def test_filter_clamp_bounds_the_filter_output():
    x = enveloped_noise(44100, 1949.0)
    fc, q = torch.tensor([3915.0]), torch.tensor([6.0])  # noisy_snare: +15.6 dB at fc
    assert high_pass(x, fc, q, 44100).abs().max() > 1.5
    clamped = high_pass(x, fc, q, 44100, clamp=True)
    assert clamped.abs().max() == 1.0
    preset, _ = load_preset("noisy_snare")
    assert not torch.equal(Snare808(filter_clamp=True)(preset[None]), Snare808()(preset[None]))


def test_gradcheck_of_every_control():
    synth = Snare808(sample_rate=8000, noise_length=128).double()
    g = torch.Generator().manual_seed(0)
    controls = (0.15 + 0.7 * torch.rand(2, 14, dtype=torch.float64, generator=g)).requires_grad_()
    assert torch.autograd.gradcheck(lambda c: synth(c, n_samples=96), (controls,), atol=1e-7, rtol=1e-5)
    synth(controls, n_samples=96).square().sum().backward()
    assert (controls.grad != 0).all()  # every control reaches the output


@pytest.mark.parametrize("value", [0.0, 1.0])
@pytest.mark.parametrize("noise", ["buffer", "fresh"])
def test_finite_output_and_gradients_at_the_ends(value, noise):
    synth = Snare808(noise=noise, duration=0.25)
    controls = torch.full((2, 14), value, requires_grad=True)  # at 1: fc = 22050 Hz (Nyquist), Q = 10
    audio = synth(controls)
    audio.square().mean().backward()
    assert torch.isfinite(audio).all() and (audio.abs() <= 1).all()
    assert torch.isfinite(controls.grad).all()


@pytest.mark.parametrize("sample_rate, duration", [(16000, 0.25), (48000, 0.1), (22050, 1.0)])
def test_output_shape_at_other_rates(sample_rate, duration):
    synth = Snare808(sample_rate=sample_rate, duration=duration)
    audio = synth(torch.rand(3, 14))
    assert audio.shape == (3, round(sample_rate * duration)) and audio.dtype == torch.float32
    assert synth(torch.rand(1, 14), n_samples=2 * synth.n_samples + 5).shape == (1, 2 * synth.n_samples + 5)


def test_noise_buffer_is_seeded_saved_and_cycled():
    first, same, other = Snare808(duration=0.1), Snare808(duration=0.1), Snare808(duration=0.1, noise_seed=1)
    assert "noise" in first.state_dict() and first.noise.shape == (4410,)
    assert torch.equal(first.noise, same.noise) and not torch.equal(first.noise, other.noise)
    assert (first.noise >= -1).all() and (first.noise < 1).all()
    other.load_state_dict(first.state_dict())
    assert torch.equal(other.noise, first.noise)
    noise = first.noise_signal(2, 10000, torch.float32, torch.device("cpu"))
    assert torch.equal(noise[0], noise[1]) and torch.equal(noise[0, 4410:8820], first.noise)
    assert Snare808(noise_length=100).noise.shape == (100,)


def test_fresh_noise_differs_between_calls_and_items():
    synth = Snare808(noise="fresh", duration=0.1)
    controls = torch.full((2, 14), 0.5).expand(2, 14)
    first, second = synth(controls), synth(controls)
    assert not torch.equal(first, second) and not torch.equal(first[0], first[1])
    assert "noise" in synth.state_dict()  # the buffer exists either way (same state_dict keys)


def test_equivalent_permutations_swap_the_oscillators():
    synth = Snare808(duration=0.1)
    identity, swap = synth.equivalent_permutations()
    assert identity == list(range(14)) and swap == [2, 3, 0, 1, 4, 6, 5, 7, 8, 9, 11, 10, 12, 13]
    controls = torch.rand(2, 14, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(synth(controls[:, swap]), synth(controls), atol=1e-6, rtol=0)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(noise="pink"), "noise must be one of"),
        (dict(noise_length=0), "noise_length must be a positive int"),
        (dict(duration=0.0), "duration must be positive"),
        (dict(sample_rate=40), "sample_rate must exceed"),
    ],
)
def test_bad_construction_raises(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Snare808(**kwargs)
