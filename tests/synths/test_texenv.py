"""TexEnv against reference textures §2 (identities, closed forms) and numpy/scipy references."""

import math

import numpy as np
import pytest
import scipy.signal
import torch

from ddspfx.core.errors import ConfigError
from ddspfx.dsp.filterbanks import erb_filterbank, hilbert_envelope
from ddspfx.synths import TexEnvSynth
from ddspfx.synths.registry import build_synth
from ddspfx.synths.texenv import (
    envelope_carriers,
    erb_subbands,
    impose_loudness,
    texenv_bands,
    texenv_carriers,
    texenv_coefficients,
    texenv_synthesize,
)

SR = 44100
N_SMALL, N_BANDS, K = 4096, 8, 16  # a small synth: 4096 samples, 8 bands, 16 coefficients


def generator(seed):
    return torch.Generator().manual_seed(seed)


def random_coefficients(batch, bands, k, seed=0, dtype=torch.float64):
    real = torch.randn(2, batch, bands, k, generator=generator(seed), dtype=dtype)
    return torch.complex(real[0], real[1])


@pytest.fixture(scope="module")
def small():
    return TexEnvSynth(SR, N_SMALL, N_BANDS, K)


# ---------------------------------------------------------------------------------------------
# The plain functions


def test_synthesis_matches_numpy():
    coefficients = random_coefficients(2, 3, 5)
    carriers = torch.randn(3, 100, generator=generator(1), dtype=torch.float64)
    padded = np.zeros((2, 3, 51), dtype=complex)
    padded[..., :5] = coefficients.numpy()
    envelopes = np.fft.irfft(padded, n=100, axis=-1, norm="ortho")
    expected = (envelopes * carriers.numpy()).sum(axis=-2)
    np.testing.assert_allclose(texenv_synthesize(coefficients, carriers).numpy(), expected, atol=1e-12)


def test_analysis_matches_scipy():
    n = 1000
    x = np.random.default_rng(0).standard_normal((2, n))
    responses = erb_filterbank(n, 16000, 4, low=50.0, dtype=torch.float64)[0].numpy()[1:-1]
    subbands = np.fft.irfft(np.fft.rfft(x)[:, None] * responses, n=n)
    expected = np.fft.rfft(np.abs(scipy.signal.hilbert(subbands, axis=-1)), norm="ortho")[..., :7]
    ours = texenv_coefficients(torch.from_numpy(x), 16000, 4, 7, low=50.0)
    assert ours.shape == (2, 4, 7)
    np.testing.assert_allclose(ours.numpy(), expected, atol=1e-10)


def test_synthesis_is_linear_in_the_coefficients(small):
    c1, c2 = random_coefficients(2, N_BANDS, K, 1), random_coefficients(2, N_BANDS, K, 2)
    a, b = 0.7, -1.9
    carriers = small.carriers.double()
    y = texenv_synthesize(a * c1 + b * c2, carriers)
    expected = a * texenv_synthesize(c1, carriers) + b * texenv_synthesize(c2, carriers)
    torch.testing.assert_close(y, expected, atol=1e-12, rtol=0)


