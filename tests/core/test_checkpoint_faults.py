"""A full disk while writing a checkpoint is one clear line; orphan temporary files are found."""

from __future__ import annotations

import errno

import pytest
import torch

from ddspfx.core.checkpoint import load_checkpoint, remove_temp_files, save_checkpoint
from ddspfx.core.errors import CheckpointWriteError


def state(value: float) -> dict:
    return {"task": {"w": torch.full((3, 2), value)}, "step": int(value)}


def test_full_disk_names_the_file_and_the_cause(tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path / "checkpoints" / "last.pt", state(1.0))

    def no_space(obj, f, *args, **kwargs):
        f.write(b"PK\x03\x04 half")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", no_space)
    with pytest.raises(CheckpointWriteError) as error:
        save_checkpoint(path, state(5.0))
    message = str(error.value)
    assert "\n" not in message and str(path) in message
    assert "no space left on device" in message and "unchanged" in message
    assert error.value.errno == errno.ENOSPC and isinstance(error.value, OSError)
    monkeypatch.undo()
    assert load_checkpoint(path)["step"] == 1
    assert [p.name for p in path.parent.iterdir()] == ["last.pt"]  # no temporary file left


def test_full_disk_as_torch_reports_it(tmp_path, monkeypatch):
    """torch's zip writer turns the failed write into RuntimeError('unexpected pos …')."""
    real_save = torch.save

    class FullDisk:
        def __init__(self, f):
            self.f, self.n = f, 0

        def write(self, data):
            self.n += 1
            if self.n > 2:
                raise OSError(errno.ENOSPC, "No space left on device")
            return self.f.write(data)

        def flush(self):
            self.f.flush()

    monkeypatch.setattr(torch, "save", lambda obj, f, *a, **k: real_save(obj, FullDisk(f), *a, **k))
    with pytest.raises(CheckpointWriteError, match="no space left on device") as error:
        save_checkpoint(tmp_path / "best.pt", {"w": torch.zeros(10_000)})
    assert "unexpected pos" not in str(error.value) and "best.pt" in str(error.value)


def test_other_errors_propagate_unchanged(tmp_path, monkeypatch):
    def broken(obj, f, *args, **kwargs):
        raise TypeError("cannot pickle")

    monkeypatch.setattr(torch, "save", broken)
    with pytest.raises(TypeError, match="cannot pickle"):
        save_checkpoint(tmp_path / "last.pt", state(1.0))


def test_remove_temp_files(tmp_path):
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    (folder / ".last.pt.1.aa.tmp").write_bytes(b"x")
    (folder / "last.pt").write_bytes(b"y")
    assert [p.name for p in remove_temp_files(tmp_path)] == [".last.pt.1.aa.tmp"]
    assert [p.name for p in folder.iterdir()] == ["last.pt"]
    assert remove_temp_files(tmp_path / "missing") == []


def test_a_data_error_is_found_through_wrapping_exceptions():
    from ddspfx.core.errors import DataError, find_error

    try:
        try:
            raise DataError("AudioFolder: /x is not a folder (source.root)")
        except DataError as inner:
            raise RuntimeError("Error in call to target") from inner
    except RuntimeError as outer:
        assert str(find_error(outer, DataError)) == "AudioFolder: /x is not a folder (source.root)"
        assert find_error(outer, KeyError) is None
