"""Process-group set-up for DistributedDataParallel runs launched with `torchrun`.

`torchrun --nproc_per_node=N train_x.py ...` sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and
MASTER_PORT in every process; `init_distributed` reads them. Without them (or with WORLD_SIZE=1)
everything here degrades to a single process: rank 0 of 1, no collectives.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    """Where this process stands in the run."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    initialized_here: bool = False  # True if `init_distributed` created the process group

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1


def env_world_size() -> int:
    """WORLD_SIZE from the environment (1 when unset)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def env_local_rank() -> int:
    """LOCAL_RANK from the environment (0 when unset)."""
    return int(os.environ.get("LOCAL_RANK", "0"))


def default_backend(device_type: str | None = None) -> str:
    """'nccl' for CUDA devices, 'gloo' otherwise (`device_type` None: CUDA if available)."""
    if device_type is None:
        device_type = "cuda" if torch.cuda.is_available() else "cpu"
    return "nccl" if device_type == "cuda" else "gloo"


def init_distributed(backend: str | None = None) -> DistInfo:
    """Join the process group described by RANK / WORLD_SIZE / LOCAL_RANK (env:// rendezvous).

    Returns rank 0 of 1 when WORLD_SIZE is unset or 1. Reuses a group that already exists.
    With NCCL the current CUDA device is set to LOCAL_RANK.
    """
    if dist.is_available() and dist.is_initialized():
        return DistInfo(dist.get_rank(), dist.get_world_size(), env_local_rank(), False)
    world_size = env_world_size()
    if world_size <= 1:
        return DistInfo()
    if not dist.is_available():
        raise RuntimeError(f"WORLD_SIZE={world_size} but torch.distributed is not available")
    for key in ("RANK", "MASTER_ADDR", "MASTER_PORT"):
        if key not in os.environ:
            raise RuntimeError(
                f"WORLD_SIZE={world_size} but {key} is not set: launch with torchrun"
            )
    backend = backend or default_backend()
    local_rank = env_local_rank()
    if backend == "nccl":
        torch.cuda.set_device(local_rank)
    dist.init_process_group(backend=backend, init_method="env://")
    return DistInfo(dist.get_rank(), dist.get_world_size(), local_rank, True)


def is_distributed() -> bool:
    """True inside a process group of more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def get_rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def get_world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def is_main_process() -> bool:
    """True on rank 0 (and in a single-process run)."""
    return get_rank() == 0


def barrier() -> None:
    """Wait for every rank (no-op in a single process)."""
    if is_distributed():
        dist.barrier()


def any_rank_flags(flags: list[bool], device: torch.device) -> list[bool]:
    """For each flag: True if it is true on any rank (one collective), so that every rank
    takes the same branch."""
    if not is_distributed():
        return list(flags)
    t = torch.tensor([1.0 if f else 0.0 for f in flags], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return [bool(v > 0) for v in t.tolist()]


def any_rank_mask(mask: torch.Tensor) -> torch.Tensor:
    """Elementwise: True where `mask` (bool, any shape) is true on any rank (one collective);
    returned on `mask`'s device."""
    if not is_distributed():
        return mask
    t = mask.to(torch.float32)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return t > 0


def all_gather_objects(obj) -> list:
    """`[obj of rank 0, obj of rank 1, ...]` (picklable objects; `[obj]` in a single process)."""
    if not is_distributed():
        return [obj]
    out = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def cleanup() -> None:
    """Leave the process group if there is one."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
