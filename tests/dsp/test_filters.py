"""ddspfx.dsp.filters against scipy.signal and closed forms of the RBJ cookbook biquads."""

import math

import numpy as np
import pytest
import scipy.signal
import torch

from ddspfx.dsp.filters import (
    BIQUAD_KINDS,
    DEFAULT_PAD,
    biquad_coefficients,
    biquad_filter,
    frequency_response,
    fsm_filter,
    lfilter_cascade,
    magnitude_response_db,
    next_power_of_two,
)


def cookbook(kind, f0, gain_db, q, fs):
    """Independent numpy design, written out term by term from the Audio-EQ-Cookbook (Q form)."""
    A = 10 ** (gain_db / 40)
    w0 = 2 * np.pi * f0 / fs
    cw, sw = np.cos(w0), np.sin(w0)
    alpha = sw / (2 * q)
    if kind == "peak":
        b = [1 + alpha * A, -2 * cw, 1 - alpha * A]
        a = [1 + alpha / A, -2 * cw, 1 - alpha / A]
    elif kind == "low_shelf":
        b = [
            A * ((A + 1) - (A - 1) * cw + 2 * np.sqrt(A) * alpha),
            2 * A * ((A - 1) - (A + 1) * cw),
            A * ((A + 1) - (A - 1) * cw - 2 * np.sqrt(A) * alpha),
        ]
        a = [
            (A + 1) + (A - 1) * cw + 2 * np.sqrt(A) * alpha,
            -2 * ((A - 1) + (A + 1) * cw),
            (A + 1) + (A - 1) * cw - 2 * np.sqrt(A) * alpha,
        ]
    elif kind == "high_shelf":
        b = [
            A * ((A + 1) + (A - 1) * cw + 2 * np.sqrt(A) * alpha),
            -2 * A * ((A - 1) + (A + 1) * cw),
            A * ((A + 1) + (A - 1) * cw - 2 * np.sqrt(A) * alpha),
        ]
        a = [
            (A + 1) - (A - 1) * cw + 2 * np.sqrt(A) * alpha,
            2 * ((A - 1) - (A + 1) * cw),
            (A + 1) - (A - 1) * cw - 2 * np.sqrt(A) * alpha,
        ]
    elif kind == "low_pass":
        b = [(1 - cw) / 2, 1 - cw, (1 - cw) / 2]
        a = [1 + alpha, -2 * cw, 1 - alpha]
    else:
        b = [(1 + cw) / 2, -(1 + cw), (1 + cw) / 2]
        a = [1 + alpha, -2 * cw, 1 - alpha]
    b, a = np.array(b), np.array(a)
    return b / a[0], a / a[0]


# (kind, f0 Hz, gain dB, Q) at FS: one setting of every kind, and some extremes.
FS = 16000
SETTINGS = [
    ("peak", 1000.0, 9.0, 0.7),
    ("peak", 60.0, -15.0, 2.0),
    ("low_shelf", 120.0, 6.0, 0.5),
    ("low_shelf", 40.0, -12.0, 0.1),
    ("high_shelf", 5000.0, -9.0, 1.0),
    ("high_shelf", 7000.0, 15.0, 3.0),
    ("low_pass", 3000.0, 0.0, 0.707),
    ("high_pass", 200.0, 0.0, 1.5),
]


def torch_cascade(settings, fs=FS, dtype=torch.float64):
    """`(1, sections, 3)` b, a from `biquad_coefficients`."""
    bs, as_ = zip(*(biquad_coefficients(k, torch.tensor(f, dtype=dtype), g, q, fs) for k, f, g, q in settings))
    return torch.stack(bs).unsqueeze(0), torch.stack(as_).unsqueeze(0)


def scipy_cascade_filter(x, settings, fs=FS):
    for kind, f0, g, q in settings:
        x = scipy.signal.lfilter(*cookbook(kind, f0, g, q, fs), x, axis=-1)
    return x


