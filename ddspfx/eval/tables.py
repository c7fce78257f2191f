"""Results tables of any task: read `metrics.json` files, aggregate replicates, render Markdown/LaTeX.

Used by `scripts/results.py` (one table over many runs) and `evaluate.py` (one run's table).

A *group* is the runs of one experiment and variant (`ddspfx.eval.provenance`) evaluated with the
same settings; its row shows the mean ± standard deviation (ddof 1) over its runs, with n. A run of
a task with `members = M` counts as M runs where its values are lists (one per member). Every
estimator other than "model" (`random`, `none`, …) is a baseline row aggregated from the same
group's runs; where every group's baseline has the same means (same test set and evaluation seed),
one row aggregates them all. Columns, their order and their direction come from
the declarations (`"_metrics"`) of the files; the best model mean of a column is bolded among the
comparable rows only. Runs that are not comparable (quick, interrupted, sub-sampled) are left out
unless asked for, and then marked with a dagger and a footnote. Rendered with rows = models then
baselines and columns = metrics, or transposed (a column per model or baseline, in a chosen order
and with chosen labels: the layout of papers that compare few systems on many metrics).

Files of the old format (no `"_run"` / `"_metrics"`) are read as comparable runs of unknown
provenance; for their undeclared metrics, and only for them, lower is better except names whose
base is `si_sdr`, and derived names (`best_of_5/mel`) belong to the "posterior" table.
"""

from __future__ import annotations

import json
import math
import re
import statistics
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from ddspfx.core.metrics import MAIN_TABLE, MetricSpec, base_name, higher_is_better
from ddspfx.eval import provenance

MODEL = "model"
LEGACY_POSTERIOR_TABLE = "posterior"
DAGGER_MD = "†"
DAGGER_TEX = r"$^\dagger$"


# --- one run's table (evaluate.py) -----------------------------------------------------------


def _direction(name: str, specs) -> bool | None:
    if not specs:
        return None
    try:
        return higher_is_better(name, specs)
    except KeyError:
        return None


def _mean_std(values: Sequence[float]) -> tuple[float, float | None]:
    mean = math.fsum(values) / len(values)
    if len(values) < 2:
        return mean, None
    try:
        return mean, statistics.stdev(values)
    except (ValueError, OverflowError):
        return mean, float("nan")


def format_number(mean: float, std: float | None = None) -> str:
    text = f"{mean:.4g}"
    return text if std is None else f"{text} ± {std:.2g}"


