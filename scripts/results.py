"""Gather the metrics.json of the runs of one task into a results table (Markdown and LaTeX).

    python scripts/results.py [--task fm|mastering|<any>] [RUNS ...] [--set test] [--metrics a,b]
                              [--table main|posterior|...] [--all] [--out PATH]

RUNS are run folders (their metrics.json), experiment or task folders (every metrics.json under
them, multirun jobs included), metrics files (metrics.json or a metrics_<settings>.json written by a non-default
evaluation) or globs of those; the default is outputs/<task>/*/*/metrics.json plus the multirun jobs
outputs/<task>/*/multirun_*/*/metrics.json.

Runs of one experiment and variant (the model-changing overrides; seeds, devices and data folders
are replicates) evaluated with the same settings form one row: mean ± std (ddof 1) over its n runs
(a run of a task with members = M counts M times). Each row's baselines (`random`, `none`, …) come
from the same runs. Columns and which way is better come from the metric declarations the files
carry, table by table (--table; --metrics picks columns by name). The best model value of a column
is bold among the comparable rows. Quick, interrupted and sub-sampled runs are left out unless
--all, which shows them marked with a dagger and a footnote. Writes <out>.md and <out>.tex
(booktabs) and prints the Markdown.
"""

from __future__ import annotations

import argparse
import glob
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from ddspfx.core.metrics import MAIN_TABLE  # noqa: E402
from ddspfx.eval.tables import build_table, legacy_warning, read_metrics_file, to_latex, to_markdown  # noqa: E402

DEFAULT_RUNS = ("outputs/{task}/*/*/metrics.json", "outputs/{task}/*/multirun_*/*/metrics.json")
DEFAULT_TASK = "fm"


def fail(message: str) -> None:
    print(f"results.py: {message}", file=sys.stderr)
    sys.exit(2)


def warn(message: str) -> None:
    print(f"results.py: {message}", file=sys.stderr)


def metrics_files(patterns: list[str]) -> list[Path]:
    """Expand the arguments into metrics file paths (files, run folders, experiment folders, globs)."""
    found: dict[Path, None] = {}
    for pattern in patterns:
        for match in map(Path, sorted(glob.glob(pattern)) or [pattern]):
            if match.is_file():
                found[match] = None
            elif (match / "metrics.json").is_file():
                found[match / "metrics.json"] = None
            elif match.is_dir():  # an experiment or task folder: every metrics.json under it
                for path in sorted(match.rglob("metrics.json")):
                    found[path] = None
    return list(found)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="*", help="run/experiment folders, metrics files or globs (default: outputs/<task>/…/metrics.json)")
    parser.add_argument("--task", help=f"keep the runs of this task; the default runs are outputs/<task>/ (default: {DEFAULT_TASK})")
    parser.add_argument("--set", default="test", help="the test set to tabulate (default: test)")
    parser.add_argument("--metrics", help="comma-separated columns, in order (default: the declared metrics of --table)")
    parser.add_argument("--table", default=MAIN_TABLE, help=f"which declared table (default: {MAIN_TABLE}; e.g. posterior)")
    parser.add_argument("--all", action="store_true", help="also show non-comparable runs (quick, interrupted, sub-sampled), marked †")
    parser.add_argument("--out", help="output path without extension (default: results_<task>[_<table>])")
    args = parser.parse_args(argv)
    task = args.task or DEFAULT_TASK
    patterns = args.runs or [p.format(task=task) for p in DEFAULT_RUNS]
    args.out = args.out or f"results_{task}" + ("" if args.table == MAIN_TABLE else f"_{args.table}")

    paths = metrics_files(patterns)
    if not paths:
        fail(f"no metrics.json found in {' '.join(patterns)}; evaluate a run first: python evaluate.py run=<run dir>")
    files = []
    for path in paths:
        try:
            files.append(read_metrics_file(path))
        except (ValueError, OSError) as error:
            fail(str(error))
    for file in files:
        if file.legacy:
            warn(legacy_warning(file))
    if args.task:
        other = [f for f in files if f.task not in (None, args.task)]
        for file in other:
            warn(f"skipping {file.path}: a {file.task!r} run, not {args.task!r}")
        files = [f for f in files if f not in other]
    else:
        tasks = sorted({f.task for f in files if f.task})
        if len(tasks) > 1:
            fail(f"these runs belong to several tasks ({', '.join(tasks)}): pass --task")
    if not args.all:
        left_out = [f for f in files if not f.comparable]
        for file in left_out:
            warn(f"left out (not comparable; --all shows it): {file.path}: {'; '.join(file.reasons)}")
        files = [f for f in files if f.comparable]
        if not files:
            fail(f"no comparable run in {' '.join(patterns)} ({len(left_out)} left out, see above; --all shows them)")

    try:
        table = build_table(files, args.set, args.table, args.metrics.split(",") if args.metrics else None)
    except ValueError as error:
        fail(str(error))
    for message in table.warnings:
        warn(message)
    markdown = to_markdown(table)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_name(out.name + ".md").write_text(markdown)
    out.with_name(out.name + ".tex").write_text(to_latex(table))
    print(markdown, end="")


if __name__ == "__main__":
    main()
