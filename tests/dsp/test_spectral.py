"""ddspfx.dsp.spectral against numpy / scipy references."""

import numpy as np
import pytest
import scipy.signal
import torch

from ddspfx.dsp.spectral import get_window, magnitude, mel_filterbank, power, stft


def numpy_stft(x, n_fft, hop, window, center=True, pad_mode="reflect"):
    """Independent STFT: pad, frame with explicit indices, window (zero-padded to n_fft), rfft."""
    win_length = len(window)
    left = (n_fft - win_length) // 2
    full_window = np.zeros(n_fft)
    full_window[left : left + win_length] = window
    if center:
        x = np.pad(x, n_fft // 2, mode=pad_mode)
    n_frames = 1 + (len(x) - n_fft) // hop
    frames = np.stack([x[m * hop : m * hop + n_fft] for m in range(n_frames)])
    return np.fft.rfft(frames * full_window, axis=-1).T  # (bins, frames)


@pytest.mark.parametrize("name", ["hann", "flattop"])
@pytest.mark.parametrize("n", [1, 16, 67, 1024])
def test_window_matches_scipy(name, n):
    ours = get_window(name, n, dtype=torch.float64).numpy()
    np.testing.assert_allclose(ours, scipy.signal.get_window(name, n), atol=1e-12)


def test_window_dtype_device_and_unknown_name():
    assert get_window("hann", 8, dtype=torch.float32, device="cpu").dtype == torch.float32
    with pytest.raises(ValueError, match="unknown window"):
        get_window("kaiser", 8)


@pytest.mark.parametrize(
    "n_fft, hop, window, win_length",
    [
        (64, 16, "hann", None),
        (67, 33, "flattop", None),
        (64, 100, "hann", None),
        (64, 16, "hann", 48),
    ],
)
def test_stft_matches_numpy_rfft_of_frames(n_fft, hop, window, win_length):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 1000))
    ours = stft(torch.from_numpy(x), n_fft, hop, window=window, win_length=win_length).numpy()
    np_window = scipy.signal.get_window(window, win_length or n_fft)
    for b in range(2):
        np.testing.assert_allclose(ours[b], numpy_stft(x[b], n_fft, hop, np_window), atol=1e-9)


def test_stft_matches_scipy_stft_without_padding():
    # scipy.signal.stft scales by 1 / window.sum(); with no boundary padding frames start at 0.
    rng = np.random.default_rng(1)
    x = rng.standard_normal(512)
    window = scipy.signal.get_window("hann", 64)
    _, _, reference = scipy.signal.stft(
        x, window=window, nperseg=64, noverlap=48, boundary=None, padded=False
    )
    ours = stft(torch.from_numpy(x)[None], 64, 16, center=False)[0].numpy()
    np.testing.assert_allclose(np.abs(ours) / window.sum(), np.abs(reference), atol=1e-12)


def test_stft_short_signal_falls_back_to_zero_padding():
    x = np.arange(1.0, 11.0)  # 10 samples < n_fft // 2 = 32: reflect padding is impossible
    ours = stft(torch.from_numpy(x)[None], 64, 16)[0].numpy()
    reference = numpy_stft(x, 64, 16, scipy.signal.get_window("hann", 64), pad_mode="constant")
    np.testing.assert_allclose(ours, reference, atol=1e-9)


def test_stft_shapes_and_bad_window():
    x = torch.randn(3, 2, 500)
    assert stft(x, 31, 10).shape == (3, 2, 16, 1 + (500 + 2 * 15 - 31) // 10)
    with pytest.raises(ValueError, match="window"):
        stft(x, 32, 8, window=torch.ones(16))


def test_magnitude_and_power_values():
    X = torch.tensor([3 + 4j, 0j], dtype=torch.complex128)
    np.testing.assert_allclose(magnitude(X, eps=0.0).numpy(), [5.0, 0.0])
    np.testing.assert_allclose(power(X).numpy(), [25.0, 0.0])


def test_magnitude_gradient_finite_at_zero():
    x = torch.zeros(2, 256, requires_grad=True)
    magnitude(stft(x, 64, 16)).sum().backward()
    assert torch.isfinite(x.grad).all()


def htk_mel_filterbank(n_freqs, sample_rate, n_mels, f_min, f_max):
    """Independent HTK triangular filterbank (peak 1), `(n_mels, n_freqs)`."""
    mel = lambda f: 2595.0 * np.log10(1.0 + f / 700.0)
    hz = lambda m: 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    edges = hz(np.linspace(mel(f_min), mel(f_max), n_mels + 2))
    freqs = np.linspace(0, sample_rate / 2, n_freqs)
    rising = (freqs[None] - edges[:-2, None]) / (edges[1:-1, None] - edges[:-2, None])
    falling = (edges[2:, None] - freqs[None]) / (edges[2:, None] - edges[1:-1, None])
    return np.maximum(0.0, np.minimum(rising, falling))


def test_mel_filterbank_matches_htk_formula():
    fb = mel_filterbank(513, 16000, 40, f_min=20.0, f_max=7600.0)
    assert fb.shape == (40, 513)
    expected = htk_mel_filterbank(513, 16000, 40, 20.0, 7600.0)
    np.testing.assert_allclose(fb.numpy(), expected, atol=1e-5)


def test_mel_filters_peak_at_increasing_frequencies():
    fb = mel_filterbank(2049, 44100, 128)
    assert fb.shape == (128, 2049)
    peaks = fb.argmax(dim=1)
    assert (fb.max(dim=1).values > 0).all()
    assert (torch.diff(peaks) > 0).all()


@pytest.mark.parametrize("n", [8, 9])
def test_rfft_bin_weights_count_each_bins_twin(n):
    from ddspfx.dsp.spectral import rfft_bin_weights

    x = torch.randn(n, dtype=torch.float64)
    spectrum = torch.fft.rfft(x)
    # Parseval: sum x^2 = (1/n) sum_k w_k |X_k|^2 with the one-sided weights
    energy = (rfft_bin_weights(n) * spectrum.abs().square()).sum() / n
    assert torch.allclose(energy, x.square().sum())
    half = rfft_bin_weights(n, 0.5)
    assert half[0] == 1 and half[1] == 0.5 and half[-1] == (1.0 if n % 2 == 0 else 0.5)
