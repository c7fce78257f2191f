"""Checkpoint files: atomic writes, clear errors on reading, and finding them in a run folder.

A run keeps two checkpoints in `<run_dir>/checkpoints/`: `last.pt` (after every epoch and when
a run is stopped) and `best.pt` (when the validation loss improves). Both are dicts with:

    "task"        the task's `state_dict()` (DDP unwrapped): restore a model with
                  `task.load_state_dict(load_checkpoint(path)["task"])`
    "optimizer"   the optimizer's `state_dict()`
    "scheduler"   the LR scheduler's `state_dict()`, or None without scheduler; with members, a
                  list of M {"scheduler": state_dict, "groups": param groups it drives}
    "step"        training steps done in the whole run (skipped non-finite steps included)
    "epoch"       the epoch to run next, counted from 0 (== epochs done when "epoch_step" is 0)
    "epoch_step"  steps of that epoch already done (0 at an epoch boundary)
    "best"        best validation loss so far (float, inf before the first validation); with
                  members, the mean over members of their best (inf until every member has one)
    "valid"       the latest validation metrics, {name: float} ({} before the first validation);
                  with members, means over the members
    "nonfinite"   non-finite steps in a row at the time of saving (with members, the fewest of
                  any member)
    "early_stopping"  {"epochs_without_improvement", "best", "best_epoch"}: the early-stopping
                  count (kept also when it is off; `(M,)` tensors with members)
    "stopped_early"  True when early stopping ended the run (then it counts as finished)
    "rng"         one RNG snapshot per rank (see `ddspfx.train.seeding.get_rng_state`)
    "world_size"  number of processes that trained
    "config"      the trainer config as plain containers
    "version"     format version of this dict (1)

A task with `members = M > 1` (M independent models, every trainable parameter `(M, …)`) adds
"members", and its `best.pt` is a composite: in "task", member m's slice of every trainable
parameter is from member m's own best epoch (members without a finite validation loss yet keep
their weights at the time of saving; buffers are those at the time of saving).

    "members"     {"count": M,
                   "lr": (M, G) float64, every member's learning rate per param group,
                   "best": (M,) float64, every member's best validation loss (inf: none yet),
                   "best_epoch": (M,) int64, the epoch of it, counted from 0 (-1: none yet),
                   "best_weights": {parameter name: (M, …)} the best slices (what best.pt's
                       "task" holds for the trainable parameters),
                   "nonfinite": (M,) int64, non-finite steps in a row per member,
                   "valid": {name: (M,) float64}, the latest per-member validation values,
                   "grad_norm": (M,) float64, the latest per-member gradient norms,
                   "optimizer": {"scalars": {param index: {key: (M,) float64}}, "fresh": (M,)
                       bool}, the per-member values of the optimizer's scalar state (Adam's
                       "step"; the one in "optimizer" is not meaningful) and the members whose
                       optimizer state was never created}

Everything in it is a tensor or a plain container, so `torch.load(weights_only=True)` reads it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from pathlib import Path
from typing import Any, Sequence

import torch

from ddspfx.core.errors import CheckpointWriteError, find_error

CHECKPOINT_DIR = "checkpoints"
FORMAT_VERSION = 1
TEMP_GLOB = ".*.tmp"  # the temporary files of `save_checkpoint` (left behind by killed writes)


class CheckpointError(RuntimeError):
    """A checkpoint file exists but cannot be read."""


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> Path:
    """Write `state` to `path` atomically and return the path.

    The data go to a temporary file in the same folder, which is flushed, fsynced and renamed
    over `path` (`os.replace`): a reader sees either the old file or the new one, never a part.
    On any failure the temporary file is removed and the previous file is left as it was; an
    operating-system error (full disk, no permission, also when torch reports it as "unexpected
    pos …") becomes a `CheckpointWriteError` naming the file and the cause, anything else
    propagates.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = _create_temp(path)
    except OSError as e:
        raise _write_error(path, e) from e
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_name, path)
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        os_error = _os_error(e)
        if os_error is not None and not isinstance(e, CheckpointWriteError):
            raise _write_error(path, os_error) from e
        raise
    _fsync_dir(path.parent)
    return path


def _os_error(error: BaseException) -> OSError | None:
    """The OSError behind `error` (itself, or what it was raised from or during), if any: torch's
    zip writer reports a failed write as RuntimeError("unexpected pos …") raised during it."""
    return find_error(error, OSError)


def _write_error(path: Path, error: OSError) -> CheckpointWriteError:
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        cause = ("no space left on device: free some space (or write the run elsewhere with "
                 "hydra.run.dir=…) and resume with trainer.resume=true")
    else:
        cause = error.strerror or str(error) or type(error).__name__
    kept = " (the previous file is unchanged)" if path.exists() else ""
    failure = CheckpointWriteError(f"cannot write checkpoint {path}: {cause}{kept}")
    failure.errno = error.errno
    return failure


def remove_temp_files(run_dir: str | os.PathLike) -> list[Path]:
    """Delete `<run_dir>/checkpoints/.*.tmp`, the temporary files of writes that were killed
    (a finished or failed write removes its own); returns the files removed."""
    removed = []
    for tmp in sorted((Path(run_dir) / CHECKPOINT_DIR).glob(TEMP_GLOB)):
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
            removed.append(tmp)
    return removed


def _create_temp(path: Path) -> tuple[int, str]:
    """Open a new, unique temporary file next to `path` (permissions follow the umask)."""
    for _ in range(100):
        name = str(path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), name
        except FileExistsError:
            continue
    raise FileExistsError(f"cannot create a temporary file next to {path}")


def _fsync_dir(folder: Path) -> None:
    """Make the rename durable (POSIX); a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def load_checkpoint(
    path: str | os.PathLike,
    map_location: str | torch.device | None = "cpu",
    weights_only: bool = True,
) -> dict[str, Any]:
    """Read a checkpoint dict written by `save_checkpoint`.

    Raises `FileNotFoundError` if `path` does not exist and `CheckpointError` (naming the file)
    if it is truncated, corrupt or not a dict. `weights_only=False` allows arbitrary pickled
    objects: use it only for files you trust.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=weights_only)
    except Exception as e:
        raise CheckpointError(
            f"cannot read checkpoint {path} (truncated or corrupt file?): {type(e).__name__}: {e}"
        ) from e
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint {path} holds a {type(state).__name__}, not a dict")
    return state


def checkpoint_path(run_dir: str | os.PathLike, name: str) -> Path:
    """`<run_dir>/checkpoints/<name>.pt`."""
    return Path(run_dir) / CHECKPOINT_DIR / f"{name}.pt"


def find_checkpoint(
    run_dir: str | os.PathLike, prefer: Sequence[str] = ("best", "last")
) -> Path | None:
    """The first of `<run_dir>/checkpoints/<name>.pt` for `name` in `prefer` that exists,
    or None if none does. `run_dir` may also be a checkpoint file itself (returned as is)."""
    run_dir = Path(run_dir)
    if run_dir.is_file():
        return run_dir
    for name in prefer:
        candidate = checkpoint_path(run_dir, name)
        if candidate.is_file():
            return candidate
    return None
