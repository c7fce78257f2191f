"""Seeding and random-number-generator state: everything a run needs to continue bit-identically.

The states are plain containers of ints, floats and tensors (no numpy objects), so that a
checkpoint holding them loads with `torch.load(weights_only=True)`.
"""

from __future__ import annotations

import contextlib
import random
from typing import Any, Iterator

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Seed python's `random`, numpy's global generator and torch (CPU and every CUDA device)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def make_generator(seed: int) -> torch.Generator:
    """A CPU `torch.Generator` seeded with `seed` (the trainer's data generator)."""
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator


def _numpy_state() -> dict[str, Any]:
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "name": name,
        "keys": torch.from_numpy(keys.astype(np.int64)),
        "pos": int(pos),
        "has_gauss": int(has_gauss),
        "cached_gaussian": float(cached),
    }


def _set_numpy_state(state: dict[str, Any]) -> None:
    keys = state["keys"].numpy().astype(np.uint32)
    np.random.set_state(
        (state["name"], keys, state["pos"], state["has_gauss"], state["cached_gaussian"])
    )


def get_rng_state(
    generator: torch.Generator | None = None, cuda_device: torch.device | None = None
) -> dict[str, Any]:
    """Snapshot of the global generators (python, numpy, torch CPU, `cuda_device` if given)
    and of `generator` (if given)."""
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": _numpy_state(),
        "torch": torch.get_rng_state(),
    }
    if cuda_device is not None and cuda_device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(cuda_device)
    if generator is not None:
        state["generator"] = generator.get_state()
    return state


def set_rng_state(
    state: dict[str, Any],
    generator: torch.Generator | None = None,
    cuda_device: torch.device | None = None,
) -> None:
    """Restore a snapshot made by `get_rng_state` (the parts present in it)."""
    random.setstate(_as_python_state(state["python"]))
    _set_numpy_state(state["numpy"])
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and cuda_device is not None and cuda_device.type == "cuda":
        torch.cuda.set_rng_state(state["cuda"].cpu(), cuda_device)
    if "generator" in state and generator is not None:
        generator.set_state(state["generator"].cpu())


def _as_python_state(state: Any) -> tuple:
    """`random.setstate` wants tuples; a saved state may come back with lists."""
    version, internal, gauss = state
    return (version, tuple(internal), gauss)


@contextlib.contextmanager
def preserve_rng(cuda_device: torch.device | None = None) -> Iterator[None]:
    """Run a block without consuming the global random streams (validation, media logging),
    so that what it draws never changes the training that follows."""
    state = get_rng_state(cuda_device=cuda_device)
    try:
        yield
    finally:
        set_rng_state(state, cuda_device=cuda_device)
