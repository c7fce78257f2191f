"""Audio the project renders itself into folders (virtual drums, synthetic textures), written once.

A JSON manifest in the folder records, per file, the settings it was rendered with; a file whose
entry matches the settings asked for is not rendered again (its modification time is unchanged).
Files and manifest are written atomically (`ddspfx.core.files.write_atomically`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping

import numpy as np
import soundfile as sf

from ddspfx.core.files import write_atomically


def read_manifest(path: Path, section: str) -> dict:
    """The manifest's `{name: entry}` under `section`; an unreadable or foreign manifest counts as empty."""
    try:
        entries = json.loads(path.read_text()).get(section, {})
    except (OSError, ValueError, AttributeError):
        return {}
    return entries if isinstance(entries, dict) else {}


def write_manifest(path: Path, section: str, entries: Mapping) -> None:
    """Write `{section: entries}` as the manifest."""
    text = json.dumps({section: dict(entries)}, indent=1)
    write_atomically(path, lambda temp: temp.write_text(text))


def is_current(path: Path, entry: Mapping, settings: Mapping) -> bool:
    """Whether `path` exists and its manifest entry holds `settings` (compared as JSON values)."""
    return path.is_file() and {k: entry.get(k) for k in settings} == json.loads(json.dumps(dict(settings)))


def write_float_wav(path: Path, audio: np.ndarray, sample_rate: int) -> None:
    """Mono float32 wav at `sample_rate` Hz, written atomically (parent folders created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, lambda temp: sf.write(str(temp), audio, int(sample_rate), subtype="FLOAT", format="WAV"))
