"""Evaluate a finished or interrupted run: rebuild its task, load a checkpoint, score the test sets.

The task supplies `test_sets(batch_size)` → {name: batches} and `evaluate_batch(batch, generator)`
→ {estimator: {metric: per-example values}}; this module only averages, saves and prints.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from ddspfx.eval.metrics import HIGHER_IS_BETTER
from ddspfx.core.task import batch_to
from ddspfx.core.checkpoint import find_checkpoint, load_checkpoint
from ddspfx.core.devices import resolve_device

Metrics = dict[str, dict[str, dict[str, float]]]


class NotARunError(ValueError):
    """The folder given to evaluate is not a ddspfx training run."""


def load_run_config(run_dir: Path, overrides: DictConfig | dict | None = None) -> DictConfig:
    """The resolved config Hydra saved for a run, with optional overrides merged in."""
    config_path = run_dir / ".hydra" / "config.yaml"
    if not run_dir.is_dir():
        raise NotARunError(f"{run_dir} does not exist or is not a folder")
    if not config_path.is_file():
        raise NotARunError(
            f"{run_dir} is not a ddspfx run: it has no .hydra/config.yaml. Pass the folder a training "
            f"script created, e.g. outputs/fm/default/<date>_<time>"
        )
    cfg = OmegaConf.load(config_path)
    if overrides:
        cfg = OmegaConf.merge(cfg, overrides)
    return cfg


def load_task(run_dir: Path, checkpoint: str = "auto", device: str = "auto", overrides=None):
    """Rebuild a run's task and load its weights. Returns (task, checkpoint path)."""
    cfg = load_run_config(run_dir, overrides)
    prefer = ("best", "last") if checkpoint == "auto" else (checkpoint,)
    ckpt_path = find_checkpoint(run_dir, prefer=prefer)
    if ckpt_path is None:
        raise NotARunError(f"{run_dir} has no checkpoint among {[p + '.pt' for p in prefer]} in checkpoints/")
    task = instantiate(cfg.task)
    state = load_checkpoint(ckpt_path, map_location="cpu")
    task.load_state_dict(state["task"])
    return task.to(resolve_device(device)).eval(), ckpt_path


@torch.no_grad()
def evaluate_task(task, batch_size: int, seed: int = 0, progress: bool = True) -> Metrics:
    """Mean of every per-example metric, by test set and estimator."""
    device = next(task.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # posterior samples are drawn from the global generator
    results: Metrics = {}
    for set_name, batches in task.test_sets(batch_size).items():
        sums: dict = defaultdict(lambda: defaultdict(float))
        count = 0
        for batch in tqdm(batches, desc=f"evaluate {set_name}", disable=not progress):
            per_example = task.evaluate_batch(batch_to(batch, device), generator)
            for estimator, metrics in per_example.items():
                for metric, values in metrics.items():
                    sums[estimator][metric] += values.double().sum().item()
            count += values.shape[0]  # examples in this batch (every metric has one value each)
        results[set_name] = {e: {m: v / count for m, v in ms.items()} for e, ms in sums.items()}
    return results


def save_metrics(metrics: Metrics, path: Path) -> None:
    path.write_text(json.dumps(metrics, indent=2, sort_keys=False) + "\n")


def format_table(metrics: Metrics) -> str:
    """One Markdown table per test set: a row per metric, a column per estimator."""
    lines = []
    for set_name, estimators in metrics.items():
        names = list(estimators)
        metric_names = list(dict.fromkeys(m for e in names for m in estimators[e]))
        lines += [f"\n{set_name}", "| metric | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
        for m in metric_names:
            cells = [f"{estimators[e][m]:.4g}" if m in estimators[e] else "-" for e in names]
            label = f"{m} (↑)" if m.split("/")[-1] in HIGHER_IS_BETTER else m
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)

