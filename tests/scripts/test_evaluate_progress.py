"""evaluate.py draws tqdm bars only on a terminal (issue 9, item 9): piped logs stay plain."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from tests.conftest import FakeStderr

ROOT = Path(__file__).resolve().parents[2]


class Captured(Exception):
    pass


@pytest.fixture(scope="module")
def evaluate_module():
    spec = importlib.util.spec_from_file_location("evaluate_script", ROOT / "evaluate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("tty,progress,expected", [(False, True, False), (True, True, True),
                                                   (True, False, False)])
def test_progress_only_on_a_terminal(evaluate_module, monkeypatch, tty, progress, expected):
    seen = {}

    def fake_evaluate_run(run, **kwargs):
        seen.update(kwargs)
        raise Captured

    monkeypatch.setattr(evaluate_module, "evaluate_run", fake_evaluate_run)
    monkeypatch.setattr("sys.stderr", FakeStderr(tty))
    cfg = OmegaConf.create({"run": "somewhere", "progress": progress})
    with pytest.raises(Captured):
        evaluate_module.main.__wrapped__(cfg)
    assert seen["progress"] is expected