@pytest.mark.parametrize("kind, f0, gain, q", SETTINGS)
def test_coefficients_match_cookbook(kind, f0, gain, q):
    b, a = biquad_coefficients(kind, torch.tensor(f0, dtype=torch.float64), gain, q, FS)
    b_ref, a_ref = cookbook(kind, f0, gain, q, FS)
    np.testing.assert_allclose(b.numpy(), b_ref, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(a.numpy(), a_ref, rtol=1e-12, atol=1e-14)
    assert a[0] == 1


@pytest.mark.parametrize("kind, f0, gain, q", SETTINGS)
def test_frequency_response_matches_freqz(kind, f0, gain, q):
    n_fft = 1024
    b, a = torch_cascade([(kind, f0, gain, q)])
    ours = frequency_response(b, a, n_fft)[0].numpy()
    _, reference = scipy.signal.freqz(*cookbook(kind, f0, gain, q, FS), worN=2 * np.pi * np.arange(n_fft // 2 + 1) / n_fft)
    np.testing.assert_allclose(ours, reference, rtol=1e-9, atol=1e-12)


def test_cascade_response_is_product_and_db_at_arbitrary_frequencies():
    b, a = torch_cascade(SETTINGS)
    freqs = np.array([0.0, 31.0, 440.0, 1234.5, 7999.0])
    reference = np.ones(len(freqs), dtype=complex)
    for kind, f0, g, q in SETTINGS:
        reference *= scipy.signal.freqz(*cookbook(kind, f0, g, q, FS), worN=freqs, fs=FS)[1]
    ours_db = magnitude_response_db(b, a, torch.tensor(freqs), FS)[0].numpy()
    # The high-pass is exactly zero at DC: the dB value is floored, not -inf.
    assert np.isfinite(ours_db).all() and ours_db[0] < -300
    np.testing.assert_allclose(ours_db[1:], 20 * np.log10(np.abs(reference[1:])), atol=1e-8)
    full = frequency_response(b, a, 256)[0]
    product = torch.ones(129, dtype=torch.complex128)
    for k in range(len(SETTINGS)):
        product = product * frequency_response(b[:, k : k + 1], a[:, k : k + 1], 256)[0]
    torch.testing.assert_close(full, product)


def test_float32_response_keeps_float64_accuracy_near_dc():
    # A 20 Hz low shelf at 48 kHz: a0 + a1 + a2 ≈ 7e-6, where float32 coefficients lose percents.
    b, a = torch_cascade([("low_shelf", 20.0, 12.0, 0.7)], fs=48000)
    exact = frequency_response(b, a, 1 << 16)
    in_float32 = frequency_response(b, a, 1 << 16, dtype=torch.float32)
    assert in_float32.dtype == torch.complex64
    torch.testing.assert_close(in_float32.to(torch.complex128), exact, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("gain", [-15.0, -3.0, 6.0, 15.0])
@pytest.mark.parametrize("f0, q", [(50.0, 0.1), (1000.0, 0.7), (6000.0, 2.0)])
def test_peak_gain_at_centre_frequency(f0, q, gain):
    b, a = torch_cascade([("peak", f0, gain, q)])
    at_f0 = magnitude_response_db(b, a, torch.tensor([f0]), FS)
    assert at_f0.item() == pytest.approx(gain, abs=1e-9)


@pytest.mark.parametrize("gain", [-15.0, 9.0])
def test_shelf_and_pass_asymptotic_gains(gain):
    edges = torch.tensor([0.0, FS / 2])
    low = magnitude_response_db(*torch_cascade([("low_shelf", 300.0, gain, 0.7)]), edges, FS)[0]
    high = magnitude_response_db(*torch_cascade([("high_shelf", 3000.0, gain, 0.7)]), edges, FS)[0]
    torch.testing.assert_close(low, torch.tensor([gain, 0.0], dtype=torch.float64), atol=1e-9, rtol=0)
    torch.testing.assert_close(high, torch.tensor([0.0, gain], dtype=torch.float64), atol=1e-9, rtol=0)
    # 2nd-order low/high-pass: unity in the pass band, |H(f0)| = Q.
    points = torch.tensor([0.0, 1000.0])
    low_pass = magnitude_response_db(*torch_cascade([("low_pass", 1000.0, 0.0, 2.0)]), points, FS)[0]
    torch.testing.assert_close(low_pass, torch.tensor([0.0, 20 * math.log10(2.0)], dtype=torch.float64))


def test_exact_path_matches_scipy_lfilter():
    x = np.random.default_rng(0).standard_normal((3, 4000))
    b, a = torch_cascade(SETTINGS)
    ours = lfilter_cascade(torch.from_numpy(x), b, a).numpy()
    np.testing.assert_allclose(ours, scipy_cascade_filter(x, SETTINGS), rtol=0, atol=1e-9)


def test_exact_path_float32_and_batched_coefficients():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3000)).astype(np.float32)
    settings = [SETTINGS[0], SETTINGS[3]]
    b0, a0 = torch_cascade(settings[:1])
    b1, a1 = torch_cascade(settings[1:])
    # Example 0 through the peak, example 1 through the low shelf.
    ours = lfilter_cascade(torch.from_numpy(x), torch.cat([b0, b1]), torch.cat([a0, a1]))
    assert ours.dtype == torch.float32
    np.testing.assert_allclose(ours[0].numpy(), scipy_cascade_filter(x[0].astype(float), settings[:1]), atol=1e-5)
    np.testing.assert_allclose(ours[1].numpy(), scipy_cascade_filter(x[1].astype(float), settings[1:]), atol=1e-5)


@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-9), (torch.float32, 2e-6)])
def test_fsm_path_matches_scipy_lfilter(dtype, tol):
    # Default pad: the impulse responses here decay far within 32768 samples, so what is left is
    # rounding (tol: relative RMS error).
    x = np.random.default_rng(2).standard_normal((2, 8000))
    b, a = torch_cascade(SETTINGS)
    ours = fsm_filter(torch.from_numpy(x).to(dtype), b, a).double().numpy()
    reference = scipy_cascade_filter(x, SETTINGS)
    assert np.sqrt(np.mean((ours - reference) ** 2) / np.mean(reference**2)) < tol


