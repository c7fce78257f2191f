"""Fixed, seeded validation and test sets, shared by every task.

Training data may be drawn fresh every step; validation and test sets are fixed by a size and a
seed from the task's `data` config (`valid_size`, `valid_seed`, `test_size`, `test_seed`), so that
numbers are comparable between runs and models. A task gives a `build(split, size, seed)` function
that returns the whole set as a dict of tensors with a leading example axis; `FixedSplits` builds
each set once and cuts it into batches.
"""

from __future__ import annotations

from typing import Callable, Mapping

import torch

Build = Callable[[str, int, int], dict[str, torch.Tensor]]


def split_size_seed(data: Mapping, split: str) -> tuple[int, int]:
    """`(size, seed)` of a split from `data[f"{split}_size"]` and `data[f"{split}_seed"]`.

    Raises:
        ValueError: a key is missing, or the size is not a positive integer.
    """
    keys = (f"{split}_size", f"{split}_seed")
    missing = [k for k in keys if data.get(k) is None]
    if missing:
        raise ValueError(f"data.{missing[0]} is not set: the fixed {split} set needs a size and a seed")
    return check_size(keys[0], data[keys[0]]), int(data[keys[1]])


def check_size(key: str, value) -> int:
    """`value` of the config key `data.<key>` as a set size: an integer > 0, else ValueError."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"data.{key} must be an int > 0, got {value!r}")
    return int(value)


class FixedSplits:
    """The fixed sets of one task, built on first use and kept.

    Args:
        data: the task's data config (sizes and seeds per split).
        build: `build(split, size, seed)` → `{key: tensor (size, ...)}`, deterministic in `seed`.
    """

    def __init__(self, data: Mapping, build: Build):
        self.data = data
        self.build = build
        self._sets: dict[str, dict[str, torch.Tensor]] = {}

    def full(self, split: str) -> dict[str, torch.Tensor]:
        """The whole set of `split` as `{key: (size, ...)}`."""
        if split not in self._sets:
            size, seed = split_size_seed(self.data, split)
            tensors = self.build(split, size, seed)
            lengths = {k: v.shape[0] for k, v in tensors.items()}
            if set(lengths.values()) != {size}:
                raise ValueError(f"the fixed {split} set must hold {size} examples per key, got {lengths}")
            self._sets[split] = tensors
        return self._sets[split]

    def batches(self, split: str, batch_size: int) -> list[dict[str, torch.Tensor]]:
        """The set of `split` cut into batches of `batch_size` (the last one may be smaller)."""
        tensors = self.full(split)
        chunks = {k: v.split(batch_size) for k, v in tensors.items()}
        return [dict(zip(chunks, parts)) for parts in zip(*chunks.values())]

    def info(self, split: str) -> dict[str, int]:
        """`{"size": n, "seed": s}` of `split`, for provenance records."""
        size, seed = split_size_seed(self.data, split)
        return {"size": size, "seed": seed}
