"""Devices: `trainer.device` / `device=` strings to a `torch.device`."""

from __future__ import annotations

import warnings

import torch


def resolve_device(spec: str, world_size: int = 1, local_rank: int = 0) -> torch.device:
    """`trainer.device` → torch.device. auto = cuda if available else cpu; under DDP a CUDA
    device is always `cuda:LOCAL_RANK`."""
    spec = str(spec).strip().lower()
    if spec == "auto":
        spec = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(spec)
    except RuntimeError as e:
        raise ValueError(f"trainer.device={spec!r} is not a device (auto, cpu, cuda, cuda:N)") from e
    if device.type != "cuda":
        return device
    if not torch.cuda.is_available():
        raise RuntimeError(f"trainer.device={spec} but CUDA is not available; use auto or cpu")
    if world_size > 1:
        if device.index not in (None, local_rank):
            warnings.warn(f"trainer.device={spec} ignored under DDP: using cuda:{local_rank}")
        return torch.device("cuda", local_rank)
    index = torch.cuda.current_device() if device.index is None else device.index
    if index >= torch.cuda.device_count():
        raise ValueError(f"trainer.device={spec} but only {torch.cuda.device_count()} GPU(s)")
    return torch.device("cuda", index)
