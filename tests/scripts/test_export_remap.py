"""scripts/export_remap.py: a tiny trained remap run exported to TorchScript maps hits as the task does."""

import importlib.util
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from ddspfx.data.audio import load_audio
from ddspfx.dsp.features import onset_features
from ddspfx.dsp.onsets import BACKTRACK
from ddspfx.eval.runner import open_run
from ddspfx.heads.mapping import modulate
from tests.realtime.tiny_run import tiny_remap_run

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow  # one training subprocess (shared with test_realtime_remap.py)


def load_script():
    spec = importlib.util.spec_from_file_location("export_remap", ROOT / "scripts" / "export_remap.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


export = load_script()


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    return tiny_remap_run(tmp_path_factory)


@pytest.fixture(scope="module")
def task(trained_run):
    return open_run(trained_run, device="cpu").task


def call(capsys, *args):
    status = export.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return status, out, err


def hit_windows(task, index):
    """Each hit's first `window` samples cut from its recording at the detected onset (as a stream sees them)."""
    hits = task.dataset.hits
    windows = []
    for i in index.tolist():
        start = max(int(hits.onsets[i]) - BACKTRACK, 0)
        windows.append(load_audio(hits.files[i], task.sample_rate)[start:start + task.window])
    return torch.stack(windows)


def test_the_exported_files_give_the_tasks_controls_and_sound(trained_run, task, tmp_path, capsys):
    status, out, err = call(capsys, f"run={trained_run}", f"out={tmp_path / 'mapper.pt'}",
                            f"synth_out={tmp_path / 'snare.pt'}")
    assert status == 0 and err == ""
    lines = out.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith(f"Wrote {tmp_path / 'mapper.pt'}") and "snare.pt" in lines[1]
    mapper = torch.jit.load(str(tmp_path / "mapper.pt"))
    synth = torch.jit.load(str(tmp_path / "snare.pt"))
    test = task.dataset.splits["test"]
    with torch.no_grad():
        expected = modulate(task.preset, task.damping, task.mapping(task.dataset.inputs[test]))
        raw = onset_features(hit_windows(task, test), task.sample_rate, task.window)
        for i in range(len(test)):  # hit by hit, as a host calls it
            torch.testing.assert_close(mapper(raw[i:i + 1]), expected[i:i + 1], rtol=0, atol=1e-6)
        assert (synth(expected) - task.synth(expected)).abs().max() <= 1e-6
    assert mapper.window == task.window and mapper.sample_rate == task.sample_rate and mapper.backtrack == BACKTRACK
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mapper.pt", "snare.pt"]  # no temporary files left


def test_sensitivity_zero_exports_the_preset(trained_run, task, tmp_path, capsys):
    status, out, err = call(capsys, f"run={trained_run}", f"out={tmp_path / 'flat.pt'}", "sensitivity=0",
                            "model=0", "checkpoint=last")
    assert status == 0, err
    mapper = torch.jit.load(str(tmp_path / "flat.pt"))
    raw = task.dataset.onset_raw
    torch.testing.assert_close(mapper(raw), task.preset.expand(len(raw), -1), rtol=0, atol=0)
    mapper.set_sensitivity(1.0)  # a host turns the modulation back on
    with torch.no_grad():
        expected = modulate(task.preset, task.damping, task.mapping(task.dataset.inputs))
    torch.testing.assert_close(mapper(raw), expected, rtol=0, atol=1e-6)


def test_a_direct_run_or_a_missing_model_is_a_clear_error(task):
    direct = SimpleNamespace(direct=True)
    with pytest.raises(export.UsageError, match="direct optimisation .*nothing to export"):
        export.select_model(direct, None, Path("runs/direct"))
    with pytest.raises(export.UsageError, match=r"model=1: runs/x holds 1 model \(model=0\)"):
        export.select_model(task, 1, Path("runs/x"))
    assert export.select_model(task, 0, Path("runs/x")).mapping is task.mapping


def test_a_grid_member_exports_as_the_grid_maps_it(task):
    from ddspfx.synths.snare808 import Snare808
    from ddspfx.tasks.remap_grid import RemapGridTask

    spec = {"presets": ["snare_1", "snare_2"], "windows": [256], "models": ["linear", "mlp"], "direct": True}
    grid = RemapGridTask(Snare808(), spec, init_std=0.3, init_seed=1, datasets={(task.dataset.name, 256): task.dataset})
    with pytest.raises(export.UsageError, match=r"grid run of 6 models: choose one with model=<0 … 5>"):
        export.select_model(grid, None, Path("runs/grid"))
    with pytest.raises(export.UsageError, match="model 4 is a direct optimisation"):
        export.select_model(grid, 4, Path("runs/grid"))
    batch = grid._whole("test", 8)
    with torch.no_grad():
        controls = grid.controls(batch)
    raw = task.dataset.onset_raw[task.dataset.splits["test"]]
    for m in range(4):
        mapper = torch.jit.script(export.mapper_from_task(grid, m, run=Path("runs/grid")))
        torch.testing.assert_close(mapper(raw), controls[m, : len(raw)], rtol=0, atol=1e-6)


def test_errors_are_one_line(trained_run, tmp_path, capsys):
    other = tmp_path / "fm_run" / ".hydra"
    other.mkdir(parents=True)
    (other / "config.yaml").write_text("task_name: fm\ntask:\n  _target_: ddspfx.tasks.fm.FMTask\n")
    out = f"out={tmp_path / 'm.pt'}"
    cases = [
        ((f"run={tmp_path / 'missing'}", out), "missing does not exist"),
        ((f"run={tmp_path / 'fm_run'}", out), "'fm' run, not a remap run"),
        ((f"run={trained_run}",), "out=<file.pt> is required"),
        ((out,), "run=<run dir> is required"),
        ((f"run={trained_run}", f"out={tmp_path / 'no' / 'm.pt'}"), "does not exist"),
        ((f"run={trained_run}", out, "sensitivity=-1"), "sensitivity=-1: must be a finite number >= 0"),
        ((f"run={trained_run}", out, "model=two"), "model='two'"),
        ((f"run={trained_run}", out, "model=1"), "model=1:"),
        ((f"run={trained_run}", out, "checkpoint=first"), "checkpoint='first'"),
        ((f"run={trained_run}", out, "colour=red"), "unknown setting 'colour=red'"),
    ]
    for args, message in cases:
        status, stdout, err = call(capsys, *args)
        assert status == 2 and message in err and err.count("\n") == 1, (args, err)
        assert err.startswith("export_remap.py: ") and stdout == ""
    assert not (tmp_path / "m.pt").exists()


def test_neutone_out_needs_the_sdk_or_writes_a_neutone_model(trained_run, tmp_path, capsys):
    args = (f"run={trained_run}", f"out={tmp_path / 'm.pt'}", f"neutone_out={tmp_path / 'neutone'}")
    status, out, err = call(capsys, *args)
    if importlib.util.find_spec("neutone_sdk") is None:  # not a dependency of ddspfx
        assert status == 2 and err.strip() == ("export_remap.py: neutone_out needs the Neutone SDK, which ddspfx does "
                                               "not install: pip install neutone-sdk")
        assert not (tmp_path / "m.pt").exists()
    else:
        assert status == 0 and (tmp_path / "neutone" / "model.nm").is_file() and "Neutone FX model" in out
