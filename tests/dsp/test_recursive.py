"""ddspfx.dsp.recursive against scipy's lfilter, plain numpy loops and autograd of composed torch code.

The tests parametrized over `backend` run both implementations: the compiled CPU kernels ("numba")
and the torch scan that CUDA tensors take ("scan", here on CPU tensors through the same code).
"""

import math
import multiprocessing
import os

import numpy as np
import pytest
import scipy.signal
import torch

from ddspfx.dsp import recursive
from ddspfx.dsp.dynamics import amplitude_to_db, db_to_amplitude, gain_reduction
from ddspfx.dsp.recursive import (
    alpha_to_time_constant,
    attack_release,
    compress,
    linear_recurrence,
    one_pole,
    time_constant_to_alpha,
)

BACKENDS = ["numba", "scan"]


def numpy_one_pole(x, alpha, initial):
    """Loop reference; alpha (batch, samples)."""
    y = np.empty_like(x)
    for b in range(x.shape[0]):
        state = initial[b]
        for n in range(x.shape[1]):
            state = alpha[b, n] * state + (1 - alpha[b, n]) * x[b, n]
            y[b, n] = state
    return y


def numpy_attack_release(x, alpha_attack, alpha_release, initial):
    y = np.empty_like(x)
    for b in range(x.shape[0]):
        state = initial[b]
        for n in range(x.shape[1]):
            a = alpha_attack[b] if x[b, n] > state else alpha_release[b]
            state = a * state + (1 - a) * x[b, n]
            y[b, n] = state
    return y


def double(*shape, seed=0, low=-1.0, high=1.0, grad=True):
    g = torch.Generator().manual_seed(seed)
    t = low + (high - low) * torch.rand(*shape, generator=g, dtype=torch.float64)
    return t.requires_grad_(grad)


def test_one_pole_matches_lfilter():
    x = double(3, 500, grad=False)
    alpha = torch.tensor([0.0, 0.5, 0.999], dtype=torch.float64)
    initial = torch.tensor([0.3, -1.0, 2.0], dtype=torch.float64)
    y = one_pole(x, alpha, initial)
    for b in range(3):
        a = alpha[b].item()
        ref, _ = scipy.signal.lfilter([1 - a], [1, -a], x[b].numpy(), zi=[a * initial[b].item()])
        np.testing.assert_allclose(y[b].numpy(), ref, rtol=0, atol=1e-12)


