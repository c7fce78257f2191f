"""scripts/resynth_texture.py: a tiny texture run resynthesizes recordings of any length and rate."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "resynth_texture.py"
FS, FRAME = 44100, 8192  # conf/smoke/texture.yaml
pytestmark = pytest.mark.slow  # one training subprocess


def load_script():
    spec = importlib.util.spec_from_file_location("resynth_texture", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


resynth = load_script()


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, tiny_overrides):
    run_dir, data = tmp_path_factory.mktemp("texture_run"), tmp_path_factory.mktemp("textures")
    result = subprocess.run(
        [sys.executable, str(ROOT / "train_texture.py"), *tiny_overrides("texture"), f"data.synthetic.folder={data}",
         f"hydra.run.dir={run_dir}"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return run_dir


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """A 1.7-frame input at 44.1 kHz (level 0.2) and a 5.3-frame one at 22.05 kHz whose second half
    is 40 dB below its first (0.1 then 0.001)."""
    folder = tmp_path_factory.mktemp("inputs")
    rng = np.random.default_rng(0)
    short = (0.2 * rng.standard_normal(int(1.7 * FRAME))).astype(np.float32)
    long = (0.1 * rng.standard_normal(int(5.3 * FRAME / 2))).astype(np.float32)
    long[len(long) // 2:] *= 0.01
    sf.write(folder / "short.wav", short, FS)
    sf.write(folder / "long22k.wav", np.stack([long, long], axis=1), 22050)  # stereo: mixed to mono
    return folder


def rms(x):
    return float(np.sqrt(np.mean(np.square(x))))


def call(capsys, *args):
    status = resynth.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return status, out, err


def test_outputs_have_the_input_length_rate_and_level(trained_run, inputs, tmp_path, capsys):
    status, out, err = call(capsys, inputs / "short.wav", tmp_path / "short.wav", f"run={trained_run}")
    assert status == 0 and err == "" and "Wrote" in out
    audio, rate = sf.read(tmp_path / "short.wav", dtype="float32")
    assert rate == FS and audio.shape == (int(1.7 * FRAME),) and sf.info(tmp_path / "short.wav").subtype == "FLOAT"
    assert np.isfinite(audio).all() and 0.5 * 0.2 < rms(audio) < 1.5 * 0.2  # follows the input's level

    for loudness in ("specific", "generic", "none"):
        target = tmp_path / f"long_{loudness}.wav"
        status, out, err = call(capsys, inputs / "long22k.wav", target, f"run={trained_run}", f"loudness={loudness}")
        assert status == 0, err
        assert err.count("resampled from 22050 Hz to 44100 Hz") == 1 and "2 channels mixed to mono" in err
        audio, rate = sf.read(target, dtype="float32")
        assert rate == FS and audio.shape == (2 * int(5.3 * FRAME / 2),) and np.isfinite(audio).all()
        half = len(audio) // 2
        loud, quiet = rms(audio[:half]), rms(audio[half:])
        assert loud > 1e-3 and quiet < 0.25 * loud, (loudness, loud, quiet)  # the level follows the input's
        if loudness != "none":
            assert 0.5 * 0.1 < loud < 1.5 * 0.1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long_generic.wav", "long_none.wav", "long_specific.wav",
                                                          "short.wav"]  # nothing else written


def test_a_fixed_seed_gives_the_same_output(trained_run, inputs, tmp_path, capsys):
    outputs = {}
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        assert call(capsys, inputs / "short.wav", tmp_path / f"{name}.wav", f"run={trained_run}", f"seed={seed}",
                    "checkpoint=last", "device=cpu")[0] == 0
        outputs[name] = sf.read(tmp_path / f"{name}.wav", dtype="float32")[0]
    assert np.array_equal(outputs["a"], outputs["b"])
    assert not np.allclose(outputs["a"], outputs["c"])  # other random rolls


def test_frames_cover_every_sample_twice_and_hann_windows_sum_to_one():
    n, hop = 16, 8
    for length in (1, 7, 8, 9, 16, 37):
        x = torch.randn(length)
        frames, inside = resynth.frame_signal(x, n)
        assert frames.shape == (1 + -(-length // hop), n) and (inside >= 1).all()
        assert int(inside.sum()) == 2 * length  # every input sample lies in two frames
        blocks = torch.zeros(frames.shape[0] + 1, hop)
        resynth.overlap_add(blocks, torch.arange(frames.shape[0]), frames * torch.hann_window(n, periodic=True))
        assert torch.allclose(blocks.flatten()[hop: hop + length], x, atol=1e-6)


def test_errors_are_one_clear_line(trained_run, inputs, tmp_path, capsys):
    (tmp_path / "garbage.wav").write_text("not audio")
    other = tmp_path / "fm_run" / ".hydra"
    other.mkdir(parents=True)
    (other / "config.yaml").write_text("task_name: fm\ntask:\n  _target_: ddspfx.tasks.fm.FMTask\n")
    out = tmp_path / "out.wav"
    cases = [
        ((tmp_path / "missing.wav", out, f"run={trained_run}"), "missing.wav: no such file"),
        ((tmp_path / "garbage.wav", out, f"run={trained_run}"), "garbage.wav: unreadable audio file"),
        ((inputs / "short.wav", out, f"run={tmp_path / 'fm_run'}"), "'fm' run, not a texture run"),
        ((inputs / "short.wav", out, f"run={tmp_path}"), "is not a ddspfx run"),
        ((inputs / "short.wav", out), "run=<run dir> is required"),
        ((inputs / "short.wav", out, f"run={trained_run}", "loudness=loud"), "loudness='loud'"),
        ((inputs / "short.wav", tmp_path / "nowhere" / "out.wav", f"run={trained_run}"), "does not exist"),
    ]
    for args, message in cases:
        status, stdout, err = call(capsys, *args)
        assert status == 2 and message in err and len(err.strip().splitlines()) == 1, (args, err)
    assert not out.exists()


def test_a_pvae_run_needs_loudness_none():
    from types import SimpleNamespace

    task = SimpleNamespace(model="pvae", synth=SimpleNamespace(n_samples=FRAME))
    with pytest.raises(resynth.UsageError, match="loudness=specific: a P-VAE run .*pass loudness=none"):
        resynth.resynthesize(task, torch.zeros(FRAME), loudness="specific")
