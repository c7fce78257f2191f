"""SpectralOT and quantile_wasserstein against scipy and analytic values."""

import math

import numpy as np
import pytest
import scipy.stats
import torch

from ddspfx.losses import SpectralOT, quantile_wasserstein

SAMPLE_RATE = 44100


def tone(frequency_hz, gain=1.0, seconds=0.25):
    t = torch.arange(int(seconds * SAMPLE_RATE), dtype=torch.float64) / SAMPLE_RATE
    return gain * torch.sin(2 * math.pi * frequency_hz * t)[None]


@pytest.mark.parametrize("seed", range(5))
def test_p1_equals_scipy_wasserstein_distance(seed):
    rng = np.random.default_rng(seed)
    support = np.sort(rng.uniform(0, 1, 17))
    u, v = rng.dirichlet(np.ones(17)), rng.dirichlet(np.ones(17))
    ours = quantile_wasserstein(
        torch.from_numpy(u), torch.from_numpy(v), torch.from_numpy(support), p=1
    )
    expected = scipy.stats.wasserstein_distance(support, support, u, v)
    assert ours.item() == pytest.approx(expected, rel=1e-10, abs=1e-12)


def test_p2_of_two_diracs_is_squared_distance():
    support = torch.arange(33, dtype=torch.float64) / 64
    a, b = torch.zeros(33, dtype=torch.float64), torch.zeros(33, dtype=torch.float64)
    a[3], b[20] = 1.0, 1.0
    assert quantile_wasserstein(a, b, support, p=2).item() == ((20 - 3) / 64) ** 2


def test_p2_matches_quantile_integral_on_a_fine_grid():
    # W2² = ∫ (F_a⁻¹(u) − F_b⁻¹(u))² du, integrated on a fine grid of levels u with numpy.
    rng = np.random.default_rng(7)
    support = np.arange(9) / 16
    u_pmf, v_pmf = rng.dirichlet(np.ones(9)), rng.dirichlet(np.ones(9))
    levels = (np.arange(200_000) + 0.5) / 200_000
    quantile = lambda pmf: support[np.minimum(np.searchsorted(np.cumsum(pmf), levels), 8)]
    expected = np.mean((quantile(u_pmf) - quantile(v_pmf)) ** 2)
    u_pmf, v_pmf, support = map(torch.from_numpy, (u_pmf, v_pmf, support))
    ours = quantile_wasserstein(u_pmf, v_pmf, support)
    assert ours.item() == pytest.approx(expected, rel=1e-3)


def test_batched_leading_dims():
    pmfs = torch.softmax(torch.randn(2, 3, 5, dtype=torch.float64), dim=-1)
    support = torch.linspace(0, 0.5, 5, dtype=torch.float64)
    batched = quantile_wasserstein(pmfs, pmfs.flip(0), support)
    single = quantile_wasserstein(pmfs[1, 2], pmfs[0, 2], support)
    assert batched.shape == (2, 3)
    assert batched[1, 2].item() == pytest.approx(single.item())


def test_zero_for_identical_signals():
    x = torch.randn(2, 4096)
    loss = SpectralOT()
    assert loss(x, x).item() == 0.0
    assert loss.per_example(x, x).shape == (2,)


def test_invariant_to_gain():
    loss = SpectralOT()
    target = tone(3000.0)
    loud, quiet = loss(tone(1000.0), target), loss(tone(1000.0, gain=0.1), target)
    assert loud.item() > 0
    assert quiet.item() == pytest.approx(loud.item(), rel=1e-5)


def test_grows_with_frequency_shift():
    loss = SpectralOT()
    target = tone(1000.0)
    values = [loss(tone(f), target).item() for f in (1000.0, 1500.0, 3000.0, 6000.0, 12000.0)]
    assert all(a < b for a, b in zip(values, values[1:])), values


