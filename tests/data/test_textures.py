import math
import warnings

import numpy as np
import pytest
import soundfile as sf
import torch

from ddspfx.core.errors import ConfigError, DataError
from ddspfx.data.textures import FrameRecord, load_texture_frames, pitch_shift, split_frames

SR = 8000


def write(path, audio: np.ndarray, sample_rate: int = SR):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), audio.astype(np.float32), sample_rate, subtype="FLOAT")
    return path


def noise(n: int, seed: int = 0, channels: int = 1) -> np.ndarray:
    x = 0.3 * np.random.default_rng(seed).standard_normal((n, channels))
    return x[:, 0] if channels == 1 else x


def sine(hz: float, seconds: float, sample_rate: int = SR) -> np.ndarray:
    return 0.5 * np.sin(2 * np.pi * hz * np.arange(round(seconds * sample_rate)) / sample_rate)


def peak_hz(frame: torch.Tensor, sample_rate: int = SR) -> float:
    spectrum = np.abs(np.fft.rfft(frame.double().numpy() * np.hanning(frame.shape[-1])))
    return float(np.fft.rfftfreq(frame.shape[-1], 1 / sample_rate)[np.argmax(spectrum)])


def load_quietly(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_texture_frames(*args, **kwargs)


def test_files_are_cut_into_frames_at_the_hop(tmp_path):
    a = write(tmp_path / "a.wav", noise(1000, 1))
    b = write(tmp_path / "sub" / "b.wav", noise(2500, 2, channels=2))  # stereo → mean of the channels
    frames = load_texture_frames(tmp_path, SR, frame=256, hop=100)
    assert frames.files == (a, b) and frames.lengths == (1000, 2500)
    counts = [(1000 - 256) // 100 + 1, (2500 - 256) // 100 + 1]  # 8, 23
    assert frames.audio.shape == (sum(counts), 256) and frames.audio.dtype == torch.float32
    assert frames.records[:2] == [FrameRecord(a, 0, 0.0), FrameRecord(a, 100, 0.0)]
    assert frames.records[counts[0]] == FrameRecord(b, 0, 0.0)
    assert frames.start[: counts[0]].tolist() == [100 * m for m in range(counts[0])]
    mono_b = torch.from_numpy(sf.read(str(b), dtype="float32")[0]).mean(dim=1)
    assert torch.equal(frames.audio[counts[0] + 3], mono_b[300:556])
    assert torch.equal(frames.audio[2], torch.from_numpy(noise(1000, 1).astype(np.float32))[200:456])
    assert "31 frames of 256 samples (hop 100) at 8000 Hz from 2 files" in repr(frames)


def test_a_file_at_another_rate_is_resampled_with_one_warning_naming_it(tmp_path):
    path = write(tmp_path / "low.wav", sine(1000.0, 1.0, 22050), sample_rate=22050)
    with pytest.warns(UserWarning, match=r"low\.wav: 22050 Hz, resampled to 44100 Hz") as record:
        frames = load_texture_frames(tmp_path, 44100, frame=4096, hop=4096)
    assert len([w for w in record if "low.wav" in str(w.message)]) == 1
    assert frames.lengths == (44100,) and frames.audio.shape == (44100 // 4096, 4096)
    assert peak_hz(frames.audio[3], 44100) == pytest.approx(1000.0, abs=11)


def test_unusable_files_are_skipped_with_a_warning_naming_each(tmp_path):
    good = write(tmp_path / "good.wav", noise(2000))
    (tmp_path / "broken.wav").write_bytes(b"not audio at all")
    write(tmp_path / "empty.wav", np.zeros(0))
    write(tmp_path / "short.wav", noise(300))
    write(tmp_path / "nan.wav", np.where(np.arange(2000) == 7, np.nan, noise(2000)))
    write(tmp_path / "silent.wav", np.zeros(2000))
    with pytest.warns(UserWarning) as record:
        frames = load_texture_frames(tmp_path, SR, frame=512, hop=256)
    messages = [str(w.message) for w in record]
    reasons = {"broken.wav": "unreadable", "empty.wav": "empty", "nan.wav": "non-finite", "silent.wav": "silent"}
    for name, why in reasons.items():
        assert [m for m in messages if f"skipped {tmp_path / name}" in m and why in m], name
    (short,) = [m for m in messages if "short.wav" in m]
    assert "300 samples" in short and "512 samples needed" in short
    assert len(messages) == 5
    assert frames.files == (good,)


def test_min_frames_skips_files_giving_fewer_frames(tmp_path):
    write(tmp_path / "a.wav", noise(1000))
    write(tmp_path / "b.wav", noise(2000))
    with pytest.warns(UserWarning, match=r"a\.wav.*1000 samples.*min_frames=5 frames: 1536 samples needed"):
        frames = load_texture_frames(tmp_path, SR, frame=512, hop=256, min_frames=5)
    assert [p.name for p in frames.files] == ["b.wav"] and len(frames) == 6


def test_no_usable_file_is_a_data_error_naming_the_folder(tmp_path):
    write(tmp_path / "short.wav", noise(100))
    (tmp_path / "broken.ogg").write_bytes(b"junk")
    with pytest.raises(DataError, match=rf"no usable audio in {tmp_path}: 2 files \(1 unreadable, 1 short\)"):
        load_quietly(tmp_path, SR, frame=512, hop=256)
    with pytest.raises(DataError, match="no aiff file in"):
        load_texture_frames(tmp_path / "..", SR, frame=512, hop=256, extensions=("aiff",))
    with pytest.raises(DataError, match="missing is not a folder"):
        load_texture_frames(tmp_path / "missing", SR, frame=512, hop=256)


@pytest.mark.parametrize(
    "kwargs, key",
    [
        ({"frame": 0}, "frame"),
        ({"hop": 1.5}, "hop"),
        ({"pitch_shifts": (3, 30)}, "pitch_shifts"),
        ({"min_frames": 0}, "min_frames"),
    ],
)
def test_bad_settings_are_config_errors_naming_them(tmp_path, kwargs, key):
    write(tmp_path / "a.wav", noise(2000))
    settings = {"sample_rate": SR, "frame": 512, "hop": 256, **kwargs}
    with pytest.raises(ConfigError, match=key):
        load_texture_frames(tmp_path, **settings)


def test_pitch_shifts_add_aligned_shifted_copies_of_every_frame(tmp_path):
    write(tmp_path / "a.wav", sine(440.0, 1.0))
    frames = load_texture_frames(tmp_path, SR, frame=2048, hop=1024, pitch_shifts=(-12, 0, 12, 12, 7))
    per_version = (SR - 2048) // 1024 + 1  # 6
    assert frames.audio.shape == (4 * per_version, 2048)
    assert frames.shift.tolist() == [0.0] * 6 + [-12.0] * 6 + [12.0] * 6 + [7.0] * 6
    assert torch.equal(frames.start.view(4, 6), frames.start[:6].repeat(4, 1))
    middle = {s: frames.audio[frames.shift == s][3] for s in (0.0, -12.0, 12.0, 7.0)}
    assert peak_hz(middle[0.0]) == pytest.approx(440, abs=4)
    assert peak_hz(middle[12.0]) == pytest.approx(880, abs=8)  # an octave up: twice the frequency
    assert peak_hz(middle[-12.0]) == pytest.approx(220, abs=4)
    assert peak_hz(middle[7.0]) == pytest.approx(440 * 2 ** (7 / 12), abs=6)
    rms = {s: float(x.pow(2).mean().sqrt()) for s, x in middle.items()}
    assert all(r == pytest.approx(rms[0.0], rel=0.05) for r in rms.values())  # the level is kept


def test_pitch_shift_is_deterministic_and_keeps_the_length_of_short_and_batched_signals():
    x = torch.randn(3, 300, generator=torch.Generator().manual_seed(0))
    for semitones in (-12.0, 5.0, 12.0):
        y = pitch_shift(x, SR, semitones)
        assert y.shape == x.shape and torch.isfinite(y).all()
        assert torch.equal(y, pitch_shift(x, SR, semitones))
        assert torch.allclose(y.pow(2).mean(dim=1), x.pow(2).mean(dim=1))  # RMS kept
    assert torch.equal(pitch_shift(x, SR, 0.0), x)
    assert torch.equal(pitch_shift(torch.zeros(2000), SR, 3.0), torch.zeros(2000))  # silence stays silence


@pytest.fixture
def many_files(tmp_path):
    for i in range(10):
        write(tmp_path / f"f{i}.wav", noise(1000 + 100 * i, i))
    return load_texture_frames(tmp_path, SR, frame=256, hop=128)


def test_split_by_file_keeps_each_files_frames_together(many_files):
    parts = split_frames(many_files, (0.8, 0.1, 0.1), seed=0)
    assert [p.numel() > 0 for p in parts] == [True, True, True]
    joined = torch.cat(parts).sort().values
    assert torch.equal(joined, torch.arange(len(many_files)))  # disjoint and complete
    files = [set(many_files.file_index[p].tolist()) for p in parts]
    assert [len(f) for f in files] == [8, 1, 1] and len(files[0] | files[1] | files[2]) == 10  # disjoint
    assert all(torch.equal(a, b) for a, b in zip(parts, split_frames(many_files, (0.8, 0.1, 0.1), seed=0)))
    other = [set(many_files.file_index[p].tolist()) for p in split_frames(many_files, (0.8, 0.1, 0.1), seed=1)]
    assert other != files
    train, valid, test = many_files.split(seed=0)
    assert torch.equal(valid.audio, many_files.audio[parts[1]]) and valid.files == many_files.files


def test_few_files_are_split_by_time_windows(tmp_path):
    write(tmp_path / "a.wav", noise(10000, 1))
    write(tmp_path / "b.wav", noise(5000, 2))
    frames = load_texture_frames(tmp_path, SR, frame=200, hop=100, pitch_shifts=(-3,))
    parts = split_frames(frames, (0.8, 0.1, 0.1), seed=0)
    assert all(p.numel() > 0 for p in parts)
    assert len(set(torch.cat(parts).tolist())) == sum(p.numel() for p in parts)  # disjoint
    length = torch.tensor(frames.lengths)[frames.file_index]
    for p, (a, b) in zip(parts, [(0.0, 0.8), (0.8, 0.9), (0.9, 1.0)]):
        assert (frames.start[p] >= torch.floor(a * length[p])).all()
        assert (frames.start[p] + 200 <= torch.floor(b * length[p])).all()
        assert set(frames.file_index[p].tolist()) == {0, 1}
        assert (frames.shift[p] == 0).sum() == (frames.shift[p] == -3).sum()  # a frame's copies go with it
    assert all(torch.equal(a, b) for a, b in zip(parts, split_frames(frames, (0.8, 0.1, 0.1), seed=5)))
    # frames across a boundary belong to no split
    assert sum(p.numel() for p in parts) < len(frames)


def test_a_split_without_a_frame_is_a_data_error(tmp_path):
    write(tmp_path / "a.wav", noise(1000))
    frames = load_texture_frames(tmp_path, SR, frame=256, hop=64)
    with pytest.raises(DataError, match=r"split 'valid' of .* gets no frame.*shorter frame"):
        split_frames(frames, (0.8, 0.1, 0.1))
    train, valid, test = split_frames(frames, (0.5, 0.0, 0.5))
    assert valid.numel() == 0 and train.numel() > 0 and test.numel() > 0
    assert math.isclose(train.numel(), test.numel(), abs_tol=1)
