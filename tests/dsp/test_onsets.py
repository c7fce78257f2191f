"""ddspfx.dsp.onsets against scipy's lfilter plus a plain Python loop, closed-form framing and bad input."""

import math
import re

import numpy as np
import pytest
import scipy.signal
import torch

from ddspfx.dsp.onsets import (
    STATE_SIZE,
    OnsetDetector,
    detect_onsets,
    detection_function,
    fade_out,
    frame_hits,
)

SR = 44100
ON, OFF = 10.0, 4.6666


def cookbook_high_pass(f0, q, sample_rate):
    """RBJ cookbook high-pass, normalized to a0 = 1 (reference §1.2), in numpy."""
    w0 = 2 * math.pi * f0 / sample_rate
    alpha = math.sin(w0) / (2 * q)
    cos = math.cos(w0)
    b = np.array([(1 + cos) / 2, -(1 + cos), (1 + cos) / 2])
    a = np.array([1 + alpha, -2 * cos, 1 - alpha])
    return b / a[0], a / a[0]


def reference_onsets(x, sample_rate, on=ON, off=OFF, hold=10000, min_db=-55.0,
                     fast=(3, 383), slow=(2205, 2205)):
    """Reference §3 steps 1–5: scipy for the high-pass, a slow Python loop for the rest. Returns (onsets, d)."""
    b, a = cookbook_high_pass(600.0, 0.707, sample_rate)
    levels = np.maximum(20 * np.log10(np.abs(scipy.signal.lfilter(b, a, x)) + 1e-8), min_db)
    f = s = min_db
    previous, armed, hold_left = 0.0, True, 0
    onsets, d_all = [], np.empty(len(x))
    for n, level in enumerate(levels.tolist()):
        f += (1 / fast[0] if level > f else 1 / fast[1]) * (level - f)
        s += (1 / slow[0] if level > s else 1 / slow[1]) * (level - s)
        d = f - s
        if hold_left > 0:
            hold_left -= 1
        elif not armed and d < off:
            armed = True
        if armed and d >= on and previous < on:
            onsets.append(n)
            armed, hold_left = False, hold
        previous = d_all[n] = d
    return np.array(onsets, dtype=np.int64), d_all


def sine_step(start=5000, length=20000, amplitude=0.5, freq=1000.0):
    """Silence, then a sine from sample `start` on."""
    n = np.arange(length)
    x = amplitude * np.sin(2 * np.pi * freq * (n - start) / SR)
    x[:start] = 0.0
    return x


def hits_signal(length, seed=0, min_gap=300, max_gap=6000):
    """Decaying noise bursts (random amplitude, gap) over faint noise; (audio float64, burst starts)."""
    rng = np.random.default_rng(seed)
    x = 1e-4 * rng.standard_normal(length)
    starts = []
    position = 500
    while position < length - 100:
        starts.append(position)
        burst = min(length - position, 8000)
        envelope = rng.uniform(0.05, 0.8) * np.exp(-np.arange(burst) / rng.uniform(200, 1500))
        x[position:position + burst] += envelope * rng.standard_normal(burst)
        position += int(rng.integers(min_gap, max_gap))
    return x, np.array(starts)


@pytest.fixture(scope="module")
def hits():
    return hits_signal(60000)


def test_high_pass_equals_cookbook():
    detector = OnsetDetector(SR)
    b, a = cookbook_high_pass(600.0, 0.707, SR)
    np.testing.assert_allclose(detector.highpass_b, b, rtol=1e-13)
    np.testing.assert_allclose(detector.highpass_a, a, rtol=1e-13)


def test_step_into_sine_gives_one_onset():
    onsets = detect_onsets(torch.tensor(sine_step(), dtype=torch.float32), SR)
    assert onsets.dtype == torch.int64 and onsets.shape == (1,)
    assert 5000 <= onsets.item() <= 5005
    assert detect_onsets(torch.zeros(1, 20000), SR).numel() == 0


def test_same_onsets_as_python_reference(hits):
    x, _ = hits
    for hold, at_least in ((0, 10), (1000, 10), (10000, 4)):
        expected, d_expected = reference_onsets(x, SR, hold=hold)
        onsets = detect_onsets(x, SR, hold=hold)
        assert len(expected) >= at_least
        np.testing.assert_array_equal(onsets.numpy(), expected)
    np.testing.assert_allclose(detection_function(x, SR).numpy(), d_expected, atol=1e-9)


