"""What every `train_<task>.py` script does with its Hydra config: build the task, train it."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from ddspfx.train import distributed as D
from ddspfx.train.seeding import seed_everything
from ddspfx.core.devices import resolve_device
from ddspfx.train.trainer import Trainer

log = logging.getLogger(__name__)


def shared_run_dir() -> Path:
    """This job's Hydra output folder; under torchrun, rank 0's folder for every rank.

    Each process resolves `${now:…}` itself, so ranks could otherwise disagree by a second.
    """
    run_dir = str(HydraConfig.get().runtime.output_dir)
    return Path(D.all_gather_objects(run_dir)[0])


def missing_values(cfg: DictConfig) -> list[str]:
    """Dotted keys of the mandatory values (`???`) that are still unset."""
    found = []

    def walk(node, path):
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{path}.{key}" if path else str(key))
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{path}[{i}]")
        elif node == "???":
            found.append(path)

    walk(OmegaConf.to_container(cfg, resolve=False, throw_on_missing=False), "")
    return found


def train(cfg: DictConfig) -> dict[str, Any]:
    """Instantiate `cfg.task` and fit it with the Trainer configured by `cfg.trainer`."""
    missing = missing_values(cfg)
    if missing:
        raise SystemExit(f"error: set {', '.join(missing)} on the command line (e.g. {missing[0]}=<value>)")
    device = resolve_device(cfg.trainer.device, D.env_world_size(), D.env_local_rank())
    dist_info = D.init_distributed(D.default_backend(device.type))
    rank = dist_info.rank
    try:
        run_dir = shared_run_dir()
        seed_everything(cfg.trainer.seed)  # the initial weights depend on the seed too
        task = instantiate(cfg.task)
        n_weights = sum(p.numel() for p in task.trainable_parameters())
        log.info("task %s: %s trainable parameters; run folder %s", type(task).__name__, f"{n_weights:,}", run_dir)
        summary = Trainer(task, cfg.trainer, run_dir).fit()
    finally:
        if dist_info.initialized_here:
            D.cleanup()
    if rank == 0:
        print(f"\nRun {summary['status']} at epoch {summary['epoch']}, step {summary['step']}: {run_dir}")
        print(f"Evaluate with: python evaluate.py run={run_dir}")
    return summary
