"""ddspfx.dsp.features against numpy / scipy / pyloudnorm references and the reference's constants."""

import numpy as np
import pyloudnorm
import pytest
import scipy.signal
import torch
import torchaudio

from ddspfx.dsp.features import (
    MIN_TARGET_SAMPLES,
    ONSET_FEATURES,
    TARGET_FEATURES,
    TARGET_LABELS,
    TARGET_UNITS,
    frame_loudness,
    frame_mean,
    frame_signal,
    k_weighting_coefficients,
    kazazis,
    loudness,
    onset_features,
    rms_db,
    schlauch,
    spectral_centroid_full,
    spectral_centroid_semitones,
    spectral_flatness_db,
    target_features,
    temporal_centroid,
    temporal_centroid_ms,
)

SR = 44100.0


# ----------------------------------------------------------------------------------------------
# Independent references (numpy / scipy / pyloudnorm / torchaudio)


def pyloudnorm_filters(rate):
    """[(b, a), (b, a)] of pyloudnorm's K-weighting, in filtering order (shelf, then high pass)."""
    filters = pyloudnorm.Meter(rate)._filters
    return [(filters[name].b, filters[name].a) for name in ("high_shelf", "high_pass")]


def np_loudness(frames, rate, clamp=False):
    """Per-frame loudness: scipy lfilter (zero state) with pyloudnorm's coefficients."""
    y = np.asarray(frames, dtype=np.float64)
    for b, a in pyloudnorm_filters(rate):
        y = scipy.signal.lfilter(b, a, y, axis=-1)
        if clamp:
            y = np.clip(y, -1.0, 1.0)
    return -0.691 + 10 * np.log10(np.mean(y**2, axis=-1) + 1e-8)


def _lfilter_loudness_reference(frames, sample_rate, clamp=True):
    """The reference's plain formulation: torchaudio lfilter per stage on every frame, clamp=True.

    frames `(..., frame_size)` → `(...)` dB. Also the timing baseline of target_features.
    """
    y = frames
    for b, a in pyloudnorm_filters(sample_rate):
        b_t, a_t = (torch.as_tensor(c, dtype=frames.dtype) for c in (b, a))
        y = torchaudio.functional.lfilter(y, a_t, b_t, clamp=clamp)
    return -0.691 + 10 * torch.log10(y.square().mean(-1) + 1e-8)


def np_kazazis(hz):
    return -34.61 * hz ** (-0.1621) + 21.2985


def np_centroid_full(frames, rate):
    size = frames.shape[-1]
    window = scipy.signal.windows.flattop(size, sym=True)
    magnitude = np.log1p(np.maximum(np.abs(np.fft.rfft(frames * window, axis=-1)), 1e-4))
    normalized = magnitude / (magnitude.sum(-1, keepdims=True) + 1e-12)
    hz = (normalized * np.arange(magnitude.shape[-1])).sum(-1) * rate / size
    return np_kazazis(hz)


def np_hann_spectrum(frames):
    return np.fft.rfft(frames * scipy.signal.get_window("hann", frames.shape[-1]), axis=-1)


def np_flatness_db(frames):
    p = np.maximum(np.abs(np_hann_spectrum(frames)) ** 2, 1e-10)
    return 20 * np.log10(np.exp(np.mean(np.log(p), -1)) / np.mean(p, -1) + 1e-8)


def np_centroid_semitones(frames, rate):
    magnitude = np.abs(np_hann_spectrum(frames))
    normalized = magnitude / (magnitude.sum(-1, keepdims=True) + 1e-12)
    hz = (normalized * np.arange(magnitude.shape[-1])).sum(-1) * rate / frames.shape[-1]
    return 12 * np.log2((hz + 1e-8) / 440) + 69


def np_rms_db(frames):
    return 20 * np.log10(np.sqrt(np.mean(frames**2, -1) + 1e-8) + 1e-8)


