"""Evaluate a finished or interrupted run: rebuild its task, load a checkpoint, score the test sets.

The task supplies `test_sets(batch_size)` → {name: batches}, `evaluate_batch(batch, generator)` →
{estimator: {metric: per-example values}}, optionally set-level values from
`end_test_set(name)`, `metric_specs()` and `test_set_info()`; this module only
averages, records how the numbers were made, saves and prints. It drives any task through
`ddspfx.core` (it never imports `ddspfx.tasks` or `ddspfx.train`).

`metrics.json` (or `metrics_<slug>.json` for non-default settings, see `ddspfx.eval.provenance`):

    {"_run": {...provenance...},
     "<test set>": {"<estimator>": {"<metric>": value}},
     "_metrics": [MetricSpec.to_dict() of every metric name that appears]}

A value is a float, or a list of M floats (one per member) for an estimator that has one value per
member (the "model" of a task with `members = M > 1`). Readers skip keys starting with "_".
"""

from __future__ import annotations

import json
import warnings
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Mapping

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

import ddspfx
from ddspfx.core.checkpoint import CheckpointError, find_checkpoint, load_checkpoint
from ddspfx.core.files import write_atomically
from ddspfx.core.devices import resolve_device
from ddspfx.core.metrics import MetricSpec, base_name
from ddspfx.core.task import batch_to
from ddspfx.eval import provenance
from ddspfx.eval.tables import format_evaluation

Value = float | list[float]
Metrics = dict[str, dict[str, dict[str, Value]]]
AUTO = ("best", "last")
# Checkpoint-dict entries that are not needed after loading the weights (kept out of memory).
_HEAVY = ("task", "optimizer", "scheduler", "rng")


class NotARunError(ValueError):
    """The folder given to evaluate is not a ddspfx training run."""


def load_run_config(run_dir: Path, overrides: DictConfig | dict | None = None) -> DictConfig:
    """The config Hydra saved for a run, with optional overrides merged in."""
    run_dir = Path(run_dir)
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


@dataclass
class LoadedRun:
    """A run's task with a checkpoint's weights, ready to evaluate."""

    run_dir: Path
    config: DictConfig  # the run's config with the evaluation's data/overrides merged in
    run_config: DictConfig  # the run's config as it trained
    task: Any  # a ddspfx.core.task.Task
    checkpoint: Path
    state: dict  # the evaluated checkpoint's dict without weights, optimizer and RNG states
    device: torch.device


def open_run(run_dir: Path, checkpoint: str = "auto", device: str = "auto", overrides=None) -> LoadedRun:
    """Rebuild a run's task from its config (plus `overrides`) and load a checkpoint's weights.

    `checkpoint`: "auto" (best.pt, else last.pt) or a name in checkpoints/ ("best", "last").

    Raises:
        NotARunError: not a run folder, or no such checkpoint.
        CheckpointError: the checkpoint cannot be read or does not fit the task.
    """
    run_dir = Path(run_dir)
    cfg = load_run_config(run_dir, overrides)
    run_cfg = load_run_config(run_dir)
    prefer = AUTO if checkpoint == "auto" else (str(checkpoint),)
    ckpt_path = find_checkpoint(run_dir, prefer=prefer)
    if ckpt_path is None:
        raise NotARunError(f"{run_dir} has no checkpoint among {[p + '.pt' for p in prefer]} in checkpoints/")
    state = load_checkpoint(ckpt_path, map_location="cpu")
    if "task" not in state:
        raise CheckpointError(f"checkpoint {ckpt_path} has no 'task' weights")
    task = instantiate(cfg.task)
    try:
        task.load_state_dict(state["task"])
    except RuntimeError as error:
        first = str(error).strip().splitlines()[0]
        raise CheckpointError(f"checkpoint {ckpt_path} does not fit the task built from the run's config: {first}") from error
    target = resolve_device(device)
    meta = {k: v for k, v in state.items() if k not in _HEAVY}
    return LoadedRun(run_dir, cfg, run_cfg, task.to(target).eval(), ckpt_path, meta, target)


def load_task(run_dir: Path, checkpoint: str = "auto", device: str = "auto", overrides=None):
    """Rebuild a run's task and load its weights. Returns (task, checkpoint path)."""
    loaded = open_run(run_dir, checkpoint, device, overrides)
    return loaded.task, loaded.checkpoint


def _device_of(task) -> torch.device:
    for tensor in (*task.parameters(), *task.buffers()):
        return tensor.device
    return torch.device("cpu")


