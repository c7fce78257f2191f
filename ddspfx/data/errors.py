"""The one error type of the data layer: input data a run needs cannot be used.

`DataError` (a `ValueError`, defined in `ddspfx.core.errors` so that the engine can catch it) is raised for the data faults a user can meet and fix: a missing or
empty audio folder, no usable (readable, finite, non-silent, long enough) audio, a split that
cannot be formed, an unreadable or malformed DX7 cartridge, cartridges without a playable voice.
Its message is one line that names the file or folder and says what was found.

Command-line scripts catch it (`evaluate.py` prints the line and exits 2). Hydra wraps exceptions
raised while instantiating a config in `InstantiationException` (`raise ... from error`), so a
script finds the DataError in the exception's cause chain with `ddspfx.core.errors.find_error`.
"""

from __future__ import annotations

from ddspfx.core.errors import DataError

__all__ = ["DataError"]