def format_evaluation(metrics: Mapping[str, Any], specs: Iterable[MetricSpec] | None = None) -> str:
    """One Markdown table per test set of one evaluation: a row per metric (labelled "(↑)" where a
    higher value is better), a column per estimator; per-member lists show mean ± std over members."""
    specs = list(specs or [])
    lines = []
    for set_name, estimators in metrics.items():
        if set_name.startswith("_"):
            continue
        names = list(estimators)
        metric_names = list(dict.fromkeys(m for e in names for m in estimators[e]))
        lines += [f"\n{set_name}", "| metric | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
        members = set()
        for m in metric_names:
            cells = []
            for e in names:
                value = estimators[e].get(m)
                if isinstance(value, list) and value:
                    members.add((e, len(value)))
                    cells.append(format_number(*_mean_std(value)))
                else:
                    cells.append("-" if value is None else f"{value:.4g}")
            label = f"{m} (↑)" if _direction(m, specs) is True else m
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        for estimator, count in sorted(members):
            lines.append(f"({estimator}: mean ± std over its {count} members)")
    return "\n".join(lines)


# --- reading metrics files -------------------------------------------------------------------


@dataclass
class RunFile:
    """One metrics file, with what the tables need to know about how it was made."""

    path: Path
    sets: dict[str, dict[str, dict[str, Any]]]
    specs: list[MetricSpec]
    run: dict[str, Any]
    legacy: bool
    experiment: str
    variant: str
    settings: str  # slug of the non-default evaluation settings ("" for the defaults)
    reasons: list[str] = field(default_factory=list)  # why not comparable ([] if comparable)

    @property
    def comparable(self) -> bool:
        return not self.reasons

    @property
    def task(self) -> str | None:
        return self.run.get("task")


def experiment_from_path(path: Path) -> str:
    """The experiment folder of outputs/<task>/<experiment>/<date>_<time>/metrics.json (multirun
    jobs: outputs/<task>/<experiment>/multirun_<stamp>/<job>/metrics.json)."""
    run = path.parent
    if run.parent.name.startswith("multirun_"):
        return run.parent.parent.name
    return run.parent.name


def read_metrics_file(path: str | Path) -> RunFile:
    """Read one `metrics.json` / `metrics_<slug>.json`.

    Raises:
        ValueError: not JSON, or not a JSON object (the message names the file).
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from error
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a metrics file (a JSON object of test sets expected)")
    sets = {k: v for k, v in data.items() if not k.startswith("_") and isinstance(v, dict)}
    run = data.get("_run") if isinstance(data.get("_run"), dict) else None
    raw_specs = data.get("_metrics") if isinstance(data.get("_metrics"), list) else None
    specs = [MetricSpec.from_dict(s) for s in raw_specs or [] if isinstance(s, dict) and "name" in s]
    legacy = run is None or raw_specs is None
    run = run or {}
    experiment = run.get("experiment") or experiment_from_path(path)
    variant = run["variant"] if "variant" in run else provenance.variant_of(provenance.read_overrides(path.parent))
    settings = provenance.settings_slug(run.get("settings") or {})
    return RunFile(path, sets, specs, run, legacy, str(experiment), str(variant or ""), settings, provenance.not_comparable_reasons(run))


def split_members(file: RunFile) -> list[RunFile]:
    """A members run whose `_run.member_info` names each member's `experiment` (a grid of
    models, e.g. `train_remap.py grid=paper`) as one RunFile per experiment, holding only those
    members' values; any other file as it is. Rows then read as if each model had its own runs."""
    info = file.run.get("member_info")
    if not isinstance(info, list) or not info or not all(isinstance(i, dict) and "experiment" in i for i in info):
        return [file]
    by_experiment: dict[str, list[int]] = {}
    for m, item in enumerate(info):
        by_experiment.setdefault(str(item["experiment"]), []).append(m)

    def pick(value: Any, index: list[int]) -> Any:
        if isinstance(value, list) and len(value) == len(info):
            return [value[m] for m in index]
        return value

    out = []
    for experiment, index in by_experiment.items():
        sets = {name: {e: {k: pick(v, index) for k, v in metrics.items()} for e, metrics in estimators.items()}
                for name, estimators in file.sets.items()}
        run = {**file.run, "experiment": experiment, "members": len(index),
               "member_info": [info[m] for m in index]}
        out.append(replace(file, sets=sets, run=run, experiment=experiment))
    return out


def legacy_warning(file: RunFile) -> str:
    missing = [key for key, present in (("_run", bool(file.run)), ("_metrics", bool(file.specs))) if not present]
    return (
        f"{file.path}: old format (no {' / '.join(missing)}): read as a comparable run of unknown provenance; "
        "its undeclared metrics are taken as lower-is-better except names whose base is si_sdr"
    )


def legacy_spec(name: str) -> MetricSpec:
    """The assumed declaration of a metric of an old-format file (and only of those)."""
    table = LEGACY_POSTERIOR_TABLE if "/" in name else MAIN_TABLE
    return MetricSpec(name, base_name(name) == "si_sdr", table, description="assumed (old-format metrics.json)")


