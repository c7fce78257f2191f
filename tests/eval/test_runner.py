"""The evaluation runner on a tiny task: what metrics.json records and where it goes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf
from torch import nn

from ddspfx.core.checkpoint import checkpoint_path, save_checkpoint
from ddspfx.core.metrics import MetricSpec
from ddspfx.core.splits import FixedSplits
from ddspfx.core.task import Task
from ddspfx.eval.runner import NotARunError, evaluate_run, evaluate_sets, format_table


class TinyTask(Task):
    """Scores a constant estimate `w` (one per member) of uniform test values x: err = (x - w)²."""

    def __init__(self, data, members: int = 1, declare: bool = True):
        super().__init__()
        self.members = members
        self.declare = declare
        self.data = dict(data)
        self.weight = nn.Parameter(torch.zeros(members, 1))
        self.splits = FixedSplits(self.data, self._build)

    @staticmethod
    def _build(split, size, seed):
        return {"x": torch.rand(size, generator=torch.Generator().manual_seed(seed))}

    def test_sets(self, batch_size):
        return {"test": self.splits.batches("test", batch_size)}

    def test_set_info(self):
        return {"test": self.splits.info("test")}

    def evaluate_batch(self, batch, generator):
        x = batch["x"]
        err = (x - self.weight) ** 2  # (members, batch)
        if self.members == 1:
            err = err[0]
        guess = torch.rand(x.shape, generator=generator)
        return {"model": {"err": err, "score": -err}, "random": {"err": (x - guess) ** 2, "score": -((x - guess) ** 2)}}

    def metric_specs(self):
        if not self.declare:
            return [MetricSpec("err")]
        return [MetricSpec("err", description="squared error"), MetricSpec("score", True)]


def make_run(root: Path, *, weights=(0.5,), epochs=2, done=2, epoch_step=0, quick=False, declare=True,
             overrides=("trainer.seed=3", "head.size=4", "hydra.run.dir=somewhere", "+trainer.device=cpu")) -> Path:
    run = root / "outputs" / "tiny" / "exp" / "2026-01-01_00-00-00"
    (run / ".hydra").mkdir(parents=True)
    members = len(weights)
    config = {
        "task_name": "tiny", "name": "exp", "quick": quick,
        "trainer": {"seed": 3, "epochs": epochs},
        "data": {"test_size": 10, "test_seed": 7},
        "task": {"_target_": f"{TinyTask.__module__}.TinyTask", "data": "${data}", "members": members, "declare": declare},
    }
    OmegaConf.save(OmegaConf.create(config), run / ".hydra" / "config.yaml")
    OmegaConf.save(OmegaConf.create(list(overrides)), run / ".hydra" / "overrides.yaml")
    task = TinyTask(config["data"], members)
    with torch.no_grad():
        task.weight.copy_(torch.tensor(weights).unsqueeze(1))
    state = {"task": task.state_dict(), "step": 5, "epoch": done, "epoch_step": epoch_step, "config": {"epochs": epochs}}
    save_checkpoint(checkpoint_path(run, "last"), state)
    save_checkpoint(checkpoint_path(run, "best"), {**state, "epoch": 1, "epoch_step": 0, "step": 3})  # the best epoch
    return run


def expected_err(weight: float, size: int = 10, seed: int = 7) -> float:
    x = TinyTask._build("test", size, seed)["x"].double()
    return ((x - weight) ** 2).mean().item()


def evaluate(run, **kwargs):
    return evaluate_run(run, device="cpu", batch_size=4, progress=False, **kwargs)


def test_metrics_json_holds_declarations_and_provenance(tmp_path):
    run = make_run(tmp_path)
    result = evaluate(run)
    assert result.path == run / "metrics.json"
    saved = json.loads(result.path.read_text())
    assert list(saved)[0] == "_run" and {k for k in saved if not k.startswith("_")} == {"test"}
    assert saved["test"]["model"]["err"] == pytest.approx(expected_err(0.5))
    assert saved["test"]["model"]["score"] == pytest.approx(-expected_err(0.5))
    assert set(saved["test"]["random"]) == {"err", "score"}

    specs = {s["name"]: s for s in saved["_metrics"]}
    assert set(specs) == {"err", "score"}
    assert specs["err"]["higher_is_better"] is False and specs["score"]["higher_is_better"] is True
    assert MetricSpec.from_dict(specs["err"]) == MetricSpec("err", description="squared error")

    record = saved["_run"]
    assert record["task"] == "tiny" and record["experiment"] == "exp"
    assert record["variant"] == "head.size=4"  # seed, device and hydra.* are replicate keys
    assert record["run_dir"] == str(run)
    assert record["checkpoint"] == "best.pt" and record["step"] == 3 and record["epoch"] == 1
    assert record["status"] == "finished"  # from last.pt: best.pt was saved at epoch 1 of 2
    assert record["quick"] is False and record["members"] == 1
    assert record["train_seed"] == 3 and record["eval_seed"] == 0
    assert record["test_sets"] == {"test": {"size": 10, "seed": 7, "evaluated": 10}}
    assert record["settings"] == {} and record["default_settings"] is True
    assert record["comparable"] is True and record["not_comparable"] == []
    assert record["date"][:2] == "20" and "T" in record["date"]
    assert record["ddspfx_version"]


def test_an_interrupted_quick_run_is_not_comparable(tmp_path):
    run = make_run(tmp_path, epochs=3, done=1, epoch_step=2, quick=True)
    record = evaluate(run).document["_run"]
    assert record["status"] == "interrupted"
    assert record["comparable"] is False
    assert record["not_comparable"] == ["quick run", "interrupted at epoch 1/3 (+2 steps)"]
    assert (run / "metrics.json").is_file()  # default settings: still the run's metrics.json


def test_other_settings_go_to_their_own_file(tmp_path):
    run = make_run(tmp_path)
    evaluate(run)
    full = (run / "metrics.json").read_bytes()

    result = evaluate(run, checkpoint="last", data={"test_size": 4, "presets": None})
    assert result.path == run / "metrics_checkpoint-last_test_size-4.json"
    assert (run / "metrics.json").read_bytes() == full
    record = result.document["_run"]
    assert record["settings"] == {"checkpoint": "last", "data": {"test_size": 4}}
    assert record["default_settings"] is False and record["checkpoint"] == "last.pt"
    assert record["test_sets"]["test"]["evaluated"] == 4
    assert record["comparable"] is False
    assert record["not_comparable"] == ["evaluated with data.test_size=4 (the run's is 10)"]
    assert json.loads(result.path.read_text()) == json.loads(json.dumps(result.document))

    larger = evaluate(run, overrides={"data": {"test_size": 20}}, seed=1)
    assert larger.path.name == "metrics_data.test_size-20_seed-1.json"
    assert larger.document["_run"]["comparable"] is True  # a larger test set is not a sub-sample
    best = evaluate(run, checkpoint="best")  # what auto picks anyway: the default settings
    assert best.path == run / "metrics.json" and best.document["_run"]["default_settings"] is True


def test_members_values_are_one_list_per_member(tmp_path):
    run = make_run(tmp_path, weights=(0.0, 0.5, 1.0))
    saved = json.loads(evaluate(run).path.read_text())
    model = saved["test"]["model"]["err"]
    assert isinstance(model, list) and model == pytest.approx([expected_err(w) for w in (0.0, 0.5, 1.0)])
    assert isinstance(saved["test"]["random"]["err"], float)  # the baseline is one estimate per run
    assert saved["_run"]["members"] == 3
    table = format_table(saved, [MetricSpec.from_dict(s) for s in saved["_metrics"]])
    assert "over its 3 members" in table


def test_a_wrongly_shaped_member_score_is_a_clear_error(tmp_path):
    task = TinyTask({"test_size": 4, "test_seed": 0}, members=2)
    task.members = 3  # declares 3 members, returns (2, batch) scores
    with pytest.raises(ValueError, match=r"model/err has shape \(2, 4\): \(members=3, batch\) expected"):
        evaluate_sets(task, 4, progress=False)


def test_undeclared_metrics_are_recorded_without_direction(tmp_path):
    run = make_run(tmp_path, declare=False)
    with pytest.warns(UserWarning, match="does not declare"):
        saved = evaluate(run).document
    specs = {s["name"]: s for s in saved["_metrics"]}
    assert specs["score"]["higher_is_better"] is None and specs["err"]["higher_is_better"] is False


def test_printed_table_marks_higher_is_better_from_the_declarations(tmp_path):
    result = evaluate(make_run(tmp_path))
    table = format_table(result.metrics, result.specs)
    assert "| metric | model | random |" in table
    assert "| score (↑) |" in table and "| err |" in table


def test_not_a_run(tmp_path):
    with pytest.raises(NotARunError, match="is not a ddspfx run"):
        evaluate(tmp_path)
    run = make_run(tmp_path)
    with pytest.raises(NotARunError, match=r"no checkpoint among \['nope.pt'\]"):
        evaluate(run, checkpoint="nope")


class SetLevelTask(TinyTask):
    """TinyTask plus a set-level metric: the spread (max - min) of the test values of a set."""

    def begin_test_set(self, name):
        self.seen = []

    def evaluate_batch(self, batch, generator):
        self.seen.append(batch["x"])
        return super().evaluate_batch(batch, generator)

    def end_test_set(self, name):
        x = torch.cat(self.seen)
        value = torch.full((self.members,), float(x.max() - x.min())) if self.members > 1 else x.max() - x.min()
        return {"model": {"spread": value}}

    def metric_specs(self):
        return super().metric_specs() + [MetricSpec("spread", description="set-level")]


@pytest.mark.parametrize("members", [1, 2])
def test_set_level_metrics_are_stored_beside_the_means(members):
    task = SetLevelTask({"test_size": 10, "test_seed": 5}, members=members)
    results, sizes = evaluate_sets(task, batch_size=3, progress=False)
    x = torch.rand(10, generator=torch.Generator().manual_seed(5))
    expected = float(x.max() - x.min())
    spread = results["test"]["model"]["spread"]
    assert sizes["test"] == 10
    assert spread == pytest.approx([expected] * 2 if members == 2 else expected)
    assert "spread" not in results["test"]["random"]


def test_a_badly_shaped_set_level_value_is_a_clear_error():
    task = SetLevelTask({"test_size": 4, "test_seed": 0})
    task.end_test_set = lambda name: {"model": {"spread": torch.zeros(3)}}
    with pytest.raises(ValueError, match="end_test_set: model/spread has shape"):
        evaluate_sets(task, batch_size=2, progress=False)