def test_silence_gives_finite_loss_and_gradients():
    loss = SpectralOT()
    estimate = torch.zeros(2, 2048, requires_grad=True)
    for target in (torch.zeros(2, 2048), torch.randn(2, 2048)):
        value = loss(estimate, target)
        (grad,) = torch.autograd.grad(value, estimate)
        assert torch.isfinite(value) and torch.isfinite(grad).all()


def test_gradcheck():
    torch.manual_seed(0)
    estimate = torch.randn(2, 256, dtype=torch.float64, requires_grad=True)
    target = torch.randn(2, 256, dtype=torch.float64)
    loss = SpectralOT(n_fft=16, hop=8)
    assert torch.autograd.gradcheck(lambda e: loss(e, target), (estimate,))


def test_mismatched_shapes_raise():
    with pytest.raises(ValueError, match="SpectralOT: estimate and target shapes differ"):
        SpectralOT()(torch.zeros(2, 1000), torch.zeros(2, 999))
    with pytest.raises(ValueError, match=r"\(batch, samples\)"):
        SpectralOT()(torch.zeros(1000), torch.zeros(1000))


def numpy_sot(estimate, target, n_fft=64, hop=256, scale=100.0):
    """The reference's equations in numpy: exact-|X| frame pmfs, W2² by merged quantile levels."""
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)

    def pmfs(x):
        padded = np.pad(x, n_fft // 2, mode="reflect")
        frames = np.stack([padded[m * hop : m * hop + n_fft] for m in range(1 + (len(padded) - n_fft) // hop)])
        mags = np.abs(np.fft.rfft(frames * window, axis=-1))
        return mags / mags.sum(-1, keepdims=True)

    support = np.arange(n_fft // 2 + 1) / n_fft
    total = []
    for a, b in zip(pmfs(estimate), pmfs(target)):
        ca, cb = np.cumsum(a), np.cumsum(b)
        levels = np.sort(np.concatenate([ca, cb]))
        steps = np.diff(levels, prepend=0.0)
        qa = support[np.minimum(np.searchsorted(ca, levels, side="left"), len(support) - 1)]
        qb = support[np.minimum(np.searchsorted(cb, levels, side="left"), len(support) - 1)]
        total.append(np.sum((qa - qb) ** 2 * steps))
    return scale * np.mean(total)


def test_non_silent_frames_match_the_reference_pmfs_exactly():
    # quiet signals are where an additive floor showed (up to 1 % against the reference)
    rng = np.random.default_rng(3)
    estimate, target = 1e-3 * rng.standard_normal((2, 4096)), 1e-4 * rng.standard_normal((2, 4096))
    estimate[1, :2048] *= (0.01 + np.linspace(0, 1, 2048)) ** 2  # a fade-in: frames of very different levels
    ours = SpectralOT().per_example(torch.from_numpy(estimate), torch.from_numpy(target)).numpy()
    expected = [numpy_sot(estimate[b], target[b]) for b in range(2)]
    np.testing.assert_allclose(ours, expected, rtol=1e-9)


def test_only_silent_frames_get_the_guard():
    x = torch.randn(1, 2048, dtype=torch.float64)
    x[:, 1024:] = 0.0  # second half silent
    pmfs = SpectralOT().frame_pmfs(x)
    torch.testing.assert_close(pmfs.sum(-1), torch.ones(pmfs.shape[:-1], dtype=torch.float64))
    assert torch.allclose(pmfs[0, -1], torch.full((33,), 1 / 33, dtype=torch.float64))  # silent: uniform
    spectrum = torch.stft(torch.nn.functional.pad(x[:, None], (32, 32), mode="reflect")[:, 0], 64, 256,
                          window=torch.hann_window(64, dtype=torch.float64), center=False, return_complex=True)
    exact = spectrum.abs() / spectrum.abs().sum(-2, keepdim=True)
    torch.testing.assert_close(pmfs[0, 0], exact[0, :, 0], rtol=0, atol=1e-15)
    # the threshold: Σ|X| ≤ eps (1e-8, a frame some 190 dB below full scale) counts as silent
    assert SpectralOT().eps == 1e-8
