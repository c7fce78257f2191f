"""The training scripts' pre-flight (ddspfx.train.launch): config and resume errors come first,
in one line, before Hydra writes anything (issue 9, items 7 and 8). In-process: no training."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from ddspfx.core.errors import ConfigError
from ddspfx.train import launch
from ddspfx.train.launch import (
    check_config,
    config_differences,
    exit_status,
    preflight,
    preflight_check,
    remove_failed_run_dir,
)

CONF = Path(__file__).resolve().parents[2] / "conf"
TINY = ["smoke=fm", "trainer.device=cpu"]


def saved_run(folder: Path, overrides=TINY, checkpoint: bool = True) -> Path:
    """A run folder as Hydra and the Trainer leave it (config.yaml composed from `overrides`)."""
    cfg = preflight_check(CONF, "fm", list(overrides))
    (folder / ".hydra").mkdir(parents=True)
    OmegaConf.save(cfg, folder / ".hydra" / "config.yaml")
    if checkpoint:
        (folder / "checkpoints").mkdir()
        (folder / "checkpoints" / "last.pt").write_bytes(b"x")
    return folder


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_resume_without_run_folder_names_the_newest_run(in_tmp):
    base = Path("outputs/fm/default")
    saved_run(in_tmp / base / "2024-01-01_10-00-00")
    saved_run(in_tmp / base / "2024-03-01_10-00-00")
    saved_run(in_tmp / base / "2024-05-01_10-00-00", checkpoint=False)  # failed before a checkpoint
    with pytest.raises(ConfigError) as error:
        preflight_check(CONF, "fm", [*TINY, "trainer.resume=true"], "train_fm.py")
    message = str(error.value)
    assert "\n" not in message and "hydra.run.dir" in message
    newest = base / "2024-03-01_10-00-00"
    assert f"newest run of fm/default is {newest}" in message
    assert message.endswith(f"python train_fm.py smoke=fm trainer.device=cpu trainer.resume=true "
                            f"hydra.run.dir={newest}")


def test_resume_without_any_run(in_tmp):
    with pytest.raises(ConfigError, match="no run under outputs/fm/deter to resume"):
        preflight_check(CONF, "fm", [*TINY, "experiment=fm/deter", "trainer.resume=true"])


def test_resume_into_a_missing_folder(in_tmp):
    with pytest.raises(ConfigError, match="run folder nowhere/run does not exist"):
        preflight_check(CONF, "fm", [*TINY, "trainer.resume=true", "hydra.run.dir=nowhere/run"])


def test_resume_with_another_experiment_is_refused_before_writing(in_tmp):
    run = saved_run(in_tmp / "run")
    before = (run / ".hydra" / "config.yaml").read_bytes()
    argv = [*TINY, "experiment=fm/gauss_l1", "trainer.resume=true", f"hydra.run.dir={run}"]
    with pytest.raises(ConfigError) as error:
        preflight_check(CONF, "fm", argv)
    message = str(error.value)
    assert "\n" not in message and "differs" in message
    assert "name ('default' -> 'gauss_l1')" in message and "head." in message
    assert (run / ".hydra" / "config.yaml").read_bytes() == before
    # the script: one line, exit status 2
    with pytest.raises(SystemExit) as exit_:
        preflight(CONF, "fm", argv, script="train_fm.py")
    assert exit_.value.code == 2


def test_resume_may_change_epochs_device_progress_threads(in_tmp):
    run = saved_run(in_tmp / "run")
    argv = [*TINY, "trainer.epochs=5", "trainer.progress=true", "trainer.num_threads=1",
            "trainer.resume=true", f"hydra.run.dir={run}"]
    assert preflight_check(CONF, "fm", argv) is not None


def test_multirun_and_hydra_flags_skip_the_preflight(in_tmp):
    assert preflight_check(CONF, "fm", ["-m", "trainer.resume=true"]) is None
    assert preflight_check(CONF, "fm", ["--cfg", "job", "trainer.batch_size=0"]) is None


def test_config_differences_lists_dotted_keys():
    saved = {"a": {"b": 1, "c": [1, 2]}, "trainer": {"epochs": 1, "seed": 0}}
    new = {"a": {"b": 2, "c": [1, 2], "d": 0}, "trainer": {"epochs": 9, "seed": 0}}
    assert config_differences(saved, new) == [("a.b", 1, 2), ("a.d", "<missing>", 0)]


def test_a_key_added_since_the_run_at_its_null_default_is_no_difference():
    saved = {"trainer": {"epochs": 1}}  # a run trained before trainer.early_stopping existed
    assert config_differences(saved, {"trainer": {"epochs": 1, "early_stopping": None}}) == []
    assert config_differences(saved, {"trainer": {"epochs": 1, "early_stopping": {"patience": 3}}}) == [
        ("trainer.early_stopping", "<missing>", {"patience": 3})]


@pytest.mark.parametrize("override,expected", [
    ("trainer.batch_size=0", "trainer.batch_size must be an int >= 1, got 0"),
    ("trainer.optimizer.lr=abc", "trainer.optimizer.lr must be a number > 0, got 'abc'"),
    ("trainer.optimizer.lr=-1", "trainer.optimizer.lr must be a number > 0, got -1"),
    ("data.valid_size=0", "data.valid_size must be an int > 0, got 0"),
    ("data.test_size=1.5", "data.test_size must be an int > 0, got 1.5"),
    ("+trainer.optimizer.nesterov_typo=true", "trainer.optimizer: cannot build it"),
    ("trainer.grad_clip=-1", "trainer.grad_clip"),
])
def test_config_errors_name_the_key_and_value(override, expected):
    with pytest.raises(ConfigError) as error:
        preflight_check(CONF, "fm", [*TINY, override])
    assert expected in str(error.value) and "\n" not in str(error.value)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_cuda_without_a_gpu_is_a_config_error():
    with pytest.raises(ConfigError, match="trainer.device=cuda but CUDA is not available"):
        preflight_check(CONF, "fm", ["smoke=fm", "trainer.device=cuda"])


def test_mastering_config_is_checked_too():
    with pytest.raises(ConfigError, match="data.valid_size"):
        preflight_check(CONF, "mastering", ["smoke=mastering", "trainer.device=cpu", "data.valid_size=0"])
    assert preflight_check(CONF, "mastering", ["smoke=mastering", "trainer.device=cpu"]) is not None


def test_preflight_prints_one_line_and_exits_2(capsys):
    with pytest.raises(SystemExit) as exit_:
        preflight(CONF, "fm", [*TINY, "trainer.batch_size=0"], script="train_fm.py")
    assert exit_.value.code == 2
    assert capsys.readouterr().err == "train_fm.py: error: trainer.batch_size must be an int >= 1, got 0\n"


def test_check_config_accepts_the_defaults():
    check_config(preflight_check(CONF, "fm", TINY))


def test_failed_start_leaves_no_empty_run_folder(tmp_path):
    empty = tmp_path / "empty"
    (empty / ".hydra").mkdir(parents=True)
    (empty / "train_fm.log").write_text("")
    assert remove_failed_run_dir(empty, "train_fm") and not empty.exists()
    kept = saved_run(tmp_path / "kept")
    assert not remove_failed_run_dir(kept, "train_fm") and kept.exists()


def test_exit_status():
    assert exit_status({"status": "finished", "signal": None}) == 0
    assert exit_status({"status": "interrupted", "signal": "SIGINT"}) == 130
    assert exit_status({"status": "interrupted", "signal": "SIGTERM"}) == 143
    assert exit_status({"status": "interrupted", "signal": None}) == 130
    assert launch.EXIT_CONFIG == 2 and launch.EXIT_STOPPED == 1


@pytest.mark.parametrize("rank", [0, 1])
def test_task_line_is_logged_by_rank_0_only(tmp_path, monkeypatch, caplog, capsys, rank):
    """Under torchrun every rank runs `train`; only rank 0 says which task it built."""
    import logging

    from ddspfx.train import distributed as D
    from tests.train.toy_task import ToyRegression

    class FakeTrainer:
        def __init__(self, task, cfg, run_dir):
            self.run_dir = run_dir

        def fit(self):
            return {"status": "finished", "signal": None, "epoch": 1, "step": 1}

    monkeypatch.setattr(launch.D, "init_distributed", lambda backend: D.DistInfo(rank=rank, world_size=2))
    monkeypatch.setattr(launch, "shared_run_dir", lambda: tmp_path)
    monkeypatch.setattr(launch, "instantiate", lambda node: ToyRegression())
    monkeypatch.setattr(launch, "Trainer", FakeTrainer)
    cfg = preflight_check(CONF, "fm", TINY)
    with caplog.at_level(logging.INFO, logger="ddspfx.train.launch"):
        assert launch.train(cfg)["status"] == "finished"
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("task ")]
    assert len(lines) == (1 if rank == 0 else 0)
    assert ("Run finished" in capsys.readouterr().out) == (rank == 0)
