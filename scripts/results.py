"""Gather the metrics.json of several runs of one task into one results table (Markdown and LaTeX).

    python scripts/results.py [--task fm|mastering] [RUN_DIR_OR_GLOB ...] [--set test]
                              [--metrics param_mse_perm,sot,mel] [--out results_<task>]

Each argument is a run folder, an experiment folder (its runs are the sub-folders), a metrics.json
file, or a glob of those; the default is every outputs/<task>/*/*/metrics.json. Only the newest run
of each experiment (the folder under outputs/<task>/; multirun jobs count as "<experiment>/<job>") is
kept. The table has one row per experiment (its "model" estimator) and one row per baseline of the
first run (`random`: uniform controls; `none`: the dry input, mastering). Writes <out>.md and
<out>.tex (booktabs; the best model value of each column in bold — lower is better, except names
containing "si_sdr") and prints the Markdown.
"""

from __future__ import annotations

import argparse
import glob
import json
import re
import sys
from pathlib import Path

DEFAULT_RUNS = "outputs/{task}/*/*/metrics.json"
BASE = ["param_mse", "param_mse_perm", "sot", "mrstft", "mel", "ldr", "mse", "si_sdr"]
PREFIXES = ["", "best_of_1/", "best_of_5/", "best_of_10/", "map/"]
TAIL = ["h_mc", "h_kl", "mmd2"]
OTHER_BEST_OF = re.compile(r"best_of_(?!(1|5|10)/)\d+/")  # best_of_N for the other N: left out


def fail(message: str) -> None:
    print(f"results.py: {message}", file=sys.stderr)
    sys.exit(2)


def metrics_files(patterns: list[str]) -> list[Path]:
    """Expand the arguments into metrics.json paths (run folders, experiment folders, globs)."""
    found = []
    for pattern in patterns:
        for match in map(Path, sorted(glob.glob(pattern)) or [pattern]):
            if match.is_file():
                found.append(match)
            elif (match / "metrics.json").is_file():
                found.append(match / "metrics.json")
            else:
                found += sorted(match.glob("*/metrics.json"))
    return found


def experiment_of(path: Path) -> tuple[str, str]:
    """(experiment name, run stamp) of outputs/<task>/<name>/<date>_<time>/metrics.json; multirun
    jobs outputs/<task>/<name>/multirun_<date>_<time>/<job>/metrics.json are "<name>/<job>"."""
    run = path.parent
    if run.parent.name.startswith("multirun_"):
        return f"{run.parent.parent.name}/{run.name}", run.parent.name
    return run.parent.name, run.name


def newest_runs(paths: list[Path]) -> dict[str, Path]:
    """The newest metrics.json per experiment, sorted by experiment name."""
    newest: dict[str, tuple[str, Path]] = {}
    for path in paths:
        name, stamp = experiment_of(path)
        if name not in newest or stamp > newest[name][0]:
            newest[name] = (stamp, path)
    return {name: newest[name][1] for name in sorted(newest)}


def load_rows(runs: dict[str, Path], test_set: str) -> tuple[list[tuple[str, dict]], dict[str, dict]]:
    """Rows (experiment, {metric: value}) of the "model" estimator, and the first run's baselines
    {estimator: {metric: value}} (every estimator other than "model")."""
    rows, baselines = [], None
    for name, path in runs.items():
        try:
            estimators = json.loads(path.read_text())[test_set]
        except json.JSONDecodeError as error:
            fail(f"{path}: not valid JSON ({error})")
        except KeyError:
            print(f"results.py: skipping {path}: no test set {test_set!r}", file=sys.stderr)
            continue
        if "model" not in estimators:
            print(f"results.py: skipping {path}: no 'model' estimator in {test_set!r}", file=sys.stderr)
            continue
        rows.append((name, estimators["model"]))
        if baselines is None:
            baselines = {k: v for k, v in estimators.items() if k != "model"}
    if not rows:
        fail(f"no run has results for the test set {test_set!r} (see the messages above)")
    return rows, baselines or {}


def column_key(name: str) -> tuple:
    if name in TAIL:
        return (len(PREFIXES), TAIL.index(name), name)
    prefix = name[: name.rfind("/") + 1]
    base = name[len(prefix):]
    group = PREFIXES.index(prefix) if prefix in PREFIXES else len(PREFIXES) + 1
    return (group, BASE.index(base) if base in BASE else len(BASE), name)


