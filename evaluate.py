"""Evaluate a training run on its fixed test sets and write <run>/metrics.json.

    python evaluate.py run=outputs/fm/default/<date>_<time> [checkpoint=best|last|auto]
    python evaluate.py run=<run dir> data.test_size=100     # → <run>/metrics_test_size-100.json
    python evaluate.py run=<run dir> checkpoint=last         # → <run>/metrics_checkpoint-last.json

(conf/evaluate.yaml: `data` entries are merged into the run's data config, e.g. the FM task's
`presets` cartridges; `overrides` into its whole config.)

With the default settings (checkpoint=auto, no data.* or overrides.*, seed=0) the results go to
<run>/metrics.json; any other settings write <run>/metrics_<settings>.json beside it, so the full
evaluation is never overwritten. The file records the metric declarations ("_metrics") and how the
numbers were made ("_run": checkpoint, run status, test sets, settings, comparability).
"""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from ddspfx.core.checkpoint import CheckpointError
from ddspfx.core.console import plain_warnings, stderr_is_terminal
from ddspfx.core.errors import DataError, find_error
from ddspfx.eval.runner import NotARunError, evaluate_run, format_table


def _container(node) -> dict:
    if node is None:
        return {}
    return OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else dict(node)


@hydra.main(config_path="conf", config_name="evaluate", version_base="1.3")
def main(cfg: DictConfig) -> None:
    run_dir = Path(cfg.run)
    try:
        result = evaluate_run(
            str(cfg.run),  # recorded as given
            checkpoint=cfg.get("checkpoint", "auto"),
            device=cfg.get("device", "auto"),
            batch_size=cfg.get("batch_size", 250),
            seed=cfg.get("seed", 0),
            data=_container(cfg.get("data")),
            overrides=_container(cfg.get("overrides")),
            progress=cfg.get("progress", True) and stderr_is_terminal(),  # no bars in piped logs
        )
    except (NotARunError, CheckpointError) as error:
        print(f"evaluate.py: {error}", file=sys.stderr)
        sys.exit(2)
    except Exception as error:  # data faults (cartridges, audio folders), also when Hydra wraps them
        data_error = find_error(error, DataError)
        if data_error is None:
            raise
        print(f"evaluate.py: {data_error}", file=sys.stderr)
        sys.exit(2)
    run = result.document["_run"]
    print(f"Evaluated {result.loaded.checkpoint} (step {run['step']}, run {run['status']})")
    print(format_table(result.metrics, result.specs))
    if run["not_comparable"]:
        print(f"\nNot comparable with full runs (results tables leave it out): {'; '.join(run['not_comparable'])}")
    if run["default_settings"]:
        print(f"\nWrote {result.path}")
    else:
        print(f"\nWrote {result.path} (non-default settings: {run['settings']}; {run_dir / 'metrics.json'} is left as it was)")


if __name__ == "__main__":
    plain_warnings()  # one line each, each message once
    main()
