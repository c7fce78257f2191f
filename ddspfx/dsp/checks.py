"""Input checks shared by every processor and network that takes audio."""

from __future__ import annotations

import torch


def check_audio(audio: torch.Tensor, owner: str, min_samples: int = 1) -> None:
    """Raise ValueError unless `audio` is a floating `(batch, samples)` tensor of at least
    `min_samples` samples; `owner` names the caller in the message."""
    if not torch.is_tensor(audio) or not audio.is_floating_point():
        kind = getattr(audio, "dtype", type(audio).__name__)
        raise ValueError(f"{owner}: audio must be a real floating-point tensor, got {kind}")
    if audio.dim() != 2 or audio.shape[-1] == 0:
        raise ValueError(f"{owner}: audio must be (batch, samples), got shape {tuple(audio.shape)}")
    if audio.shape[1] < min_samples:
        raise ValueError(f"{owner}: audio has {audio.shape[1]} samples, needs at least {min_samples}")
