"""Faults of audio folders (issue 9, items 1, 5, 6): non-finite samples, silence, small folders."""

import math
import warnings

import numpy as np
import pytest
import soundfile as sf
import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate

from ddspfx.data.audio import AudioFolder, is_near_silent, load_audio, min_files_for_split, time_windows
from ddspfx.core.errors import find_error
from ddspfx.data.errors import DataError

SR = 8000


def noise(seconds: float, amp: float = 0.5, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-amp, amp, round(seconds * SR)).astype(np.float32)


def write(path, data, sample_rate: int = SR):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), data, sample_rate, subtype="FLOAT")
    return path


def record(fn):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fn()
    return result, [str(w.message) for w in caught]


def splits(root, **kwargs):
    kwargs = {"sample_rate": SR, "segment_seconds": 0.25, **kwargs}
    return [AudioFolder(root, split=s, **kwargs) for s in ("train", "valid", "test")]


# --- item 1: NaN / Inf samples -------------------------------------------------------------


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_files_with_non_finite_samples_are_skipped_in_every_split_and_named(tmp_path, bad):
    for i in range(10):
        data = noise(0.5, seed=i)
        if i in (3, 7):
            data[1234] = bad
        write(tmp_path / f"{i}.wav", data)
    (train, valid, test), messages = record(lambda: splits(tmp_path))
    kept = train.files + valid.files + test.files
    assert len(kept) == 8 and not {tmp_path / "3.wav", tmp_path / "7.wav"} & set(kept)
    for name in ("3.wav", "7.wav"):
        named = [m for m in messages if name in m]
        assert len(named) == 1 and "non-finite" in named[0] and "0.154 s" in named[0]
    for source in (train, valid, test):  # every crop, random and fixed, is finite
        assert torch.isfinite(source.crops(16, torch.Generator().manual_seed(0))).all()
        assert torch.isfinite(source.fixed_crops(16, seed=1)).all()


def test_non_finite_samples_in_one_channel_are_found(tmp_path):
    data = np.stack([noise(1.0), noise(1.0, seed=1)], 1)
    data[SR - 1, 1] = np.nan
    write(tmp_path / "stereo.wav", data)
    write(tmp_path / "good.wav", noise(1.0))
    source, messages = record(lambda: AudioFolder(tmp_path, SR, 0.25, split_fractions=(1, 0, 0)))
    assert [p.name for p in source.files] == ["good.wav"]
    assert any("stereo.wav" in m and "non-finite" in m for m in messages)


# --- item 5: silence -------------------------------------------------------------------------