def np_temporal_centroid_ms(frame, rate):
    """conv1d(x², periodic Hann 2048, padding "same") = correlation with 1023 zeros left, 1024 right."""
    window = scipy.signal.get_window("hann", 2048)
    envelope = np.correlate(np.pad(frame**2, (1023, 1024)), window, mode="valid")
    assert envelope.shape == frame.shape
    return np.sum(np.arange(len(frame)) * envelope) / (np.sum(envelope) + 1e-8) / rate * 1000


def np_target_features(audio, rate, clamp=False):
    """The 7 target features of one signal, from the numpy references above."""
    frames = np.stack([audio[512 * m : 512 * m + 2048] for m in range(66)])
    per_frame = [np_loudness(frames, rate, clamp), np_centroid_full(frames, rate), np_flatness_db(frames)]
    columns = [v[span].mean() for v in per_frame for span in (slice(0, 2), slice(2, 66))]
    return np.array(columns + [0.03 * np_temporal_centroid_ms(audio[:5512], rate) ** 1.864])


def noise(*shape, scale=0.3, seed=0, dtype=torch.float64):
    return torch.from_numpy(np.random.default_rng(seed).standard_normal(shape) * scale).to(dtype)


def sine(freq, samples, rate=SR, amplitude=1.0, batch=1):
    t = torch.arange(samples, dtype=torch.float64) / rate
    return (amplitude * torch.sin(2 * np.pi * freq * t)).expand(batch, samples).clone()


# ----------------------------------------------------------------------------------------------
# Names and frame machinery


def test_feature_names_and_constants():
    assert TARGET_FEATURES == ("spl_t", "spl_s", "sc_t", "sc_s", "sf_t", "sf_s", "tc")
    assert TARGET_LABELS == ("SPL_T", "SPL_S", "SC_T", "SC_S", "SF_T", "SF_S", "TC")
    assert len(TARGET_UNITS) == 7
    assert ONSET_FEATURES == ("rms_db", "centroid_st", "flatness_db")
    assert MIN_TARGET_SAMPLES == 65 * 512 + 2048 == 35328


def test_frame_signal_and_frame_mean():
    audio = torch.arange(2 * 20, dtype=torch.float64).reshape(2, 20)
    frames = frame_signal(audio, 8, 4)
    assert frames.shape == (2, 4, 8)
    assert torch.equal(frames[1, 2], audio[1, 8:16])
    assert frame_signal(audio, 8, 4, n_frames=2).shape == (2, 2, 8)
    values = torch.tensor([[1.0, 3.0, 5.0, 7.0]])
    assert torch.equal(frame_mean(values, 1, 2), torch.tensor([4.0]))
    with pytest.raises(ValueError, match="need 28 samples, got 20"):
        frame_signal(audio, 8, 4, n_frames=6)
    with pytest.raises(ValueError, match="hop"):
        frame_signal(audio, 8, 0)
    with pytest.raises(ValueError, match="only 4 frames"):
        frame_mean(values, 3, 2)


# ----------------------------------------------------------------------------------------------
# Loudness


@pytest.mark.parametrize("rate", [44100, 48000])
def test_k_weighting_coefficients_equal_pyloudnorm(rate):
    b, a = k_weighting_coefficients(rate)
    assert b.shape == a.shape == (2, 3) and b.dtype == a.dtype == torch.float64
    for stage, (b_ref, a_ref) in enumerate(pyloudnorm_filters(rate)):
        np.testing.assert_allclose(b[stage].numpy(), b_ref, rtol=0, atol=1e-10)
        np.testing.assert_allclose(a[stage].numpy(), a_ref, rtol=0, atol=1e-10)


@pytest.mark.parametrize("clamp", [False, True])
@pytest.mark.parametrize("rate, size", [(44100, 2048), (48000, 301)])
def test_loudness_matches_scipy_per_frame(clamp, rate, size):
    # Amplitude 1.5: the K-weighted frames exceed ±1, so clamp=True really clips.
    frames = noise(2, 3, size, scale=1.5, seed=1)
    ours = loudness(frames, rate, clamp=clamp).numpy()
    np.testing.assert_allclose(ours, np_loudness(frames.numpy(), rate, clamp), atol=1e-9)
    if clamp:
        assert np.all(ours < np_loudness(frames.numpy(), rate, clamp=False) - 0.1)


