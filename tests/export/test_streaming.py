"""ddspfx/export/streaming.py: the TorchScript streaming remapper equals the Python one."""

import io
import re

import numpy as np
import pytest
import torch

from ddspfx.dsp.features import onset_features
from ddspfx.dsp.onsets import OnsetDetector, detect_onsets
from ddspfx.export import RemapMapper, ScriptedSnare808
from ddspfx.export.streaming import (
    ScriptedOnsetDetector,
    ScriptedOnsetFeatures,
    ScriptedRemapStream,
    export_stream,
    stream_signal,
)
from ddspfx.heads.mapping import MLPMapping
from ddspfx.realtime import StreamingRemapper
from ddspfx.synths import Snare808

RATE = 44100
HOLD = {"hold": 2000}


@pytest.fixture(scope="module")
def mapper() -> RemapMapper:
    torch.manual_seed(0)
    low, high = torch.tensor([-60.0, 80.0, -60.0]), torch.tensor([-5.0, 125.0, -5.0])
    return RemapMapper(MLPMapping(14, init_std=0.5), low, high, (low + high) / 2, torch.full((14,), 0.5),
                       torch.full((14,), 0.4))


@pytest.fixture(scope="module")
def synth() -> ScriptedSnare808:
    return ScriptedSnare808(Snare808(duration=0.3))


def bursts(onsets, levels, length: int, seed: int = 0) -> torch.Tensor:
    """Decaying noise bursts (τ = 4 ms) at `onsets` over low background noise, float32 `(length,)`."""
    rng = np.random.default_rng(seed)
    audio = 1e-4 * rng.standard_normal(length)
    decay = np.exp(-np.arange(4000) / (0.004 * RATE))
    for onset, level in zip(onsets, levels):
        n = min(4000, length - onset)
        audio[onset:onset + n] += level * rng.uniform(-1, 1, n) * decay[:n]
    return torch.from_numpy(audio.astype(np.float32))


def test_the_scripted_detector_finds_the_numba_detectors_onsets_in_any_blocks():
    audio = bursts([300, 9000, 13410, 30000, 52000], [0.5, 0.9, 0.2, 0.05, 0.7], 60000)
    for settings in ({}, HOLD, {"on_threshold": 16.0, "hold": 1000}):
        expected = detect_onsets(audio, RATE, **settings).tolist()
        detector = torch.jit.script(ScriptedOnsetDetector(OnsetDetector(RATE, **settings)))
        found = []
        for lo in range(0, len(audio), 333):
            found += detector(audio[lo:lo + 333])
        assert found == expected and len(found) >= 3
        reference = OnsetDetector(RATE, **settings)
        reference.process(audio)
        # the same state to ~1e-6 dB: numba's log10 and LLVM's instruction choices differ from
        # TorchScript's libm calls in the last bits, which the followers carry along
        np.testing.assert_allclose(detector.state.numpy(), reference.copy_state(), rtol=1e-5, atol=1e-5)
        detector.reset()
        assert detector(audio[:1000]) == expected[:1]


def test_the_scripted_features_are_onset_features():
    frames = bursts([0], [0.5], 2048).reshape(1, -1)
    for window in (256, 2048):
        features = torch.jit.script(ScriptedOnsetFeatures(RATE, window))
        x = frames[:, :window]
        assert torch.equal(features(x), onset_features(x, RATE, window))
    silence = torch.zeros(1, 256)
    assert torch.equal(torch.jit.script(ScriptedOnsetFeatures(RATE, 256))(silence), onset_features(silence, RATE, 256))


def test_the_scripted_stream_equals_the_python_stream(mapper, synth):
    audio = bursts([300, 9000, 13410, 20000, 31000], [0.5, 0.9, 0.2, 0.05, 0.7], 40000)
    python = StreamingRemapper(mapper, synth, RATE, 256, HOLD)
    expected = python.process_signal(audio.numpy(), 64)
    scripted = export_stream(mapper, synth, HOLD)
    buffer = io.BytesIO()
    torch.jit.save(scripted, buffer)
    buffer.seek(0)
    loaded = torch.jit.load(buffer)
    for block in (64, 333):
        loaded.reset()
        out = stream_signal(loaded, audio, block)
        np.testing.assert_allclose(out.numpy(), expected, rtol=0, atol=1e-6)
        assert loaded.hits == len(python.hits) == 5
    assert loaded.latency == 240 and np.abs(expected).max() > 0.1


def test_voice_stealing_and_sensitivity_as_in_python(mapper, synth):
    audio = bursts([500, 4910, 9320, 13730], [0.8, 0.7, 0.9, 0.6], 20000)
    long_synth = ScriptedSnare808(Snare808(duration=1.0))
    python = StreamingRemapper(mapper, long_synth, RATE, 256, HOLD, voices=2)
    stream = export_stream(mapper, long_synth, HOLD, voices=2)
    np.testing.assert_allclose(stream_signal(stream, audio).numpy(), python.process_signal(audio.numpy()), atol=1e-6)
    stream.reset()
    stream.set_sensitivity(0.0)  # every hit is the preset
    out = stream_signal(stream, audio[:2000])
    with torch.no_grad():
        preset = long_synth(mapper.preset[None])[0]
    np.testing.assert_allclose(out[256 + 484:2000].numpy(), preset[:2000 - 740].numpy(), atol=1e-6)
    mapper.set_sensitivity(1.0)


def test_bad_blocks_raise(mapper, synth):
    stream = export_stream(mapper, synth)
    for block in (torch.zeros(16), torch.zeros(4096), torch.zeros(2, 64)):
        with pytest.raises(Exception, match=re.escape("blocks must be (samples,) with 32 … 2048 samples")):
            stream.process(block)


def test_parts_must_fit(mapper):
    with pytest.raises(TypeError, match="RemapMapper and a ScriptedSnare808"):
        ScriptedRemapStream(mapper, Snare808())
    with pytest.raises(ValueError, match="is for 44100 Hz, the synth for 48000 Hz"):
        ScriptedRemapStream(mapper, ScriptedSnare808(Snare808(sample_rate=48000)))
