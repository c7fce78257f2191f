"""Evaluate a training run on its fixed test sets and write <run>/metrics.json.

    python evaluate.py run=outputs/fm/default/<date>_<time> [checkpoint=best|last|auto]
    python evaluate.py run=<run dir> 'data.presets=[rom1a.syx,rom1b.syx]' data.test_size=1000
"""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from ddspfx.eval.runner import NotARunError, evaluate_task, format_table, load_task, save_metrics
from ddspfx.core.checkpoint import CheckpointError


@hydra.main(config_path="conf", config_name="evaluate", version_base="1.3")
def main(cfg: DictConfig) -> None:
    run_dir = Path(cfg.run)
    overrides = OmegaConf.to_container(cfg.overrides) if cfg.overrides else {}
    data = {key: value for key, value in OmegaConf.to_container(cfg.data).items() if value is not None}
    if data:
        overrides = OmegaConf.merge(overrides, {"data": data})
    try:
        task, ckpt = load_task(run_dir, cfg.checkpoint, cfg.device, overrides)
    except (NotARunError, CheckpointError) as error:
        print(f"evaluate.py: {error}", file=sys.stderr)
        sys.exit(2)
    print(f"Evaluating {ckpt}")
    metrics = evaluate_task(task, cfg.batch_size, cfg.seed)
    save_metrics(metrics, run_dir / "metrics.json")
    print(format_table(metrics))
    print(f"\nWrote {run_dir / 'metrics.json'}")


if __name__ == "__main__":
    main()