def test_loudness_matches_lfilter_reference():
    frames = noise(2, 4, 2048, scale=0.9, seed=2)
    expected = _lfilter_loudness_reference(frames, SR)
    torch.testing.assert_close(loudness(frames, SR, clamp=True), expected, atol=1e-9, rtol=0)
    # float32: the FFT convolution stays within 1e-5 dB of float64 (torchaudio's float32
    # recursion through the 38 Hz pole drifts by ~1e-4 dB on these frames).
    ours32 = loudness(frames.float(), SR, clamp=True).double()
    np.testing.assert_allclose(ours32.numpy(), np_loudness(frames.float().double().numpy(), SR, True), atol=1e-5)


def test_loudness_of_silence_is_the_floor():
    np.testing.assert_allclose(loudness(torch.zeros(3, 64), SR).numpy(), -0.691 - 80.0, atol=1e-9)


def loudness_signals(rate, samples=MIN_TARGET_SAMPLES + 100, seed=12):
    """`(8, samples)` float64: random, silence, full-scale sines (997 Hz, 20 Hz), full-scale white
    noise, a loud burst before quiet noise (frames starting after it), a DC step then a quiet
    tail, and a chirp up from 0 Hz (most of it cut by the 38 Hz high pass)."""
    rng = np.random.default_rng(seed)
    t = np.arange(samples) / rate
    burst = 1e-4 * rng.standard_normal(samples)
    burst[3000:4500] += rng.standard_normal(1500)
    dc_step = 1e-3 * rng.standard_normal(samples)
    dc_step[:1024] = 1.0
    signals = [
        0.3 * rng.standard_normal(samples),
        np.zeros(samples),
        np.sin(2 * np.pi * 997 * t),
        np.sin(2 * np.pi * 20 * t + 0.3),
        rng.uniform(-1, 1, samples),
        burst,
        dc_step,
        np.sin(2 * np.pi * 200 * t**2) * np.exp(-t / 0.1),
    ]
    return torch.from_numpy(np.stack(signals))


@pytest.mark.parametrize("rate", [44100, 48000])
def test_frame_loudness_equals_the_per_frame_path(rate):
    audio = loudness_signals(rate)
    frames = frame_signal(audio, 2048, 512, 66)
    ours = frame_loudness(audio, rate, 66)
    assert ours.shape == (8, 66) and ours.dtype == torch.float64
    torch.testing.assert_close(ours, loudness(frames, rate), atol=1e-9, rtol=0)
    np.testing.assert_allclose(ours.numpy(), np_loudness(frames.numpy(), rate), atol=1e-9)
    # float32: within a few float32 ulps of the per-frame path (7.6e-6 dB at -80 dB).
    ours32 = frame_loudness(audio.float(), rate, 66)
    assert ours32.dtype == torch.float32
    torch.testing.assert_close(ours32, loudness(frames.float(), rate), atol=2e-5, rtol=0)
    np.testing.assert_allclose(ours32.double().numpy(), np_loudness(frames.float().double().numpy(), rate), atol=2e-5)


def test_frame_loudness_after_a_loud_burst_is_that_of_the_frame_alone():
    # Frames 9+ start after the burst (samples 3000…4499): their zero-state loudness ignores it.
    audio = loudness_signals(SR)[5:6]
    quiet = audio.clone()
    quiet[:, :4500] = 0.0
    ours = frame_loudness(audio, SR, 66)
    torch.testing.assert_close(ours[:, 9:], frame_loudness(quiet, SR, 66)[:, 9:], atol=1e-9, rtol=0)
    assert ours[0, 9:].max() < -70


