import warnings

import numpy as np
import pytest
import soundfile as sf
import torch
import torchaudio.functional as AF

from ddspfx.data.audio import AudioFileError, AudioFolder, is_near_silent, load_audio, load_recording, probe_audio, read_segment
from ddspfx.data.errors import DataError

SR = 8000


def sine(freq: float, seconds: float, sample_rate: int = SR, amp: float = 0.5) -> np.ndarray:
    t = np.arange(round(seconds * sample_rate)) / sample_rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def write(path, data, sample_rate: int = SR, **kwargs):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), data, sample_rate, **kwargs)
    return path


def peak_frequency(x: torch.Tensor, sample_rate: int) -> float:
    spectrum = torch.fft.rfft(x * torch.hann_window(len(x), dtype=x.dtype)).abs()
    return float(torch.fft.rfftfreq(len(x), 1 / sample_rate)[spectrum.argmax()])


def folder(root, **kwargs):
    """An AudioFolder holding every file in the train split, at SR, with 0.25-s crops."""
    kwargs = {"sample_rate": SR, "segment_seconds": 0.25, "split_fractions": (1, 0, 0), **kwargs}
    return AudioFolder(root, **kwargs)


def record(fn):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fn()
    return result, [str(w.message) for w in caught]


def test_empty_folder_is_an_error_naming_it(tmp_path):
    with pytest.raises(ValueError, match=str(tmp_path)):
        folder(tmp_path)


def test_missing_folder_and_unknown_split_are_errors(tmp_path):
    with pytest.raises(DataError, match="nowhere"):
        folder(tmp_path / "nowhere")
    write(tmp_path / "a.wav", sine(440, 1))
    with pytest.raises(ValueError, match="unknown split 'validation'"):
        folder(tmp_path, split="validation")


def test_bad_files_are_skipped_with_one_warning_each(tmp_path):
    good = write(tmp_path / "good.wav", sine(440, 1))
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    empty = write(tmp_path / "empty.wav", np.zeros(0, np.float32))
    short = write(tmp_path / "short.wav", sine(440, 0.1))
    source, messages = record(lambda: folder(tmp_path))
    assert source.files == [good]
    for path, reason in ((corrupt, "unreadable"), (empty, "empty"), (short, "shorter than one segment")):
        named = [m for m in messages if str(path) in m]
        assert len(named) == 1 and reason in named[0]
    assert len(messages) == 3
    assert {p for p, _ in source.rejected} == {corrupt, empty, short}


def test_a_folder_of_only_bad_files_says_how_many_were_rejected(tmp_path):
    (tmp_path / "corrupt.wav").write_bytes(b"not audio at all" * 100)
    write(tmp_path / "empty.flac", np.zeros(0, np.float32))
    with pytest.warns(UserWarning), pytest.raises(DataError, match=rf"no usable audio .*{tmp_path}.*2 files, 2 rejected.*2 unreadable"):
        folder(tmp_path)


def test_load_audio_errors_name_the_file(tmp_path):
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"\x00\x01" * 500)
    with pytest.raises(AudioFileError, match="corrupt.wav"):
        load_audio(corrupt, SR)
    with pytest.raises(AudioFileError, match="missing.wav"):
        load_audio(tmp_path / "missing.wav", SR)


def test_stereo_is_mixed_to_the_channel_mean(tmp_path):
    left, right = sine(440, 1), sine(1000, 1, amp=0.3)
    path = write(tmp_path / "stereo.wav", np.stack([left, right], 1), subtype="FLOAT")
    mono = load_audio(path, SR)
    assert mono.shape == (SR,)
    torch.testing.assert_close(mono, torch.from_numpy((left + right) / 2))
    crops = folder(tmp_path).crops(4, torch.Generator().manual_seed(0))
    for crop in crops:  # each crop is a contiguous slice of the mono mix
        start = int(torch.argmin((mono.unfold(0, len(crop), 1) - crop).abs().sum(1)))
        torch.testing.assert_close(mono[start : start + len(crop)], crop)


def test_other_rates_are_resampled_keeping_length_and_pitch(tmp_path):
    write(tmp_path / "a.wav", sine(1000, 2, 16000), 16000)
    write(tmp_path / "b.wav", sine(1000, 2, 12000), 12000)
    write(tmp_path / "c.wav", sine(1000, 2))
    source, messages = record(lambda: folder(tmp_path))
    assert len(messages) == 1 and "2 of 3" in messages[0] and "resampled" in messages[0]
    x = load_audio(tmp_path / "a.wav", SR, warn_resample=False)
    assert x.shape == (2 * SR,)
    assert abs(peak_frequency(x, SR) - 1000) < 5
    crops, later = record(lambda: source.crops(6, torch.Generator().manual_seed(1)))
    assert later == []  # said once for the folder, not again for each read
    assert crops.shape == (6, source.segment)
    assert all(abs(peak_frequency(c, SR) - 1000) < 40 for c in crops)


