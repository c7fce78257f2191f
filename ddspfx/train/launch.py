"""What every `train_<task>.py` script does: check, build the task, train it, exit with a status.

    # train_<task>.py
    @hydra.main(config_path="conf", config_name="<task>", version_base="1.3")
    def main(cfg):
        run_training(cfg)                    # train(cfg), then the exit status below

    if __name__ == "__main__":
        preflight(CONF_DIR, "<task>")        # before Hydra creates or writes the run folder
        main()

`preflight` composes the config from the command line's overrides (Hydra's compose API) and
stops with one line and exit status 2 before anything is written when:

- the trainer config (or a `data.*_size` key) is invalid (`check_config`);
- `trainer.resume=true` comes without `hydra.run.dir=<run folder>` (the message names the
  newest run of that experiment and the command that resumes it), or names a folder that does
  not exist;
- `trainer.resume=true` names a run whose saved `.hydra/config.yaml` differs from the new config
  in anything but `RESUME_MAY_CHANGE` (a different `experiment=` …): Hydra would otherwise
  overwrite the run's config before the checkpoint fails to load.

It is skipped for multirun (`-m`) and any other Hydra flag (`--cfg`, `--help`, …); `train`
checks the config again, and a run folder that a failed start left with nothing but Hydra's
files is removed.

Exit statuses of the training scripts (`run_training`): 0 finished; 1 training stopped (too
many non-finite steps, `last.pt` saved) or a checkpoint could not be written (full disk);
2 a config error; 130 interrupted by SIGINT (Ctrl-C), 143 by SIGTERM, after saving `last.pt`.
"""

from __future__ import annotations

import logging
import math
import os
import shlex
import shutil
import sys
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from ddspfx.core.devices import resolve_device
from ddspfx.core.errors import CheckpointWriteError, ConfigError, DataError, TrainingStopped, find_error
from ddspfx.core.splits import check_size
from ddspfx.train import distributed as D
from ddspfx.train.seeding import seed_everything
from ddspfx.train.trainer import Trainer, TrainerConfig, build_from_spec

log = logging.getLogger(__name__)

EXIT_STOPPED = 1  # TrainingStopped, CheckpointWriteError
EXIT_CONFIG = 2  # ConfigError, also from the pre-flight
EXIT_SIGNAL = {"SIGINT": 130, "SIGTERM": 143}  # 128 + signal number, as a shell reports it
# keys a resumed run may change: everything else must equal the run's saved config
RESUME_MAY_CHANGE = frozenset({"trainer.resume", "trainer.epochs", "trainer.progress",
                               "trainer.device", "trainer.num_threads"})
DIFF_SHOWN = 10  # differing keys shown with their values in the resume error
HYDRA_FILES = {".hydra"}  # what Hydra writes into a run folder before the job (+ <job>.log)


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


# ---------------------------------------------------------------------- config checks


def check_config(cfg: DictConfig | Mapping[str, Any]) -> None:
    """Raise `ConfigError` (one line naming the key and the value) if the `trainer` node or a
    `data.*_size` key is invalid. Builds nothing but a throw-away optimizer / scheduler on one
    dummy parameter (which catches e.g. `trainer.optimizer.lr=abc` or an unknown option)."""
    trainer = _plain(cfg.get("trainer"))
    try:
        tcfg = TrainerConfig.from_cfg(trainer)
    except (TypeError, ValueError) as e:
        raise ConfigError(_one_line(e)) from e
    _check_optimizer(tcfg)
    try:
        resolve_device(tcfg.device, D.env_world_size(), D.env_local_rank())
    except (RuntimeError, ValueError) as e:
        raise ConfigError(_one_line(e)) from e
    data = cfg.get("data")
    for key in sorted(data.keys(), key=str) if isinstance(data, Mapping) else ():
        if not str(key).endswith("_size"):
            continue
        try:
            value = data[key]
        except Exception:  # noqa: BLE001 - an interpolation only Hydra's job can resolve
            continue
        try:
            check_size(str(key), value)
        except ValueError as e:
            raise ConfigError(str(e)) from None


