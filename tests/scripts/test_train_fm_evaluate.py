"""End to end: train_fm.py and evaluate.py as a user runs them, on a tiny configuration."""

import json

import pytest
import torch

from tests.conftest import run_script as run, train_tiny

pytestmark = pytest.mark.slow  # training and evaluation subprocesses


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    return train_tiny("fm", tmp_path_factory.mktemp("fm_run"))


def test_training_writes_a_complete_run(trained_run):
    assert (trained_run / ".hydra" / "config.yaml").is_file()
    assert (trained_run / "checkpoints" / "last.pt").is_file()
    assert (trained_run / "checkpoints" / "best.pt").is_file()
    assert any((trained_run / "tb").iterdir())


def test_resume_continues_the_same_run(trained_run, tiny_overrides):
    result = run("train_fm.py", *tiny_overrides("fm"), "trainer.epochs=2", "trainer.resume=true", f"hydra.run.dir={trained_run}")
    assert result.returncode == 0, result.stderr[-3000:]
    state = torch.load(trained_run / "checkpoints" / "last.pt", weights_only=False)
    assert state["step"] == 6 and state["epoch"] == 2


def test_evaluate_writes_metrics_beside_the_random_baseline(trained_run):
    result = run("evaluate.py", f"run={trained_run}")
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((trained_run / "metrics.json").read_text())
    expected = {"param_mse", "param_mse_perm", "sot", "mrstft", "mel", "si_sdr"}
    assert set(metrics["test"]["model"]) == set(metrics["test"]["random"]) == expected
    for estimator in ("model", "random"):
        assert all(v == v for v in metrics["test"][estimator].values())  # no NaN
    assert metrics["test"]["model"]["param_mse_perm"] <= metrics["test"]["model"]["param_mse"]
    assert "| param_mse |" in result.stdout


def test_evaluate_rejects_a_folder_that_is_not_a_run(tmp_path):
    result = run("evaluate.py", f"run={tmp_path}")
    assert result.returncode == 2
    assert "is not a ddspfx run" in result.stderr
    assert "Traceback" not in result.stderr


MIXTURE_FLOW = [
    "head=mog_full",
    "head.base.components=3",
    "head.flow.length=1",
    "head.flow.hidden=4",
    "evaluation.best_of=3",
    "evaluation.n_samples=8",
    "evaluation.map_samples=32",
]


def test_mixture_flow_model_end_to_end_with_a_preset_cartridge(tmp_path, tiny_overrides):
    from ddspfx.data.dx7 import init_voice, write_cartridge

    voice = init_voice(algorithm=5)
    for op, level in zip(range(1, 7), (99, 80, 90, 70, 85, 0)):
        voice = voice.replace_operator(op, output_level=level)
    voice = voice.replace_operator(2, coarse=2)
    cartridge = tmp_path / "bank.syx"
    write_cartridge(cartridge, [voice])
    run_dir = tmp_path / "run"
    result = run("train_fm.py", *tiny_overrides("fm"), *MIXTURE_FLOW, f"hydra.run.dir={run_dir}")
    assert result.returncode == 0, result.stderr[-3000:]
    result = run("evaluate.py", f"run={run_dir}", f"+data.presets=[{cartridge}]")
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((run_dir / "metrics_presets-bank.syx.json").read_text())
    assert {k for k in metrics if not k.startswith("_")} == {"test", "presets"}
    model = metrics["test"]["model"]
    assert {"best_of_3/sot", "map/mel", "consistency/sot", "h_mc", "h_kl", "mmd2"} <= set(model)
    assert model["best_of_3/sot"] <= model["best_of_1/sot"]
    assert all(v == v for v in model.values())
    assert {"best_of_3/sot", "h_kl", "mmd2"} <= set(metrics["presets"]["random"])
