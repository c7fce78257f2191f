"""scripts/realtime_remap.py: a tiny trained remap run streams recordings (and the built-in
performance) into synth and mix files, and reports its latency and speed."""

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from ddspfx.data.audio import load_audio
from ddspfx.dsp.onsets import BACKTRACK
from ddspfx.eval.runner import open_run
from tests.realtime.tiny_run import tiny_remap_run

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow  # one training subprocess (shared with test_export_remap.py)


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


realtime = load_script("realtime_remap")


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    return tiny_remap_run(tmp_path_factory)


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    """1.5 s of stereo at 48 kHz: low noise and three bursts, 0.4 s apart."""
    path = tmp_path_factory.mktemp("inputs") / "drums48k.wav"
    rng = np.random.default_rng(0)
    audio = 1e-3 * rng.standard_normal((72000, 2))
    for start, level in ((2400, 0.8), (21600, 0.3), (40800, 0.6)):
        audio[start:start + 4000] += level * rng.uniform(-1, 1, (4000, 1)) * np.exp(-np.arange(4000) / 200)[:, None]
    sf.write(path, audio.astype(np.float32), 48000)
    return path


def call(capsys, *args):
    status = realtime.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return status, out, err


def test_a_recording_streams_into_synth_and_mix_files(trained_run, recording, tmp_path, capsys):
    status, out, err = call(capsys, recording, tmp_path / "out.wav", f"run={trained_run}", "block=333", "mix=0.25")
    assert status == 0, err
    assert err.count("resampled from 48000 Hz to 44100 Hz") == 1 and "2 channels mixed to mono" in err
    wet, rate = sf.read(tmp_path / "out.wav", dtype="float32")
    mixed, _ = sf.read(tmp_path / "out_mix.wav", dtype="float32")
    dry = load_audio(recording, 44100, warn_resample=False).numpy()
    assert rate == 44100 and wet.shape == mixed.shape == dry.shape == (66150,)
    np.testing.assert_allclose(mixed, math.sqrt(0.75) * dry + math.sqrt(0.25) * wet, atol=1e-6)
    assert "3 hits" in out and np.abs(wet).max() > 1e-3
    assert "latency: 240 samples (5.44 ms)" in out and "real-time factor:" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.wav", "out_mix.wav"]

    # the same stream through the exported mapper file: the same sound
    assert load_script("export_remap").main([f"run={trained_run}", f"out={tmp_path / 'm.pt'}"]) == 0
    status, out, err = call(capsys, recording, tmp_path / "exported.wav", f"run={trained_run}", "block=64", "mix=0.25",
                            f"mapper={tmp_path / 'm.pt'}")
    assert status == 0, err
    np.testing.assert_allclose(sf.read(tmp_path / "exported.wav", dtype="float32")[0], wet, rtol=0, atol=1e-6)


def test_the_built_in_performance_measures_the_latency_from_true_onsets(trained_run, tmp_path, capsys):
    status, out, err = call(capsys, "-", tmp_path / "virtual.wav", f"run={trained_run}")
    assert status == 0 and err == ""
    task = open_run(trained_run, device="cpu").task
    wet, rate = sf.read(tmp_path / "virtual.wav", dtype="float32")
    assert rate == task.sample_rate and wet.shape == (10 * rate,)
    assert f"virtual snare {task.dataset.name!r}" in out
    lines = out.strip().splitlines()
    assert len(lines) == 3 and "measured on" in lines[1] and "detector delay" in lines[1]
    assert lines[2].startswith("real-time factor:")
    assert task.window - BACKTRACK == 240


def test_errors_are_one_line(trained_run, recording, tmp_path, capsys):
    out = tmp_path / "o.wav"
    cases = [
        ((recording, out, f"run={trained_run}", "block=16"), "block=16: must lie in 32 … 2048"),
        ((recording, out, f"run={trained_run}", "block=4096"), "block=4096: must lie in 32 … 2048"),
        ((recording, out, f"run={trained_run}", "mix=1.5"), "mix=1.5: must lie in [0, 1]"),
        ((tmp_path / "missing.wav", out, f"run={trained_run}"), "missing.wav: no such file"),
        ((recording, tmp_path / "no" / "o.wav", f"run={trained_run}"), "does not exist"),
        ((recording, out), "run=<run dir> is required"),
        ((recording, out, f"run={tmp_path / 'none'}"), "none does not exist"),
        ((recording, out, f"run={trained_run}", f"mapper={tmp_path / 'x.pt'}"), "x.pt: no such file"),
        ((recording, recording, out, f"run={trained_run}"), "got 3 file names"),
    ]
    for args, message in cases:
        status, stdout, err = call(capsys, *args)
        assert status == 2 and message in err and err.count("\n") == 1, (args, err)
    assert not out.exists()


def test_mix_path_sits_beside_the_output():
    assert realtime.mix_path(Path("a/b/out.wav")) == Path("a/b/out_mix.wav")
    assert realtime.mix_path(Path("take")) == Path("take_mix.wav")


def test_streaming_leaves_the_thread_count_as_it_was(trained_run, recording, tmp_path, capsys):
    threads = torch.get_num_threads()
    assert call(capsys, recording, tmp_path / "o.wav", f"run={trained_run}")[0] == 0
    assert torch.get_num_threads() == threads