def test_plug_in_settings_match_reference(hits):
    x, _ = hits
    expected, _ = reference_onsets(x, 48000, on=16.0, off=4.66, hold=1000)
    np.testing.assert_array_equal(detect_onsets(x, 48000, on_threshold=16.0, off_threshold=4.66, hold=1000), expected)


def two_bursts(gap, length=30000):
    """Two equal decaying noise bursts, at 2000 and 2000 + gap."""
    rng = np.random.default_rng(3)
    x = 1e-4 * rng.standard_normal(length)
    burst = 0.5 * np.exp(-np.arange(3000) / 300) * rng.standard_normal(3000)
    for start in (2000, 2000 + gap):
        x[start:start + 3000] += burst
    return x


def test_hold_suppresses_a_close_second_hit():
    x = two_bursts(6000)
    first, second = detect_onsets(x, SR, hold=0).tolist()
    assert abs(first - 2000) < 10 and abs(second - 8000) < 10
    assert detect_onsets(x, SR, hold=10000).tolist() == [first]
    assert detect_onsets(x, SR, hold=1000).tolist() == [first, second]
    assert detect_onsets(two_bursts(12000), SR).numel() == 2  # hold 10000, then re-armed


def test_hold_boundary_in_samples():
    """Samples onset+1 … onset+hold may not re-arm: the last re-arming sample before the second hit decides."""
    x = two_bursts(6000)
    first, second = detect_onsets(x, SR, hold=0).tolist()
    d = detection_function(x, SR).numpy()
    last_below_off = first + np.flatnonzero(d[first:second] < OFF)[-1]
    longest = int(last_below_off - first - 1)
    assert detect_onsets(x, SR, hold=longest).tolist() == [first, second]
    assert detect_onsets(x, SR, hold=longest + 1).tolist() == [first]


def test_no_retrigger_while_d_stays_above_off():
    x = sine_step(start=2000, length=12000, amplitude=0.02)
    d = detection_function(x, SR).numpy()
    crossings = np.flatnonzero((d[1:] >= ON) & (d[:-1] < ON)) + 1
    assert len(crossings) > 3  # the sine's ripple crosses `on` again and again as d decays
    assert d[crossings[0]:crossings[-1]].min() > 9.5
    assert detect_onsets(x, SR, hold=0).tolist() == [crossings[0]]
    retriggered = detect_onsets(x, SR, hold=0, off_threshold=9.99).numpy()
    assert len(retriggered) > 1
    for earlier, later in zip(retriggered[:-1], retriggered[1:]):
        assert d[earlier:later].min() < 9.99


def test_dip_between_thresholds_rearms_only_below_off():
    """A quiet sine stepping up to a loud one: d dips to ≈ 7.5 dB between the two rises."""
    x = sine_step(start=2000, length=14000, amplitude=0.02)
    x[6000:] *= 25
    d = detection_function(x, SR).numpy()
    assert 6 < d[4600:6000].min() < 9
    assert detect_onsets(x, SR, hold=0).numel() == 1
    onsets = detect_onsets(x, SR, hold=0, off_threshold=9.0).tolist()
    assert len(onsets) == 2 and 6000 <= onsets[1] <= 6005


def random_blocks(x, rng):
    """x split into blocks of sizes 0, 1, 32, 64, 2048 and odd ones, some as float32 tensors."""
    blocks, position = [], 0
    sizes = [0, 1, 32, 64, 2048, 1, 0, 7, 333, 1001, 4097]
    while position < len(x):
        size = int(rng.choice(sizes))
        block = x[position:position + size]
        blocks.append(torch.from_numpy(block) if rng.random() < 0.3 else block)
        position += size
    return blocks


