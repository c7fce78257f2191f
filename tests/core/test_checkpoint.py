"""Checkpoint files are written atomically and read with clear errors."""

from __future__ import annotations

import pytest
import torch

from ddspfx.core.checkpoint import (
    CheckpointError,
    checkpoint_path,
    find_checkpoint,
    load_checkpoint,
    save_checkpoint,
)


def state(value: float) -> dict:
    return {"task": {"w": torch.full((3, 2), value)}, "step": int(value), "best": float("inf"),
            "rng": [{"python": (3, tuple(range(5)), None)}]}


def test_round_trip_loads_with_weights_only(tmp_path):
    path = save_checkpoint(tmp_path / "checkpoints" / "last.pt", state(2.0))
    loaded = load_checkpoint(path)
    assert torch.equal(loaded["task"]["w"], torch.full((3, 2), 2.0))
    assert loaded["step"] == 2 and loaded["best"] == float("inf")


@pytest.mark.parametrize("error", [OSError("disk full"), KeyboardInterrupt()])
def test_failed_write_keeps_the_previous_file(tmp_path, monkeypatch, error):
    path = save_checkpoint(tmp_path / "last.pt", state(1.0))
    real_save = torch.save

    def half_save(obj, f, *args, **kwargs):
        f.write(b"PK\x03\x04 half a zip")
        raise error

    monkeypatch.setattr(torch, "save", half_save)
    with pytest.raises(type(error)):
        save_checkpoint(path, state(5.0))
    monkeypatch.setattr(torch, "save", real_save)

    assert load_checkpoint(path)["step"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]


def test_truncated_file_error_names_the_file(tmp_path):
    path = save_checkpoint(tmp_path / "last.pt", state(1.0))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="last.pt"):
        load_checkpoint(path)


def test_garbage_and_wrong_content_are_refused(tmp_path):
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="garbage.pt"):
        load_checkpoint(garbage)
    a_list = tmp_path / "list.pt"
    torch.save([1, 2, 3], a_list)
    with pytest.raises(CheckpointError, match="not a dict"):
        load_checkpoint(a_list)


def test_missing_file_error_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.pt"):
        load_checkpoint(tmp_path / "nowhere.pt")


def test_find_checkpoint_prefers_in_order(tmp_path):
    assert find_checkpoint(tmp_path) is None
    last = save_checkpoint(checkpoint_path(tmp_path, "last"), state(1.0))
    assert find_checkpoint(tmp_path) == last
    best = save_checkpoint(checkpoint_path(tmp_path, "best"), state(0.5))
    assert find_checkpoint(tmp_path) == best
    assert find_checkpoint(tmp_path, prefer=("last", "best")) == last
    assert find_checkpoint(best) == best
