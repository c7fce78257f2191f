"""Errors every layer may raise and the engine knows how to handle.

- `NonFiniteError` (a `ValueError`): a tensor that must be finite holds NaN or Inf, e.g. the
  normalized controls a processor receives (`ddspfx.params.check_controls`). Raised in a training
  forward pass, the Trainer counts it as a non-finite step (the step is skipped, as for a NaN
  loss); raised in validation, the batch's loss counts as NaN.
- `ConfigError` (a `ValueError`): a config value that is missing, unknown or out of range. Its
  message is one line that names the key and the value; the training scripts print it and exit
  with status 2.
- `TrainingStopped` (a `RuntimeError`): the Trainer gave up (too many non-finite steps in a row)
  after saving `last.pt`; its message is one line saying what happened and what to try. The
  training scripts print it and exit with status 1.
- `DataError` (a `ValueError`): input data a run needs cannot be used (a missing or empty folder,
  no usable audio, a malformed DX7 cartridge); the message is one line naming the file or folder.
  The training scripts and `evaluate.py` print it and exit with status 2. Hydra wraps errors
  raised while instantiating a config, so scripts look for it with `find_error`.
- `CheckpointWriteError` (an `OSError`): a checkpoint could not be written (full disk, no
  permission); the message names the file and the cause, `errno` is the cause's. The previous
  file is left as it was. The training scripts print it and exit with status 1.
"""

from __future__ import annotations


class NonFiniteError(ValueError):
    """A tensor that must be finite holds NaN or Inf."""


class ConfigError(ValueError):
    """A config value that is missing, unknown or out of range; the message names the key."""


class TrainingStopped(RuntimeError):
    """Training cannot go on (e.g. non-finite steps past `trainer.max_nonfinite`); `last.pt` was
    saved first."""


class CheckpointWriteError(OSError):
    """A checkpoint file could not be written; the message names the file and the cause."""


class DataError(ValueError):
    """Input data that cannot be used; the message (one line) names the file or folder."""


def find_error(error: BaseException | None, kind: type[BaseException]) -> BaseException | None:
    """The first exception of type `kind` in `error` and its `__cause__` / `__context__` chain."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, kind):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None