def test_block_by_block_equals_offline(hits):
    x, _ = hits
    offline = OnsetDetector(SR, hold=1000)
    expected = offline.process(x)
    assert len(expected) >= 10
    detector = OnsetDetector(SR, hold=1000)
    found = [detector.process(block) for block in random_blocks(x, np.random.default_rng(1))]
    assert all(f.dtype == np.int64 for f in found)
    np.testing.assert_array_equal(np.concatenate(found), expected)
    np.testing.assert_array_equal(detector.state, offline.state)  # bit for bit
    assert detector.position == len(x)


def test_reset_restores_initial_behaviour(hits):
    x, _ = hits
    detector = OnsetDetector(SR, hold=1000)
    first = detector.process(x[:30000])
    detector.process(x[30000:])
    detector.reset()
    assert detector.position == 0
    np.testing.assert_array_equal(detector.process(x[:30000]), first)


def test_state_copy_and_restore_resume_identically(hits):
    x, _ = hits
    detector = OnsetDetector(SR, hold=1000)
    detector.process(x[:25000])
    saved = detector.copy_state()
    assert saved.shape == (STATE_SIZE,) and saved.dtype == np.float64
    rest = detector.process(x[25000:])
    assert len(rest) > 0 and rest.min() >= 25000
    detector.load_state(saved)
    np.testing.assert_array_equal(detector.process(x[25000:]), rest)
    other = OnsetDetector(SR, hold=1000)
    other.state = saved
    np.testing.assert_array_equal(other.process(x[25000:]), rest)
    saved[:] = 0  # a copy: the detector does not see it
    np.testing.assert_array_equal(other.state, detector.state)


def test_bad_state_is_refused():
    detector = OnsetDetector(SR)
    with pytest.raises(ValueError, match=r"shape \(8,\)"):
        detector.load_state(np.zeros(3))
    bad = detector.copy_state()
    bad[5] = 0.5
    with pytest.raises(ValueError, match="ARMED"):
        detector.load_state(bad)


# --- framing ---------------------------------------------------------------------------------


def ramp(samples):
    return torch.arange(1, samples + 1, dtype=torch.float64)


def test_frames_shape_and_backtrack():
    audio = ramp(10000)
    frames = frame_hits(audio, torch.tensor([5, 3000]), frame_length=1000, backtrack=16, overlap_buffer=100)
    assert frames.shape == (2, 1000) and frames.dtype == torch.float64
    torch.testing.assert_close(frames[0], audio[0:1000])  # start clamped to 0
    torch.testing.assert_close(frames[1], audio[2984:3984])
    assert frame_hits(audio, [], 1000).shape == (0, 1000)


def test_close_next_onset_cuts_and_fades():
    audio = ramp(20000)
    frames = frame_hits(audio[None], np.array([1016, 1816]), frame_length=1000, backtrack=16, overlap_buffer=256)
    # frame 0 starts at 1000 and is cut at 1816 − 256 = 1560: 560 samples kept, the last 256 faded
    expected = torch.zeros(1000, dtype=torch.float64)
    expected[:560] = audio[1000:1560]
    expected[304:560] *= torch.from_numpy(np.hanning(512)[256:])
    torch.testing.assert_close(frames[0], expected, rtol=0, atol=0)
    torch.testing.assert_close(frames[1], audio[1800:2800])
    np.testing.assert_array_equal(fade_out(1024), np.hanning(2048)[1024:])


def test_next_onset_just_outside_the_frame_does_not_cut():
    audio = ramp(5000)
    frames = frame_hits(audio, [16, 1000], frame_length=1000, backtrack=16, overlap_buffer=100)
    torch.testing.assert_close(frames[0], audio[:1000])
    frames = frame_hits(audio, [16, 999], frame_length=1000, backtrack=16, overlap_buffer=100)
    assert frames[0, 899:].eq(0).all() and frames[0, 897] != 0
    assert frames[0, 898] == 0  # cut at 999 − 100; the symmetric fade ends at exactly 0


def test_frame_past_the_end_is_zero_padded():
    audio = ramp(3000)
    frames = frame_hits(audio, [2516], frame_length=1000)
    torch.testing.assert_close(frames[0, :500], audio[2500:])
    assert frames[0, 500:].eq(0).all()


