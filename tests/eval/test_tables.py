"""Results tables from in-memory metrics files: aggregation, declarations, rendering."""

import json
import math

import pytest

from ddspfx.core.metrics import MetricSpec
from ddspfx.eval.tables import (
    aggregate,
    build_table,
    declarations,
    format_evaluation,
    read_metrics_file,
    tex_escape,
    to_latex,
    to_markdown,
)


def write(tmp_path, name, document):
    path = tmp_path / name / "metrics.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(document))
    return read_metrics_file(path)


def document(model, specs, experiment="exp", **run):
    return {"_run": {"experiment": experiment, "variant": "", **run}, "test": {"model": model},
            "_metrics": [s.to_dict() for s in specs]}


def test_aggregate_uses_the_sample_standard_deviation():
    stat = aggregate([1.0, 2.0, 3.0, 4.0])
    assert stat.mean == 2.5 and stat.n == 4 and stat.std == pytest.approx(math.sqrt(5 / 3))
    assert aggregate([7.0]).std is None


def test_conflicting_declarations_mark_no_best(tmp_path):
    a = write(tmp_path, "a", document({"q": 1.0}, [MetricSpec("q", True)], "a"))
    b = write(tmp_path, "b", document({"q": 2.0}, [MetricSpec("q", False)], "b"))
    specs, messages = declarations([a, b])
    assert specs["q"].higher_is_better is None and "different directions" in messages[0]
    table = build_table([a, b])
    assert table.best == {} and "**" not in to_markdown(table)


def test_undeclared_derived_names_follow_their_base_and_old_files_use_the_legacy_rule(tmp_path):
    new = write(tmp_path, "new", document({"pesq": 3.0, "best_of_7/pesq": 3.5}, [MetricSpec("pesq", True)]))
    old_path = tmp_path / "old" / "metrics.json"
    old_path.parent.mkdir()
    old_path.write_text(json.dumps({"test": {"model": {"si_sdr": 1.0, "best_of_2/si_sdr": 2.0, "lsd": 1.0}}}))
    old = read_metrics_file(old_path)
    assert old.legacy and old.comparable and not new.legacy
    specs, _ = declarations([new, old])
    assert specs["best_of_7/pesq"].higher_is_better is True and specs["best_of_7/pesq"].table == "main"
    assert specs["si_sdr"].higher_is_better is True and specs["lsd"].higher_is_better is False
    assert specs["best_of_2/si_sdr"].table == "posterior"


def test_members_and_columns(tmp_path):
    specs = [MetricSpec("err"), MetricSpec("h", None, "posterior", "nats")]
    grid = write(tmp_path, "grid", document({"err": [1.0, 3.0], "h": [0.0, 0.0]}, specs, "grid", members=2))
    table = build_table([grid])
    assert [c.name for c in table.columns] == ["err"]
    assert table.models[0].n == 2 and table.models[0].stats["err"].mean == 2.0
    posterior = build_table([grid], table="posterior")
    assert [c.name for c in posterior.columns] == ["h"] and posterior.best == {}
    assert "h [nats]" in to_markdown(posterior)
    assert r"& h [nats] \\" in to_latex(posterior)  # no better direction: no arrow
    with pytest.raises(ValueError, match="no metric of the table 'other'"):
        build_table([grid], table="other")


def test_evaluate_table_and_tex_escape():
    metrics = {"_run": {}, "test": {"model": {"mel": 1.0, "si_sdr": [2.0, 4.0]}, "random": {"mel": 3.0}}}
    text = format_evaluation(metrics, [MetricSpec("mel"), MetricSpec("si_sdr", True)])
    assert "| mel | 1 | 3 |" in text and "| si_sdr (↑) | 3 ± 1.4 | - |" in text and "_run" not in text
    assert tex_escape("best_of_5/mel ± 1 †") == r"best\_of\_5/mel $\pm$ 1 $^\dagger$"
