"""Results tables from in-memory metrics files: aggregation, declarations, rendering."""

import json
import math
import random
import re
import statistics

import pytest

from ddspfx.core.metrics import MetricSpec
from ddspfx.eval.tables import (
    aggregate,
    build_table,
    declarations,
    format_evaluation,
    ordered,
    read_metrics_file,
    tex_escape,
    to_latex,
    to_markdown,
    unmatched,
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


# --- the transposed layout, on fake runs of the remap task (reference §10) ---------------------

REMAP_FEATURES = ["spl_t", "spl_s", "sc_t", "sc_s", "sf_t", "sf_s", "tc"]
REMAP_UNITS = ["dB", "dB", "kazazis", "kazazis", "dB", "dB", "schlauch"]
REMAP_EXPERIMENTS = ["mlp_lrg2048", "linear", "direct", "mlp", "linear2048", "mlp2048", "mlp_lrg"]  # not sorted
REMAP_ORDER = ["preset", "direct", "linear", "linear2048", "mlp", "mlp2048", "mlp_lrg", "mlp_lrg2048", "preset_reference"]
REMAP_LABELS = {"mlp_lrg": "mlplrg", "mlp_lrg2048": "mlplrg2048", "preset_reference": "preset (reference code)"}
REMAP_HEADER = ["preset", "direct", "linear", "linear2048", "mlp", "mlp2048", "mlplrg", "mlplrg2048", "preset (reference code)"]


def remap_specs() -> list[dict]:
    specs = [MetricSpec(name, unit=unit) for name, unit in zip(REMAP_FEATURES, REMAP_UNITS)]
    return [s.to_dict() for s in specs + [MetricSpec("mean")]]


def write_remap_runs(root, runs: int = 3, experiments=REMAP_EXPERIMENTS) -> dict[str, dict[str, list[float]]]:
    """metrics.json files of `runs` replicates (a drum and preset each) per experiment, under
    root/remap/<experiment>/<stamp>/; the baselines depend on the replicate only, as the real ones,
    and `preset_reference` is lower than every model (never bold). Returns the values written,
    {row label: {feature: values over the runs}}."""
    rng = random.Random(0)
    replicates = [
        {"preset": {f: rng.uniform(2.0, 6.0) for f in REMAP_FEATURES},
         "preset_reference": {f: rng.uniform(0.01, 0.05) for f in REMAP_FEATURES}}
        for _ in range(runs)
    ]
    values: dict[str, dict[str, list[float]]] = {}
    for experiment in experiments:
        for run, baselines in enumerate(replicates):
            model = {f: rng.uniform(0.1, 5.0) for f in REMAP_FEATURES}
            estimators = {"model": model, **baselines}
            for estimator, errors in estimators.items():
                errors.setdefault("mean", statistics.mean(errors[f] for f in REMAP_FEATURES))
                label = experiment if estimator == "model" else estimator
                for name, value in errors.items():
                    values.setdefault(label, {}).setdefault(name, []).append(value)
            record = {"task": "remap", "experiment": experiment, "variant": "", "status": "finished", "quick": False,
                      "comparable": True, "not_comparable": [],
                      "test_sets": {"test": {"size": 10 + run, "seed": 0, "drum": f"drum{run}"}}}
            path = root / "remap" / experiment / f"2026-01-{run + 1:02d}_00-00-00" / "metrics.json"
            path.parent.mkdir(parents=True)
            path.write_text(json.dumps({"_run": record, "test": estimators, "_metrics": remap_specs()}))
    return values


def expected_cells(values, feature: str) -> tuple[list[str], list[str]]:
    """The Markdown and LaTeX cells of one feature row, columns as REMAP_ORDER."""
    best = min(statistics.mean(values[e][feature]) for e in REMAP_EXPERIMENTS)
    markdown, latex = [], []
    for label in REMAP_ORDER:
        mean, std = statistics.mean(values[label][feature]), statistics.stdev(values[label][feature])
        bold = label in REMAP_EXPERIMENTS and math.isclose(mean, best, rel_tol=1e-12)
        markdown.append(f"**{mean:.4g} ± {std:.2g}**" if bold else f"{mean:.4g} ± {std:.2g}")
        text = rf"{mean:.4g} \pm {std:.2g}"
        latex.append(rf"$\mathbf{{{text}}}$" if bold else f"${text}$")
    return markdown, latex


def markdown_rows(markdown: str) -> list[list[str]]:
    """The cells of the table lines (an escaped "\\|" stays in its cell)."""
    lines = [line.strip()[1:-1] for line in markdown.splitlines() if line.startswith("|")]
    return [[c.strip() for c in re.split(r"(?<!\\)\|", line)] for line in lines]


def remap_table(tmp_path, **kwargs):
    values = write_remap_runs(tmp_path, **kwargs)
    files = [read_metrics_file(p) for p in sorted(tmp_path.rglob("metrics.json"))]
    return build_table(files, metrics=REMAP_FEATURES), values


def test_transposed_markdown_has_a_row_per_feature_and_a_column_per_row_in_order(tmp_path):
    table, values = remap_table(tmp_path)
    assert table.notes == []  # each row has the same drums, each drum its own test set: no note
    assert [r.label for r in table.baselines] == ["preset", "preset_reference"]  # the same in every group: one row
    markdown = to_markdown(table, transpose=True, order=REMAP_ORDER, labels=REMAP_LABELS)
    rows = markdown_rows(markdown)
    assert rows[0] == ["metric"] + REMAP_HEADER
    assert rows[1] == ["---"] + ["---:"] * 9
    assert rows[2] == ["n", "21", "3", "3", "3", "3", "3", "3", "3", "21"]  # a baseline row: the runs of all 7 groups
    assert [row[0] for row in rows[3:]] == [f"{f} [{u}]" for f, u in zip(REMAP_FEATURES, REMAP_UNITS)]
    bold_columns = set()
    for feature, row in zip(REMAP_FEATURES, rows[3:]):
        assert row[1:] == expected_cells(values, feature)[0], feature
        assert sum(cell.startswith("**") for cell in row) == 1
        bold_columns.add(next(i for i, cell in enumerate(row) if cell.startswith("**")))
    assert len(bold_columns) > 1  # the best differs between features
    assert "`mlp_lrg` (n=3)" in markdown and "Runs:" in markdown

    tex = to_latex(table, transpose=True, order=REMAP_ORDER, labels=REMAP_LABELS)
    lines = tex.splitlines()
    assert r"\begin{tabular}{lrrrrrrrrr}" in lines
    assert "metric & " + " & ".join(REMAP_HEADER) + r" \\" in lines
    assert r"$n$ & 21 & 3 & 3 & 3 & 3 & 3 & 3 & 3 & 21 \\" in lines
    for feature, unit in zip(REMAP_FEATURES, REMAP_UNITS):
        label = feature.replace("_", r"\_") + f" [{unit}]" + r" $\downarrow$"
        assert " & ".join([label] + expected_cells(values, feature)[1]) + r" \\" in lines, feature


def test_order_puts_the_named_rows_first_and_labels_rename(tmp_path):
    table, _ = remap_table(tmp_path, experiments=["mlp", "linear", "direct"])
    rows = table.models + table.baselines
    order = ["mlp", "preset_reference", "linear", "nothing"]
    assert [r.label for r in ordered(rows, order)] == ["mlp", "preset_reference", "linear", "direct", "preset"]
    assert unmatched(table, order) == ["nothing"]
    header = markdown_rows(to_markdown(table, transpose=True, order=order, labels={"mlp": "MLP | 1"}))[0]
    assert header == ["metric", r"MLP \| 1", "preset_reference", "linear", "direct", "preset"]
    normal = markdown_rows(to_markdown(table, order=order, labels={"mlp": "MLP"}))  # models, then baselines, each ordered
    assert [row[0] for row in normal[2:]] == ["MLP", "linear", "direct", "preset_reference", "preset"]
    assert [row[0] for row in markdown_rows(to_markdown(table))[2:]] == ["direct", "linear", "mlp", "preset", "preset_reference"]


def test_labels_of_a_baseline_per_group_and_a_dagger_in_the_header(tmp_path):
    write_remap_runs(tmp_path, runs=2, experiments=["linear"])
    write_remap_runs(tmp_path / "other", runs=2, experiments=["mlp_lrg"])  # other replicates: other presets
    files = [read_metrics_file(p) for p in sorted(tmp_path.rglob("metrics.json"))]
    quick = next(f for f in files if f.experiment == "mlp_lrg")
    quick.reasons.append("quick run")
    table = build_table(files, metrics=["tc"])
    labels = {"mlp_lrg": "mlplrg", "preset_reference": "ref"}
    header = markdown_rows(to_markdown(table, transpose=True, order=["preset"], labels=labels))[0]
    assert header == ["metric", "preset (linear)", "preset (mlplrg)", "preset (mlplrg) †",  # groups relabelled too
                      "linear", "mlplrg", "mlplrg †", "ref (linear)", "ref (mlplrg)", "ref (mlplrg) †"]
    assert r"mlplrg$^\dagger$" in to_latex(table, transpose=True, labels=labels)