def test_degenerate_close_onsets():
    audio = ramp(5000)
    fade = torch.from_numpy(fade_out(100))
    # next onset 150 after the start: 50 samples kept, with the last 50 values of the fade
    frames = frame_hits(audio, [1016, 1150, 1200, 4000], frame_length=1000, backtrack=16, overlap_buffer=100)
    torch.testing.assert_close(frames[0, :50], audio[1000:1050] * fade[50:])
    assert frames[0, 50:].eq(0).all()
    # next onset within overlap_buffer of the start (1134 → 1200): nothing kept, an all-zero frame
    assert frames[1].eq(0).all()
    torch.testing.assert_close(frames[3], audio[3984:4984])
    # overlap_buffer 0: cut exactly at the next onset, no fade
    frames = frame_hits(audio, [16, 500], frame_length=1000, backtrack=16, overlap_buffer=0)
    torch.testing.assert_close(frames[0, :500], audio[:500])
    assert frames[0, 500:].eq(0).all()


def test_frames_of_detected_onsets():
    x, starts = hits_signal(40000, seed=5, min_gap=3000, max_gap=8000)
    audio = torch.from_numpy(x).float()
    onsets = detect_onsets(audio, SR, hold=1000)
    assert len(onsets) >= 5
    assert all(np.abs(starts - onset).min() <= 3 for onset in onsets.tolist())
    frames = frame_hits(audio, onsets, frame_length=SR)
    assert frames.shape == (len(onsets), SR) and frames.dtype == torch.float32
    assert torch.isfinite(frames).all()


# --- bad input -------------------------------------------------------------------------------


def test_non_mono_shapes_are_refused():
    for shape in [(2, 1000), (1, 1, 1000), ()]:
        with pytest.raises(ValueError, match=r"mono.*" + re.escape(str(shape))):
            detect_onsets(torch.zeros(shape), SR)
    with pytest.raises(ValueError, match=r"\(2, 1000\)"):
        frame_hits(torch.zeros(2, 1000), [0], 100)
    with pytest.raises(ValueError, match="1-D"):
        OnsetDetector(SR).process(np.zeros((2, 10)))
    with pytest.raises(ValueError, match="floating"):
        OnsetDetector(SR).process(np.zeros(10, dtype=np.int16))


def test_non_finite_samples_name_the_first_index():
    x = np.zeros(1000)
    x[417] = np.nan
    x[600] = np.inf
    detector = OnsetDetector(SR)
    detector.process(np.zeros(50))
    before = detector.copy_state()
    with pytest.raises(ValueError, match="sample 417"):
        detector.process(x)
    np.testing.assert_array_equal(detector.state, before)
    with pytest.raises(ValueError, match="sample 417"):
        detect_onsets(torch.from_numpy(x), SR)


@pytest.mark.parametrize(
    "settings, name",
    [
        ({"on_threshold": 4.0}, "on_threshold"),
        ({"off_threshold": 10.0}, "on_threshold"),
        ({"hold": -1}, "hold"),
        ({"hold": 2.5}, "hold"),
        ({"fast": (0.5, 383)}, "fast attack"),
        ({"slow": (2205, 0)}, "slow release"),
        ({"fast": 3}, "fast"),
        ({"min_db": float("nan")}, "min_db"),
        ({"highpass_hz": 30000.0}, "highpass_hz"),
        ({"highpass_q": 0.0}, "highpass_q"),
    ],
)
def test_invalid_settings_name_the_setting(settings, name):
    with pytest.raises(ValueError, match=name):
        OnsetDetector(SR, **settings)


def test_invalid_framing_arguments():
    audio = torch.zeros(1000)
    for kwargs, name in [({"frame_length": 0}, "frame_length"), ({"frame_length": 10, "backtrack": -1}, "backtrack"),
                         ({"frame_length": 10, "overlap_buffer": -1}, "overlap_buffer")]:
        with pytest.raises(ValueError, match=name):
            frame_hits(audio, [0], **kwargs)
    with pytest.raises(ValueError, match="increasing"):
        frame_hits(audio, [10, 10], 10)
    with pytest.raises(ValueError, match=r"\[0, 1000\)"):
        frame_hits(audio, [1000], 10)
    with pytest.raises(ValueError, match="integer"):
        frame_hits(audio, [1.5], 10)
    with pytest.raises(ValueError, match="sample_rate"):
        OnsetDetector(0)
