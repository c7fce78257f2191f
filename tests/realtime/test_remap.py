"""ddspfx/realtime/remap.py: the streaming remapper against an offline rendering of the same hits."""

import re

import numpy as np
import pytest
import torch

from ddspfx.dsp.features import onset_features
from ddspfx.dsp.onsets import BACKTRACK, detect_onsets
from ddspfx.export import RemapMapper, export_mapper, export_snare808
from ddspfx.heads.mapping import MLPMapping
from ddspfx.realtime import StreamingRemapper, trigger_positions
from ddspfx.synths import Snare808

RATE = 44100
HOLD = {"hold": 2000}  # lets two hits 100 ms apart both trigger (training's hold is 10000 samples)


@pytest.fixture(scope="module")
def mapper() -> RemapMapper:
    torch.manual_seed(0)
    network = MLPMapping(14, init_std=0.5)
    low, high = torch.tensor([-60.0, 80.0, -60.0]), torch.tensor([-5.0, 125.0, -5.0])
    preset = torch.full((14,), 0.5)
    return RemapMapper(network, low, high, (low + high) / 2, preset, torch.full((14,), 0.4))


@pytest.fixture(scope="module")
def synth() -> Snare808:
    return Snare808(duration=0.3)


def bursts(onsets, levels, length: int, seed: int = 0) -> np.ndarray:
    """Decaying noise bursts (τ = 4 ms) starting exactly at `onsets` (samples), float32 `(length,)`."""
    rng = np.random.default_rng(seed)
    audio = np.zeros(length)
    decay = np.exp(-np.arange(4000) / (0.004 * RATE))
    for onset, level in zip(onsets, levels):
        n = min(4000, length - onset)
        audio[onset:onset + n] += level * rng.uniform(-1, 1, n) * decay[:n]
    return audio.astype(np.float32)


def offline(audio: np.ndarray, mapper, synth, window: int, detector: dict) -> tuple[np.ndarray, list]:
    """The reference: onsets of the whole file, each hit's window cut at max(onset − 16, 0), its
    controls and its rendering (hit by hit), placed at start + window and summed in onset order."""
    onsets = detect_onsets(torch.from_numpy(audio), RATE, **detector).tolist()
    padded = np.concatenate([audio, np.zeros(window, dtype=np.float32)])
    out = np.zeros(len(audio), dtype=np.float32)
    controls = []
    with torch.no_grad():
        for onset, trigger in zip(onsets, trigger_positions(onsets, window)):
            start = max(onset - BACKTRACK, 0)
            raw = onset_features(torch.from_numpy(padded[start:start + window])[None], RATE, window)
            theta = mapper(raw)
            hit = synth(theta)[0].numpy()
            n = max(0, min(len(hit), len(audio) - trigger))
            out[trigger:trigger + n] += hit[:n]
            controls.append(theta[0].numpy())
    return out, controls


def stream(audio, mapper, synth, window=256, block=64, detector=HOLD, **kwargs):
    remapper = StreamingRemapper(mapper, synth, RATE, window, detector, **kwargs)
    return remapper.process_signal(audio, block), remapper


def test_the_stream_equals_an_offline_rendering_of_the_same_hits(mapper, synth):
    onsets = [300, 9000, 13410, 20000, 31000]  # 13410: 100 ms after 9000
    audio = bursts(onsets, [0.5, 0.9, 0.2, 0.05, 0.7], 40000)
    expected, controls = offline(audio, mapper, synth, 256, HOLD)
    out, remapper = stream(audio, mapper, synth)
    assert len(remapper.hits) == len(controls) == 5
    np.testing.assert_allclose(np.stack([h.controls for h in remapper.hits]), np.stack(controls), rtol=0, atol=1e-6)
    assert out.dtype == np.float32 and out.shape == audio.shape
    assert np.abs(expected).max() > 0.1
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("window", [256, 2048])
def test_block_sizes_give_the_same_output(mapper, synth, window):
    audio = bursts([100, 7000, 11410, 25000], [0.6, 0.3, 0.8, 0.1], 33000, seed=1)
    reference, _ = stream(audio, mapper, synth, window, block=64)
    for block in (32, 333, 2048):
        out, _ = stream(audio, mapper, synth, window, block=block)
        np.testing.assert_allclose(out, reference, rtol=0, atol=1e-7)
    remapper = StreamingRemapper(mapper, synth, RATE, window, HOLD)
    sizes = np.random.default_rng(0).integers(32, 2049, size=200)
    edges = np.minimum(np.cumsum(np.r_[0, sizes]), len(audio))
    mixed = [remapper.process(torch.from_numpy(audio[a:b])[None]) for a, b in zip(edges[:-1], edges[1:]) if b - a >= 32]
    mixed = np.concatenate(mixed)
    np.testing.assert_allclose(mixed, reference[:len(mixed)], rtol=0, atol=1e-7)  # tensors (1, n), sizes varying


@pytest.mark.parametrize("window", [256, 2048])
def test_the_latency_is_the_window_after_the_backtracked_onset_plus_the_detector_delay(mapper, synth, window):
    true_onsets = [1000, 23050, 45100]  # 0.5 s apart: each 0.3-s hit ends before the next starts
    audio = bursts(true_onsets, [0.5, 0.1, 0.9], 60000)
    out, remapper = stream(audio, mapper, synth, window, detector={})
    assert remapper.latency == window - BACKTRACK
    assert remapper.latency_ms == pytest.approx(1000 * (window - BACKTRACK) / RATE)
    detected = [hit.onset for hit in remapper.hits]
    delays = [d - t for d, t in zip(detected, true_onsets)]
    assert len(detected) == 3 and all(0 <= d < 20 for d in delays)  # the detector reacts within a few samples
    for true, delay in zip(true_onsets, delays):
        first_sound = true + int(np.flatnonzero(out[true:])[0])
        assert first_sound - true == remapper.latency + delay  # onset → sound: window − backtrack + delay