def default_columns(rows: list[tuple[str, dict]]) -> list[str]:
    present = {metric for _, values in rows for metric in values}
    return sorted((m for m in present if not OTHER_BEST_OF.match(m)), key=column_key)


def higher_is_better(metric: str) -> bool:
    return "si_sdr" in metric and "neg_si_sdr" not in metric


def best_values(rows: list[tuple[str, dict]], columns: list[str]) -> dict[str, float]:
    """The best model value per column (the random baseline does not compete)."""
    best = {}
    for column in columns:
        values = [v[column] for _, v in rows if isinstance(v.get(column), (int, float)) and v[column] == v[column]]
        if values:
            best[column] = max(values) if higher_is_better(column) else min(values)
    return best


def cells(values: dict, columns: list[str], best: dict, missing: str, style) -> list[str]:
    """Format one row: `style(text, is_best)` for the values present, `missing` for the others."""
    out = []
    for column in columns:
        value = values.get(column)
        out.append(missing if value is None else style(f"{value:.4g}", best.get(column) == value))
    return out


def to_markdown(rows, baselines, columns, best, runs) -> str:
    style = lambda text, is_best: f"**{text}**" if is_best else text
    lines = ["| model | " + " | ".join(columns) + " |", "|---|" + "---:|" * len(columns)]
    lines += [f"| {name} | " + " | ".join(cells(values, columns, best, "—", style)) + " |" for name, values in rows]
    for name, values in baselines.items():
        lines.append(f"| {name} | " + " | ".join(cells(values, columns, {}, "—", style)) + " |")
    lines += ["", "Runs:"] + [f"- `{name}`: `{path}`" for name, path in runs.items()]
    return "\n".join(lines) + "\n"


def tex_escape(text: str) -> str:
    return re.sub(r"([_&%#$])", r"\\\1", text)


def to_latex(rows, baselines, columns, best, runs) -> str:
    style = lambda text, is_best: rf"$\mathbf{{{text}}}$" if is_best else f"${text}$"
    arrow = lambda column: r"$\uparrow$" if higher_is_better(column) else r"$\downarrow$"
    header = " & ".join(["model"] + [f"{tex_escape(c)} {arrow(c)}" for c in columns])
    lines = [f"% {name}: {path}" for name, path in runs.items()]
    lines += [r"\begin{tabular}{l" + "r" * len(columns) + "}", r"\toprule", header + r" \\", r"\midrule"]
    lines += [" & ".join([tex_escape(name)] + cells(values, columns, best, "--", style)) + r" \\" for name, values in rows]
    if baselines:
        lines.append(r"\midrule")
    lines += [" & ".join([tex_escape(name)] + cells(values, columns, {}, "--", style)) + r" \\" for name, values in baselines.items()]
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="*", help="run/experiment folders, metrics.json files or globs (default: outputs/<task>/*/*)")
    parser.add_argument("--task", default="fm", help="the task whose outputs/<task>/ runs are gathered by default (default: fm)")
    parser.add_argument("--set", default="test", help="the test set to tabulate (default: test)")
    parser.add_argument("--metrics", help="comma-separated columns, in order (default: every metric present)")
    parser.add_argument("--out", help="output path without extension (default: results_<task>)")
    args = parser.parse_args(argv)
    args.runs = args.runs or [DEFAULT_RUNS.format(task=args.task)]
    args.out = args.out or f"results_{args.task}"

    runs = newest_runs(metrics_files(args.runs))
    if not runs:
        fail(f"no metrics.json found in {' '.join(args.runs)}; evaluate a run first: python evaluate.py run=<run dir>")
    rows, baselines = load_rows(runs, args.set)
    columns = args.metrics.split(",") if args.metrics else default_columns(rows)
    for column in columns:
        if all(column not in values for _, values in rows):
            print(f"results.py: no run has the metric {column!r}", file=sys.stderr)
    best = best_values(rows, columns)
    markdown = to_markdown(rows, baselines, columns, best, runs)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_name(out.name + ".md").write_text(markdown)
    out.with_name(out.name + ".tex").write_text(to_latex(rows, baselines, columns, best, runs))
    print(markdown, end="")


if __name__ == "__main__":
    main()