@torch.no_grad()
def evaluate_sets(task, batch_size: int, seed: int = 0, progress: bool = True, device=None) -> tuple[Metrics, dict[str, int]]:
    """Mean of every per-example metric (and the task's set-level metrics, `end_test_set`), by
    test set and estimator, and the examples per set.

    `evaluate_batch` values are `(batch,)` tensors, or `(members, batch)` for an estimator with
    one value per member (then the mean is a list of `members` floats); a `"_mask"` entry
    `(members, batch)` leaves padded positions out of the `(members, batch)` means.
    """
    device = device or _device_of(task)
    members = int(getattr(task, "members", 1) or 1)
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # posterior samples are drawn from the global generator
    results: Metrics = {}
    sizes: dict[str, int] = {}
    for set_name, batches in task.test_sets(batch_size).items():
        sums: dict = defaultdict(dict)
        counts: dict = defaultdict(dict)
        count = 0
        task.begin_test_set(set_name)
        for batch in tqdm(batches, desc=f"evaluate {set_name}", disable=not progress):
            scores = dict(task.evaluate_batch(batch_to(batch, device), generator))
            mask = _member_mask(scores.pop("_mask", None), members, task)
            n = None
            for estimator, metrics in scores.items():
                for metric, values in metrics.items():
                    values = torch.as_tensor(values).detach()
                    if values.ndim == 2 and members == 1 and values.shape[0] == 1:
                        values = values[0]  # one member: plain floats
                    where = f"{type(task).__name__}.evaluate_batch: {estimator}/{metric}"
                    if values.ndim == 2 and values.shape[0] != members:
                        raise ValueError(f"{where} has shape {tuple(values.shape)}: (members={members}, batch) expected")
                    if values.ndim not in (1, 2):
                        raise ValueError(f"{where} has shape {tuple(values.shape)}: (batch,) or (members, batch) expected")
                    if n is not None and values.shape[-1] != n:
                        raise ValueError(f"{where} has {values.shape[-1]} examples, other metrics of the batch {n}")
                    n = values.shape[-1]
                    values = values.double().cpu()
                    if mask is not None and values.ndim == 2:  # padded positions left out
                        total, seen = torch.where(mask, values, 0.0).sum(-1), mask.sum(-1)
                    else:
                        total, seen = values.sum(-1), n
                    sums[estimator][metric] = total + sums[estimator].get(metric, 0.0)
                    counts[estimator][metric] = seen + counts[estimator].get(metric, 0)
            count += n or 0
        if count == 0:
            raise ValueError(f"{type(task).__name__}.test_sets({batch_size})[{set_name!r}] yielded no examples")
        results[set_name] = {e: {m: _mean(v, counts[e][m]) for m, v in ms.items()} for e, ms in sums.items()}
        _merge_set_level(results[set_name], task.end_test_set(set_name) or {}, task, members)
        sizes[set_name] = count
    return results, sizes


def _merge_set_level(results: dict, scores: Mapping, task, members: int) -> None:
    """Add `end_test_set`'s set-level values (scalars, or `(members,)`) to a set's results."""
    for estimator, metrics in scores.items():
        for metric, value in metrics.items():
            value = torch.as_tensor(value).detach().double().cpu()
            where = f"{type(task).__name__}.end_test_set: {estimator}/{metric}"
            if value.ndim > 1 or (value.ndim == 1 and value.shape[0] != members):
                raise ValueError(f"{where} has shape {tuple(value.shape)}: a scalar or (members={members},) expected")
            if metric in results.get(estimator, {}):
                raise ValueError(f"{where} is also a per-example metric of evaluate_batch")
            results.setdefault(estimator, {})[metric] = value.item() if value.ndim == 0 else [float(v) for v in value.tolist()]


def _member_mask(mask: Any, members: int, task) -> torch.Tensor | None:
    """`evaluate_batch`'s optional `"_mask"`: a `(members, batch)` bool mask of the examples each
    member has (members with test sets of different sizes, padded to one batch)."""
    if mask is None:
        return None
    mask = torch.as_tensor(mask).detach().cpu()
    if mask.dtype != torch.bool or mask.ndim != 2 or mask.shape[0] != members:
        raise ValueError(f"{type(task).__name__}.evaluate_batch: '_mask' must be a (members={members}, batch) "
                         f"bool mask, got {mask.dtype} of shape {tuple(mask.shape)}")
    return mask


