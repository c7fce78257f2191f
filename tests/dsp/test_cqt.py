"""ddspfx.dsp.cqt against a direct time-domain numpy CQT."""

import math

import numpy as np
import pytest
import torch

from ddspfx.dsp.cqt import cqt, cqt_frequencies, cqt_lengths, cqt_q_factor

SR = 44100


def numpy_cqt_frame(x, sample_rate, k, m, hop=512, fmin=32.70, n_bins=113, bins_per_octave=12):
    """|(4 / N_k) Σ_n x_pad[P + m·hop + n] w_k[n + N_k//2] e^{−2πi f_k n / sr}| by explicit summation."""
    freqs = cqt_frequencies(fmin, n_bins, bins_per_octave).numpy()
    lengths = cqt_lengths(sample_rate, fmin, n_bins, bins_per_octave).numpy()
    n_k = lengths[k]
    pad = hop * math.ceil((lengths.max() // 2 + 1) / hop)
    padded = np.pad(x, (pad, pad), mode="reflect")
    n = np.arange(n_k) - n_k // 2
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_k) / n_k)
    kernel = window * np.exp(-2j * np.pi * freqs[k] * n / sample_rate) * 4 / n_k
    return abs((padded[pad + m * hop + n] * kernel).sum())


def test_frequencies_and_lengths():
    freqs = cqt_frequencies(32.70, 113, 12)
    assert freqs.shape == (113,)
    assert freqs[0] == pytest.approx(32.70)
    assert freqs[12] == pytest.approx(65.40)
    assert freqs[-1] == pytest.approx(32.70 * 2 ** (112 / 12))
    assert cqt_q_factor(12) == pytest.approx(16.817, abs=1e-3)
    lengths = cqt_lengths(SR)
    assert lengths[0] == 22681 and lengths[-1] == 36


def test_top_bin_above_nyquist_raises_with_values():
    with pytest.raises(ValueError, match=r"21094\.\d Hz.*Nyquist 8000\.0 Hz.*n_bins <= 96"):
        cqt_frequencies(32.70, 113, 12, sample_rate=16000)
    cqt_frequencies(32.70, 96, 12, sample_rate=16000)  # fits
    with pytest.raises(ValueError, match="Nyquist"):
        cqt(torch.zeros(1, 16000), 16000)


@pytest.mark.parametrize("sample_rate,n_bins", [(SR, 113), (16000, 96)])
def test_matches_direct_time_domain_cqt(sample_rate, n_bins):
    x = torch.randn(2, sample_rate, generator=torch.Generator().manual_seed(0))
    ours = cqt(x, sample_rate, n_bins=n_bins).double().numpy()
    assert ours.shape == (2, n_bins, 1 + sample_rate // 512)
    worst = 0.0
    for k in (0, 7, 40, 77, 90, 95, 101, 112):  # frequency-domain and time-domain octaves
        if k >= n_bins:
            continue
        for m in (0, 1, 17, ours.shape[-1] - 1):  # including both edges (reflect padding)
            for b in range(2):
                expected = numpy_cqt_frame(x[b].double().numpy(), sample_rate, k, m, n_bins=n_bins)
                worst = max(worst, abs(ours[b, k, m] - expected) / (expected + 1e-3))
    assert worst < 2e-3


@pytest.mark.parametrize("k", [12, 40, 64, 88, 100])
def test_sine_at_bin_centre_peaks_there_with_its_amplitude(k):
    freq = float(cqt_frequencies()[k])
    t = torch.arange(SR, dtype=torch.float64) / SR
    sine = (0.5 * torch.cos(2 * math.pi * freq * t + 0.3)).float()
    spectrum = cqt(sine[None], SR)[0]  # (bins, frames)
    middle = spectrum[:, spectrum.shape[1] // 2]
    assert int(middle.argmax()) == k
    # Normalization: a sine of amplitude A gives ≈ A in its bin, whatever the bin.
    assert float(middle[k]) == pytest.approx(0.5, rel=0.01)


def test_shapes_dtypes_and_short_signals():
    x = torch.randn(3, 2, 5000, generator=torch.Generator().manual_seed(1))
    out = cqt(x, 22050, n_bins=84, hop=256)
    assert out.shape == (3, 2, 84, 1 + 5000 // 256) and out.dtype == torch.float32
    # 5000 samples < the centre padding: zero padding is used instead of reflect.
    assert torch.isfinite(out).all()
    out64 = cqt(x[0].double(), 22050, n_bins=84, hop=256)
    assert out64.dtype == torch.float64
    torch.testing.assert_close(out64.float(), out[0], rtol=1e-3, atol=1e-5)
    assert cqt(torch.zeros(1, 1), 8000, n_bins=60).shape == (1, 60, 1)


def test_gradients_finite_on_silence_and_nonzero_on_noise():
    silence = torch.zeros(2, 8000, requires_grad=True)
    cqt(silence, 16000, n_bins=96).sum().backward()
    assert torch.isfinite(silence.grad).all()
    noise = torch.randn(2, 8000, generator=torch.Generator().manual_seed(2)).requires_grad_()
    cqt(noise, 16000, n_bins=96).sum().backward()
    assert torch.isfinite(noise.grad).all() and noise.grad.abs().sum() > 0


def test_bad_inputs():
    with pytest.raises(ValueError, match="hop"):
        cqt(torch.zeros(1, 100), SR, hop=0)
    with pytest.raises(ValueError, match="floating-point"):
        cqt(torch.zeros(1, 100, dtype=torch.int64), SR)
    with pytest.raises(ValueError, match="samples"):
        cqt(torch.zeros(1, 0), SR)
    with pytest.raises(ValueError, match="fmin"):
        cqt_frequencies(0.0, 10, 12)


@pytest.mark.parametrize("cost", [0, 10**9])
def test_time_and_frequency_domain_paths_agree(monkeypatch, cost):
    """All octaves in the frequency domain (the top ones through full-DFT indexing), or all in the time domain."""
    import ddspfx.dsp.cqt as module

    x = torch.randn(2, 11025, generator=torch.Generator().manual_seed(3))
    default = cqt(x, 22050, n_bins=100)
    monkeypatch.setattr(module, "_GATHER_COST", cost)
    module._plan.cache_clear()
    try:
        forced = cqt(x, 22050, n_bins=100)
    finally:
        module._plan.cache_clear()
    torch.testing.assert_close(forced, default, rtol=2e-3, atol=2e-4 * float(default.max()))


def test_bins_below_nyquist_is_the_largest_count_that_fits():
    from ddspfx.dsp.cqt import bins_below_nyquist

    for rate in (16000, 22050, 44100, 48000):
        n = bins_below_nyquist(32.70, 12, rate)
        cqt_frequencies(32.70, n, 12, rate)  # fits
        with pytest.raises(ValueError, match="exceeds Nyquist"):
            cqt_frequencies(32.70, n + 1, 12, rate)
    assert bins_below_nyquist(32.70, 12, 16000) == 96
    assert bins_below_nyquist(32.70, 12, 44100, at_most=113) == 113
