"""scripts/results.py on fake remap runs: the task's transposed layout (the paper's 7 × 8 table)."""

import importlib.util
from pathlib import Path

import pytest

from tests.eval.test_tables import REMAP_FEATURES, REMAP_HEADER, REMAP_UNITS, expected_cells, markdown_rows, write_remap_runs
from tests.scripts.test_results import write_run

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def results():
    spec = importlib.util.spec_from_file_location("results_script", ROOT / "scripts" / "results.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_task_remap_writes_the_transposed_table(results, tmp_path, monkeypatch, capsys):
    values = write_remap_runs(tmp_path)
    monkeypatch.chdir(tmp_path)
    results.main(["--task", "remap", str(tmp_path / "remap")])
    markdown = (tmp_path / "results_remap.md").read_text()
    assert capsys.readouterr().out == markdown
    rows = markdown_rows(markdown)
    assert rows[0] == ["metric"] + REMAP_HEADER
    assert rows[2] == ["n", "21"] + ["3"] * 7 + ["21"]
    assert [row[0] for row in rows[3:]] == [f"{f} [{u}]" for f, u in zip(REMAP_FEATURES, REMAP_UNITS)]  # no `mean`
    for feature, row in zip(REMAP_FEATURES, rows[3:]):
        assert row[1:] == expected_cells(values, feature)[0]

    tex = (tmp_path / "results_remap.tex").read_text().splitlines()
    assert r"\begin{tabular}{lrrrrrrrrr}" in tex and "metric & " + " & ".join(REMAP_HEADER) + r" \\" in tex
    assert "tc [schlauch] $\\downarrow$ & " + " & ".join(expected_cells(values, "tc")[1]) + r" \\" in tex


def test_the_options_override_the_task_layout(results, tmp_path, capsys):
    write_remap_runs(tmp_path, runs=2, experiments=["mlp", "linear"])
    out = str(tmp_path / "t")
    results.main([str(tmp_path / "remap"), "--out", out])  # the runs' one task picks the layout
    captured = capsys.readouterr()
    assert markdown_rows(captured.out)[0] == ["metric", "preset", "linear", "mlp", "preset (reference code)"]
    assert "order: no row is named 'direct'" in captured.err

    results.main(["--task", "remap", str(tmp_path / "remap"), "--out", out, "--order", "mlp,preset_reference"])
    assert markdown_rows(capsys.readouterr().out)[0] == ["metric", "mlp", "preset (reference code)", "linear", "preset"]

    results.main(["--task", "remap", str(tmp_path / "remap"), "--out", out, "--no-transpose", "--metrics", "tc,mean"])
    rows = markdown_rows(capsys.readouterr().out)
    assert rows[0] == ["model", "n", "tc [schlauch]", "mean"]
    assert [row[0] for row in rows[2:]] == ["linear", "mlp", "preset", "preset (reference code)"]
    assert r"\begin{tabular}{lrrr}" in (tmp_path / "t.tex").read_text()


def test_other_tasks_keep_the_normal_layout_unless_transposed(results, tmp_path, capsys):
    write_run(tmp_path, "alpha", "2026-01-01_00-00-00", {"mel": 1.0, "si_sdr": 4.0})
    write_run(tmp_path, "beta", "2026-01-01_00-00-00", {"mel": 2.0, "si_sdr": 5.0})
    out = str(tmp_path / "t")
    results.main(["--task", "fm", str(tmp_path / "fm"), "--out", out])
    rows = markdown_rows(capsys.readouterr().out)
    assert rows[0] == ["model", "n", "mel", "si_sdr [dB] (↑)"] and [r[0] for r in rows[2:]] == ["alpha", "beta", "random"]

    results.main(["--task", "fm", str(tmp_path / "fm"), "--out", out, "--transpose", "--order", "beta"])
    rows = markdown_rows(capsys.readouterr().out)
    assert rows[0] == ["metric", "beta", "alpha", "random"]
    assert rows[2:] == [["n", "1", "1", "2"], ["mel", "2", "**1**", "9 ± 0"], ["si_sdr [dB] (↑)", "**5**", "4", "9 ± 0"]]