def _mean(total: torch.Tensor, count: int | torch.Tensor) -> Value:
    mean = total / count
    return mean.item() if mean.ndim == 0 else [float(v) for v in mean.tolist()]


def evaluate_task(task, batch_size: int, seed: int = 0, progress: bool = True) -> Metrics:
    """Mean of every per-example metric, by test set and estimator (see `evaluate_sets`)."""
    return evaluate_sets(task, batch_size, seed, progress)[0]


def metric_names(metrics: Metrics) -> list[str]:
    """Every metric name in `metrics`, in order of appearance (reserved "_" keys skipped)."""
    names = {}
    for set_name, estimators in metrics.items():
        if set_name.startswith("_"):
            continue
        for values in estimators.values():
            names.update(dict.fromkeys(values))
    return list(names)


def metric_declarations(task, metrics: Metrics) -> list[MetricSpec]:
    """The task's `MetricSpec` of every metric name in `metrics`, in declaration order.

    A derived name without its own declaration follows its declared base (`best_of_20/mel` from
    `mel`); a name the task does not declare at all is recorded with no better direction and a
    warning, so that an evaluation is never lost to a missing declaration.
    """
    try:
        declared = {s.name: s for s in task.metric_specs()}
    except NotImplementedError:
        warnings.warn(f"{type(task).__name__} declares no metric_specs(): metrics.json records no direction of 'better'")
        declared = {}
    present = metric_names(metrics)
    out = [declared[name] for name in declared if name in present]
    undeclared = []
    for name in present:
        if name in declared:
            continue
        base = declared.get(base_name(name))
        if base is not None:
            prefix = name[: -len(base.name) - 1]
            out.append(base.derive(prefix))
        else:
            undeclared.append(name)
            out.append(MetricSpec(name, None, description="not declared by the task"))
    if undeclared and declared:
        warnings.warn(f"{type(task).__name__}.metric_specs() does not declare {undeclared}: recorded with no better direction")
    return out


def evaluation_settings(
    run_dir: Path, checkpoint: str = "auto", data: Mapping | None = None, overrides: Mapping | None = None, seed: int = provenance.DEFAULT_EVAL_SEED
) -> dict[str, Any]:
    """The evaluation settings that differ from the defaults ({} for a default evaluation).

    `checkpoint` counts only where it picks another file than "auto" would.
    """
    settings: dict[str, Any] = {}
    if checkpoint != "auto" and find_checkpoint(run_dir, (str(checkpoint),)) != find_checkpoint(run_dir, AUTO):
        settings["checkpoint"] = str(checkpoint)
    data = {k: v for k, v in (data or {}).items() if v is not None}
    if data:
        settings["data"] = data
    if overrides:
        settings["overrides"] = dict(overrides)
    if seed != provenance.DEFAULT_EVAL_SEED:
        settings["seed"] = seed
    return settings


def _configured_size(run_config: DictConfig, set_name: str) -> int | None:
    """The size of a fixed set in the run's own config (`data.<set>_size`), if it says."""
    for key in (f"task.data.{set_name}_size", f"data.{set_name}_size"):
        try:
            value = OmegaConf.select(run_config, key, default=None)
        except Exception:  # an interpolation that does not resolve outside the training script
            value = None
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def _last_state(loaded: LoadedRun) -> dict:
    """The run's progress: `last.pt` (best.pt is saved at the best epoch, not the last one)."""
    last = find_checkpoint(loaded.run_dir, ("last",))
    if last is None or last == loaded.checkpoint:
        return loaded.state
    try:
        return {k: v for k, v in load_checkpoint(last, map_location="cpu").items() if k not in _HEAVY}
    except CheckpointError as error:
        warnings.warn(f"run status taken from {loaded.checkpoint.name}: {error}")
        return loaded.state


def _member_info(task) -> dict[str, Any]:
    """`{"member_info": [...]}` when the task describes its members (`member_info()`), else {}."""
    describe = getattr(task, "member_info", None)
    return {"member_info": list(describe())} if callable(describe) else {}