def test_fsm_truncation_error_follows_the_tail_energy_bound():
    # Worst band of the default EQ ranges: 20 Hz peak at 48 kHz, Q = 0.1, −15 dB. With exactly
    # pad samples of padding, the error at the start of the output is ≈ √(E_tail / E).
    fs, n = 48000, DEFAULT_PAD
    setting = [("peak", 20.0, -15.0, 0.1)]
    h = scipy.signal.lfilter(*cookbook(*setting[0], fs), np.eye(1, 1 << 18)[0])
    tail_bound = np.sqrt(np.sum(h[DEFAULT_PAD + 1 :] ** 2) / np.sum(h**2))
    assert 1e-4 < tail_bound < 2e-4  # the number quoted in the fsm_filter docstring: 1.7e-4
    x = np.random.default_rng(3).standard_normal((8, n))
    b, a = torch_cascade(setting, fs=fs)
    exact = scipy_cascade_filter(x, setting, fs=fs)
    rms = np.sqrt(np.mean(exact**2))

    def relative_error(pad):
        error = fsm_filter(torch.from_numpy(x), b, a, pad=pad).numpy() - exact
        return np.sqrt(np.mean(error[:, :256] ** 2)) / rms, np.sqrt(np.mean(error**2)) / rms

    start, whole = relative_error(DEFAULT_PAD)
    assert start < 2 * tail_bound and whole < tail_bound
    # More padding, less error (the reference's padding test went the other way).
    start_unpadded, _ = relative_error(0)
    assert start_unpadded > 10 * start


@pytest.mark.parametrize("kind", BIQUAD_KINDS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_edges_give_finite_values_and_gradients(kind, dtype):
    fs = 16000.0
    f0 = torch.tensor([-5.0, 0.0, 1e-3, 20.0, fs / 2 - 1, fs / 2, 2 * fs], dtype=dtype)
    f0 = f0.repeat_interleave(4).requires_grad_()
    gain = torch.tensor([-15.0, 15.0, -15.0, 15.0], dtype=dtype).repeat(7).requires_grad_()
    q = torch.tensor([0.1, 0.1, 3.0, 3.0], dtype=dtype).repeat(7).requires_grad_()
    b, a = biquad_coefficients(kind, f0, gain, q, fs)
    assert b.shape == a.shape == (28, 3) and b.dtype == dtype
    b, a = b.unsqueeze(1), a.unsqueeze(1)
    x = torch.randn(28, 300, dtype=dtype)
    outputs = [
        fsm_filter(x, b, a, pad=256),
        lfilter_cascade(x, b, a),
        magnitude_response_db(b, a, torch.tensor([0.0, 100.0, fs / 2]), fs),
    ]
    for out in outputs:
        assert torch.isfinite(out).all()
    sum(out.square().mean() for out in outputs).backward()
    for leaf in (f0, gain, q) if "pass" not in kind else (f0, q):  # low/high-pass ignore gain
        assert torch.isfinite(leaf.grad).all()


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match="unknown kind 'notch'.*peak.*high_pass"):
        biquad_coefficients("notch", 100.0, 0.0, 1.0, 16000)
    with pytest.raises(ValueError, match="sample_rate"):
        biquad_coefficients("peak", 100.0, 0.0, 1.0, 0)
    b, a = torch_cascade(SETTINGS[:2])
    with pytest.raises(ValueError, match=r"b must be a \(\.\.\., sections, 3\)"):
        fsm_filter(torch.zeros(1, 10), b[0, 0], a)
    with pytest.raises(ValueError, match="sections"):
        lfilter_cascade(torch.zeros(1, 10), b, a[:, :1])
    with pytest.raises(ValueError, match="pad"):
        fsm_filter(torch.zeros(1, 10), b, a, pad=-1)