def test_frame_loudness_clamp_and_sizes():
    audio = noise(2, 4 * 512 + 2048, scale=1.5, seed=13)
    frames = frame_signal(audio, 2048, 512, 5)
    torch.testing.assert_close(frame_loudness(audio, SR, 5, clamp=True), loudness(frames, SR, clamp=True))
    torch.testing.assert_close(frame_loudness(audio[0], SR, 5), loudness(frames[0], SR), atol=1e-9, rtol=0)
    with pytest.raises(ValueError, match="need 4096 samples, got 4095"):
        frame_loudness(audio[:, :-1], SR, 5)
    with pytest.raises(ValueError, match="sample_rate"):
        frame_loudness(audio, -1.0, 5)


def test_frame_loudness_gradcheck_fast_mode():
    audio = noise(2, 2 * 512 + 2048, scale=0.5, seed=14).requires_grad_()
    assert torch.autograd.gradcheck(lambda x: frame_loudness(x, SR, 3), (audio,), fast_mode=True)
    # The gradient equals the per-frame path's.
    weights = noise(2, 3, seed=15)
    (grad,) = torch.autograd.grad((frame_loudness(audio, SR, 3) * weights).sum(), audio)
    (expected,) = torch.autograd.grad((loudness(frame_signal(audio, 2048, 512, 3), SR) * weights).sum(), audio)
    torch.testing.assert_close(grad, expected, atol=1e-12, rtol=1e-9)


# ----------------------------------------------------------------------------------------------
# Spectral centroid and flatness


def test_kazazis_reference_points():
    hz = torch.tensor([500.0, 1000.0, 5000.0, 11025.0, 22050.0], dtype=torch.float64)
    np.testing.assert_allclose(kazazis(hz).numpy(), [8.660, 10.003, 12.597, 13.644, 14.457], atol=5e-4)
    assert torch.isfinite(kazazis(torch.tensor([0.0, -1.0]))).all()


@pytest.mark.parametrize("size, rate", [(2048, 44100), (257, 48000)])
def test_spectral_centroid_full_matches_numpy(size, rate):
    frames = torch.cat([noise(2, 3, size, seed=3), sine(1000.0, size, rate)[None].expand(2, 1, size)], dim=1)
    frames[0, 0] = 0.0  # silence: every bin at the floor
    ours = spectral_centroid_full(frames, rate).numpy()
    np.testing.assert_allclose(ours, np_centroid_full(frames.numpy(), rate), atol=1e-10)


def test_spectral_centroid_full_of_silence_is_a_quarter_of_the_rate():
    # All |X| at the floor: the centroid is the mean bin, L/4 → sample_rate / 4 (§14.5).
    ours = spectral_centroid_full(torch.zeros(1, 2048), SR)
    np.testing.assert_allclose(ours.numpy(), [13.644], atol=5e-4)
    at_48k = spectral_centroid_full(torch.zeros(1, 2048, dtype=torch.float64), 48000)
    np.testing.assert_allclose(at_48k.numpy(), [np_kazazis(12000.0)], atol=1e-10)


def test_semitone_centroid_of_a_sine_at_a_bin_centre():
    size, k = 2048, 40
    freq = k * SR / size
    ours = spectral_centroid_semitones(sine(freq, size), SR)
    np.testing.assert_allclose(ours.numpy(), [12 * np.log2(freq / 440) + 69], atol=1e-3)


def test_flatness_matches_numpy_and_orders_noise_above_a_sine():
    frames = torch.cat([noise(1, 2048, seed=4), sine(1000.0, 2048), torch.zeros(1, 2048)])
    ours = spectral_flatness_db(frames).numpy()
    np.testing.assert_allclose(ours, np_flatness_db(frames.numpy()), atol=1e-9)
    assert ours[0] > ours[1] + 40  # white noise ≈ −5 dB, a sine far below
    assert np.all((ours >= -160) & (ours <= 1e-6))
    full_scale_at_bin_centre = spectral_flatness_db(sine(SR / 4, 2048))  # most power in 3 bins
    assert -160 <= full_scale_at_bin_centre.item() < ours[1]


