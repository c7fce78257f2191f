"""ddspfx.dsp.filterbanks against reference textures §1/§9 numbers, numpy/scipy and closed forms."""

import math

import numpy as np
import pytest
import scipy.signal
import torch

from ddspfx.dsp.filterbanks import (
    analytic_signal,
    apply_filterbank,
    erb_filterbank,
    hilbert_envelope,
    log_filterbank,
    synthesize_subbands,
)

# Reference §1: ERB cut-offs, N = 16 over 20–22050 Hz at 44.1 kHz.
ERB16_CUTOFFS = [
    20, 95.3, 193.4, 321.2, 487.7, 704.5, 986.9, 1354.9, 1834.2, 2458.5, 3271.8, 4331.2,
    5711.2, 7508.8, 9850.4, 12900.7, 16874.1, 22050,
]  # fmt: skip
# Reference §1: modulation bank cut-offs, M = 6 over 10–2756 Hz at 11025 Hz (last two rounded to 1 Hz).
MOD6_CUTOFFS = [10, 22.3, 49.8, 111.1, 248.0, 553.4, 1235, 2756]

BANKS = {
    "erb": lambda n, dtype: erb_filterbank(n, 44100, 16, dtype=dtype),
    "log": lambda n, dtype: log_filterbank(n, 11025, 6, 10.0, 2756.0, dtype=dtype),
}


def numpy_cosine_band(freqs, lower_hz, upper_hz, scale):
    """Independent half-cosine bump on (lower, upper) in the given scale, 0 outside (§1)."""
    s, lo, hi = scale(np.maximum(freqs, 1e-9)), scale(lower_hz), scale(upper_hz)  # log10(0) lies outside anyway
    inside = (freqs > lower_hz) & (freqs < upper_hz)
    return np.where(inside, np.cos(np.pi * (s - (lo + hi) / 2) / (hi - lo)), 0.0)


def np_erb(f):
    return 9.265 * np.log(1 + f / (24.7 * 9.265))


def test_erb_cutoffs_match_the_reference():
    _, cutoffs = erb_filterbank(32768, 44100, 16, low=20.0)
    np.testing.assert_allclose(cutoffs.double().numpy(), ERB16_CUTOFFS, atol=0.1)
    _, cutoffs24 = erb_filterbank(32768, 44100, 24, dtype=torch.float64)
    assert cutoffs24.shape == (26,)
    assert abs(cutoffs24[1].item() - 69.0) < 0.05 and abs(cutoffs24[24].item() - 18384) < 0.5


def test_modulation_cutoffs_match_the_reference():
    _, cutoffs = log_filterbank(8192, 11025, 6, 10.0, 2756.0, dtype=torch.float64)
    np.testing.assert_allclose(cutoffs.numpy()[:6], MOD6_CUTOFFS[:6], atol=0.1)
    np.testing.assert_allclose(cutoffs.numpy()[6:], MOD6_CUTOFFS[6:], atol=0.5)