def test_one_pole_float32_keeps_dtype():
    x = double(2, 4000, grad=False)
    y = one_pole(x.float(), 0.99)
    ref = scipy.signal.lfilter([0.01], [1, -0.99], x.numpy(), axis=-1)
    assert y.dtype == torch.float32
    np.testing.assert_allclose(y.numpy(), ref, atol=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_time_varying_one_pole_and_attack_release_match_loops(backend):
    x = double(3, 300, grad=False, seed=1)
    alpha = double(3, 300, low=0.0, high=0.99, grad=False, seed=2)
    initial = torch.tensor([0.5, 0.0, -0.2], dtype=torch.float64)
    expected = numpy_one_pole(x.numpy(), alpha.numpy(), initial.numpy())
    np.testing.assert_allclose(one_pole(x, alpha, initial, backend=backend).numpy(), expected, atol=1e-12)

    # the last row's attack pole is slower than its release pole
    attack, release = np.array([0.1, 0.5, 0.9]), np.array([0.99, 0.9, 0.3])
    expected = numpy_attack_release(x.numpy(), attack, release, initial.numpy())
    ours = attack_release(x, torch.from_numpy(attack), torch.from_numpy(release), initial, backend=backend)
    np.testing.assert_allclose(ours.numpy(), expected, atol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_gradcheck_one_pole_constant_and_time_varying(backend):
    x = double(2, 40, seed=3)
    initial = double(2, seed=4)
    alpha = double(2, low=0.1, high=0.95, seed=5)
    smoother = lambda *a: one_pole(*a, backend=backend)
    assert torch.autograd.gradcheck(smoother, (x, alpha, initial))
    alpha_tv = double(2, 40, low=0.0, high=0.95, seed=6)
    assert torch.autograd.gradcheck(smoother, (x, alpha_tv, initial))


@pytest.mark.parametrize("backend", BACKENDS)
def test_gradcheck_attack_release(backend):
    x = double(3, 60, low=0.0, high=10.0, seed=7)
    attack = double(3, low=0.1, high=0.6, seed=8)
    release = double(3, low=0.7, high=0.95, seed=9)
    initial = double(3, low=0.0, high=5.0, seed=10)
    smoother = lambda *a: attack_release(*a, backend=backend)
    y = smoother(x, attack, release, initial)
    assert torch.autograd.gradcheck(smoother, (x, attack, release, initial))
    # both branches were taken, so both coefficients were checked
    assert (x[:, 1:] > y[:, :-1]).any() and (x[:, 1:] < y[:, :-1]).any()


@pytest.mark.parametrize("backend", BACKENDS)
def test_broadcast_inputs_get_summed_gradients(backend):
    x = double(3, 50, seed=11)
    weights = double(3, 50, grad=False, seed=12)
    shared = torch.tensor([0.8], dtype=torch.float64, requires_grad=True)
    (one_pole(x, shared, backend=backend) * weights).sum().backward()
    per_row = torch.full((3,), 0.8, dtype=torch.float64, requires_grad=True)
    (one_pole(x, per_row, backend=backend) * weights).sum().backward()
    torch.testing.assert_close(shared.grad, per_row.grad.sum(0, keepdim=True))

    shared_tv = torch.full((1, 50), 0.8, dtype=torch.float64, requires_grad=True)
    (one_pole(x, shared_tv, backend=backend) * weights).sum().backward()
    torch.testing.assert_close(shared_tv.grad.sum(), per_row.grad.sum())

    attack = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    (attack_release(x.abs(), attack, 0.9, backend=backend) * weights).sum().backward()
    attack_rows = torch.full((3,), 0.3, dtype=torch.float64, requires_grad=True)
    (attack_release(x.abs(), attack_rows, 0.9, backend=backend) * weights).sum().backward()
    torch.testing.assert_close(attack.grad, attack_rows.grad.sum())


def test_rows_split_over_threads_match(monkeypatch):
    monkeypatch.setattr(recursive, "_n_threads", lambda: 3)
    x = double(5, 20_000, grad=False, seed=13).float()
    assert x.numel() >= recursive.PARALLEL_MIN_SAMPLES
    alpha = torch.linspace(0.5, 0.999, 5)
    ref = np.stack([scipy.signal.lfilter([1 - a], [1, -a], row) for a, row in zip(alpha.double().numpy(), x.double().numpy())])
    np.testing.assert_allclose(one_pole(x, alpha).numpy(), ref, atol=1e-5)
    ours = attack_release(x.abs(), alpha * 0.5, alpha)
    ref = numpy_attack_release(x.abs().numpy()[:, :2000], (alpha * 0.5).numpy(), alpha.numpy(), np.zeros(5))
    np.testing.assert_allclose(ours[:, :2000].numpy(), ref, atol=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_no_graph_without_gradients(backend):
    x = double(2, 10, grad=False)
    assert one_pole(x, 0.5, backend=backend).grad_fn is None
    assert attack_release(x, 0.1, 0.9, backend=backend).grad_fn is None
    assert compress(x, -10.0, 2.0, 0.0, 0.0, 0.1, 0.9, backend=backend).grad_fn is None
    with torch.no_grad():
        assert one_pole(x.clone().requires_grad_(), 0.5, backend=backend).grad_fn is None


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda x: one_pole(x, 1.0), "alpha"),
        (lambda x: one_pole(x, torch.tensor([0.5, float("nan")])), "alpha"),
        (lambda x: one_pole(x, torch.full((2, 7), 0.5)), "alpha"),
        (lambda x: one_pole(x, 0.5, initial=torch.zeros(3)), "initial"),
        (lambda x: one_pole(x[0], 0.5), "x"),
        (lambda x: attack_release(x, -0.1, 0.5), "alpha_attack"),
        (lambda x: attack_release(x, 0.1, torch.ones(2)), "alpha_release"),
        (lambda x: compress(x, -10.0, 0.5, 0.0, 0.0, 0.1, 0.9), "ratio"),
        (lambda x: compress(x, -10.0, 2.0, -1.0, 0.0, 0.1, 0.9), "knee_db"),
        (lambda x: one_pole(x, 0.5, backend="cuda"), "one_pole: backend"),
        (lambda x: compress(x, -10.0, 2.0, 0.0, 0.0, 0.1, 0.9, backend="torch"), "compress: backend"),
    ],
)
def test_bad_input_names_the_parameter(call, match):
    with pytest.raises(ValueError, match=match):
        call(torch.zeros(2, 10))