@pytest.mark.parametrize("size", [2048, 17])
def test_centroid_and_flatness_gradients_equal_plain_autograd(size):
    # The custom |rFFT| / |rFFT|² backward against autograd through torch.fft.rfft, abs and clamp,
    # with floored bins (silence, a sine's far bins) and the odd-size rFFT weights.
    frames = torch.cat([noise(2, size, seed=16), sine(1000.0, size), torch.zeros(1, size, dtype=torch.float64)])
    frames.requires_grad_()
    flattop = torch.from_numpy(scipy.signal.windows.flattop(size, sym=True))
    hann = torch.from_numpy(scipy.signal.get_window("hann", size))

    def plain_centroid(x):
        weights = torch.log1p(torch.fft.rfft(x * flattop).abs().clamp(min=1e-4))
        bins = torch.arange(weights.shape[-1], dtype=torch.float64)
        return -34.61 * ((weights * bins).sum(-1) / (weights.sum(-1) + 1e-12) * SR / size) ** -0.1621 + 21.2985

    def plain_flatness(x):
        p = torch.fft.rfft(x * hann).abs().square().clamp(min=1e-10)
        return 20 * torch.log10((torch.exp(torch.log(p).mean(-1)) / p.mean(-1)).clamp(max=1.0) + 1e-8)

    def centroid(x):
        return spectral_centroid_full(x, SR)

    weights = noise(4, seed=17)
    for ours, plain in ((centroid, plain_centroid), (spectral_flatness_db, plain_flatness)):
        (grad,) = torch.autograd.grad((ours(frames) * weights).sum(), frames)
        (expected,) = torch.autograd.grad((plain(frames) * weights).sum(), frames)
        # Relative to the largest gradient: the sine's bins span ~1e7 in magnitude.
        torch.testing.assert_close(grad, expected, atol=1e-8 * expected.abs().max().item(), rtol=0)
        assert torch.all(grad[3] == 0)


# ----------------------------------------------------------------------------------------------
# Temporal centroid, RMS


def test_schlauch_reference_points():
    ms = torch.tensor([10.0, 20.0, 50.0], dtype=torch.float64)
    np.testing.assert_allclose(schlauch(ms).numpy()[:2], [2.193, 7.984], atol=5e-4)
    assert schlauch(ms)[2].item() == pytest.approx(44.06, abs=5e-3)  # published to 2 decimals