def declarations(files: Sequence[RunFile]) -> tuple[dict[str, MetricSpec], list[str]]:
    """`{name: spec}` of every metric in `files`, in declaration order, and warnings.

    Declarations come from the files' `"_metrics"`; a name declared with two directions gets none
    (never bolded). A metric only old-format files have gets the legacy rule (`legacy_spec`).
    """
    merged: dict[str, MetricSpec] = {}
    conflicts: set[str] = set()
    for file in files:
        for spec in file.specs:
            if spec.name in merged and merged[spec.name].higher_is_better != spec.higher_is_better:
                conflicts.add(spec.name)
            merged.setdefault(spec.name, spec)
    messages = []
    for name in sorted(conflicts):
        merged[name] = MetricSpec(name, None, merged[name].table, merged[name].unit, merged[name].description)
        messages.append(f"metric {name!r} is declared with different directions of 'better': no best value is marked")
    for file in files:
        for estimators in file.sets.values():
            for values in estimators.values():
                for name in values:
                    if name in merged:
                        continue
                    if file.legacy:
                        merged[name] = legacy_spec(name)
                    else:
                        base = merged.get(base_name(name))
                        merged[name] = base.derive(name[: -len(base.name) - 1]) if base else MetricSpec(name, None)
    return merged, messages


# --- aggregation -----------------------------------------------------------------------------


@dataclass
class Stat:
    mean: float
    std: float | None  # None for n = 1
    n: int


def aggregate(values: Sequence[float]) -> Stat:
    mean, std = _mean_std(values)
    return Stat(mean, std, len(values))


def _samples(value: Any) -> list[float]:
    if isinstance(value, list):
        return [float(v) for v in value if isinstance(v, (int, float))]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return [float(value)]
    return []


@dataclass
class Row:
    label: str
    estimator: str
    group: str  # label of the group its runs come from ("" for a baseline row all groups share)
    n: int  # runs (a run with M members counts M times where its values are lists)
    stats: dict[str, Stat]
    comparable: bool
    reasons: list[str]
    files: list[RunFile]

    @property
    def paths(self) -> list[Path]:
        return [f.path for f in self.files]


@dataclass
class Table:
    test_set: str
    columns: list[MetricSpec]
    models: list[Row]
    baselines: list[Row]
    best: dict[str, float]
    notes: list[str]  # footnotes (non-comparable rows, differing test sets)
    warnings: list[str]


def group_label(experiment: str, variant: str, settings: str) -> str:
    extras = ([variant] if variant else []) + ([f"eval: {settings}"] if settings else [])
    return f"{experiment} ({'; '.join(extras)})" if extras else experiment


def _row(files: Sequence[RunFile], estimator: str, test_set: str, group: str, label: str) -> Row | None:
    samples: dict[str, list[float]] = {}
    n = 0
    used = []
    for file in files:
        values = file.sets.get(test_set, {}).get(estimator)
        if not isinstance(values, dict):
            continue
        used.append(file)
        n += max([len(v) for v in values.values() if isinstance(v, list)] or [1])
        for name, value in values.items():
            samples.setdefault(name, []).extend(_samples(value))
    if not used:
        return None
    reasons = list(dict.fromkeys(r for f in used for r in f.reasons))
    stats = {name: aggregate(v) for name, v in samples.items() if v}
    return Row(label, estimator, group, n, stats, not reasons, reasons, used)


def _key(file: RunFile) -> tuple:
    return (file.experiment, file.variant, file.settings, not file.comparable)


def cell_text(stat: Stat | None) -> str | None:
    return None if stat is None else format_number(stat.mean, stat.std)


