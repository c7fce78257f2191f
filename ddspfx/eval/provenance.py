"""How a `metrics.json` was made: run variants, evaluation settings, run status, comparability.

Pure functions on plain values (no torch), shared by the runner (`evaluate.py`) that writes the
`"_run"` record and by the results tables (`scripts/results.py`) that read it.

Variant. Runs of one experiment that differ only in *replicate* overrides (seed, device, data
folder, …) are replicates and are averaged together; any other command-line override changes the
model and makes another variant. The variant is the sorted, ","-joined list of a run's model-changing
overrides from `<run>/.hydra/overrides.yaml` ("" when none). An override is matched by its key with
Hydra's `+`, `++` and `~` prefixes stripped: `+trainer.seed=3` is a replicate key, while
`+head.extra=3` adds a config key and so changes the model (it stays in the variant, written as
given).

Settings. An evaluation with other settings than the default (checkpoint auto, no `data`, no
`overrides`, seed 0) writes `metrics_<slug>.json` instead of `metrics.json`, where the slug names the
settings readably: `metrics_checkpoint-last_test_size-100.json`.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any, Iterable, Mapping

METRICS_FILE = "metrics.json"
DEFAULT_EVAL_SEED = 0

# Override keys that do not change the model: replicates (seeds, data folders, presets) and how a
# run is executed or logged. A key matches exactly or as a prefix followed by "." (hydra.*).
REPLICATE_KEYS = (
    "trainer.seed",
    "trainer.device",
    "trainer.resume",
    "trainer.progress",
    "trainer.num_threads",
    "trainer.log_every",
    "trainer.media_every",
    "trainer.find_unused_parameters",
    "hydra",
    "experiment",
    "smoke",
    "quick",
    "name",
    "task_name",
    "data.root",
    "data.synthetic",  # where the built-in data are written and how long (a data folder, as data.root)
    "data.drum",
    "source.root",
    "preset",
    "grid",  # which cells a grid run holds: its members are told apart by their member_info
    "pvae.grains",  # the grain run a P-VAE loads (a replicate of the grain model, as a data folder)
)


def override_key(override: str) -> str:
    """The config key of a Hydra override: `+trainer.seed=3` → `trainer.seed`, `~head.x` → `head.x`."""
    return override.split("=", 1)[0].lstrip("+~").strip()


def is_replicate_override(override: str) -> bool:
    key = override_key(override)
    return any(key == k or key.startswith(k + ".") for k in REPLICATE_KEYS)


def variant_of(overrides: Iterable[str]) -> str:
    """The model-changing overrides of a run, sorted and joined with "," ("" when none)."""
    return ",".join(sorted(str(o) for o in overrides if not is_replicate_override(str(o))))


def read_overrides(run_dir: str | Path) -> list[str]:
    """The command-line overrides Hydra saved in `<run>/.hydra/overrides.yaml` ([] if absent)."""
    path = Path(run_dir) / ".hydra" / "overrides.yaml"
    if not path.is_file():
        return []
    from omegaconf import OmegaConf  # a plain YAML list of strings

    values = OmegaConf.to_container(OmegaConf.load(path))
    return [str(v) for v in values] if isinstance(values, list) else []


def flatten(values: Mapping, prefix: str = "") -> dict[str, Any]:
    """`{"a": {"b": 1}}` → `{"a.b": 1}`."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def _slug_value(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "+".join(_slug_value(v) for v in value)
    if isinstance(value, str) and ("/" in value or "\\" in value):
        return Path(value).name  # a file: its name is readable enough (the full path is in "_run")
    return str(value)


def settings_slug(settings: Mapping[str, Any]) -> str:
    """A readable file-name part naming non-default evaluation settings ("" for the defaults).

    `{"checkpoint": "last", "data": {"test_size": 100}}` → `checkpoint-last_test_size-100`;
    `overrides` keys are dotted (`evaluation.map_samples-100`). Long slugs are cut and end with a
    hash of the settings so that different settings never share a file.
    """
    parts = []
    if settings.get("checkpoint"):
        parts.append(f"checkpoint-{settings['checkpoint']}")
    for group in ("data", "overrides"):
        for key, value in flatten(settings.get(group) or {}).items():
            parts.append(f"{key}-{_slug_value(value)}")
    if settings.get("seed") is not None:
        parts.append(f"seed-{settings['seed']}")
    slug = re.sub(r"[^A-Za-z0-9._+=-]+", "-", "_".join(parts)).strip("-")
    if len(slug) > 80:
        digest = hashlib.sha1(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:8]
        slug = f"{slug[:70]}-{digest}"
    return slug


def metrics_filename(settings: Mapping[str, Any]) -> str:
    """`metrics.json` for the default settings, else `metrics_<slug>.json`."""
    slug = settings_slug(settings)
    return f"metrics_{slug}.json" if slug else METRICS_FILE


def run_status(state: Mapping[str, Any]) -> dict[str, Any]:
    """`{"status", "epochs_done", "epochs", "epoch_step"}` of a run from a checkpoint dict
    (`last.pt`: the run's progress; `best.pt` is saved at the best epoch, not the last).

    Finished iff `epoch_step` is 0 and the checkpoint's `epoch` (epochs done) has reached its
    trainer config's `epochs`, or the run was ended by early stopping (`"stopped_early": True`
    in the checkpoint; the result then also has `"stopped_early": True`); "unknown" if the
    checkpoint does not say.
    """
    epochs = (state.get("config") or {}).get("epochs")
    epoch, epoch_step = state.get("epoch"), state.get("epoch_step", 0) or 0
    stopped_early = bool(state.get("stopped_early", False))
    if epochs is None or epoch is None:
        status = "unknown"
    else:
        done = epoch >= epochs or stopped_early
        status = "finished" if done and epoch_step == 0 else "interrupted"
    result = {"status": status, "epochs_done": epoch, "epochs": epochs, "epoch_step": epoch_step}
    if stopped_early:
        result["stopped_early"] = True
    return result


def interrupted_reason(status: Mapping[str, Any]) -> str:
    text = f"interrupted at epoch {status.get('epochs_done')}/{status.get('epochs')}"
    if status.get("epoch_step"):
        text += f" (+{status['epoch_step']} steps)"
    return text


def not_comparable_reasons(run: Mapping[str, Any]) -> list[str]:
    """Why a `"_run"` record's numbers must not be ranked with full runs ([] if they may).

    The record's own `not_comparable` list, plus what its fields say (a reader also honours a
    record edited by hand): a quick run, an interrupted run, `comparable: false`.
    """
    reasons = [str(r) for r in run.get("not_comparable") or []]
    if run.get("quick") and not any("quick" in r for r in reasons):
        reasons.append("quick run")
    if run.get("status") == "interrupted" and not any("interrupted" in r for r in reasons):
        reasons.append(interrupted_reason(run))
    if run.get("comparable") is False and not reasons:
        reasons.append("marked comparable: false")
    return reasons