def _check_optimizer(tcfg: TrainerConfig) -> None:
    import torch

    spec = tcfg.optimizer
    if isinstance(spec, Mapping):
        for key in ("lr", "weight_decay", "momentum", "eps"):
            if key not in spec:
                continue
            value = spec[key]
            positive = key == "lr"
            if (isinstance(value, bool) or not isinstance(value, (int, float))
                    or not math.isfinite(value) or value < 0 or (positive and value == 0)):
                raise ConfigError(f"trainer.optimizer.{key} must be a number "
                                  f"{'> 0' if positive else '>= 0'}, got {value!r}")
    dummy = [torch.nn.Parameter(torch.zeros(1))]
    try:
        optimizer = build_from_spec(spec, dummy, "optimizer")
    except Exception as e:  # noqa: BLE001 - any failure of the user's optimizer config
        raise ConfigError(f"trainer.optimizer: cannot build it: {_one_line(e)}") from e
    if tcfg.scheduler is not None:
        try:
            build_from_spec(tcfg.scheduler, optimizer, "scheduler")
        except Exception as e:  # noqa: BLE001
            raise ConfigError(f"trainer.scheduler: cannot build it: {_one_line(e)}") from e


def _plain(node: Any) -> dict[str, Any]:
    if node is None:
        return {}
    if isinstance(node, DictConfig):
        try:
            return OmegaConf.to_container(node, resolve=True)
        except Exception as e:  # noqa: BLE001 - an interpolation that cannot be resolved
            raise ConfigError(f"trainer: {_one_line(e)}") from e
    return dict(node) if isinstance(node, Mapping) else {}


def _one_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return "; ".join(lines) or type(error).__name__


# ---------------------------------------------------------------------- pre-flight


def preflight(config_dir: str | os.PathLike, config_name: str,
              argv: Sequence[str] | None = None, script: str | None = None) -> None:
    """Check the command line's config before `@hydra.main` writes anything; on a problem print
    one line (rank 0 under torchrun) and exit with status 2. See the module docstring."""
    argv = list(sys.argv[1:] if argv is None else argv)
    script = script or Path(sys.argv[0]).name
    try:
        preflight_check(config_dir, config_name, argv, script)
    except ConfigError as e:
        if os.environ.get("RANK", "0") == "0":
            print(f"{script}: error: {e}", file=sys.stderr)
        sys.exit(EXIT_CONFIG)


def preflight_check(config_dir: str | os.PathLike, config_name: str, argv: Sequence[str],
                    script: str = "train.py") -> DictConfig | None:
    """`preflight` without the exit: raises `ConfigError`; returns the composed config (None
    when skipped: multirun or another Hydra flag, or a config Hydra itself will refuse)."""
    if any(arg.startswith("-") for arg in argv):
        return None  # -m / --multirun, --cfg, --help, -cn …: Hydra's own business
    cfg = _compose(config_dir, config_name, argv)
    if cfg is None:
        return None
    check_config(cfg)
    trainer = cfg.get("trainer")
    if trainer is not None and bool(trainer.get("resume", False)):
        check_resume(cfg, argv, script)
    return cfg


def _compose(config_dir: str | os.PathLike, config_name: str,
             overrides: Sequence[str]) -> DictConfig | None:
    from hydra import compose, initialize_config_dir

    task_overrides = [o for o in overrides if not _is_hydra_override(o)]
    try:
        with initialize_config_dir(config_dir=str(Path(config_dir).resolve()), version_base="1.3"):
            return compose(config_name=config_name, overrides=task_overrides)
    except Exception:  # noqa: BLE001 - Hydra reports bad overrides itself, with its own message
        return None


def _is_hydra_override(override: str) -> bool:
    return override.lstrip("+~").startswith("hydra.") or override.lstrip("+~").startswith("hydra/")


def _run_dir_override(overrides: Iterable[str]) -> str | None:
    for override in overrides:
        key, sep, value = override.partition("=")
        if sep and key.lstrip("+") == "hydra.run.dir":
            return value
    return None