def test_windowed_resampled_reads_match_the_whole_file(tmp_path):
    rng = np.random.default_rng(0)
    path = write(tmp_path / "noise.wav", rng.uniform(-0.5, 0.5, 44100).astype(np.float32), 44100, subtype="FLOAT")
    whole = AF.resample(torch.from_numpy(sf.read(str(path), dtype="float32")[0]), 44100, 16000)
    info = probe_audio(path)
    for start, frames in ((0, 1000), (1234, 4000), (16000 - 777, 777)):
        part = read_segment(info, 16000, start, frames)
        torch.testing.assert_close(part, whole[start : start + frames], atol=1e-5, rtol=0)


def test_flac_and_ogg_are_read(tmp_path):
    write(tmp_path / "a.flac", sine(500, 1))
    write(tmp_path / "b.ogg", sine(500, 1), format="OGG", subtype="VORBIS")
    source = folder(tmp_path)
    assert [p.name for p in source.files] == ["a.flac", "b.ogg"]
    for path in source.files:
        x = load_audio(path, SR)
        assert abs(len(x) - SR) < 100
        assert abs(peak_frequency(x, SR) - 500) < 5


def test_musdb_layout_uses_only_mixtures_and_its_own_split(tmp_path):
    for subset, n in (("train", 10), ("test", 3)):
        for i in range(n):
            track = tmp_path / subset / f"Artist {i} - Song"
            write(track / "mixture.wav", sine(300 + 10 * i, 0.5))
            for stem in ("bass", "drums", "other", "vocals"):
                write(track / f"{stem}.wav", sine(100, 0.5))
            write(track / "._mixture.wav", np.zeros(0, np.float32))  # macOS metadata, must be ignored
    kwargs = {"sample_rate": SR, "segment_seconds": 0.25, "split_fractions": (0.8, 0.2, 0.0)}
    train, valid, test = (AudioFolder(tmp_path, split=s, **kwargs) for s in ("train", "valid", "test"))
    assert all(p.name == "mixture.wav" for s in (train, valid, test) for p in s.files)
    assert (len(train.files), len(valid.files), len(test.files)) == (8, 2, 3)
    assert not set(train.files) & set(valid.files)
    assert all(p.parent.parent.name == "test" for p in test.files)
    assert all(p.parent.parent.name == "train" for p in train.files + valid.files)


def test_plain_split_is_deterministic_and_disjoint(tmp_path):
    for i in range(20):
        write(tmp_path / f"sub{i % 3}" / f"{i:02d}.wav", sine(200 + i, 0.3))
    kwargs = {"sample_rate": SR, "segment_seconds": 0.25}
    parts = [AudioFolder(tmp_path, split=s, **kwargs).files for s in ("train", "valid", "test")]
    assert [len(p) for p in parts] == [16, 2, 2]
    assert len(set().union(*parts)) == 20
    assert AudioFolder(tmp_path, split="valid", **kwargs).files == parts[1]
    assert AudioFolder(tmp_path, split="valid", split_seed=1, **kwargs).files != parts[1]


def test_fixed_crops_depend_only_on_the_seed(tmp_path):
    for i in range(3):
        write(tmp_path / f"{i}.wav", sine(300 + 100 * i, 1))
    source = folder(tmp_path)
    a = source.fixed_crops(8, seed=5)
    assert a.shape == (8, 2000) and a.dtype == torch.float32
    torch.testing.assert_close(a, folder(tmp_path).fixed_crops(8, seed=5), rtol=0, atol=0)
    assert not torch.equal(a, source.fixed_crops(8, seed=6))


def test_half_silent_files_give_no_silent_crops(tmp_path):
    for i in range(3):
        write(tmp_path / f"{i}.wav", np.concatenate([sine(440, 0.5), np.zeros(SR, np.float32)]))
    write(tmp_path / "silent.wav", np.zeros(SR, np.float32))
    crops = folder(tmp_path).crops(64, torch.Generator().manual_seed(0))
    assert not is_near_silent(crops, 1e-2).any()
    assert (crops.abs().amax(1) > 0.1).all()


def test_near_silent_crops_of_a_loud_file_warn_instead_of_looping(tmp_path):
    write(tmp_path / "dc.wav", np.full(SR, 0.5, np.float32))  # loud, but every crop is flat
    source = folder(tmp_path)
    with pytest.warns(UserWarning, match="4 of 4 crops still near-silent"):
        crops = source.crops(4, torch.Generator().manual_seed(0))
    assert crops.shape == (4, source.segment)


def test_load_recording_says_what_it_did_and_refuses_nan(tmp_path):
    stereo = np.stack([sine(440, 0.5), sine(440, 0.5)], axis=1)
    path = write(tmp_path / "stereo.wav", stereo)
    audio, notes = load_recording(path, 16000, "the run's")
    assert audio.shape == (8000,) and audio.dtype == torch.float32  # 0.5 s at 16 kHz
    assert notes == ["2 channels mixed to mono", "resampled from 8000 Hz to 16000 Hz (the run's rate)"]
    assert torch.allclose(audio, load_audio(path, 16000, warn_resample=False))
    assert load_recording(write(tmp_path / "mono.wav", sine(440, 0.1)), SR)[1] == []
    bad = sine(440, 0.1)
    bad[10] = np.nan
    with pytest.raises(AudioFileError, match="nan.wav: contains NaN or infinite samples"):
        load_recording(write(tmp_path / "nan.wav", bad, subtype="FLOAT"), SR)
