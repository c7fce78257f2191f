"""End to end: train_mastering.py and evaluate.py as a user runs them, on a tiny configuration."""

import json

import pytest

from tests.conftest import run_script as run, train_tiny

pytestmark = pytest.mark.slow  # training and evaluation subprocesses


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """A chain whose synthesis and analysis sides differ in the compressor only: EQ + exact compressor
    against EQ + simplified compressor, so the parameter MSE is absent."""
    return train_tiny("mastering", tmp_path_factory.mktemp("mastering_run"), "sfx=peq_comp", "afx=peq_compsimple")


def test_training_writes_a_complete_run(trained_run):
    assert (trained_run / ".hydra" / "config.yaml").is_file()
    assert (trained_run / "checkpoints" / "best.pt").is_file()
    assert any((trained_run / "tb").iterdir())


def test_evaluate_scores_the_model_beside_both_baselines(trained_run):
    result = run("evaluate.py", f"run={trained_run}")
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((trained_run / "metrics.json").read_text())["test"]
    assert set(metrics) == {"model", "random", "none"}
    expected = {"mrstft", "mel", "mel_stft", "ldr", "mse", "si_sdr"}
    assert set(metrics["model"]) == set(metrics["random"]) == set(metrics["none"]) == expected
    assert all(v == v for estimator in metrics.values() for v in estimator.values())  # no NaN
    assert "| mrstft |" in result.stdout


def test_same_chains_add_the_parameter_mse(tmp_path, tiny_overrides):
    result = run("train_mastering.py", *tiny_overrides("mastering"), "sfx=dist", "loss=params10", f"hydra.run.dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-3000:]
    result = run("evaluate.py", f"run={tmp_path}")
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((tmp_path / "metrics.json").read_text())["test"]
    assert "param_mse" in metrics["model"] and "param_mse" in metrics["random"]
    assert "param_mse" not in metrics["none"]


def test_a_parameter_loss_with_different_chains_is_refused(tmp_path, tiny_overrides):
    result = run("train_mastering.py", *tiny_overrides("mastering"), "sfx=peq", "afx=geq", "loss=params10", f"hydra.run.dir={tmp_path}")
    assert result.returncode != 0
    assert "parameter loss needs the analysis chain to equal the synthesis chain" in result.stderr


def test_an_unset_mandatory_value_is_named(tmp_path):
    result = run("train_mastering.py", "source=folder", f"hydra.run.dir={tmp_path}")
    assert result.returncode == 1
    assert "set source.root on the command line" in result.stderr
    assert "Traceback" not in result.stderr
