"""TexStatLoss and texture_statistics against numpy/scipy references, Rayleigh moments (reference
textures §9.3), invariances, silence, gradients and bad input."""

import numpy as np
import pytest
import scipy.signal
import torch
import torchaudio

from ddspfx.dsp.filterbanks import erb_filterbank, log_filterbank
from ddspfx.losses import TexStatLoss, texture_statistics

FS = 44100
N_FRAME = 65536
SIZES = {"s1": 64, "s2": 120, "s3": 96, "s4": 720, "s5": 240}  # N = 16, M = 6


def noise(batch=1, n=N_FRAME, seed=0, dtype=torch.float32):
    return torch.randn(batch, n, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def brown_noise(batch=1, n=N_FRAME, seed=1):
    """Integrated white noise (−6 dB/octave), zero mean, unit variance."""
    x = noise(batch, n, seed).cumsum(dim=-1)
    x = x - x.mean(dim=-1, keepdim=True)
    return x / x.std(dim=-1, keepdim=True)


# ---- independent numpy reference ----------------------------------------------------------------


def numpy_correlations(signals):
    """Upper triangle (i < j, row by row) of np.corrcoef over the last axis."""
    i, j = np.triu_indices(signals.shape[-2], k=1)
    return np.corrcoef(signals)[i, j]


def numpy_statistics(x, fs, n_bands, n_mod, resample):
    """texture_statistics of one frame x (n,), computed in time with numpy/scipy: subbands by
    rfft·H, scipy.signal.hilbert envelopes, D = resample(E), modulation subbands by rfft·G."""
    n = len(x)
    bands = erb_filterbank(n, fs, n_bands, 20.0, dtype=torch.float64)[0][1:-1].numpy()
    subbands = np.fft.irfft(np.fft.rfft(x) * bands, n)
    envelopes = np.abs(scipy.signal.hilbert(subbands, axis=-1))
    mean = envelopes.mean(-1)
    centred = envelopes - mean[:, None]
    std = envelopes.std(-1, ddof=1)
    s1 = np.stack(
        [mean, std**2 / mean**2, (centred**3).mean(-1) / std**3, (centred**4).mean(-1) / std**4], -1
    )
    down, d_rate = resample(envelopes)
    mod = log_filterbank(down.shape[-1], d_rate, n_mod, 10.0, fs / 16, dtype=torch.float64)[0][1:-1]
    modulation = np.fft.irfft(np.fft.rfft(down)[:, None] * mod.numpy(), down.shape[-1])  # (N, M, L)
    s3 = modulation.std(-1, ddof=1) / down.std(-1, ddof=1)[:, None]
    s4 = np.stack([numpy_correlations(modulation[:, m]) for m in range(n_mod)], -1)
    s5 = np.stack([numpy_correlations(modulation[i]) for i in range(n_bands)])
    return {"s1": s1, "s2": numpy_correlations(envelopes), "s3": s3, "s4": s4, "s5": s5}


def fft_resample(envelopes):
    """Ideal band-limited resampling to L = ⌈n/4⌉ samples: rFFT bins strictly below L/2 kept."""
    n = envelopes.shape[-1]
    length = -(-n // 4)
    spectrum = np.fft.rfft(envelopes)[..., : (length + 1) // 2] * length / n
    return np.fft.irfft(spectrum, length), FS * length / n


def sinc_resample(envelopes):
    """The reference's resampler: torchaudio's windowed sinc, fs → fs/4."""
    return torchaudio.functional.resample(torch.from_numpy(envelopes), 4, 1).numpy(), FS / 4


@pytest.mark.parametrize(
    "resampler, resample, n", [("fft", fft_resample, 8192), ("fft", fft_resample, 8191), ("sinc", sinc_resample, 8191)]
)
def test_statistics_match_a_numpy_time_domain_reference(resampler, resample, n):
    x = noise(n=n, seed=3, dtype=torch.float64)
    x = x * (1 + torch.sin(torch.arange(n) / 300.0))  # some modulation, so no group is trivial
    ours = texture_statistics(x, FS, n_bands=6, n_mod_bands=3, resampler=resampler)
    expected = numpy_statistics(x[0].numpy(), FS, 6, 3, resample)
    for group, value in expected.items():
        np.testing.assert_allclose(ours[group][0].numpy(), value, rtol=1e-5, atol=1e-6, err_msg=group)


# ---- sizes, identities, invariances ---------------------------------------------------------------


@pytest.fixture(scope="module")
def white():
    """One 65536-sample white-noise frame and its statistics (N = 16, M = 6, fs = 44.1 kHz)."""
    x = noise(seed=4)
    return x, texture_statistics(x, FS)


def test_statistic_shapes_and_sizes(white):
    _, stats = white
    shapes = {"s1": (1, 16, 4), "s2": (1, 120), "s3": (1, 16, 6), "s4": (1, 120, 6), "s5": (1, 16, 15)}
    assert {g: tuple(v.shape) for g, v in stats.items()} == shapes
    assert {g: v[0].numel() for g, v in stats.items()} == SIZES and sum(SIZES.values()) == 1240
    assert all(v.dtype == torch.float32 for v in stats.values())


def test_rayleigh_moments_of_band_limited_gaussian_noise(white):
    # §9.3: the envelope of Gaussian band noise is Rayleigh: var/μ² = 4/π − 1, skew 0.6311, kurt 3.2451.
    moments = white[1]["s1"][0, :, 1:].mean(dim=0)
    assert moments[0].item() == pytest.approx(4 / np.pi - 1, abs=0.02)
    assert moments[1].item() == pytest.approx(0.6311, abs=0.1)
    assert moments[2].item() == pytest.approx(3.2451, abs=0.3)  # kurtosis computed, non-excess


def test_gain_changes_only_the_envelope_means(white):
    x, loud = white
    quiet = texture_statistics(0.5 * x, FS)
    torch.testing.assert_close(quiet["s1"][..., 0], 0.5 * loud["s1"][..., 0], rtol=1e-4, atol=0)
    torch.testing.assert_close(quiet["s1"][..., 1:], loud["s1"][..., 1:], rtol=1e-3, atol=1e-4)
    # s2 … s5 are gain invariant but for ε = 1e-8 in the near-empty modulation bands.
    for group in ("s2", "s3", "s4", "s5"):
        difference = (quiet[group] - loud[group]).abs()
        assert difference.mean() < 2e-3 and difference.max() < 0.1, group
    # §3.2: unit white noise against half of it, evaluation weights: only L1 ≈ 0.73.
    losses = TexStatLoss(FS).group_losses(0.5 * x, x)
    assert losses["s1"].item() == pytest.approx(0.73, abs=0.02)
    assert all(losses[g].item() < 0.01 for g in ("s2", "s3", "s4", "s5"))


def test_zero_for_identical_inputs_and_symmetric():
    loss = TexStatLoss(FS)
    x, y = noise(2, 16384, seed=5), brown_noise(2, 16384)
    assert loss(x, x).item() == 0.0
    assert loss(x, y).item() == pytest.approx(loss(y, x).item(), rel=1e-6)


@pytest.mark.parametrize("resampler, bound", [("fft", 1e-4), ("sinc", 0.05)])
def test_nearly_invariant_to_a_circular_shift(resampler, bound):
    # "fft" resamples the circular envelopes circularly: exactly shift invariant up to rounding;
    # "sinc" zero-pads the envelopes' ends, ≈ 0.01 as the reference's numpy port (§9.6).
    loss = TexStatLoss(FS, resampler=resampler)
    x = noise(seed=6)
    shifted = loss(torch.roll(x, int(0.3 * N_FRAME), dims=-1), x).item()
    assert shifted < bound and shifted < loss(brown_noise(), x).item() / 20


def test_click_train_is_far_from_white_noise():
    loss = TexStatLoss(FS)
    clicks = torch.zeros(1, 16384)
    clicks[0, ::2205] = 1.0  # 20 clicks per second
    noise_vs_noise = loss(noise(n=16384, seed=7), noise(n=16384, seed=8)).item()
    assert loss(clicks, noise(n=16384, seed=7)).item() > 20 * noise_vs_noise


def test_fft_resampler_stays_close_to_torchaudio_sinc(white):
    # Same s1, s2 (full-rate envelopes); s3 … s5 differ by the sinc filter's roll-off and its edges.
    x, fft = white
    sinc = texture_statistics(x, FS, resampler="sinc")
    torch.testing.assert_close(fft["s1"], sinc["s1"])
    torch.testing.assert_close(fft["s2"], sinc["s2"])
    for group, bound in (("s3", 0.003), ("s4", 0.03), ("s5", 0.003)):
        rms = (fft[group] - sinc[group]).square().mean().sqrt().item()
        assert rms < bound, group


# ---- the loss: reductions, weights, silence, gradients --------------------------------------------


def test_loss_is_weighted_sum_of_group_rms_and_batch_mean_of_examples():
    alpha, beta = (10.0, 1.0, 0.1, 0.01), (1.0, 20.0, 20.0, 20.0, 20.0)
    loss = TexStatLoss(16000, n_bands=8, n_mod_bands=4, alpha=alpha, beta=beta)
    x, y = noise(3, 16384, seed=10), brown_noise(3, 16384)
    ours, theirs = loss.statistics(x), loss.statistics(y)
    groups = loss.group_losses(x, y)
    assert list(groups) == ["s1", "s2", "s3", "s4", "s5"]
    for group, value in groups.items():
        weight = torch.tensor(alpha) if group == "s1" else 1.0
        expected = ((weight * (ours[group] - theirs[group])) ** 2).flatten(1).mean(1).sqrt()
        torch.testing.assert_close(value, expected)
    per_example = loss.per_example(x, y)
    assert per_example.shape == (3,)
    torch.testing.assert_close(per_example, sum(b * v for b, v in zip(beta, groups.values())))
    torch.testing.assert_close(loss(x, y), per_example.mean())


def test_silence_gives_finite_values_and_gradients():
    loss = TexStatLoss(FS)
    silence = torch.zeros(2, 16384)
    assert all(torch.isfinite(v).all() for v in texture_statistics(silence, FS).values())
    for estimate, target in [(silence, silence), (silence, noise(2, 16384)), (noise(2, 16384), silence)]:
        estimate = estimate.clone().requires_grad_()
        value = loss(estimate, target)
        (grad,) = torch.autograd.grad(value, estimate)
        assert torch.isfinite(value) and torch.isfinite(grad).all()


def test_gradcheck_float64():
    loss = TexStatLoss(16000, n_bands=4, n_mod_bands=2, beta=(1.0, 2.0, 3.0, 4.0, 5.0))
    estimate = noise(2, 2048, seed=11, dtype=torch.float64).requires_grad_()
    target = noise(2, 2048, seed=12, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda e: loss.per_example(e, target), (estimate,), fast_mode=True)


def test_float64_in_float64_out_and_buffers_move():
    loss = TexStatLoss(16000, n_bands=4, n_mod_bands=2).double()
    x = noise(1, 2048, dtype=torch.float64)
    assert loss(x, 0.3 * x).dtype == torch.float64
    assert loss.alpha.dtype == torch.float64 and "alpha" not in loss.state_dict()


# ---- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "audio, match",
    [
        (torch.zeros(2, 3, 4096), r"\(batch, samples\)"),
        (torch.zeros(2, 4096, dtype=torch.int64), "floating-point"),
        (torch.zeros(1, 8), "too short"),
        (torch.zeros(1, 600), "too short"),  # the lowest ERB or modulation band gets no bin
    ],
)
def test_bad_audio_is_named(audio, match):
    with pytest.raises(ValueError, match=match):
        texture_statistics(audio, FS)


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match="n_bands and n_mod_bands"):
        TexStatLoss(FS, n_mod_bands=1)
    with pytest.raises(ValueError, match="resampler"):
        texture_statistics(noise(1, 4096), FS, resampler="linear")
    with pytest.raises(ValueError, match="alpha needs 4"):
        TexStatLoss(FS, alpha=(1.0, 1.0))
    with pytest.raises(ValueError, match="shapes differ"):
        TexStatLoss(FS)(noise(1, 4096), noise(1, 4000))
