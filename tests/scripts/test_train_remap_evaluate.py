"""End to end: train_remap.py and evaluate.py as a user runs them, on a tiny configuration."""

import json

import pytest

from ddspfx.dsp.features import TARGET_FEATURES
from tests.conftest import run_script as run, train_tiny

pytestmark = pytest.mark.slow  # training and evaluation subprocesses
ESTIMATORS = {"model", "preset", "preset_reference"}


@pytest.fixture(scope="module")
def drums(tmp_path_factory):
    return tmp_path_factory.mktemp("virtual_drums")


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, drums):
    return train_tiny("remap", tmp_path_factory.mktemp("remap_mlp"), "experiment=remap/mlp", f"data.synthetic.folder={drums}")


def test_training_writes_a_complete_run(trained_run):
    assert (trained_run / ".hydra" / "config.yaml").is_file()
    for name in ("best.pt", "last.pt"):
        assert (trained_run / "checkpoints" / name).is_file()
    assert any((trained_run / "tb").iterdir())


def test_evaluate_scores_the_model_beside_both_preset_baselines(trained_run):
    result = run("evaluate.py", f"run={trained_run}", "progress=false")
    assert result.returncode == 0, result.stderr[-3000:]
    document = json.loads((trained_run / "metrics.json").read_text())
    metrics = document["test"]
    assert set(metrics) == ESTIMATORS
    for values in metrics.values():
        assert set(values) == {*TARGET_FEATURES, "mean"}
        assert all(v == v and v >= 0 for v in values.values())
        assert values["mean"] == pytest.approx(sum(values[k] for k in TARGET_FEATURES) / 7, rel=1e-5)
    assert document["_run"]["task"] == "remap"
    assert "| spl_t" in result.stdout


def test_a_folder_with_too_few_hits_is_one_clear_error(tmp_path):
    import numpy as np
    import soundfile as sf

    sf.write(tmp_path / "one_hit.wav", np.r_[np.zeros(4410), 0.5 * np.random.default_rng(0).standard_normal(44100)], 44100)
    result = run("train_remap.py", f"data.root={tmp_path}", "trainer.device=cpu", f"hydra.run.dir={tmp_path / 'run'}")
    assert result.returncode != 0
    assert "hits" in result.stderr and str(tmp_path) in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("override, message", [("preset=snare_9", "unknown Snare808 preset 'snare_9'")])
def test_config_mistakes_are_one_line(tmp_path, drums, override, message):
    result = run("train_remap.py", override, "trainer.device=cpu", f"data.synthetic.folder={drums}",
                 "data.synthetic.seconds=8.0", f"hydra.run.dir={tmp_path / 'run'}")
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "run").exists()  # a failed start leaves no run folder


def test_a_grid_run_trains_evaluates_and_fills_the_results_table(tmp_path, drums):
    run_dir = tmp_path / "grid"
    grid = ["grid=paper", "grid.presets=[snare_1,snare_2]", "grid.drums=[maple_14x5]", "grid.models=[linear,mlp]",
            "grid.direct=true"]
    train_tiny("remap", run_dir, *grid, f"data.synthetic.folder={drums}")
    result = run("evaluate.py", f"run={run_dir}", "progress=false")
    assert result.returncode == 0, result.stderr[-3000:]
    document = json.loads((run_dir / "metrics.json").read_text())
    info = document["_run"]["member_info"]
    assert [i["experiment"] for i in info] == [e for e in ("linear", "linear2048", "mlp", "mlp2048", "direct") for _ in "ab"]
    assert len(document["test"]["model"]["mean"]) == 10
    out = tmp_path / "table"
    result = run("scripts/results.py", "--task", "remap", "--all", str(run_dir), "--out", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    header, counts = out.with_suffix(".md").read_text().splitlines()[:3:2]
    for column in ("direct †", "linear †", "linear2048 †", "mlp †", "mlp2048 †"):
        assert column in header
    assert counts.split("|")[2:8] == [" 10 ", " 2 ", " 2 ", " 2 ", " 2 ", " 2 "]  # preset counts every member
