"""The sweep scripts stop on the first failed or interrupted run and say which (issue 9, item 2).

A fake interpreter (PY=…) stands in for python: no training runs, so these tests are fast.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

FAKE_PY = """#!/usr/bin/env bash
echo "$*" >> "$FAKE_LOG"
if [[ "$1" == *train_* ]]; then
  if [[ -n "${FAKE_STATUS:-}" ]]; then exit "$FAKE_STATUS"; fi
  trap 'kill $! 2>/dev/null; exit 130' INT    # as train_*.py: save, then exit 130
  trap 'kill $! 2>/dev/null; exit 143' TERM   # (the sweep passes a signal on as SIGTERM)
  touch "$FAKE_LOG.started"
  sleep 30 & wait
fi
"""


@pytest.fixture
def fake(tmp_path):
    py = tmp_path / "fakepy"
    py.write_text(FAKE_PY)
    py.chmod(0o755)
    log = tmp_path / "calls.log"
    return {"PY": str(py), "FAKE_LOG": str(log)}, log


@pytest.mark.parametrize("sweep,model", [("fm", "deter"), ("mastering", "icassp_peq_mel")])
@pytest.mark.parametrize("status,word", [(1, "failed"), (143, "terminated (SIGTERM)")])
def test_sweep_stops_on_the_first_failed_run(fake, sweep, model, status, word):
    env, log = fake
    env = {**os.environ, **env, "FAKE_STATUS": str(status), "MODELS": f"{model} other"}
    result = subprocess.run(["bash", f"scripts/sweeps/{sweep}.sh", "--quick"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == status
    calls = log.read_text().splitlines()
    assert len(calls) == 1 and f"experiment={sweep}/{model}" in calls[0]  # no evaluation, no next
    message = result.stderr.strip().splitlines()[-1]
    assert message.startswith(f"sweep stopped: training of {sweep}/{model} (run folder outputs/{sweep}/{model}/")
    assert word in message and f"exit status {status}" in message


def test_ctrl_c_stops_the_whole_sweep(fake):
    env, log = fake
    env = {**os.environ, **env, "MODELS": "deter gauss_l0"}
    # a terminal's foreground job: SIGINT at its default even when this test runs in a background job
    # (which starts with SIGINT ignored, and bash cannot trap a signal ignored on entry)
    sweep = subprocess.Popen(["bash", "scripts/sweeps/fm.sh"], cwd=ROOT, env=env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    started = Path(f"{log}.started")
    deadline = time.monotonic() + 30
    while not started.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(sweep.pid, signal.SIGINT)  # what Ctrl-C does: the whole foreground group
    _, stderr = sweep.communicate(timeout=30)
    assert sweep.returncode == 130
    assert len(log.read_text().splitlines()) == 1  # gauss_l0 never started
    assert "sweep interrupted during training of fm/deter" in stderr


def test_sigterm_to_the_sweep_stops_the_run_in_progress_at_once(tmp_path):
    fake = tmp_path / "fakepy"
    marker = tmp_path / "got_term"
    fake.write_text(f"#!/usr/bin/env bash\ntrap 'kill $! 2>/dev/null; touch {marker}; exit 143' TERM\nsleep 30 & wait\n")
    fake.chmod(0o755)
    env = {**os.environ, "PY": str(fake), "MODELS": "deter"}
    sweep = subprocess.Popen([str(ROOT / "scripts" / "sweeps" / "fm.sh")], env=env, stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)
    start = time.monotonic()
    sweep.send_signal(signal.SIGTERM)
    _, stderr = sweep.communicate(timeout=20)
    assert sweep.returncode == 143 and time.monotonic() - start < 10
    assert marker.exists() and "sweep interrupted during training of fm/deter" in stderr