def test_time_constants():
    assert time_constant_to_alpha(10.0, 1000) == pytest.approx(math.exp(-0.1))
    tau = torch.tensor([1.0, 60.0, 500.0], dtype=torch.float64)
    torch.testing.assert_close(alpha_to_time_constant(time_constant_to_alpha(tau, 44100), 44100), tau)
    with pytest.raises(ValueError, match="tau_ms"):
        time_constant_to_alpha(0.0, 44100)
    # a step reaches 1 − 1/e of its height after τ·fs samples
    fs, tau_ms = 8000, 5.0
    y = one_pole(torch.ones(1, 200, dtype=torch.float64), time_constant_to_alpha(tau_ms, fs))[0]
    assert y[round(tau_ms * 1e-3 * fs) - 1].item() == pytest.approx(1 - math.exp(-1), abs=1e-12)


def composed_compressor(x, threshold, ratio, knee, makeup, attack, release, start="reference"):
    """The same compressor from the separate torch functions (autograd through everything but the smoother).

    start="reference": y_L[0] = 0, the smoother runs on x_L[1:]; "first": on all of x_L."""
    col = [t.unsqueeze(-1) for t in (threshold, ratio, knee, makeup)]
    reduction = gain_reduction(amplitude_to_db(x), col[0], col[1], col[2])
    if start == "reference":
        smoothed = torch.cat([torch.zeros_like(reduction[:, :1]), attack_release(reduction[:, 1:], attack, release)], 1)
    else:
        smoothed = attack_release(reduction, attack, release)
    return x * db_to_amplitude(col[3] - smoothed)


def compressor_inputs(seed=0, samples=120, knee=(6.0, 0.0)):
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(samples, dtype=torch.float64)
    envelope = torch.where((t > 20) & (t < 70), 0.9, 0.05)
    x = (envelope * torch.sin(0.3 * t) + 0.01 * torch.randn(2, samples, generator=g, dtype=torch.float64))
    params = [
        torch.tensor([-20.0, -12.0], dtype=torch.float64),  # threshold (dB)
        torch.tensor([4.0, 2.5], dtype=torch.float64),  # ratio
        torch.tensor(knee, dtype=torch.float64),  # knee (dB)
        torch.tensor([3.0, 10.0], dtype=torch.float64),  # makeup (dB)
        torch.tensor([0.5, 0.7], dtype=torch.float64),  # attack pole
        torch.tensor([0.9, 0.95], dtype=torch.float64),  # release pole
    ]
    return [x.requires_grad_()] + [p.requires_grad_() for p in params]


def numpy_reference_compressor(x, threshold, ratio, knee, makeup, attack, release):
    """The reference DSP compressor's loop (one example): y_L = 0 at the first sample, updates from the second."""
    level = 20 * np.log10(np.maximum(np.abs(x), 1e-4))
    d = level - threshold
    static = np.where(2 * d < -knee, level, threshold + d / ratio)
    if knee > 0:
        inside = 2 * np.abs(d) <= knee
        static = np.where(inside, level + (1 / ratio - 1) * (d + knee / 2) ** 2 / (2 * knee), static)
    reduction = level - static
    smoothed = np.zeros_like(x)
    for n in range(1, len(x)):
        a = attack if reduction[n] > smoothed[n - 1] else release
        smoothed[n] = a * smoothed[n - 1] + (1 - a) * reduction[n]
    return x * 10 ** ((makeup - smoothed) / 20)


@pytest.mark.parametrize("backend", BACKENDS)
def test_compress_starts_like_the_reference(backend):
    inputs = [t.detach() for t in compressor_inputs()]
    inputs[0][:, 0] = 0.9  # loud from the first sample: the start shows
    ours = compress(*inputs, backend=backend)
    for b in range(2):
        expected = numpy_reference_compressor(*(t[b].numpy() if t.dim() == 2 else t[b].item() for t in inputs))
        np.testing.assert_allclose(ours[b].numpy(), expected, rtol=1e-12, atol=1e-14)
    # the first output sample carries the make-up gain only
    torch.testing.assert_close(ours[:, 0], inputs[0][:, 0] * 10 ** (inputs[4] / 20))  # inputs[4]: makeup (dB)
    first = compress(*inputs, start="first", backend=backend)
    assert not torch.allclose(first[:, :3], ours[:, :3])
    torch.testing.assert_close(first, composed_compressor(*inputs, start="first"), rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="compress: start"):
        compress(*inputs, start="second")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("start", ["reference", "first"])
