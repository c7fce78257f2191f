"""Training: the Trainer, checkpoints, DDP set-up, seeding and TensorBoard helpers."""

from ddspfx.core.checkpoint import (
    CheckpointError,
    checkpoint_path,
    find_checkpoint,
    load_checkpoint,
    save_checkpoint,
)
from ddspfx.train.distributed import cleanup, init_distributed, is_main_process
from ddspfx.core.media import log_audio, log_figure, spectrogram_figure
from ddspfx.train.seeding import seed_everything
from ddspfx.train.trainer import Trainer, TrainerConfig

__all__ = [
    "CheckpointError",
    "Trainer",
    "TrainerConfig",
    "checkpoint_path",
    "cleanup",
    "find_checkpoint",
    "init_distributed",
    "is_main_process",
    "load_checkpoint",
    "log_audio",
    "log_figure",
    "save_checkpoint",
    "seed_everything",
    "spectrogram_figure",
]