def build_table(
    files: Sequence[RunFile], test_set: str = "test", table: str = MAIN_TABLE, metrics: Sequence[str] | None = None
) -> Table:
    """The table of `files` (already filtered) on `test_set`.

    Columns: `metrics` in that order if given, else every declared metric of `table` that a row has.

    Raises:
        ValueError: no file has a "model" estimator on `test_set`, or no column to show.
    """
    messages: list[str] = []
    usable = []
    for file in sorted(files, key=lambda f: (_key(f), str(f.path))):
        estimators = file.sets.get(test_set)
        if estimators is None:
            messages.append(f"skipping {file.path}: no test set {test_set!r} (it has {sorted(file.sets)})")
        elif MODEL not in estimators:
            messages.append(f"skipping {file.path}: no {MODEL!r} estimator in {test_set!r}")
        else:
            usable.append(file)
    if not usable:
        raise ValueError(f"no run has results for the test set {test_set!r}: " + "; ".join(messages))
    specs, conflicts = declarations(usable)
    messages += conflicts

    groups: dict[tuple, list[RunFile]] = {}
    for file in usable:
        groups.setdefault(_key(file), []).append(file)
    models, baseline_rows = [], {}
    for key, members in groups.items():
        group = group_label(*key[:3])
        row = _row(members, MODEL, test_set, group, group)
        models.append(row)
        estimators = dict.fromkeys(e for f in members for e in f.sets[test_set] if e != MODEL)
        for estimator in estimators:
            baseline = _row(members, estimator, test_set, group, estimator)
            if baseline is not None:
                baseline_rows.setdefault(estimator, []).append(baseline)

    present = {name for row in models + [r for rs in baseline_rows.values() for r in rs] for name in row.stats}
    if metrics:
        names = list(metrics)
        for name in names:
            if name not in present:
                messages.append(f"no run has the metric {name!r}")
        columns = [specs.get(name) or MetricSpec(name, None) for name in names]
    else:
        columns = [spec for name, spec in specs.items() if spec.table == table and name in present]
        if not columns:
            tables = sorted({s.table for n, s in specs.items() if n in present})
            raise ValueError(f"no metric of the table {table!r} in these runs (tables: {', '.join(tables)})")

    baselines = []
    for estimator, rows in baseline_rows.items():
        for comparable in (True, False):
            part = [r for r in rows if r.comparable == comparable]
            means = {tuple(None if c.name not in r.stats else f"{r.stats[c.name].mean:.4g}" for c in columns) for r in part}
            if len(part) > 1 and len(means) == 1:  # every group shows the same baseline: one row of all their runs
                baselines.append(_row([f for r in part for f in r.files], estimator, test_set, "", estimator))
            elif len(part) == 1 and len(rows) == 1:
                baselines.append(part[0])
            else:
                baselines += [Row(f"{estimator} ({r.group})", estimator, r.group, r.n, r.stats, r.comparable, r.reasons, r.files) for r in part]

    best = {}
    for column in columns:
        direction = column.higher_is_better
        values = [r.stats[column.name].mean for r in models if r.comparable and column.name in r.stats]
        values = [v for v in values if math.isfinite(v)]
        if direction is not None and values:
            best[column.name] = max(values) if direction else min(values)

    notes = [f"not comparable (shown with --all): {r.label}: {'; '.join(r.reasons)}" for r in models if not r.comparable]
    sets: dict[tuple, list[str]] = {}  # the test sets of a row (several: replicates such as drums) → its rows
    for row in models:
        keys = tuple(sorted({k for k in (_test_set_key(f, test_set) for f in row.files) if k is not None}, key=str))
        if keys:
            sets.setdefault(keys, []).append(marked(row, DAGGER_MD))
    if len(sets) > 1:
        described = "; ".join(f"{_describe_sets(k)}: {', '.join(labels)}" for k, labels in sets.items())
        notes.append(f"the rows were evaluated on different {test_set!r} sets: {described}")
        messages.append(notes[-1])
    return Table(test_set, columns, models, baselines, best, notes, messages)


def marked(row: Row, dagger: str) -> str:
    """A row's label, with the dagger of a non-comparable row."""
    return row.label + ("" if row.comparable else f" {dagger}")


def _test_set_key(file: RunFile, test_set: str) -> tuple | None:
    info = (file.run.get("test_sets") or {}).get(test_set)
    if not isinstance(info, dict):
        return None
    size = info.get("size", info.get("evaluated"))
    return (size, info.get("seed"))