@pytest.mark.parametrize("kind", sorted(BANKS))
@pytest.mark.parametrize("n", [4096, 4097])
@pytest.mark.parametrize("dtype, tol", [(torch.float32, 1e-6), (torch.float64, 1e-12)])
def test_squared_responses_sum_to_one(kind, n, dtype, tol):
    responses, cutoffs = BANKS[kind](n, dtype)
    assert responses.dtype == dtype and cutoffs.dtype == dtype
    assert responses.shape == (cutoffs.shape[0], n // 2 + 1)
    assert (responses.square().sum(0) - 1).abs().max().item() < tol


@pytest.mark.parametrize("n", [2048, 2049])
def test_erb_bands_are_cosine_bumps_inside_their_band_and_zero_outside(n):
    responses, cutoffs = erb_filterbank(n, 44100, 16, dtype=torch.float64)
    r, c = responses.numpy(), cutoffs.numpy()
    freqs = np.arange(n // 2 + 1) * 44100 / n
    assert freqs[-1] == (44100 / 2 if n % 2 == 0 else 44100 * (n - 1) / (2 * n))
    assert r.min() >= 0 and r.max() <= 1
    for k in range(1, 17):
        np.testing.assert_allclose(r[k], numpy_cosine_band(freqs, c[k - 1], c[k + 1], np_erb), atol=1e-12)
    assert np.all(r[0][freqs >= c[1]] == 0) and np.all(r[-1][freqs <= c[-2]] == 0)
    assert r[0][0] == 1  # DC is all low-pass


def test_log_bands_are_cosines_in_log_frequency():
    responses, cutoffs = log_filterbank(2048, 11025, 6, 10.0, 2756.0, dtype=torch.float64)
    r, c = responses.numpy(), cutoffs.numpy()
    freqs = np.arange(1025) * 11025 / 2048
    for k in range(1, 7):
        np.testing.assert_allclose(r[k], numpy_cosine_band(freqs, c[k - 1], c[k + 1], np.log10), atol=1e-12)
    assert np.all(r[-1][freqs > 2756] == 1) and np.all(r[0][freqs < 10] == 1)


def test_high_is_clipped_to_nyquist_and_results_are_copies():
    a, ca = erb_filterbank(1024, 16000, 8, high=None)
    b, cb = erb_filterbank(1024, 16000, 8, high=1e6)
    assert torch.equal(a, b) and cb[-1].item() == 8000
    a.zero_()
    assert erb_filterbank(1024, 16000, 8)[0].abs().sum() > 0  # the cache is not touched


@pytest.mark.parametrize("kind", sorted(BANKS))
@pytest.mark.parametrize("n", [4096, 4097])
def test_filtering_twice_and_summing_reconstructs_the_input(kind, n):
    responses, _ = BANKS[kind](n, torch.float64)
    x = torch.randn(2, 3, n, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    subbands = apply_filterbank(x, responses)
    assert subbands.shape == (2, 3, responses.shape[0], n)
    torch.testing.assert_close(synthesize_subbands(subbands, responses), x, atol=1e-12, rtol=0)
    twice = np.fft.irfft(np.fft.rfft(subbands.numpy()) * responses.numpy(), n=n)  # each band filtered again
    np.testing.assert_allclose(twice.sum(axis=-2), x.numpy(), atol=1e-12)


def test_apply_filterbank_matches_numpy():
    n = 1001
    responses, _ = erb_filterbank(n, 8000, 4, low=50.0, dtype=torch.float64)
    x = np.random.default_rng(1).standard_normal(n)
    expected = np.fft.irfft(np.fft.rfft(x)[None] * responses.numpy(), n=n)
    ours = apply_filterbank(torch.from_numpy(x), responses)
    np.testing.assert_allclose(ours.numpy(), expected, atol=1e-12)
    assert apply_filterbank(torch.from_numpy(x).float(), responses).dtype == torch.float32


def test_a_band_without_a_bin_names_the_band_and_a_frame_length():
    with pytest.raises(ValueError, match=r"band 1 \(20\.0–193\.4 Hz\).*n_samples=64.*n_samples >= 255"):
        erb_filterbank(64, 44100, 16)
    erb_filterbank(255, 44100, 16)  # the suggested length works


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: erb_filterbank(1024, 44100, 0), "n_bands"),
        (lambda: erb_filterbank(1, 44100, 4), "n_samples"),
        (lambda: erb_filterbank(1024, 44100, 4, low=-1.0), "low"),
        (lambda: erb_filterbank(1024, 44100, 4, low=30000.0), "high"),
        (lambda: log_filterbank(1024, 44100, 4, 0.0, 1000.0), "low"),
        (lambda: apply_filterbank(torch.zeros(100), torch.ones(3, 50)), r"\(n_filters, 51\)"),
        (lambda: synthesize_subbands(torch.zeros(2, 100), torch.ones(3, 51)), "2 subbands"),
        (lambda: hilbert_envelope(torch.zeros(8), eps=-1.0), "eps"),
    ],
)
def test_bad_arguments_raise(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_hilbert_envelope_of_an_am_cosine_is_its_modulator():
    n, a, m = 4096, 0.8, 0.5
    t = torch.arange(n, dtype=torch.float64)
    modulator = a * (1 + m * torch.cos(2 * math.pi * 7 * t / n))
    x = modulator * torch.cos(2 * math.pi * 300 * t / n)
    torch.testing.assert_close(hilbert_envelope(x), modulator, atol=1e-5, rtol=0)
    torch.testing.assert_close(hilbert_envelope(x.float()), modulator.float(), atol=1e-5, rtol=0)


@pytest.mark.parametrize("n", [256, 257])
def test_analytic_signal_and_envelope_match_scipy(n):
    x = np.random.default_rng(2).standard_normal((3, n))
    expected = scipy.signal.hilbert(x, axis=-1)
    ours = analytic_signal(torch.from_numpy(x))
    np.testing.assert_allclose(ours.numpy(), expected, atol=1e-12)
    np.testing.assert_allclose(hilbert_envelope(torch.from_numpy(x)).numpy(), np.abs(expected), atol=1e-12)
    smooth = hilbert_envelope(torch.from_numpy(x), eps=1e-12).numpy()
    np.testing.assert_allclose(smooth, np.abs(expected), atol=1e-6)


@pytest.mark.parametrize("eps", [0.0, 1e-12])
def test_envelope_gradients_are_finite_on_silence(eps):
    x = torch.zeros(2, 64, requires_grad=True)
    envelope = hilbert_envelope(x, eps=eps)
    envelope.sum().backward()
    assert torch.isfinite(envelope).all() and torch.isfinite(x.grad).all()


def test_envelope_gradcheck():
    x = torch.randn(2, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(3), requires_grad=True)
    assert torch.autograd.gradcheck(hilbert_envelope, (x,))
    responses, _ = erb_filterbank(16, 8000, 2, low=100.0, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda v: apply_filterbank(v, responses), (x,), fast_mode=True)