@pytest.mark.parametrize("n", [4096, 4095])
@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-10), (torch.float32, 1e-5)])
def test_full_order_with_own_carriers_returns_the_sum_of_subbands(n, dtype, tol):
    x = torch.randn(2, n, generator=generator(3), dtype=torch.float64).to(dtype)
    subbands = erb_subbands(x, SR, N_BANDS)
    coefficients = texenv_coefficients(x, SR, N_BANDS, n // 2 + 1)
    y = texenv_synthesize(coefficients, envelope_carriers(subbands))  # (batch, N, n) carriers
    torch.testing.assert_close(y, subbands.sum(dim=-2), atol=tol, rtol=0)
    single = texenv_synthesize(coefficients[:1], envelope_carriers(subbands[0]))  # (N, n) carriers
    torch.testing.assert_close(single, y[:1], atol=tol, rtol=0)


def test_dc_only_coefficients_give_constant_envelopes(small):
    dc = torch.tensor([[3.0, -1.0, 0.5, 2.0, 0.0, 1.0, 4.0, -2.0]], dtype=torch.float64)
    coefficients = torch.zeros(1, N_BANDS, K, dtype=torch.complex128)
    coefficients[..., 0] = dc
    carriers = small.carriers.double()
    expected = (dc[..., None] / math.sqrt(N_SMALL) * carriers).sum(dim=-2)
    torch.testing.assert_close(texenv_synthesize(coefficients, carriers), expected, atol=1e-12, rtol=0)


def test_carriers_are_flat_unit_envelope_noise():
    """§2.1 at the reference's size: RMS ≈ 0.707, re-measured envelope mean ≈ 1 and std ≈ 0.08."""
    carriers = texenv_carriers(32768, SR, 16, seed=0)
    assert carriers.shape == (16, 32768) and carriers.dtype == torch.float64
    rms = carriers.square().mean(dim=-1).sqrt()
    assert (rms - 1 / math.sqrt(2)).abs().max() < 0.02
    envelope = hilbert_envelope(carriers)
    assert (envelope.mean(dim=-1) - 1).abs().max() < 0.02
    assert envelope.std(dim=-1).mean() < 0.1 and envelope.std(dim=-1).max() < 0.2  # edge bands ≈ 0.13


def test_carriers_follow_the_seed_and_the_state_dict(small):
    again = TexEnvSynth(SR, N_SMALL, N_BANDS, K, seed=0)
    other = TexEnvSynth(SR, N_SMALL, N_BANDS, K, seed=1)
    assert torch.equal(again.carriers, small.carriers)
    assert not torch.allclose(other.carriers, small.carriers)
    assert "carriers" in small.state_dict()
    other.load_state_dict(small.state_dict())
    assert torch.equal(other.carriers, small.carriers)
    controls = torch.rand(2, small.n_params, generator=generator(4))
    assert torch.equal(other(controls), small(controls))


def test_edge_bands_and_a_zero_subband_give_zero_carriers():
    assert texenv_carriers(1024, SR, 4, edge_bands=True).shape == (6, 1024)
    carriers = envelope_carriers(torch.zeros(2, 64, dtype=torch.float64))
    assert torch.equal(carriers, torch.zeros_like(carriers))


# ---------------------------------------------------------------------------------------------
# The synth


def test_control_layout_and_counts(small):
    assert small.n_params == 2 * N_BANDS * K == len(small.params) == len(small.param_names)
    assert small.param_names[0] == "band0.amp0" and small.param_names[K + 1] == "band1.amp1"
    assert small.param_names[N_BANDS * K] == "band0.phase0"
    assert small.max_amplitude == pytest.approx(2 * math.sqrt(N_SMALL))
    controls = torch.rand(3, small.n_params, generator=generator(5))
    coefficients = small.controls_to_coefficients(controls)
    assert coefficients.shape == (3, N_BANDS, K) and coefficients.is_complex()
    i, k = 2, 5
    u_a, u_phi = controls[:, i * K + k], controls[:, N_BANDS * K + i * K + k]
    expected = u_a * small.max_amplitude * torch.exp(1j * 2 * math.pi * u_phi)
    torch.testing.assert_close(coefficients[:, i, k], expected)
    physical = small.denormalize(controls)
    assert physical["band2.amp5"].shape == (3,)
    torch.testing.assert_close(physical["band2.phase5"], 2 * math.pi * u_phi)
    torch.testing.assert_close(small.normalize(**physical), controls)
    torch.testing.assert_close(small.render(N_SMALL, **physical), small(controls))
    torch.testing.assert_close(small.coefficients_to_controls(coefficients), controls, atol=1e-6, rtol=0)
    assert small(controls).shape == (3, N_SMALL) and small.synthesize(coefficients).shape == (3, N_SMALL)


def test_edge_band_synth_has_two_more_carriers():
    synth = TexEnvSynth(SR, 1024, 4, 8, edge_bands=True)
    assert synth.carriers.shape == (6, 1024) and synth.n_params == 2 * 6 * 8


def test_amplitude_range_reaches_a_unit_variance_texture():
    """Every band's DC coefficient of a unit-variance texture (white noise, noise in one band, a sine at
    a band centre) is below A_max, and the controls of the analysed coefficients resynthesize them."""
    n = 32768
    synth = TexEnvSynth(SR, n, 16, 4)
    noise = torch.randn(1, n, generator=generator(6))
    band = erb_subbands(noise, SR, 16)[:, 7]
    centre = round(erb_filterbank(n, SR, 16)[1][8].item() * n / SR)  # the bin at band 8's peak
    sine = math.sqrt(2) * torch.cos(2 * math.pi * centre * torch.arange(n) / n)[None]
    for x in (noise / noise.std(), band / band.std(), sine):
        coefficients = synth.analyze(x)
        assert coefficients[..., 0].abs().max() < synth.max_amplitude
        controls = synth.coefficients_to_controls(coefficients)
        assert controls.min() >= 0 and controls.max() <= 1
        torch.testing.assert_close(synth(controls), synth.synthesize(coefficients), atol=1e-3, rtol=1e-4)
    # the sine's envelope is √2 (C_0 = √2·√n ≈ 256); band noise re-filtered by the bank keeps ≈ 3/4 of its
    # power in band 8 (Rayleigh mean √(π/2)·√0.75 ≈ 1.09, C_0 ≈ 197): far above the reference's |C| < 1
    assert synth.analyze(sine)[0, 7, 0].abs() == pytest.approx(math.sqrt(2 * n), rel=1e-3)
    assert synth.analyze(band / band.std())[0, 7, 0].abs() > 180


@pytest.mark.parametrize("value", [0.0, 1.0])
def test_finite_output_and_gradients_at_the_ends(small, value):
    controls = torch.full((2, small.n_params), value, requires_grad=True)
    audio = small(controls)
    audio.square().mean().backward()
    assert torch.isfinite(audio).all() and torch.isfinite(controls.grad).all()


def test_gradcheck_float64():
    synth = TexEnvSynth(SR, 256, 2, 4).double()
    controls = (0.05 + 0.9 * torch.rand(1, synth.n_params, generator=generator(7), dtype=torch.float64))
    assert torch.autograd.gradcheck(synth, (controls.requires_grad_(),), fast_mode=True)
    coefficients = random_coefficients(1, 2, 4, seed=8).requires_grad_()
    assert torch.autograd.gradcheck(lambda c: texenv_synthesize(c, synth.carriers), (coefficients,), fast_mode=True)


def test_loudness_modes(small):
    coefficients = random_coefficients(2, N_BANDS, K, 9, dtype=torch.float32)
    generic = small.synthesize(coefficients, "generic", torch.tensor([1.0, 3.0]))
    torch.testing.assert_close(generic.norm(dim=-1), torch.tensor([1.0, 3.0]))
    target = torch.zeros(2, N_BANDS)
    target[:, 3] = 2.0
    specific = small.synthesize(coefficients, "specific", target)
    expected = texenv_bands(coefficients, small.carriers)[:, 3]
    torch.testing.assert_close(specific, 2.0 * expected / expected.norm(dim=-1, keepdim=True))
    silent = small.synthesize(torch.zeros_like(coefficients), "generic", 1.0)
    assert torch.equal(silent, torch.zeros_like(silent))
    x = torch.randn(2, N_SMALL, generator=generator(10))
    assert small.target_loudness(x, "specific").shape == (2, N_BANDS)
    torch.testing.assert_close(small.target_loudness(x, "generic"), x.norm(dim=-1))


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda s: s(torch.rand(2, s.n_params + 1)), r"\(batch, 256\)"),
        (lambda s: s(torch.rand(2, s.n_params, 3)), "static"),
        (lambda s: s(torch.full((1, s.n_params), float("nan"))), "NaN"),
        (lambda s: s(torch.rand(1, s.n_params), n_samples=100), "exactly 4096"),
        (lambda s: s.synthesize(torch.zeros(1, N_BANDS, K + 1, dtype=torch.complex64)), r"\(batch, 8, 16\)"),
        (lambda s: s.synthesize(torch.zeros(1, N_BANDS, K, dtype=torch.complex64), "loud"), "loudness"),
        (lambda s: s.synthesize(torch.zeros(1, N_BANDS, K, dtype=torch.complex64), "specific"), "target"),
        (lambda s: s.synthesize(torch.zeros(1, N_BANDS, K, dtype=torch.complex64), "specific", 1.0), "shape"),
        (lambda s: texenv_synthesize(torch.zeros(1, 2, 4), s.carriers[:2]), "complex"),
        (lambda s: texenv_synthesize(torch.zeros(1, 3, 4, dtype=torch.complex64), s.carriers), "carriers"),
        (lambda s: texenv_coefficients(torch.zeros(1, 64), SR, 2, 40), "n_coefficients"),
    ],
)
def test_bad_input_raises(small, call, match):
    with pytest.raises(ValueError, match=match):
        call(small)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(n_samples=64, n_coefficients=8), r"band 1 .*no FFT bin"),
        (dict(n_samples=256, n_coefficients=200), "n_coefficients"),
        (dict(max_amplitude=0.0), "max_amplitude"),
    ],
)
def test_bad_configuration_raises(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        TexEnvSynth(**{"n_samples": 1024, **kwargs})


def test_registered_as_texenv():
    assert isinstance(build_synth("texenv", n_samples=1024, n_bands=4, n_coefficients=8), TexEnvSynth)