def test_compress_equals_composition_values_and_gradients(start, backend):
    inputs = compressor_inputs()
    weights = torch.randn(2, 120, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    ours = compress(*inputs, start=start, backend=backend)
    composed = composed_compressor(*inputs, start=start)
    torch.testing.assert_close(ours, composed, rtol=1e-12, atol=1e-12)
    grads = torch.autograd.grad((ours * weights).sum(), inputs)
    expected = torch.autograd.grad((composed * weights).sum(), inputs)
    for g, e in zip(grads, expected):
        torch.testing.assert_close(g, e, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("start", ["reference", "first"])
def test_gradcheck_compress(start, backend):
    # a knee of 0 dB is the edge of the valid range: finite differences would step below it
    inputs = compressor_inputs(seed=2, samples=100, knee=(6.0, 1.5))
    with torch.no_grad():
        inputs[0][:, 0] = 0.9  # a loud first sample, so that the start matters
    assert torch.autograd.gradcheck(lambda *a: compress(*a, start=start, backend=backend), tuple(inputs))


# -- the scan path (what CUDA tensors take), run here on CPU tensors ---------------------------


@pytest.mark.parametrize("samples", [1, 5, 128, 129, 300, 128 * 128 + 7])
def test_linear_recurrence_matches_a_loop_across_block_boundaries(samples):
    # lengths below, at and above one block (128) and above one block of blocks (two levels of recursion)
    a = double(2, samples, low=0.0, high=1.0, grad=False, seed=20)
    b = double(2, samples, grad=False, seed=21)
    initial = torch.tensor([0.7, -3.0], dtype=torch.float64)
    y = linear_recurrence(a, b, initial)
    expected = np.empty((2, samples))
    for row in range(2):
        state = initial[row].item()
        for n in range(samples):
            state = a[row, n].item() * state + b[row, n].item()
            expected[row, n] = state
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-12, atol=1e-12)
    assert linear_recurrence(a, b).shape == a.shape and linear_recurrence(a[:, :0], b[:, :0]).shape == (2, 0)


def music_like(batch, samples, fs, seed=0, dtype=torch.float32):
    """Tones under gated envelopes plus noise: gain reductions that cross their smoothed values often."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(samples, dtype=torch.float64) / fs
    freqs = 80 + 400 * torch.rand(batch, 3, 1, generator=g, dtype=torch.float64)
    phases = 6 * torch.rand(batch, 3, 1, generator=g, dtype=torch.float64)
    rates = 0.5 + 3 * torch.rand(batch, 1, generator=g, dtype=torch.float64)
    gate = 0.3 + 0.7 * (torch.sin(2 * math.pi * rates * t) > 0)
    tones = torch.sin(2 * math.pi * freqs * t + phases).mean(1)
    return (gate * tones + 0.05 * torch.randn(batch, samples, generator=g, dtype=torch.float64)).to(dtype)


@pytest.mark.parametrize("dtype, tolerance", [(torch.float64, 1e-12), (torch.float32, 1e-6)])
def test_scan_compressor_equals_the_kernel_on_audio(dtype, tolerance):
    # 8 × 0.5 s at 44.1 kHz; attack 0.1–50 ms, release 10–1000 ms, both starts. Both backends work
    # in float64 inside (the kernel's locals are float64), so float32 outputs agree to rounding.
    fs = 44100
    x = music_like(8, fs // 2, fs, dtype=dtype).requires_grad_()
    attack_ms = torch.tensor([0.1, 1.0, 5.0, 50.0] * 2, dtype=dtype)
    release_ms = torch.tensor([1000.0, 500.0, 100.0, 10.0] * 2, dtype=dtype)
    params = [
        torch.linspace(-30.0, -10.0, 8, dtype=dtype),  # threshold
        torch.linspace(2.0, 10.0, 8, dtype=dtype),  # ratio
        torch.tensor([0.0, 6.0] * 4, dtype=dtype),  # knee
        torch.full((8,), 3.0, dtype=dtype),  # makeup
        time_constant_to_alpha(attack_ms, fs),
        time_constant_to_alpha(release_ms, fs),
    ]
    params = [p.requires_grad_() for p in params]
    weights = torch.randn(8, fs // 2, generator=torch.Generator().manual_seed(1), dtype=dtype)
    for start in ["reference", "first"]:
        kernel = compress(x, *params, start=start, backend="numba")
        scan = compress(x, *params, start=start, backend="scan")
        assert scan.dtype == dtype
        torch.testing.assert_close(scan, kernel, rtol=tolerance, atol=tolerance)
        inputs = [x, *params]
        for ours, theirs in zip(torch.autograd.grad((scan * weights).sum(), inputs),
                                torch.autograd.grad((kernel * weights).sum(), inputs)):
            scale = theirs.abs().max()
            torch.testing.assert_close(ours / scale, theirs / scale, rtol=0, atol=10 * tolerance)


def test_scan_branches_settle_and_fall_back_to_the_kernel(monkeypatch):
    fs = 16000
    x = music_like(2, fs, fs, seed=3, dtype=torch.float64).abs() * 20  # a positive, dB-like input
    kernel = attack_release(x, 0.5, 0.999, backend="numba")
    passes = []
    original = recursive.linear_recurrence
    monkeypatch.setattr(recursive, "linear_recurrence", lambda *a: passes.append(1) or original(*a))
    torch.testing.assert_close(attack_release(x, 0.5, 0.999, backend="scan"), kernel, rtol=1e-12, atol=1e-12)
    assert 1 < len(passes) <= 20  # a few passes of policy iteration, not one per sample
    monkeypatch.setattr(recursive, "MAX_POLICY_PASSES", 1)
    with pytest.warns(RuntimeWarning, match="attack_release: the attack/release branches still changed after 1"):
        torch.testing.assert_close(attack_release(x, 0.5, 0.999, backend="scan"), kernel, rtol=0, atol=0)


def test_auto_backend_is_the_kernel_on_cpu(monkeypatch):
    def fail(*args):
        raise AssertionError("the scan ran on CPU tensors")

    monkeypatch.setattr(recursive, "linear_recurrence", fail)
    x = double(2, 50, low=0.0, high=1.0, grad=True)
    (one_pole(x, 0.5) + attack_release(x, 0.1, 0.9) + compress(x, -10.0, 2.0, 0.0, 0.0, 0.1, 0.9)).sum().backward()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("backend", ["auto", "numba"])
def test_cuda_results_stay_on_the_device(backend):
    inputs = [t.detach().cuda().requires_grad_() for t in compressor_inputs()]
    out = compress(*inputs, backend=backend)
    assert out.device.type == "cuda"
    out.square().sum().backward()
    assert all(t.grad is not None and t.grad.device.type == "cuda" for t in inputs)
    torch.testing.assert_close(out.cpu(), compress(*[t.detach().cpu() for t in inputs]))
    x = inputs[0].detach().abs()
    torch.testing.assert_close(attack_release(x, 0.3, 0.9, backend=backend).cpu(), attack_release(x.cpu(), 0.3, 0.9))
    torch.testing.assert_close(one_pole(x, 0.9, backend=backend).cpu(), one_pole(x.cpu(), 0.9))


def _compress_in_child(queue):
    torch.set_num_threads(1)  # as a DataLoader worker does (torch's own OpenMP pool does not survive fork)
    recursive._n_threads = lambda: 2  # but the kernels still split the batch over threads
    x = torch.full((4, 20_000), 0.5)
    queue.put(float(compress(x, -20.0, 4.0, 6.0, 0.0, 0.9, 0.99).sum()))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_kernels_still_run_in_a_forked_process(monkeypatch):
    """A DataLoader worker forked after the parent ran the (threaded) kernels can run them too."""
    monkeypatch.setattr(recursive, "_n_threads", lambda: 2)
    x = torch.full((4, 20_000), 0.5)
    expected = float(compress(x, -20.0, 4.0, 6.0, 0.0, 0.9, 0.99).sum())
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_compress_in_child, args=(queue,))
    child.start()
    try:
        result = queue.get(timeout=60)
    finally:
        child.join(timeout=5)
        if child.is_alive():
            child.kill()
    assert result == pytest.approx(expected)