def check_resume(cfg: DictConfig, overrides: Sequence[str], script: str = "train.py") -> None:
    """Raise `ConfigError` unless `trainer.resume=true` names an existing run folder whose saved
    config equals `cfg` up to `RESUME_MAY_CHANGE`."""
    run_dir = _run_dir_override(overrides)
    if run_dir is None:
        raise ConfigError(_no_run_dir_message(cfg, overrides, script))
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ConfigError(
            f"trainer.resume=true: the run folder {run_dir} does not exist (to start a new run "
            f"there, leave out trainer.resume=true)")
    saved_path = run_dir / ".hydra" / "config.yaml"
    if not saved_path.is_file():
        return  # a folder without Hydra's record (e.g. a bare checkpoint folder): nothing to compare
    saved = OmegaConf.to_container(OmegaConf.load(saved_path), resolve=False)
    new = OmegaConf.to_container(cfg, resolve=False)
    differing = config_differences(saved, new)
    if differing:
        shown = ", ".join(f"{key} ({_short(a)} -> {_short(b)})" for key, a, b in differing[:DIFF_SHOWN])
        more = f" and {len(differing) - DIFF_SHOWN} more" if len(differing) > DIFF_SHOWN else ""
        raise ConfigError(
            f"trainer.resume=true: the config differs from the one {run_dir} was trained with "
            f"in {len(differing)} key(s): {shown}{more}. Resume with the run's own overrides "
            f"({run_dir / '.hydra' / 'overrides.yaml'}); only "
            f"{', '.join(sorted(RESUME_MAY_CHANGE))} may change. Nothing was written")


def config_differences(saved: Any, new: Any, prefix: str = "") -> list[tuple[str, Any, Any]]:
    """`[(dotted key, saved value, new value)]` where two plain configs differ, leaving out
    `RESUME_MAY_CHANGE`; a key missing on one side has the value `<missing>`. A key the saved
    config lacks and the new one sets to null is no difference: a key added to ddspfx since the run
    was trained, at its default "off" (e.g. `trainer.early_stopping`)."""
    missing = "<missing>"
    if isinstance(saved, dict) and isinstance(new, dict):
        found = []
        for key in sorted(set(saved) | set(new), key=str):
            path = f"{prefix}.{key}" if prefix else str(key)
            found += config_differences(saved.get(key, missing), new.get(key, missing), path)
        return found
    if prefix in RESUME_MAY_CHANGE or saved == new or (saved == missing and new is None):
        return []
    return [(prefix, saved, new)]


def _short(value: Any, limit: int = 40) -> str:
    text = value if value == "<missing>" else repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _no_run_dir_message(cfg: DictConfig, overrides: Sequence[str], script: str) -> str:
    task, name = str(cfg.get("task_name", "?")), str(cfg.get("name", "default"))
    base = Path("outputs") / task / name
    newest = newest_run(base)
    head = "trainer.resume=true needs the run folder to resume (hydra.run.dir=<run folder>)"
    if newest is None:
        return (f"{head}; there is no run under {base} to resume: start a new run without "
                f"trainer.resume=true")
    command = " ".join(["python", script, *map(shlex.quote, overrides),
                        shlex.quote(f"hydra.run.dir={newest}")])
    return f"{head}; the newest run of {task}/{name} is {newest}: resume it with: {command}"


def newest_run(base: Path) -> Path | None:
    """The newest run folder under `base` (`<date>_<time>` names sort by time) that holds
    `checkpoints/last.pt`, else the newest with a `.hydra/` record; None if there is none."""
    if not base.is_dir():
        return None
    runs = sorted(p for p in base.iterdir()
                  if p.is_dir() and not p.name.startswith("multirun") and (p / ".hydra").is_dir())
    with_checkpoint = [p for p in runs if (p / "checkpoints" / "last.pt").is_file()]
    found = with_checkpoint or runs
    return found[-1] if found else None


# ---------------------------------------------------------------------- training


def remove_failed_run_dir(run_dir: Path, job_name: str | None = None) -> bool:
    """Delete `run_dir` if it holds nothing but Hydra's files (`.hydra/`, `<job>.log`), i.e. a
    run that failed before training; True if it was removed."""
    if not run_dir.is_dir():
        return False
    allowed = HYDRA_FILES | ({f"{job_name}.log"} if job_name else set())
    if not {p.name for p in run_dir.iterdir()} <= allowed:
        return False
    shutil.rmtree(run_dir, ignore_errors=True)
    return True