def _describe_set(key: tuple) -> str:
    size, seed = key
    return f"{size} examples" + ("" if seed is None else f" (seed {seed})")


def _describe_sets(keys: tuple) -> str:
    return _describe_set(keys[0]) if len(keys) == 1 else f"{len(keys)} sets ({', '.join(map(_describe_set, keys))})"


# --- rendering -------------------------------------------------------------------------------


def _header(spec: MetricSpec, arrows: Mapping[bool | None, str]) -> str:
    unit = f" [{spec.unit}]" if spec.unit else ""
    arrow = arrows.get(spec.higher_is_better, "")
    return f"{spec.name}{unit}{arrow}"


SUMMARY = (
    "Mean ± standard deviation over the n runs of each row (replicates: one experiment and variant; "
    "a run with M members counts M times); baselines from the same runs; bold: the best comparable model."
)


def is_best(table: Table, row: Row, column: MetricSpec) -> bool:
    """Whether the cell is bold: the best mean of `column` among the comparable models."""
    stat = row.stats.get(column.name)
    return stat is not None and row.estimator == MODEL and row.comparable and table.best.get(column.name) == stat.mean


def _names(row: Row, name: str) -> bool:
    """Whether `name` (of an `order`) names `row`: its label or, for a baseline, its estimator."""
    return row.label == name or (row.estimator != MODEL and row.estimator == name)


def ordered(rows: Sequence[Row], order: Sequence[str] | None = None) -> list[Row]:
    """`rows` in the order of `order` (row labels or baseline estimator names); the rows it does not
    name come after, in their given order."""
    order = list(order or [])
    return sorted(rows, key=lambda row: next((i for i, name in enumerate(order) if _names(row, name)), len(order)))


def unmatched(table: Table, order: Sequence[str] | None) -> list[str]:
    """The names of `order` that name no row of `table`."""
    rows = table.models + table.baselines
    return [name for name in order or [] if not any(_names(row, name) for row in rows)]


def display_label(row: Row, labels: Mapping[str, str] | None = None) -> str:
    """The row's label as shown: `labels[label]`; a baseline of one group, "<estimator> (<group>)",
    has its estimator and group relabelled each."""
    labels = labels or {}
    if row.label in labels:
        return labels[row.label]
    if row.estimator != MODEL and row.group and row.label != row.estimator:
        return f"{labels.get(row.estimator, row.estimator)} ({labels.get(row.group, row.group)})"
    return row.label


@dataclass
class _Style:
    """How one format writes the parts of a table."""

    corner: str  # top-left header of the normal layout
    corner_transposed: str
    n: str
    metric: Callable[[MetricSpec], str]
    row_name: Callable[[str, bool], str]  # (shown label, comparable) → text, with the dagger
    cell: Callable[[Table, Row, MetricSpec], str]


def _layout(
    table: Table, style: _Style, transpose: bool, order: Sequence[str] | None, labels: Mapping[str, str] | None
) -> tuple[list[str], list[list[list[str]]]]:
    """The header and the sections of body lines (cells) of `table`: rows = models then baselines,
    columns = metrics; or, transposed, rows = n then the metrics, a column per model or baseline."""

    def name(row: Row) -> str:
        return style.row_name(display_label(row, labels), row.comparable)

    columns = table.columns
    if not transpose:
        header = [style.corner, style.n] + [style.metric(c) for c in columns]
        sections = [
            [[name(row), str(row.n)] + [style.cell(table, row, c) for c in columns] for row in ordered(rows, order)]
            for rows in (table.models, table.baselines)
        ]
        return header, [section for section in sections if section]
    rows = ordered(table.models + table.baselines, order)
    header = [style.corner_transposed] + [name(row) for row in rows]
    counts = [style.n] + [str(row.n) for row in rows]
    return header, [[counts], [[style.metric(c)] + [style.cell(table, row, c) for row in rows] for c in columns]]


