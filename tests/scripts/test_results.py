"""scripts/results.py as a user runs it, on fake run folders."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def write_run(root: Path, experiment: str, stamp: str, model: dict, random: dict | None = None) -> Path:
    run = root / "fm" / experiment / stamp
    run.mkdir(parents=True)
    estimators = {"model": model, "random": random or {k: 9.0 for k in model}}
    (run / "metrics.json").write_text(json.dumps({"test": estimators, "valid": {"model": {"mel": 0.0}}}))
    return run


def results(*args):
    return subprocess.run([sys.executable, "scripts/results.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=60)


def table_rows(markdown: str) -> list[list[str]]:
    return [[c.strip() for c in line.strip("|").split("|")] for line in markdown.splitlines() if line.startswith("|")]


def test_table_of_the_newest_run_per_experiment(tmp_path):
    write_run(tmp_path, "alpha", "2026-01-01_00-00-00", {"mel": 0.1, "si_sdr": 50.0})  # older: ignored
    write_run(tmp_path, "alpha", "2026-02-01_00-00-00", {"mel": 2.0, "si_sdr": 3.0, "best_of_5/mel": 1.5,
                                                         "best_of_2/mel": 1.8, "map/mel": 1.7, "h_kl": -3.0},
              random={"mel": 8.0, "si_sdr": -1.5, "best_of_5/mel": 6.0})
    write_run(tmp_path, "beta", "2026-01-15_00-00-00", {"mel": 1.0, "si_sdr": 1.0, "param_mse": 0.2, "mmd2": 0.3})
    out = tmp_path / "tables" / "fm"
    result = results(str(tmp_path / "fm" / "*" / "*" / "metrics.json"), "--out", str(out))
    assert result.returncode == 0, result.stderr

    markdown = (out.parent / "fm.md").read_text()
    assert result.stdout == markdown
    header, _, alpha, beta, random = table_rows(markdown)
    assert header == ["model", "param_mse", "mel", "si_sdr", "best_of_5/mel", "map/mel", "h_kl", "mmd2"]
    assert alpha == ["alpha", "—", "2", "**3**", "**1.5**", "**1.7**", "**-3**", "—"]
    assert beta == ["beta", "**0.2**", "**1**", "1", "—", "—", "—", "**0.3**"]
    assert random == ["random", "—", "8", "-1.5", "6", "—", "—", "—"]  # from the first run (alpha)

    tex = (out.parent / "fm.tex").read_text()
    assert r"\toprule" in tex and r"\bottomrule" in tex and r"\begin{tabular}{lrrrrrrr}" in tex
    assert r"best\_of\_5/mel" in tex and r"si\_sdr $\uparrow$" in tex
    assert r"alpha & -- & $2$ & $\mathbf{3}$ & $\mathbf{1.5}$" in tex  # si_sdr: higher is better
    assert r"beta & $\mathbf{0.2}$ & $\mathbf{1}$ & $1$ &" in tex  # mel: lower is better
    assert r"random & -- & $8$ & $-1.5$ & $6$" in tex and r"\mathbf{8}" not in tex


def test_chosen_metrics_set_and_folders(tmp_path):
    write_run(tmp_path, "alpha", "2026-02-01_00-00-00", {"mel": 2.0, "sot": 0.5})
    beta = write_run(tmp_path, "beta", "2026-01-15_00-00-00", {"mel": 1.0, "sot": 0.7})
    out = tmp_path / "t"
    result = results(str(tmp_path / "fm" / "alpha"), str(beta), "--metrics", "sot,mel", "--out", str(out))
    assert result.returncode == 0, result.stderr
    rows = table_rows((tmp_path / "t.md").read_text())
    assert rows[0] == ["model", "sot", "mel"] and [r[0] for r in rows[2:]] == ["alpha", "beta", "random"]

    result = results(str(beta), "--set", "valid", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert table_rows(result.stdout)[2] == ["beta", "**0**"]  # no random estimator in "valid"
    assert len(table_rows(result.stdout)) == 3


def test_clear_error_without_runs(tmp_path):
    result = results(str(tmp_path / "nothing" / "*" / "metrics.json"), "--out", str(tmp_path / "t"))
    assert result.returncode != 0
    assert "no metrics.json found" in result.stderr and "evaluate.py" in result.stderr
    assert not (tmp_path / "t.md").exists()


def test_mastering_table_lists_every_baseline(tmp_path, monkeypatch):
    run = tmp_path / "outputs" / "mastering" / "icassp_peq_mel" / "2026-03-01_00-00-00"
    run.mkdir(parents=True)
    estimators = {"model": {"mrstft": 0.7, "ldr": 0.08}, "none": {"mrstft": 1.2, "ldr": 0.11}, "random": {"mrstft": 1.6, "ldr": 0.16}}
    (run / "metrics.json").write_text(json.dumps({"test": estimators}))
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "results.py"), "--task", "mastering"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    rows = table_rows(result.stdout)
    assert rows[0] == ["model", "mrstft", "ldr"]
    assert rows[2:] == [["icassp_peq_mel", "**0.7**", "**0.08**"], ["none", "1.2", "0.11"], ["random", "1.6", "0.16"]]
    assert (tmp_path / "results_mastering.tex").is_file()
