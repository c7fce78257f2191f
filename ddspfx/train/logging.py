"""TensorBoard writer and scalars for the Trainer.

Tag names follow DESIGN.md: `loss/train`, `loss/valid`, `metric/<name>/<split>`, `lr`,
`grad_norm`, `beta`, `audio/...`, `figure/...` (audio and figures: `ddspfx.core.media`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

TB_DIR = "tb"


def create_writer(run_dir: str | os.PathLike, purge_step: int | None = None):
    """A `SummaryWriter` on `<run_dir>/tb`; `purge_step` hides events at or after that step
    left by an earlier process (used on resume)."""
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(log_dir=str(Path(run_dir) / TB_DIR), purge_step=purge_step)


def log_scalars(writer, scalars: Mapping[str, float], step: int) -> None:
    """`writer.add_scalar(tag, value, step)` for every item; a None writer does nothing."""
    if writer is None:
        return
    for tag, value in scalars.items():
        writer.add_scalar(tag, float(value), step)
