"""Atomic file writes: a reader sees the old file or the new one, never a part of one."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Callable


def write_atomically(path: str | os.PathLike, write: Callable[[Path], object]) -> Path:
    """Call `write(temp)` on a hidden temporary file beside `path`, then move it over `path`
    (`os.replace`); the temporary file is removed if anything fails. Returns `path`."""
    path = Path(path)
    temp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")  # hidden: never listed as audio
    try:
        write(temp)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return path