def test_silent_files_are_skipped_with_one_warning_counting_them(tmp_path):
    for i in range(3):
        write(tmp_path / f"loud{i}.wav", noise(0.5, seed=i))
    for i in range(4):
        write(tmp_path / f"quiet{i}.wav", noise(0.5, amp=10 ** (-70 / 20), seed=i))  # −70 dBFS
    write(tmp_path / "zero.wav", np.zeros(SR // 2, np.float32))
    source, messages = record(lambda: AudioFolder(tmp_path, SR, 0.25, split_fractions=(1, 0, 0)))
    assert [p.name for p in source.files] == ["loud0.wav", "loud1.wav", "loud2.wav"]
    assert len(messages) == 1 and "skipped 5 of 8 files" in messages[0] and "silent" in messages[0]
    assert "-60 dBFS" in messages[0]
    # the threshold is configurable: at −80 dBFS the −70 dBFS files are kept
    lower = AudioFolder(tmp_path, SR, 0.25, split_fractions=(1, 0, 0), silence_db=-80)
    assert len(lower.files) == 7


def test_an_all_silent_folder_is_an_error_naming_it_and_counting(tmp_path):
    for i in range(9):
        write(tmp_path / f"{i}.wav", np.zeros(SR // 2, np.float32))
    (tmp_path / "broken.wav").write_bytes(b"RIFF garbage" * 50)
    with pytest.warns(UserWarning), pytest.raises(DataError) as caught:
        AudioFolder(tmp_path, SR, 0.25, split_fractions=(1, 0, 0))
    message = str(caught.value)
    assert str(tmp_path) in message and "\n" not in message
    assert "10 files, 10 rejected: 9 silent, 1 unreadable" in message


def test_an_all_silent_folder_fails_in_training_splits_before_any_step(tmp_path):
    """What made an all-silent folder "succeed" with loss 0: valid/test crops were all zeros."""
    for i in range(10):
        write(tmp_path / f"{i}.wav", np.zeros(SR, np.float32))
    with pytest.warns(UserWarning), pytest.raises(DataError, match=f"no usable audio in {tmp_path}: 10 files"):
        splits(tmp_path)


def test_a_small_all_silent_folder_reports_the_silence_not_the_length(tmp_path):
    for i in range(3):  # too few files to split by file, and all silent
        write(tmp_path / f"{i}.wav", np.zeros(5 * SR, np.float32))
    with pytest.warns(UserWarning), pytest.raises(DataError, match=r"no usable audio .*3 files, 3 rejected: 3 silent"):
        AudioFolder(tmp_path, SR, 0.25)


def test_fixed_validation_and_test_crops_skip_silence(tmp_path):
    for i in range(10):  # 0.3 s of sound, then 1.5 s of silence: most crops would be silent
        write(tmp_path / f"{i}.wav", np.concatenate([noise(0.3, seed=i), np.zeros(3 * SR // 2, np.float32)]))
    for source in splits(tmp_path)[1:]:
        crops = source.fixed_crops(32, seed=0)
        assert not is_near_silent(crops, source.min_std, source.min_peak).any()
        torch.testing.assert_close(crops, source.fixed_crops(32, seed=0), rtol=0, atol=0)


# --- item 6: small folders, split by time ----------------------------------------------------


def locate(crop: torch.Tensor, whole: torch.Tensor) -> int:
    """Start of `crop` in `whole` (exact float samples)."""
    return int((whole.unfold(0, len(crop), 1) - crop).abs().sum(1).argmin())


def test_one_long_recording_is_split_by_time_with_one_warning(tmp_path):
    path = write(tmp_path / "session.wav", noise(4.0))
    (train, valid, test), messages = record(lambda: splits(tmp_path, segment_seconds=0.1))
    time_split = [m for m in messages if "by time" in m]
    assert len(set(time_split)) == 1 and "train 0–80 %, valid 80–90 %, test 90–100 %" in time_split[0]
    assert all(s.time_split and s.files == [path] for s in (train, valid, test))
    n = 4 * SR
    assert (train.ranges, valid.ranges, test.ranges) == ([(0, int(0.8 * n))], [(int(0.8 * n), int(0.9 * n))], [(int(0.9 * n), n)])
    whole = load_audio(path, SR)
    for source in (train, valid, test):
        (lo, hi), = source.ranges
        for crop in source.fixed_crops(6, seed=2):
            start = locate(crop, whole)
            assert lo <= start and start + source.segment <= hi


def test_fewer_than_eight_files_are_split_by_time(tmp_path):
    assert min_files_for_split((0.8, 0.1, 0.1)) == 8
    for i in range(5):
        write(tmp_path / f"{i}.wav", noise(3.0, seed=i))
    train, valid, test = splits(tmp_path)
    assert all(s.time_split and len(s.files) == 5 for s in (train, valid, test))
    for i in range(3):
        write(tmp_path / f"x{i}.wav", noise(3.0, seed=10 + i))
    train, valid, test = splits(tmp_path)  # 8 files: dealt by file, as before
    assert not train.time_split and [len(s.files) for s in (train, valid, test)] == [6, 1, 1]


def test_musdb_train_folder_with_one_track_splits_train_and_valid_by_time(tmp_path):
    write(tmp_path / "train" / "a" / "mixture.wav", noise(3.0))
    write(tmp_path / "test" / "b" / "mixture.wav", noise(1.0, seed=1))
    train, valid, test = splits(tmp_path)
    assert train.time_split and valid.time_split and not test.time_split
    n = 3 * SR
    assert train.ranges == [(0, math.floor(n * 8 / 9))] and valid.ranges == [(math.floor(n * 8 / 9), n)]
    assert test.ranges == [(0, SR)]


def test_too_little_audio_says_how_much_is_needed_and_what_to_change(tmp_path):
    write(tmp_path / "short.wav", noise(1.0))  # valid/test shares: 0.1 s < 0.25-s segment
    with pytest.warns(UserWarning, match="by time"), pytest.raises(DataError) as caught:
        AudioFolder(tmp_path, SR, 0.25, split="train")
    message = str(caught.value)
    assert "\n" not in message and str(tmp_path) in message
    assert "≥ 2.50 s" in message and "segment=" in message and "≤ 0.1 s" in message and "8 usable files" in message


def test_time_windows_rule():
    flat = [x for window in time_windows((0.8, 0.1, 0.1)) for x in window]
    assert flat == pytest.approx([0, 0.8, 0.8, 0.9, 0.9, 1.0])
    assert [x for w in time_windows((8, 1)) for x in w] == pytest.approx([0, 8 / 9, 8 / 9, 1.0])


# --- DataError through Hydra -------------------------------------------------------------------


def test_missing_folder_is_a_data_error_found_through_hydra(tmp_path):
    cfg = {"_target_": "ddspfx.data.audio.AudioFolder", "root": str(tmp_path / "nowhere"), "sample_rate": SR}
    with pytest.raises(InstantiationException) as caught:
        instantiate(cfg)
    found = find_error(caught.value, DataError)
    assert isinstance(found, DataError) and "nowhere" in str(found)
    assert find_error(RuntimeError("other"), DataError) is None


# --- bad files do not empty a split: the usable files are dealt ---------------------------------


def test_a_split_dealt_only_bad_files_still_gets_usable_ones(tmp_path):
    """10 files dealt 8/1/1: the one file valid would get holds NaN. Dealing by name left valid
    with nothing usable ("no usable audio for split 'valid'") although 9 good files remain."""
    from ddspfx.data.audio import split_paths

    paths = [tmp_path / f"{i}.wav" for i in range(10)]
    (lonely,) = split_paths(paths, (0.8, 0.1, 0.1), 0)[1]
    for i, path in enumerate(paths):
        data = noise(0.5, seed=i)
        if path == lonely:
            data[100] = np.nan
        write(path, data)
    (train, valid, test), messages = record(lambda: splits(tmp_path))
    assert [len(s.files) for s in (train, valid, test)] == [7, 1, 1] and not train.time_split
    assert lonely not in train.files + valid.files + test.files
    assert len(set().union(train.files, valid.files, test.files)) == 9
    assert len([m for m in messages if lonely.name in m and "non-finite" in m]) == 1


def test_silent_files_that_leave_too_few_usable_files_switch_to_the_time_split(tmp_path):
    for i in range(9):  # 3 loud, 6 silent: valid or test would get only silent files
        write(tmp_path / f"{i}.wav", noise(3.0, seed=i) if i % 3 == 0 else np.zeros(3 * SR, np.float32))
    (train, valid, test), messages = record(lambda: splits(tmp_path))
    assert all(s.time_split and [p.name for p in s.files] == ["0.wav", "3.wav", "6.wav"] for s in (train, valid, test))
    silent = [m for m in messages if "as silent" in m]
    assert len(silent) == 1 and "skipped 6 of 9 files" in silent[0]
    assert len([m for m in messages if "by time" in m]) == 1


def test_an_all_silent_folder_error_counts_the_whole_folder(tmp_path):
    for i in range(10):
        write(tmp_path / f"{i}.wav", np.zeros(SR, np.float32))
    with pytest.warns(UserWarning), pytest.raises(DataError) as caught:
        AudioFolder(tmp_path, SR, 0.25, split="test")
    message = str(caught.value)
    assert f"no usable audio in {tmp_path}: 10 files, 10 rejected: 10 silent" in message
    assert "silence_db" in message and "\n" not in message


def test_a_silent_time_window_is_an_error_naming_the_split(tmp_path):
    """One recording whose last 20 % is silence: valid and test would be silent crops only."""
    write(tmp_path / "take.wav", np.concatenate([noise(8.0), np.zeros(2 * SR, np.float32)]))
    with pytest.warns(UserWarning, match="by time"), pytest.raises(DataError) as caught:
        AudioFolder(tmp_path, SR, 0.25, split="train")
    message = str(caught.value)
    assert "valid/test" in message and "silent" in message and "take.wav" in message and "\n" not in message