def test_broadcasting_and_shapes():
    b, a = torch_cascade(SETTINGS[:3])  # (1, 3, 3): one cascade for every signal
    x = torch.randn(4, 2, 500, dtype=torch.float64)
    assert fsm_filter(x, b, a).shape == (4, 2, 500)
    torch.testing.assert_close(lfilter_cascade(x, b[0], a[0]), lfilter_cascade(x, b.expand(2, 3, 3), a.expand(2, 3, 3)))
    coefficients = biquad_coefficients("peak", torch.full((2, 5), 100.0), torch.zeros(5), 1.0, 16000)
    assert coefficients[0].shape == (2, 5, 3)
    assert frequency_response(b, a, 64).shape == (1, 33)


def test_next_power_of_two():
    assert [next_power_of_two(n) for n in (1, 2, 3, 1000, 1024, 1025)] == [1, 2, 4, 1024, 1024, 2048]
    with pytest.raises(ValueError):
        next_power_of_two(0)


def test_gradcheck_fsm_filter_and_design():
    rng = torch.Generator().manual_seed(4)
    b, a = torch_cascade([SETTINGS[0], SETTINGS[3], SETTINGS[6], SETTINGS[7]])  # zeros at DC and Nyquist
    b = (b.expand(2, 4, 3) + 0.01 * torch.randn(2, 4, 3, generator=rng, dtype=torch.float64)).requires_grad_()
    a = a.expand(2, 4, 3).clone().requires_grad_()
    x = torch.randn(2, 16, generator=rng, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, b, a: fsm_filter(x, b, a, pad=8), (x, b, a))
    short = [t[:1, :2].detach().clone().requires_grad_() for t in (x, b, a)]
    assert torch.autograd.gradcheck(lambda x, b, a: lfilter_cascade(x, b, a), short)
    f0 = torch.tensor([50.0, 900.0, 7000.0], dtype=torch.float64, requires_grad=True)
    gain = torch.tensor([-6.0, 3.0, 12.0], dtype=torch.float64, requires_grad=True)
    q = torch.tensor([0.3, 1.0, 2.0], dtype=torch.float64, requires_grad=True)
    for kind in BIQUAD_KINDS:
        assert torch.autograd.gradcheck(lambda f, g, q: biquad_coefficients(kind, f, g, q, FS), (f0, gain, q))


def test_biquad_filter_matches_scipy_and_gradcheck():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 300, dtype=torch.float64, generator=g)
    b = torch.tensor([[0.3, -0.5, 0.2], [1.0, 0.0, 0.0], [0.5, 0.1, -0.2]], dtype=torch.float64)
    a = torch.tensor([[1.0, -1.5, 0.7], [2.0, -0.2, 0.1], [1.0, 0.3, 0.2]], dtype=torch.float64)
    reference = np.stack([scipy.signal.lfilter(b[i].numpy(), a[i].numpy(), x[i].numpy()) for i in range(3)])
    np.testing.assert_allclose(biquad_filter(x, b, a).numpy(), reference, rtol=0, atol=1e-12)
    inputs = (x[:, :40].clone().requires_grad_(), b.clone().requires_grad_(), a.clone().requires_grad_())
    assert torch.autograd.gradcheck(biquad_filter, inputs)


def test_biquad_filter_shared_coefficients_and_bad_shapes():
    x = torch.randn(2, 50, generator=torch.Generator().manual_seed(1))
    b, a = torch.tensor([0.2, 0.4, 0.2]), torch.tensor([1.0, -0.3, 0.1])
    torch.testing.assert_close(biquad_filter(x, b, a), biquad_filter(x, b.expand(2, 3), a.expand(2, 3)))
    with pytest.raises(ValueError, match=r"b must have shape \(3,\) or \(2, 3\), got \(3, 3\)"):
        biquad_filter(x, torch.ones(3, 3), a)
    with pytest.raises(ValueError, match="x must be a float32/float64"):
        biquad_filter(x[0], b, a)