def _md_cell(table: Table, row: Row, column: MetricSpec) -> str:
    text = cell_text(row.stats.get(column.name))
    if text is None:
        return "—"
    return f"**{text}**" if is_best(table, row, column) else text


MARKDOWN = _Style(
    "model", "metric", "n", lambda spec: _header(spec, {True: " (↑)"}),
    lambda label, comparable: (label + ("" if comparable else f" {DAGGER_MD}")).replace("|", "\\|"), _md_cell,
)


def to_markdown(
    table: Table, transpose: bool = False, order: Sequence[str] | None = None, labels: Mapping[str, str] | None = None
) -> str:
    """The table in Markdown, with its notes and the run files of each model row.

    Args:
        transpose: metrics as rows, a column per model or baseline (and a first row of n).
        order: row labels (or baseline estimator names) in the order to show them (columns when
            transposed; in the normal layout models and baselines are ordered each); others after.
        labels: {row label: shown label}.
    """
    header, sections = _layout(table, MARKDOWN, transpose, order, labels)
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    lines += ["| " + " | ".join(cells) + " |" for section in sections for cells in section]
    lines += ["", SUMMARY]
    lines += [f"{DAGGER_MD} {note}" if note.startswith("not comparable") else f"Note: {note}" for note in table.notes]
    lines += ["", "Runs:"]
    for row in table.models:
        lines.append(f"- `{marked(row, DAGGER_MD)}` (n={row.n}): " + ", ".join(f"`{p}`" for p in row.paths))
    return "\n".join(lines) + "\n"


_TEX = {
    "\\": r"\textbackslash{}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
    "±": r"$\pm$", "†": DAGGER_TEX, "↑": r"$\uparrow$", "↓": r"$\downarrow$",
    **{c: "\\" + c for c in "_&%#${}"},
}


def tex_escape(text: str) -> str:
    return re.sub("|".join(map(re.escape, _TEX)), lambda m: _TEX[m.group(0)], text)


def _tex_cell(table: Table, row: Row, column: MetricSpec) -> str:
    stat = row.stats.get(column.name)
    if stat is None:
        return "--"
    text = f"{stat.mean:.4g}" + ("" if stat.std is None else rf" \pm {stat.std:.2g}")
    return rf"$\mathbf{{{text}}}$" if is_best(table, row, column) else f"${text}$"


LATEX = _Style(
    "model", "metric", "$n$",
    lambda spec: tex_escape(_header(spec, {})) + {True: r" $\uparrow$", False: r" $\downarrow$"}.get(spec.higher_is_better, ""),
    lambda label, comparable: tex_escape(label) + ("" if comparable else DAGGER_TEX), _tex_cell,  # dagger unspaced
)


def to_latex(
    table: Table, transpose: bool = False, order: Sequence[str] | None = None, labels: Mapping[str, str] | None = None
) -> str:
    """The table as a booktabs tabular, with the run files of each model row in comments; the
    options are those of `to_markdown`."""
    header, sections = _layout(table, LATEX, transpose, order, labels)
    lines = [f"% {tex_escape(SUMMARY)}"]
    lines += [f"% {marked(row, DAGGER_MD)}: {', '.join(map(str, row.paths))}" for row in table.models]
    lines += [r"\begin{tabular}{l" + "r" * (len(header) - 1) + "}", r"\toprule", " & ".join(header) + r" \\"]
    for section in sections:
        lines.append(r"\midrule")
        lines += [" & ".join(cells) + r" \\" for cells in section]
    lines.append(r"\bottomrule")
    for note in table.notes:
        mark = DAGGER_TEX + " " if note.startswith("not comparable") else ""
        lines.append(rf"\multicolumn{{{len(header)}}}{{l}}{{\footnotesize {mark}{tex_escape(note)}}} \\")
    lines.append(r"\end{tabular}")
    return "\n".join(lines) + "\n"
