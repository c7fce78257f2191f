"""scripts/train_proxy.py: a tiny run end to end, and its argument checks."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ddspfx.effects.proxy import ProxyCompressor
from ddspfx.core.checkpoint import load_checkpoint

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "train_proxy.py"
TINY = [
    "--steps", "10", "--segment", "0.5", "--sample-rate", "16000", "--batch-size", "4",
    "--channels", "4", "--blocks", "3", "--kernel", "5", "--growth", "4",
    "--valid-every", "5", "--valid-size", "4", "--device", "cpu", "--n-tracks", "2", "--track-seconds", "1",
]


def load_script():
    spec = importlib.util.spec_from_file_location("train_proxy", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_tiny_run_writes_a_loadable_checkpoint(tmp_path):
    out = tmp_path / "ckpt" / "proxy.pt"
    result = subprocess.run(
        [sys.executable, str(SCRIPT), *TINY, "--out", str(out)],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert str(out) in result.stdout
    state = load_checkpoint(out)
    assert set(state) >= {"state_dict", "config", "step", "valid_loss"}
    assert state["step"] in (5, 10) and state["valid_loss"] > 0
    assert state["config"]["sample_rate"] == 16000
    assert state["config"]["ranges"]["attack_ms"] == [1.0, 60.0]

    proxy = ProxyCompressor.from_checkpoint(out)
    assert proxy.tcn.config == dict(n_blocks=3, kernel_size=5, dilation_growth=4, channels=4)
    x = torch.randn(2, 4000) * 0.3
    y = proxy(x, torch.rand(2, 6))
    assert y.shape == x.shape and torch.isfinite(y).all()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--batch-size", "1"], "--batch-size"),
        (["--steps", "0"], "--steps"),
        (["--data", "/nonexistent/folder"], "--data"),
    ],
)
def test_bad_arguments_are_refused_with_a_message(argv, message, capsys):
    script = load_script()
    with pytest.raises(SystemExit) as info:
        script.parse_args(argv)
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_peak_normalize_and_loss():
    script = load_script()
    x = torch.tensor([[0.0, -2.0, 1.0], [0.0, 0.0, 0.0]])
    torch.testing.assert_close(script.peak_normalize(x), torch.tensor([[0.0, -1.0, 0.5], [0.0, 0.0, 0.0]]))
    loss = script.ProxyLoss(stft_weight=0.0)
    a, b = torch.zeros(2, 2048), torch.full((2, 2048), 0.5)
    assert loss(a, b).item() == pytest.approx(0.5)
    assert script.ProxyLoss(1.0)(b, b).item() == pytest.approx(0.0, abs=1e-6)
