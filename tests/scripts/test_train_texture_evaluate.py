"""End to end: train_texture.py and evaluate.py as a user runs them, on a tiny configuration."""

import json

import pytest

from tests.conftest import run_script as run, train_tiny

pytestmark = pytest.mark.slow  # training and evaluation subprocesses
ESTIMATORS = {"model", "noise", "texenv_analysis"}
METRICS = {"texstat", "texstat_s1", "texstat_s2", "texstat_s3", "texstat_s4", "texstat_s5", "mrstft", "fad_texstat"}


@pytest.fixture(scope="module")
def textures(tmp_path_factory):
    return tmp_path_factory.mktemp("synthetic_textures")


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, textures):
    return train_tiny("texture", tmp_path_factory.mktemp("texture_smoke"), f"data.synthetic.folder={textures}")


def test_training_writes_a_complete_run(trained_run, textures):
    assert (trained_run / ".hydra" / "config.yaml").is_file()
    for name in ("best.pt", "last.pt"):
        assert (trained_run / "checkpoints" / name).is_file()
    assert any((trained_run / "tb").iterdir())
    assert (textures / "rain" / "rain.wav").is_file()  # the synthetic data went to the folder given


def test_evaluate_scores_the_model_beside_both_references(trained_run):
    result = run("evaluate.py", f"run={trained_run}", "progress=false")
    assert result.returncode == 0, result.stderr[-3000:]
    document = json.loads((trained_run / "metrics.json").read_text())
    metrics = document["test"]
    assert set(metrics) == ESTIMATORS
    for values in metrics.values():
        assert set(values) == METRICS
        assert all(v == v and v >= 0 for v in values.values())
        groups = sum(values[f"texstat_s{g}"] for g in range(1, 6))
        assert values["texstat"] == pytest.approx(groups, rel=1e-5)
    assert document["_run"]["task"] == "texture"
    assert document["_run"]["test_sets"]["test"]["texture"] == "rain"
    assert {m["name"] for m in document["_metrics"]} == METRICS
    assert "| texstat" in result.stdout


def test_an_unknown_texture_is_one_clear_error(tmp_path, textures):
    result = run("train_texture.py", "data.texture=snow", "trainer.device=cpu", f"data.synthetic.folder={textures}",
                 f"hydra.run.dir={tmp_path / 'run'}")
    assert result.returncode == 2
    assert "data.texture='snow'" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.fixture(scope="module")
def grain_run(tmp_path_factory, textures):
    return train_tiny("texture", tmp_path_factory.mktemp("grains_smoke"), "experiment=texture/grains",
                      f"data.synthetic.folder={textures}")


def test_pvae_trains_on_a_grain_run_and_is_evaluated(tmp_path, grain_run, textures):
    """The README's P-VAE commands (grain run, P-VAE run on it, evaluation) on the smoke config."""
    assert (grain_run / "checkpoints" / "best.pt").is_file()
    run_dir = train_tiny("texture", tmp_path / "pvae", "experiment=texture/pvae", f"pvae.grains={grain_run}",
                         f"data.synthetic.folder={textures}")
    result = run("evaluate.py", f"run={run_dir}", "progress=false")
    assert result.returncode == 0, result.stderr[-3000:]
    document = json.loads((run_dir / "metrics.json").read_text())
    assert set(document["test"]) == {"model", "noise"}  # P-VAE has no analysis reference
    assert all(set(values) == METRICS and all(v == v and v >= 0 for v in values.values())
               for values in document["test"].values())
    assert document["_run"]["task"] == "texture"