def test_overlapping_hits_ring_together(mapper):
    synth = Snare808(duration=1.0)
    audio = bursts([500, 500 + 4410], [0.8, 0.8], 20000)  # two onsets 100 ms apart
    out, remapper = stream(audio, mapper, synth, detector=HOLD, voices=2)
    first, second = remapper.hits
    assert second.onset - first.onset == 4410
    assert remapper.active_voices == 2  # both still ringing at the end
    with torch.no_grad():
        a = synth(torch.from_numpy(first.controls)[None])[0].numpy()
        b = synth(torch.from_numpy(second.controls)[None])[0].numpy()
    t1, t2 = first.trigger, second.trigger
    span = slice(t2, 20000)
    np.testing.assert_allclose(out[span], a[t2 - t1:20000 - t1] + b[:20000 - t2], rtol=0, atol=1e-6)
    assert np.abs(a[t2 - t1:20000 - t1]).max() > 1e-3 and np.abs(b[:20000 - t2]).max() > 1e-3  # both audible


def test_a_new_hit_steals_the_oldest_voice_when_all_are_busy(mapper):
    synth = Snare808(duration=1.0)
    onsets = [500, 4910, 9320]
    audio = bursts(onsets, [0.8, 0.7, 0.9], 16000)
    out, remapper = stream(audio, mapper, synth, detector=HOLD, voices=2, release=64)
    first, second, third = remapper.hits
    with torch.no_grad():
        hits = [synth(torch.from_numpy(h.controls)[None])[0].numpy() for h in remapper.hits]
    t1, t2, t3 = first.trigger, second.trigger, third.trigger
    fade = np.linspace(1, 0, 65, dtype=np.float32)[1:]
    np.testing.assert_allclose(out[t3:t3 + 64], hits[0][t3 - t1:t3 - t1 + 64] * fade + hits[1][t3 - t2:t3 - t2 + 64]
                               + hits[2][:64], rtol=0, atol=1e-6)
    np.testing.assert_allclose(out[t3 + 64:16000], hits[1][t3 + 64 - t2:16000 - t2] + hits[2][64:16000 - t3],
                               rtol=0, atol=1e-6)  # the first voice has stopped


def test_silence_in_gives_silence_out(mapper, synth):
    out, remapper = stream(np.zeros(19978, dtype=np.float32), mapper, synth, detector={})
    assert not out.any() and out.shape == (19978,) and remapper.hits == []
    assert remapper.position == 20000  # the last 10 samples were padded to a block of 32


def test_the_exported_files_stream_like_the_python_modules(mapper, synth):
    audio = bursts([300, 9000], [0.5, 0.9], 20000)
    eager, _ = stream(audio, mapper, synth)
    scripted, _ = stream(audio, export_mapper(mapper), export_snare808(synth))
    np.testing.assert_allclose(scripted, eager, rtol=0, atol=1e-6)


@pytest.mark.parametrize("block, message", [
    (np.zeros(31, dtype=np.float32), "blocks must have 32 … 2048 samples, got 31"),
    (np.zeros(2049, dtype=np.float32), "blocks must have 32 … 2048 samples, got 2049"),
    (np.zeros((2, 64), dtype=np.float32), "blocks must be mono, (samples,) or (1, samples); got shape (2, 64)"),
    (torch.zeros(64, 2), "blocks must be mono"),
    (np.zeros(64, dtype=np.int16), "blocks must be floating-point"),
    (np.r_[np.zeros(40), np.nan, np.zeros(23)].astype(np.float32), "sample 40 of the block is not finite"),
])
def test_a_bad_block_is_a_one_line_value_error_and_changes_nothing(mapper, synth, block, message):
    remapper = StreamingRemapper(mapper, synth, RATE, 256)
    remapper.process(np.full(64, 0.1, dtype=np.float32))
    state = remapper.detector.copy_state()
    with pytest.raises(ValueError, match=re.escape(message)) as error:
        remapper.process(block)
    assert "\n" not in str(error.value) and str(error.value).startswith("StreamingRemapper.process:")
    assert remapper.position == 64 and np.array_equal(remapper.detector.copy_state(), state)


@pytest.mark.parametrize("setting, message", [
    ({"voices": 1}, "voices must be an integer >= 2"),
    ({"window": 0}, "window must be an integer >= 1"),
    ({"release": 0}, "release must be an integer >= 1"),
    ({"detector": {"treshold": 3}}, "treshold"),
])
def test_bad_settings_raise(mapper, synth, setting, message):
    with pytest.raises((ValueError, TypeError), match=message):
        StreamingRemapper(mapper, synth, RATE, **{"window": 256, **setting})


def test_reset_starts_over(mapper, synth):
    audio = bursts([300], [0.5], 6000)
    remapper = StreamingRemapper(mapper, synth, RATE, 256)
    first = remapper.process_signal(audio)
    remapper.reset()
    assert remapper.position == 0 and remapper.hits == [] and remapper.active_voices == 0
    np.testing.assert_array_equal(remapper.process_signal(audio), first)
