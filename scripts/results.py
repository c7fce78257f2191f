"""Gather the metrics.json of the runs of one task into a results table (Markdown and LaTeX).

    python scripts/results.py [--task fm|mastering|remap|<any>] [RUNS ...] [--set test] [--metrics a,b]
                              [--table main|posterior|...] [--all] [--out PATH]
                              [--transpose | --no-transpose] [--order a,b,c]

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

--transpose writes the metrics as rows and a column per model or baseline (with a first row of n);
--order names rows (experiment labels such as `mlp` or `mlp (model.hidden=64)`, or baseline
estimators such as `random`) to show first, in that order: the columns when transposed, the model
and the baseline rows each otherwise. A task may have a default layout (TASK_LAYOUTS: transpose,
order, column labels, metrics), used for its runs (--task, or runs of that one task) where
--transpose/--no-transpose, --order and --metrics are not given:

    python scripts/results.py --task remap

writes results_remap.md/.tex, the 7 × 8 table of the timbre-remapping paper (NIME 2024): a row per
feature (spl_t, spl_s, sc_t, sc_s, sf_t, sf_s, tc), columns preset | direct | linear | linear2048 |
mlp | mlp2048 | mlplrg | mlplrg2048 (mean ± std over the runs, drums × presets), plus a last column
`preset (reference code)`: the reference code's "preset" metric |r − ΔF| (estimator
`preset_reference`), kept and labelled as such; `preset` is the no-modulation baseline |ΔF|. A grid
run (`train_remap.py grid=paper`) counts as one run per model of the grid, in the column of its
experiment (its `_run.member_info`), so one grid run makes the whole table.

    python scripts/results.py --task texture

writes results_texture.md/.tex: a row per texture (`data.texture=…`) and model, beside the noise and
TexEnv-analysis references, with the columns of the TexDSP paper: fad_texstat (its "FAD-ours"),
texstat and mrstft (its MSS). P-VAE runs (`experiment=texture/pvae`) are rows beside TexDSP's; their
grain models (`experiment=texture/grains`) have their own table:

    python scripts/results.py --task texture_grains

a row per texture: the reconstruction (`model`) beside a prior draw, columns mrstft, texstat, kl.
"""

from __future__ import annotations

import argparse
import glob
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from ddspfx.core.metrics import MAIN_TABLE  # noqa: E402
from ddspfx.eval.tables import build_table, legacy_warning, read_metrics_file, split_members, to_latex, to_markdown, unmatched  # noqa: E402

DEFAULT_RUNS = ("outputs/{task}/*/*/metrics.json", "outputs/{task}/*/multirun_*/*/metrics.json")
DEFAULT_TASK = "fm"
TASK_LAYOUTS = {  # a task's default layout: where --transpose, --order, --metrics are not given
    "remap": {
        "transpose": True,
        "order": ["preset", "direct", "linear", "linear2048", "mlp", "mlp2048", "mlp_lrg", "mlp_lrg2048", "preset_reference"],
        "labels": {"mlp_lrg": "mlplrg", "mlp_lrg2048": "mlplrg2048", "preset_reference": "preset (reference code)"},
        "metrics": ["spl_t", "spl_s", "sc_t", "sc_s", "sf_t", "sf_s", "tc"],  # the paper's rows (not `mean`)
    },
    "texture": {  # the columns of the TexDSP paper's table (§6.2): FAD-ours, TexStat, MSS
        "metrics": ["fad_texstat", "texstat", "mrstft"],
    },
    "texture_grains": {"metrics": ["mrstft", "texstat", "kl"]},  # P-VAE's grain VAEs
}


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


def task_layout(task: str | None, files: list) -> dict:
    """The default layout (TASK_LAYOUTS) of `task`, else of the one task of `files` ({} if none)."""
    tasks = {f.task for f in files} - {None}
    return TASK_LAYOUTS.get(task or (tasks.pop() if len(tasks) == 1 else ""), {})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="*", help="run/experiment folders, metrics files or globs (default: outputs/<task>/…/metrics.json)")
    parser.add_argument("--task", help=f"keep the runs of this task; the default runs are outputs/<task>/ (default: {DEFAULT_TASK})")
    parser.add_argument("--set", default="test", help="the test set to tabulate (default: test)")
    parser.add_argument("--metrics", help="comma-separated columns, in order (default: the declared metrics of --table)")
    parser.add_argument("--table", default=MAIN_TABLE, help=f"which declared table (default: {MAIN_TABLE}; e.g. posterior)")
    parser.add_argument("--all", action="store_true", help="also show non-comparable runs (quick, interrupted, sub-sampled), marked †")
    parser.add_argument("--out", help="output path without extension (default: results_<task>[_<table>])")
    parser.add_argument("--transpose", action=argparse.BooleanOptionalAction, default=None,
                        help="metrics as rows, a column per model or baseline (default: the task's layout, else no)")
    parser.add_argument("--order", help="comma-separated row labels or baseline names to show first, in order (default: the task's layout)")
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
            files += split_members(read_metrics_file(path))  # a grid run: one entry per experiment
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

    layout = task_layout(args.task, files)
    metrics = args.metrics.split(",") if args.metrics else (layout.get("metrics") if args.table == MAIN_TABLE else None)
    try:
        table = build_table(files, args.set, args.table, metrics)
    except ValueError as error:
        fail(str(error))
    for message in table.warnings:
        warn(message)
    options = {
        "transpose": layout.get("transpose", False) if args.transpose is None else args.transpose,
        "order": args.order.split(",") if args.order else layout.get("order"),
        "labels": layout.get("labels"),
    }
    for name in unmatched(table, options["order"]):
        warn(f"order: no row is named {name!r}")
    markdown = to_markdown(table, **options)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_name(out.name + ".md").write_text(markdown)
    out.with_name(out.name + ".tex").write_text(to_latex(table, **options))
    print(markdown, end="")


if __name__ == "__main__":
    main()