@pytest.mark.parametrize("size", [5512, 1500])
def test_temporal_centroid_matches_numpy_correlation(size):
    frames = noise(3, size, seed=5) * torch.linspace(1, 0, size, dtype=torch.float64) ** 3
    impulse = torch.zeros(1, size, dtype=torch.float64)
    impulse[0, size // 3] = 1.0
    frames = torch.cat([frames, impulse])
    expected = np.array([np_temporal_centroid_ms(f, SR) for f in frames.numpy()])
    np.testing.assert_allclose(temporal_centroid_ms(frames, SR).numpy(), expected, rtol=1e-10)
    np.testing.assert_allclose(temporal_centroid(frames, SR).numpy(), 0.03 * expected**1.864, rtol=1e-9)


def test_temporal_centroid_of_an_impulse_far_from_the_edges():
    # The periodic Hann's centroid is at tap 1024, one after the "same" padding's 1023: TC = p − 1.
    impulse = torch.zeros(1, 5512, dtype=torch.float64)
    impulse[0, 2000] = 0.5
    np.testing.assert_allclose(temporal_centroid_ms(impulse, 48000).numpy(), [1999 / 48000 * 1000], rtol=1e-9)


def test_rms_db():
    frames = torch.cat([noise(1, 256, seed=6), torch.zeros(1, 256)])
    np.testing.assert_allclose(rms_db(frames).numpy(), np_rms_db(frames.numpy()), atol=1e-10)
    np.testing.assert_allclose(rms_db(torch.zeros(2, 256)).numpy(), -80.0, atol=1e-3)


# ----------------------------------------------------------------------------------------------
# Feature vectors


@pytest.mark.parametrize("rate, clamp", [(44100, False), (48000, True)])
def test_target_features_match_numpy(rate, clamp):
    decay = torch.exp(-torch.arange(36000, dtype=torch.float64) / 4000)
    audio = torch.cat([noise(1, 36000, scale=1.2, seed=7) * decay, sine(180.0, 36000, rate) * decay])
    ours = target_features(audio, rate, clamp=clamp)
    assert ours.shape == (2, 7)
    for b in range(2):
        np.testing.assert_allclose(ours[b].numpy(), np_target_features(audio[b].numpy(), rate, clamp), atol=1e-8)


def test_onset_features_match_numpy():
    audio = torch.cat([sine(1234.5, 300, amplitude=0.5), noise(1, 300, seed=8), torch.zeros(1, 300)])
    ours = onset_features(audio, SR)
    assert ours.shape == (3, 3)
    frames = audio[:, :256].numpy()
    expected = np.stack([np_rms_db(frames), np_centroid_semitones(frames, SR), np_flatness_db(frames)], -1)
    np.testing.assert_allclose(ours.numpy(), expected, atol=1e-9)
    assert ours[2, 0].item() == pytest.approx(-80.0, abs=1e-3)
    assert onset_features(audio, 48000, window=64).shape == (3, 3)


def test_short_and_bad_input_raise():
    with pytest.raises(ValueError, match="35327 samples, needs at least 35328"):
        target_features(torch.zeros(1, MIN_TARGET_SAMPLES - 1), SR)
    with pytest.raises(ValueError, match="255 samples, needs at least 256"):
        onset_features(torch.zeros(2, 255), SR)
    with pytest.raises(ValueError, match="window"):
        onset_features(torch.zeros(2, 300), SR, window=0)
    with pytest.raises(ValueError, match="sample_rate"):
        target_features(torch.zeros(1, MIN_TARGET_SAMPLES), 0)
    with pytest.raises(ValueError, match=r"\(batch, samples\)"):
        onset_features(torch.zeros(300), SR)


@pytest.mark.parametrize("clamp", [False, True])
def test_extreme_inputs_give_finite_values_and_gradients(clamp):
    samples = MIN_TARGET_SAMPLES
    audio = torch.cat(
        [torch.zeros(1, samples), sine(997.0, samples), noise(1, samples, scale=1.0, seed=9)]
    ).float().requires_grad_()
    target = target_features(audio, SR, clamp=clamp)
    onset = onset_features(audio, SR)
    assert torch.isfinite(target).all() and torch.isfinite(onset).all()
    (target.sum() + onset.sum()).backward()
    assert torch.isfinite(audio.grad).all()
    assert audio.grad[1:].abs().sum() > 0


def test_onset_features_gradcheck():
    audio = noise(2, 40, seed=10).requires_grad_()
    assert torch.autograd.gradcheck(lambda x: onset_features(x, SR, window=32), (audio,))


def test_spectral_building_blocks_gradcheck():
    # Odd and even frame sizes (both branches of the rFFT backward), clamp=False K-weighting.
    for size in (17, 24):
        frames = noise(1, size, scale=0.5, seed=size).requires_grad_()
        for fn in (
            lambda x: loudness(x, SR),
            lambda x: spectral_centroid_full(x, SR),
            spectral_flatness_db,
            lambda x: temporal_centroid(x, SR),
        ):
            assert torch.autograd.gradcheck(fn, (frames,))


def test_target_features_gradcheck_fast_mode():
    audio = noise(1, MIN_TARGET_SAMPLES, seed=11).requires_grad_()
    assert torch.autograd.gradcheck(lambda x: target_features(x, SR), (audio,), fast_mode=True)