def run_record(
    loaded: LoadedRun, settings: Mapping[str, Any], sizes: Mapping[str, int], seed: int, run_dir: str | Path | None = None, **extra
) -> dict[str, Any]:
    """The `"_run"` provenance record of an evaluation (see the module docstring and README)."""
    cfg = loaded.config
    status = provenance.run_status(_last_state(loaded))
    try:
        info = dict(loaded.task.test_set_info() or {})
    except NotImplementedError:
        info = {}
    test_sets = {}
    for name, count in sizes.items():
        test_sets[name] = {**dict(info.get(name) or {}), "evaluated": count}
    reasons = []
    if cfg.get("quick", False):
        reasons.append("quick run")
    if status["status"] == "interrupted":
        reasons.append(provenance.interrupted_reason(status))
    for name, entry in test_sets.items():
        configured = _configured_size(loaded.run_config, name)
        if configured is not None and entry["evaluated"] < configured:
            reasons.append(f"evaluated with data.{name}_size={entry['evaluated']} (the run's is {configured})")
    overrides = provenance.read_overrides(loaded.run_dir)
    record = {
        "task": cfg.get("task_name"),
        "experiment": cfg.get("name"),
        "variant": provenance.variant_of(overrides),
        "run_dir": str(run_dir if run_dir is not None else loaded.run_dir),
        "checkpoint": loaded.checkpoint.name,
        "step": loaded.state.get("step"),
        "epoch": loaded.state.get("epoch"),
        **status,
        "quick": bool(cfg.get("quick", False)),
        "members": int(getattr(loaded.task, "members", 1) or 1),
        **_member_info(loaded.task),
        "train_seed": OmegaConf.select(cfg, "trainer.seed", default=None),
        "eval_seed": seed,
        "test_sets": test_sets,
        "settings": dict(settings),
        "default_settings": not settings,
        "comparable": not reasons,
        "not_comparable": reasons,
        "run_overrides": overrides,
        **extra,
        "date": datetime.now().astimezone().isoformat(timespec="seconds"),
    }
    version = getattr(ddspfx, "__version__", None)
    if version is not None:
        record["ddspfx_version"] = version
    return record


def metrics_document(metrics: Metrics, specs: list[MetricSpec], run: Mapping[str, Any]) -> dict[str, Any]:
    """`{"_run": run, <test sets>..., "_metrics": [spec dicts]}`."""
    return {"_run": dict(run), **metrics, "_metrics": [s.to_dict() for s in specs]}


def save_metrics(document: Mapping[str, Any], path: Path) -> Path:
    """Write a metrics document atomically (a temporary file renamed over `path`)."""
    text = json.dumps(document, indent=2, sort_keys=False) + "\n"
    return write_atomically(path, lambda temp: temp.write_text(text))


@dataclass
class Evaluation:
    path: Path  # the file written
    document: dict  # what it holds
    metrics: Metrics
    specs: list[MetricSpec]
    loaded: LoadedRun


def evaluate_run(
    run_dir: str | Path,
    checkpoint: str = "auto",
    device: str = "auto",
    batch_size: int = 250,
    seed: int = provenance.DEFAULT_EVAL_SEED,
    data: Mapping | None = None,
    overrides: Mapping | None = None,
    progress: bool = True,
    write: bool = True,
) -> Evaluation:
    """Evaluate a run and write `<run>/metrics.json` (default settings) or `<run>/metrics_<slug>.json`.

    `data` entries (those not None) are merged into the run's `data` config, `overrides` into the
    whole config; both, a non-auto checkpoint choice and a non-default seed make the settings
    non-default, so the full evaluation in `metrics.json` is never overwritten by them.
    """
    run_dir_given = run_dir
    run_dir = Path(run_dir)
    data = {k: v for k, v in dict(data or {}).items() if v is not None}
    merged: Any = dict(overrides or {})
    if data:
        merged = OmegaConf.merge(merged, {"data": data})
    loaded = open_run(run_dir, checkpoint, device, merged or None)
    settings = evaluation_settings(run_dir, checkpoint, data, overrides, seed)
    metrics, sizes = evaluate_sets(loaded.task, batch_size, seed, progress, loaded.device)
    specs = metric_declarations(loaded.task, metrics)
    run = run_record(loaded, settings, sizes, seed, run_dir_given, batch_size=batch_size, device=str(loaded.device))
    document = metrics_document(metrics, specs, run)
    path = run_dir / provenance.metrics_filename(settings)
    if write:
        save_metrics(document, path)
    return Evaluation(path, document, metrics, specs, loaded)


def format_table(metrics: Metrics, specs: list[MetricSpec] | None = None) -> str:
    """One Markdown table per test set: a row per metric ("(↑)": higher is better), a column per estimator."""
    return format_evaluation(metrics, specs)
