"""scripts/results.py as a user runs it, on fake run folders."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def spec(name, higher=False, table="main", unit=""):
    return {"name": name, "higher_is_better": higher, "table": table, "unit": unit, "description": ""}


FM_SPECS = [spec("param_mse"), spec("mel"), spec("si_sdr", True, unit="dB"), spec("best_of_5/mel", table="posterior"),
            spec("h_kl", None, "posterior", "nats")]


def write_run(root: Path, experiment: str, stamp: str, model: dict, baselines: dict | None = None, *, task="fm",
              specs=FM_SPECS, name="metrics.json", **run) -> Path:
    """A run folder outputs/<task>/<experiment>/<stamp>/ with a metrics file of the current format."""
    folder = root / task / experiment / stamp
    folder.mkdir(parents=True, exist_ok=True)
    record = {"task": task, "experiment": experiment, "variant": "", "status": "finished", "quick": False,
              "settings": {}, "default_settings": True, "comparable": True, "not_comparable": [],
              "test_sets": {"test": {"size": 500, "seed": 2002, "evaluated": 500}}, **run}
    estimators = {"model": model, **(baselines if baselines is not None else {"random": {k: 9.0 for k in model}})}
    document = {"_run": record, "test": estimators, "valid": {"model": {"mel": 0.0}}, "_metrics": specs}
    (folder / name).write_text(json.dumps(document))
    return folder


def results(*args, cwd=ROOT):
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "results.py"), *args], cwd=cwd, capture_output=True,
                          text=True, timeout=60)


def table_rows(markdown: str) -> list[list[str]]:
    return [[c.strip() for c in line.strip("|").split("|")] for line in markdown.splitlines() if line.startswith("|")]


def rows_by_label(markdown: str) -> dict[str, list[str]]:
    return {row[0]: row[1:] for row in table_rows(markdown)[2:]}


def test_mean_and_std_over_the_seeds_of_one_experiment(tmp_path):
    random = {"random": {"param_mse": 9.0, "mel": 9.0, "si_sdr": 9.0}}
    for seed, (mel, si_sdr) in enumerate([(1.0, 4.0), (2.0, 6.0), (3.0, 8.0)]):
        write_run(tmp_path, "alpha", f"2026-01-0{seed + 1}_00-00-00", {"mel": mel, "si_sdr": si_sdr, "h_kl": -1.0},
                  random, train_seed=seed)
    write_run(tmp_path, "beta", "2026-01-15_00-00-00", {"mel": 2.5, "si_sdr": 5.0, "param_mse": 0.2}, random)
    out = tmp_path / "tables" / "fm"
    result = results(str(tmp_path / "fm" / "*" / "*" / "metrics.json"), "--out", str(out))
    assert result.returncode == 0, result.stderr

    markdown = (out.parent / "fm.md").read_text()
    assert result.stdout == markdown
    rows = table_rows(markdown)
    assert rows[0] == ["model", "n", "param_mse", "mel", "si_sdr [dB] (↑)"]  # main table: no h_kl
    assert rows[2] == ["alpha", "3", "—", "**2 ± 1**", "**6 ± 2**"]  # si_sdr: higher is better
    assert rows[3] == ["beta", "1", "**0.2**", "2.5", "5"]
    assert rows[4] == ["random", "4", "9 ± 0", "9 ± 0", "9 ± 0"]  # every group's baseline agrees: one row
    assert "`alpha` (n=3)" in markdown

    tex = (out.parent / "fm.tex").read_text()
    assert r"\toprule" in tex and r"\bottomrule" in tex and r"\begin{tabular}{lrrrr}" in tex
    assert r"si\_sdr [dB] $\uparrow$" in tex and r"mel $\downarrow$" in tex
    assert r"alpha & 3 & -- & $\mathbf{2 \pm 1}$ & $\mathbf{6 \pm 2}$ \\" in tex
    assert r"beta & 1 & $\mathbf{0.2}$ & $2.5$ & $5$ \\" in tex


def test_baselines_come_from_each_experiments_own_runs(tmp_path):
    write_run(tmp_path, "alpha", "2026-01-01_00-00-00", {"mel": 1.0}, {"random": {"mel": 8.0}})
    write_run(tmp_path, "alpha", "2026-01-02_00-00-00", {"mel": 1.0}, {"random": {"mel": 10.0}})
    write_run(tmp_path, "beta", "2026-01-01_00-00-00", {"mel": 2.0}, {"random": {"mel": 7.0}, "none": {"mel": 5.0}})
    result = results(str(tmp_path / "fm"), "--out", str(tmp_path / "t"))
    assert result.returncode == 0, result.stderr
    rows = rows_by_label(result.stdout)
    assert rows["alpha"] == ["2", "**1 ± 0**"]
    assert rows["random (alpha)"] == ["2", "9 ± 1.4"]
    assert rows["random (beta)"] == ["1", "7"]
    assert rows["none"] == ["1", "5"]  # only beta has it


def test_variants_are_separate_rows_and_multirun_jobs_are_read(tmp_path, monkeypatch):
    outputs = tmp_path / "outputs"
    write_run(outputs, "deter", "2026-01-01_00-00-00", {"mel": 1.0})
    write_run(outputs, "deter", "multirun_2026-01-02_00-00-00/0", {"mel": 3.0}, variant="head=gaussian")
    write_run(outputs, "deter", "multirun_2026-01-02_00-00-00/1", {"mel": 5.0}, variant="head=gaussian")
    write_run(outputs, "other", "2026-01-01_00-00-00", {"mrstft": 1.0}, task="mastering", specs=[spec("mrstft")])
    result = results("--task", "fm", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = rows_by_label(result.stdout)
    assert rows["deter"] == ["1", "**1**"]
    assert rows["deter (head=gaussian)"] == ["2", "4 ± 1.4"]
    assert (tmp_path / "results_fm.md").is_file() and (tmp_path / "results_fm.tex").is_file()

    result = results(str(outputs / "fm" / "deter"), str(outputs / "mastering" / "other"), "--out", str(tmp_path / "t"))
    assert result.returncode == 2 and "several tasks (fm, mastering): pass --task" in result.stderr


def test_non_comparable_runs_are_left_out_unless_all(tmp_path):
    write_run(tmp_path, "alpha", "2026-01-01_00-00-00", {"mel": 2.0})
    write_run(tmp_path, "alpha", "2026-01-02_00-00-00", {"mel": 4.0})
    write_run(tmp_path, "alpha", "2026-01-03_00-00-00", {"mel": 0.1}, quick=True, comparable=False, not_comparable=["quick run"])
    write_run(tmp_path, "alpha", "2026-01-04_00-00-00", {"mel": 0.3}, status="interrupted", epochs_done=3, epochs=10)
    write_run(tmp_path, "beta", "2026-01-01_00-00-00", {"mel": 5.0})
    sub = write_run(tmp_path, "beta", "2026-01-01_00-00-00", {"mel": 0.2}, name="metrics_test_size-4.json",
                    settings={"data": {"test_size": 4}}, default_settings=False, comparable=False,
                    not_comparable=["evaluated with data.test_size=4 (the run's is 500)"])
    runs = [str(tmp_path / "fm" / "*" / "*" / "metrics.json"), str(sub / "metrics_test_size-4.json")]

    result = results(*runs, "--out", str(tmp_path / "t"))
    assert result.returncode == 0, result.stderr
    rows = rows_by_label(result.stdout)
    assert rows["alpha"] == ["2", "**3 ± 1.4**"] and rows["beta"] == ["1", "5"]
    assert list(rows) == ["alpha", "beta", "random"]
    assert result.stderr.count("left out (not comparable; --all shows it)") == 3
    assert "interrupted at epoch 3/10" in result.stderr

    result = results(*runs, "--all", "--out", str(tmp_path / "t"))
    assert result.returncode == 0, result.stderr
    rows = rows_by_label(result.stdout)
    assert rows["alpha"] == ["2", "**3 ± 1.4**"]  # the full runs still aggregate alone, and stay the best
    assert rows["alpha †"] == ["2", "0.2 ± 0.14"]  # not bold although lower
    assert rows["beta (eval: test_size-4) †"] == ["1", "0.2"]
    assert "† not comparable (shown with --all): alpha: quick run; interrupted at epoch 3/10" in result.stdout
    assert "beta (eval: test_size-4): evaluated with data.test_size=4" in result.stdout
    tex = (tmp_path / "t.tex").read_text()
    assert r"alpha$^\dagger$ & 2 & $0.2 \pm 0.14$" in tex and r"\footnotesize $^\dagger$ not comparable" in tex

    only_bad = results(str(tmp_path / "fm" / "alpha" / "2026-01-03_00-00-00"), "--out", str(tmp_path / "t"))
    assert only_bad.returncode == 2 and "no comparable run" in only_bad.stderr and "--all" in only_bad.stderr


def test_direction_and_tables_come_from_the_declarations(tmp_path):
    specs = [spec("pesq", True), spec("loss"), spec("best_of_3/pesq", True, "posterior"), spec("h_mc", None, "posterior")]
    write_run(tmp_path, "a", "2026-01-01_00-00-00", {"pesq": 3.0, "loss": 0.5, "best_of_3/pesq": 3.5, "h_mc": 1.0},
              task="speech", specs=specs)
    write_run(tmp_path, "b", "2026-01-01_00-00-00", {"pesq": 2.0, "loss": 0.4, "best_of_3/pesq": 3.9, "h_mc": 2.0},
              task="speech", specs=specs)
    result = results("--task", "speech", str(tmp_path / "speech"), "--out", str(tmp_path / "t"))
    assert result.returncode == 0, result.stderr
    rows = table_rows(result.stdout)
    assert rows[0] == ["model", "n", "pesq (↑)", "loss"]
    assert rows_by_label(result.stdout)["a"] == ["1", "**3**", "0.5"]
    assert rows_by_label(result.stdout)["b"] == ["1", "2", "**0.4**"]

    result = results("--task", "speech", str(tmp_path / "speech"), "--table", "posterior", "--out", str(tmp_path / "p"))
    assert result.returncode == 0, result.stderr
    assert table_rows(result.stdout)[0] == ["model", "n", "best_of_3/pesq (↑)", "h_mc"]
    assert rows_by_label(result.stdout)["a"] == ["1", "3.5", "1"]  # h_mc: no better direction, no bold
    assert rows_by_label(result.stdout)["b"] == ["1", "**3.9**", "2"]

    result = results(str(tmp_path / "speech"), "--metrics", "loss,pesq", "--set", "test", "--out", str(tmp_path / "m"))
    assert table_rows(result.stdout)[0] == ["model", "n", "loss", "pesq (↑)"]
    result = results(str(tmp_path / "speech"), "--table", "nothing", "--out", str(tmp_path / "m"))
    assert result.returncode == 2 and "no metric of the table 'nothing'" in result.stderr


def test_old_format_files_are_read_with_a_warning(tmp_path):
    run = tmp_path / "fm" / "old" / "2025-12-01_00-00-00"
    run.mkdir(parents=True)
    estimators = {"model": {"mel": 2.0, "si_sdr": 3.0, "best_of_5/mel": 1.5}, "random": {"mel": 8.0, "si_sdr": -1.5}}
    (run / "metrics.json").write_text(json.dumps({"test": estimators}))
    write_run(tmp_path, "new", "2026-01-01_00-00-00", {"mel": 1.0, "si_sdr": 2.0}, {"random": {"mel": 8.0, "si_sdr": -1.5}})
    result = results(str(tmp_path / "fm" / "*" / "*"), "--out", str(tmp_path / "t"))
    assert result.returncode == 0, result.stderr
    assert "old format (no _run / _metrics)" in result.stderr and "si_sdr" in result.stderr
    rows = rows_by_label(result.stdout)
    assert rows["old"] == ["1", "2", "**3**"] and rows["new"] == ["1", "**1**", "2"]
    assert rows["random"] == ["2", "8 ± 0", "-1.5 ± 0"]  # the same baseline in both: one row

    legacy_only = results(str(run), "--table", "posterior", "--out", str(tmp_path / "t"))
    assert legacy_only.returncode == 0, legacy_only.stderr
    assert table_rows(legacy_only.stdout)[0] == ["model", "n", "best_of_5/mel"]


def test_a_members_file_counts_as_one_run_per_member(tmp_path):
    write_run(tmp_path, "grid", "2026-01-01_00-00-00", {"mel": [1.0, 2.0, 3.0], "si_sdr": [1.0, 1.0, 1.0]},
              {"random": {"mel": 9.0, "si_sdr": -1.0}}, members=3)
    write_run(tmp_path, "grid", "2026-01-02_00-00-00", {"mel": [2.0, 2.0, 2.0], "si_sdr": [1.0, 1.0, 1.0]},
              {"random": {"mel": 9.0, "si_sdr": -1.0}}, members=3)
    result = results(str(tmp_path / "fm" / "grid"), "--out", str(tmp_path / "t"))
    assert result.returncode == 0, result.stderr
    rows = rows_by_label(result.stdout)
    assert rows["grid"] == ["6", "**2 ± 0.63**", "**1 ± 0**"]
    assert rows["random"] == ["2", "9 ± 0", "-1 ± 0"]  # the baseline is one estimate per file


def test_clear_error_without_runs(tmp_path):
    result = results(str(tmp_path / "nothing" / "*" / "metrics.json"), "--out", str(tmp_path / "t"))
    assert result.returncode == 2
    assert "no metrics.json found in" in result.stderr and "nothing/*/metrics.json" in result.stderr
    assert "evaluate.py" in result.stderr and not (tmp_path / "t.md").exists()
    result = results("--task", "mastering", cwd=tmp_path)
    assert result.returncode == 2 and "outputs/mastering/*/*/metrics.json" in result.stderr


def test_a_set_without_baselines_and_a_missing_set(tmp_path):
    run = write_run(tmp_path, "beta", "2026-01-15_00-00-00", {"mel": 1.0})
    result = results(str(run), "--set", "valid", "--out", str(tmp_path / "t"))
    assert result.returncode == 0, result.stderr
    assert table_rows(result.stdout)[2:] == [["beta", "1", "**0**"]]
    result = results(str(run), "--set", "presets", "--out", str(tmp_path / "t"))
    assert result.returncode == 2 and "no test set 'presets'" in result.stderr