def train(cfg: DictConfig) -> dict[str, Any]:
    """Check the config, instantiate `cfg.task` and fit it with the Trainer configured by
    `cfg.trainer`; returns the Trainer's summary (its "status": "finished" or "interrupted").

    Raises `ConfigError` (after removing a run folder that holds only Hydra's files),
    `TrainingStopped` and `CheckpointWriteError` (see `run_training` for the exit statuses)."""
    missing = missing_values(cfg)
    if missing:
        raise SystemExit(f"error: set {', '.join(missing)} on the command line (e.g. {missing[0]}=<value>)")
    try:
        check_config(cfg)
    except ConfigError:
        _remove_failed_start()
        raise
    device = resolve_device(cfg.trainer.device, D.env_world_size(), D.env_local_rank())
    dist_info = D.init_distributed(D.default_backend(device.type))
    rank = dist_info.rank
    try:
        run_dir = shared_run_dir()
        seed_everything(cfg.trainer.seed)  # the initial weights depend on the seed too
        try:
            task = instantiate(cfg.task)
        except Exception as e:  # bad data or a config mistake found while building the task
            if find_error(e, DataError) or find_error(e, ConfigError):
                _remove_failed_start()
            raise
        if rank == 0:
            n_weights = sum(p.numel() for p in task.trainable_parameters())
            log.info("task %s: %s trainable parameters; run folder %s", type(task).__name__,
                     f"{n_weights:,}", run_dir)
        summary = Trainer(task, cfg.trainer, run_dir).fit()
    finally:
        if dist_info.initialized_here:
            D.cleanup()
    if rank == 0:
        print(f"\nRun {summary['status']} at epoch {summary['epoch']}, step {summary['step']}: {run_dir}")
        if summary["status"] == "interrupted":
            print(f"last.pt saved. Resume with: {resume_command(run_dir)}")
        print(f"Evaluate with: python evaluate.py run={run_dir}")
    return summary


def _remove_failed_start() -> None:
    """Remove this job's run folder if a failed start left only Hydra's files in it (rank 0)."""
    if os.environ.get("RANK", "0") == "0" and HydraConfig.initialized():
        hydra_cfg = HydraConfig.get()
        remove_failed_run_dir(Path(hydra_cfg.runtime.output_dir), hydra_cfg.job.name)


def resume_command(run_dir: Path) -> str:
    """The command that resumes this job's run in `run_dir` (its overrides, resume on)."""
    overrides = []
    if HydraConfig.initialized():
        overrides = [o for o in HydraConfig.get().overrides.task
                     if not o.lstrip("+").startswith(("trainer.resume=", "hydra.run.dir="))]
    script = Path(sys.argv[0]).name or "train.py"
    return " ".join(["python", script, *map(shlex.quote, overrides), "trainer.resume=true",
                     shlex.quote(f"hydra.run.dir={run_dir}")])


def exit_status(summary: Mapping[str, Any]) -> int:
    """0 for a finished run; 130 (SIGINT, also a stop without a signal) or 143 (SIGTERM) for
    an interrupted one."""
    if summary.get("status") != "interrupted":
        return 0
    return EXIT_SIGNAL.get(summary.get("signal") or "SIGINT", EXIT_SIGNAL["SIGINT"])


def run_training(cfg: DictConfig, script: str | None = None) -> dict[str, Any]:
    """`train(cfg)` as a script runs it: expected failures become one line on stderr and an
    exit status (module docstring) instead of a traceback; an interrupted run exits 130 / 143
    after saving `last.pt`. Returns the summary of a finished run."""
    script = script or Path(sys.argv[0]).name
    main_rank = os.environ.get("RANK", "0") == "0"

    def fail(status: int, message: str) -> None:
        if main_rank:
            print(f"{script}: error: {message}", file=sys.stderr)
        sys.exit(status)

    try:
        summary = train(cfg)
    except ConfigError as e:
        fail(EXIT_CONFIG, str(e))
    except (TrainingStopped, CheckpointWriteError) as e:
        fail(EXIT_STOPPED, str(e))
    except Exception as e:  # Hydra wraps errors raised while building the task
        cause = find_error(e, DataError) or find_error(e, ConfigError)
        if cause is None:
            raise
        fail(EXIT_CONFIG, str(cause))
    except KeyboardInterrupt:
        fail(EXIT_SIGNAL["SIGINT"], "interrupted twice: stopped without saving (the last "
                                    "checkpoint written at an epoch end is kept)")
    status = exit_status(summary)
    if status:
        sys.exit(status)
    return summary
