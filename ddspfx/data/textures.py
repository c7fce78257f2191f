"""Texture recordings cut into frames: the training data of the texture task (reference §4.5).

`load_texture_frames(root, sample_rate, frame, hop)` reads every wav/flac/ogg file under `root`
(recursively, sorted; `ddspfx.data.audio.find_audio_files`) with `load_audio`: mono (the mean of
the channels), resampled to `sample_rate` (one warning naming each such file). Skipped, with one
warning naming each: unreadable or empty files, files holding NaN or ±Inf, silent files (peak
below −60 dBFS) and files too short to give `min_frames` frames. No usable file is a `DataError`
naming `root`.

Each file of L samples gives (L − frame) // hop + 1 frames, frame m holding samples
[m·hop, m·hop + frame) (the reference drops the last of these). Frames are float32, as read (the
texture task z-normalizes them itself).

Pitch-shift augmentation (the reference: librosa shifts of −12, −9, …, +12 semitones per segment):
every file is also shifted by each of `pitch_shifts` semitones and cut at the same starts, so each
frame gets one shifted copy per shift, aligned with it in time. The shift (`pitch_shift`) keeps
the duration: a phase-vocoder time stretch by 2^(s/12) with identity phase locking
(`phase_vocoder`; STFT of ~46 ms, hop 1/4), then band-limited resampling back to the original
length by FFT (truncating or zero-padding the spectrum), scaled back to the file's RMS. It is
deterministic. Cost, measured on one CPU core at 44.1 kHz: 0.5 s (−12) to 1.5 s (+12) per shift
and minute of audio; peak working memory ≈ 8 bytes × 10 × the stretched STFT's frames (chunked) plus
the stretched STFT itself (~90 MB per minute at +12). Shifting whole files rather than frames
avoids edge effects at every frame; only the two ends of a file may ring a little (the FFT
resampling treats the file as periodic). Not used: `torchaudio.functional.pitch_shift`, whose
resampler (for the rate sample_rate / 2^(−s/12) rounded to an integer) took 110 s and was killed
for lack of memory on 30 s of 44.1-kHz audio at some shifts (−6 semitones), and whose phase
vocoder, like librosa's, has no phase locking: a shifted sine loses 6 dB.

`split_frames` deals the frames into train / valid / test like `ddspfx.data.audio.AudioFolder`
deals files: by file when every split of positive fraction gets one (a file's frames, shifted
copies included, stay together), otherwise by time within each file.
"""

from __future__ import annotations

import math
import numbers
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F

from ddspfx.core.errors import ConfigError
from ddspfx.data.audio import (
    AUDIO_EXTENSIONS,
    SILENCE_DB,
    SPLITS,
    AudioFileError,
    check_fractions,
    find_audio_files,
    load_audio,
    min_files_for_split,
    split_paths,
    time_windows,
)
from ddspfx.data.errors import DataError
from ddspfx.data.synthetic_textures import TEXTURES, write_synthetic_textures
from ddspfx.dsp.filters import next_power_of_two

SHIFT_WINDOW_S = 0.046  # s, the phase vocoder's STFT (rounded up to 2048 samples at 44.1 kHz)
MAX_SHIFT = 24.0  # semitones either way
VOCODER_CHUNK = 512  # output frames the phase vocoder computes at once


class FrameRecord(NamedTuple):
    """Where a frame comes from: its file, its first sample (at the frames' rate) and its shift."""

    file: Path
    start: int
    shift: float


@dataclass(frozen=True)
class TextureFrames:
    """Frames of the texture recordings of a folder (see the module doc).

    Attributes:
        audio: `(n, frame)` float32 frames.
        file_index: `(n,)` long, the frame's file in `files`.
        start: `(n,)` long, its first sample in that file, at `sample_rate`.
        shift: `(n,)` float32, its pitch shift in semitones (0: the original).
        files: the usable files, sorted.
        lengths: their lengths in samples at `sample_rate`.
        root: the folder they were found in.
        sample_rate: Hz; frame, hop: samples.
    """

    audio: torch.Tensor
    file_index: torch.Tensor
    start: torch.Tensor
    shift: torch.Tensor
    files: tuple[Path, ...]
    lengths: tuple[int, ...]
    root: Path
    sample_rate: int
    frame: int
    hop: int

    def __len__(self) -> int:
        return self.audio.shape[0]

    def __repr__(self) -> str:
        return (
            f"TextureFrames({str(self.root)!r}, {len(self)} frames of {self.frame} samples (hop {self.hop}) "
            f"at {self.sample_rate} Hz from {len(self.files)} files)"
        )

    @property
    def records(self) -> list[FrameRecord]:
        """`(file, start, shift)` of every frame, in order."""
        return [
            FrameRecord(self.files[i], s, h)
            for i, s, h in zip(self.file_index.tolist(), self.start.tolist(), self.shift.tolist())
        ]

    def select(self, index: torch.Tensor) -> TextureFrames:
        """The frames `index` `(k,)` (long or bool), with their records; files and lengths kept."""
        return replace(
            self,
            audio=self.audio[index],
            file_index=self.file_index[index],
            start=self.start[index],
            shift=self.shift[index],
        )

    def split(self, fractions: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0) -> list[TextureFrames]:
        """The train, valid and test frames (`split_frames`)."""
        return [self.select(index) for index in split_frames(self, fractions, seed)]


def nearest_peaks(magnitude: torch.Tensor) -> torch.Tensor:
    """`(..., bins, frames)` long: for each bin, the nearest bin of its frame whose magnitude is ≥
    both neighbours' (a spectral peak; the lower one on a tie of distance)."""
    bins = magnitude.shape[-2]
    below = F.pad(magnitude[..., :-1, :], (0, 0, 1, 0), value=-1.0)
    above = F.pad(magnitude[..., 1:, :], (0, 0, 0, 1), value=-1.0)
    peak = (magnitude >= below) & (magnitude >= above)
    index = torch.arange(bins).view(bins, 1).expand_as(magnitude)
    far = 2 * bins
    left = torch.where(peak, index, -far).cummax(dim=-2).values
    right = -torch.where(peak, -index, -far).flip(-2).cummax(dim=-2).values.flip(-2)
    return torch.where(index - left <= right - index, left, right).clamp(0, bins - 1)


def phase_vocoder(spectrum: torch.Tensor, rate: float, hop: int, chunk: int = VOCODER_CHUNK) -> torch.Tensor:
    """Time-stretch a one-sided STFT `(..., bins, frames)` by 1/`rate` (rate < 1: longer), with
    identity phase locking (Laroche & Dolson, 1999).

    Output frame j reads the input at t = j·rate frames: magnitudes interpolated linearly between
    frames ⌊t⌋ and ⌊t⌋ + 1, phase advanced by the instantaneous frequency measured between them.
    Each bin advances with the frequency of its nearest spectral peak and keeps its analysis phase
    offset from that peak, so the bins of one partial stay coherent: a stretched sine keeps its
    level (without locking, as in `torchaudio.functional.phase_vocoder` or librosa, it loses up to
    6 dB). Computed `chunk` output frames at a time (the accumulated phase carried over) to bound
    the working memory.

    Returns:
        `(..., bins, ceil(frames / rate))` complex.
    """
    bins, frames = spectrum.shape[-2:]
    steps = torch.arange(0, frames, rate, dtype=torch.float64)
    padded = F.pad(spectrum, (0, 2))
    n_fft = 2 * (bins - 1)
    expected = (2 * math.pi * hop / n_fft) * torch.arange(bins, dtype=torch.float64).view(bins, 1)  # rad per hop
    carry = torch.angle(spectrum[..., :1]).double()  # accumulated phase of the next output frame, per bin
    out = []
    for part in steps.split(chunk):
        first = part.floor().long()
        alpha = (part - first).to(spectrum.real.dtype)
        left, right = padded[..., first], padded[..., first + 1]
        magnitude = (1 - alpha) * left.abs() + alpha * right.abs()
        analysis = torch.angle(left)
        deviation = (torch.angle(right) - analysis - expected).double()
        advance = (deviation - 2 * math.pi * torch.round(deviation / (2 * math.pi))) + expected
        peaks = nearest_peaks(left.abs())
        steps_taken = advance.gather(-2, peaks).cumsum(-1)  # float64: the phase grows by ~π·hop per frame
        accumulated = torch.remainder(torch.cat([carry, carry + steps_taken[..., :-1]], dim=-1), 2 * math.pi)
        carry = torch.remainder(carry + steps_taken[..., -1:], 2 * math.pi)
        phase = accumulated.to(analysis.dtype).gather(-2, peaks) + analysis - analysis.gather(-2, peaks)
        out.append(torch.polar(magnitude, phase))
    return torch.cat(out, dim=-1)


def pitch_shift(audio: torch.Tensor, sample_rate: int, semitones: float) -> torch.Tensor:
    """`audio` `(..., samples)` shifted by `semitones`, same length and dtype (see the module doc).

    A phase-vocoder stretch (`phase_vocoder`; STFT of `SHIFT_WINDOW_S` rounded up to a power of
    two, hop 1/4, Hann) to round(L · 2^(s/12)) samples, then FFT resampling back to L samples:
    pitch × 2^(s/12), duration unchanged. The result is scaled to the RMS of `audio` (the vocoder
    loses up to 3 dB on noise-like sound). A signal shorter than the STFT is zero-padded for the shift.
    """
    if semitones == 0:
        return audio.clone()
    length = audio.shape[-1]
    n_fft = next_power_of_two(max(16, round(SHIFT_WINDOW_S * sample_rate)))
    hop = n_fft // 4
    x = F.pad(audio.float(), (0, max(0, n_fft - length)))
    padded = x.shape[-1]
    ratio = 2.0 ** (semitones / 12)
    window = torch.hann_window(n_fft)
    spectrum = torch.stft(x, n_fft, hop, window=window, return_complex=True)
    n_stretched = round(padded * ratio)
    y = torch.istft(phase_vocoder(spectrum, 1 / ratio, hop), n_fft, hop, window=window, length=n_stretched)
    bins = padded // 2 + 1
    spectrum = torch.fft.rfft(y)
    spectrum = F.pad(spectrum[..., :bins], (0, max(0, bins - spectrum.shape[-1])))  # band-limited: truncate or zero-pad
    shifted = torch.fft.irfft(spectrum, n=padded)[..., :length]
    return (shifted * (_rms(x[..., :length]) / _rms(shifted).clamp_min(1e-12))).to(audio.dtype)


def _rms(x: torch.Tensor) -> torch.Tensor:
    """`(..., 1)` root mean square over the last axis."""
    return x.pow(2).mean(dim=-1, keepdim=True).sqrt()


def _check_settings(sample_rate, frame, hop, pitch_shifts, min_frames) -> tuple[float, ...]:
    """The nonzero shifts, deduplicated in order; ConfigError naming a bad argument."""
    for name, value in (("sample_rate", sample_rate), ("frame", frame), ("hop", hop), ("min_frames", min_frames)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise ConfigError(f"load_texture_frames: {name} must be an int ≥ 1, got {value!r}")
    shifts = []
    for s in pitch_shifts:
        if isinstance(s, bool) or not isinstance(s, numbers.Real) or not abs(s) <= MAX_SHIFT:
            raise ConfigError(
                f"load_texture_frames: pitch_shifts must be semitones within ±{MAX_SHIFT:g}, got {s!r}"
            )
        if s != 0 and float(s) not in shifts:
            shifts.append(float(s))
    return tuple(shifts)


def usable_recording(
    path: Path, sample_rate: int, needed: int, what: str, owner: str
) -> tuple[torch.Tensor | None, str]:
    """(the file's mono audio at `sample_rate`, "") if it has ≥ `needed` samples (`what`, e.g. "one
    frame", in the message), else (None, the kind of fault: "unreadable", "non-finite", "silent" or
    "short"), after a warning `<owner>: skipped <path>: <why>`."""

    def skip(reason: str) -> None:
        warnings.warn(f"{owner}: skipped {path}: {reason}", stacklevel=4)

    try:
        audio = load_audio(path, sample_rate)
    except AudioFileError as err:
        skip(str(err).removeprefix(f"{path}: "))
        return None, "unreadable"
    if not torch.isfinite(audio).all():
        skip("non-finite samples (NaN or Inf)")
        return None, "non-finite"
    if audio.numel() < needed:
        skip(f"{audio.numel()} samples ({audio.numel() / sample_rate:.3f} s at {sample_rate} Hz) are shorter than "
             f"{what}: {needed} samples needed")
        return None, "short"
    if audio.abs().max() < 10 ** (SILENCE_DB / 20):
        skip(f"silent (peak below {SILENCE_DB:g} dBFS)")
        return None, "silent"
    return audio, ""


def load_texture_frames(
    root: str | os.PathLike,
    sample_rate: int,
    frame: int,
    hop: int,
    pitch_shifts: Sequence[float] = (),
    min_frames: int = 1,
    extensions: Sequence[str] = AUDIO_EXTENSIONS,
) -> TextureFrames:
    """Every audio file under `root` cut into frames, with optional pitch-shifted copies.

    Args:
        root: folder of recordings (searched recursively).
        sample_rate: Hz of the frames; files at another rate are resampled (a warning each).
        frame: samples per frame.
        hop: samples between frame starts.
        pitch_shifts: semitones (within ±24); each nonzero one adds a shifted copy of every frame
            (0, the original, is always there; repeats count once). The reference: −12, −9, …, 12.
        min_frames: a file giving fewer frames is skipped (1: a file shorter than one frame).
        extensions: file name endings accepted (case-insensitive).

    Returns:
        `TextureFrames`: per file, its original frames in time order, then those of each shift in
        the order given. (1 + shifts) · Σ_files ((L − frame) // hop + 1) frames.

    Raises:
        ConfigError: a bad argument (named).
        DataError: `root` is not a folder, holds no audio file, or no usable one.
    """
    shifts = _check_settings(sample_rate, frame, hop, pitch_shifts, min_frames)
    sample_rate, frame, hop, min_frames = int(sample_rate), int(frame), int(hop), int(min_frames)
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"load_texture_frames: {root} is not a folder")
    paths = find_audio_files(root, extensions)
    if not paths:
        raise DataError(f"load_texture_frames: no {'/'.join(extensions)} file in {root} (searched recursively)")
    needed = frame + (min_frames - 1) * hop
    files, lengths, pieces, faults = [], [], [], []
    for path in paths:
        what = "one frame" if min_frames == 1 else f"min_frames={min_frames} frames"
        audio, fault = usable_recording(path, sample_rate, needed, what, "load_texture_frames")
        if audio is None:
            faults.append(fault)
            continue
        file = len(files)
        files.append(path)
        lengths.append(audio.numel())
        for semitones in (0.0, *shifts):
            frames = pitch_shift(audio, sample_rate, semitones).unfold(0, frame, hop)
            starts = torch.arange(frames.shape[0]) * hop
            pieces.append((frames, torch.full_like(starts, file), starts, torch.full(starts.shape, semitones)))
    if not files:
        counts = ", ".join(f"{faults.count(k)} {k}" for k in dict.fromkeys(faults))
        raise DataError(
            f"load_texture_frames: no usable audio in {root}: {len(paths)} files ({counts}); frames of "
            f"{frame} samples ({frame / sample_rate:.3f} s at {sample_rate} Hz) need files of ≥ {needed} samples"
        )
    audio, file_index, start, shift = (torch.cat(parts) for parts in zip(*pieces))
    return TextureFrames(
        audio.contiguous(), file_index, start, shift, tuple(files), tuple(lengths), root, sample_rate, frame, hop
    )


def split_frames(
    frames: TextureFrames, fractions: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0
) -> list[torch.Tensor]:
    """Indices `(k,)` (long, ascending) of the train, valid and test frames (`split_segments`)."""
    return split_segments(frames.files, frames.lengths, frames.file_index, frames.start, frames.frame,
                          frames.root, fractions, seed, what="frame")


def split_segments(
    files: Sequence[Path],
    lengths: Sequence[int],
    file_index: torch.Tensor,
    start: torch.Tensor,
    span: int,
    root: Path,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    what: str = "frame",
) -> list[torch.Tensor]:
    """Indices `(k,)` (long, ascending) of the train, valid and test segments (frames, grains) of
    `span` samples cut from `files` (segment i: file `file_index[i]`, first sample `start[i]`):
    disjoint, deterministic, and no audio shared between splits.

    By file when `ddspfx.data.audio.split_paths` (a permutation fixed by `seed`) gives every split
    of positive fraction a file: a file's segments, shifted copies included, go together. Otherwise
    (too few files: 8 at 80/10/10) by time, as `AudioFolder` does: split k keeps, in every file of
    L samples, the segments wholly inside samples [floor(c_k·L), floor(c_(k+1)·L)), c the cumulative
    normalized fractions (`time_windows`); segments across a boundary belong to no split.

    Raises:
        ValueError: fractions that are not three non-negative numbers.
        DataError: a split of positive fraction without a segment (names the folder and what to change).
    """
    fractions = check_fractions(fractions)
    parts = split_paths(list(files), fractions, seed)
    if all(part or f <= 0 for part, f in zip(parts, fractions)):
        order = {path: k for k, part in enumerate(parts) for path in part}
        split_of_file = torch.tensor([order[path] for path in files])
        split_of_segment = split_of_file[file_index]
        return [(split_of_segment == k).nonzero().squeeze(1) for k in range(len(fractions))]
    file_lengths = torch.tensor(lengths, dtype=torch.float64)[file_index]
    out = []
    for k, (a, b) in enumerate(time_windows(fractions)):
        first, stop = torch.floor(a * file_lengths), torch.floor(b * file_lengths)
        inside = (start >= first) & (start + span <= stop)
        index = inside.nonzero().squeeze(1) if fractions[k] > 0 else torch.zeros(0, dtype=torch.long)
        if fractions[k] > 0 and index.numel() == 0:
            raise DataError(
                f"split: split {SPLITS[k]!r} of {root} gets no {what}: {len(files)} usable "
                f"files are too few to deal by file ({min_files_for_split(fractions)} needed at split_fractions="
                f"{fractions}), and no file holds a whole {what} of {span} samples in its "
                f"{round(100 * a)}–{round(100 * b)} % time window; use a shorter {what}, longer recordings or "
                f"more files"
            )
        out.append(index)
    return out


TEXTURE_DATA = {  # the texture tasks' `data` keys and defaults (`resolve_texture_folder` reads the first three)
    "root": None,  # a folder of recordings (or of texture sub-folders); None: the synthetic textures
    "texture": "rain",  # the synthetic texture, or the sub-folder of `root` when it exists
    "synthetic": {"folder": "outputs/data/synthetic_textures", "seconds": 60.0, "seed": 0},
    "hop": None,  # samples between excerpt starts; None: sequence · frame (excerpts side by side)
    "pitch_shifts": [],  # semitones of augmentation copies (the reference: -12, -9, ..., 12)
    "valid_fraction": 0.1,
    "test_fraction": 0.1,
    "seed": 0,  # the split's seed
}


def resolve_texture_folder(data: Mapping[str, Any], sample_rate: int) -> tuple[str, Path]:
    """`(name, folder)` of the recordings: `data.root` (its sub-folder `data.texture` when there is
    one, else the whole folder), or the synthetic texture `data.texture`, written once under
    `data.synthetic.folder`."""
    texture = data.get("texture")
    root = data.get("root")
    if root is None:
        if texture not in TEXTURES:
            raise ConfigError(f"data.texture={texture!r} is not a synthetic texture; known: {', '.join(TEXTURES)}")
        synthetic = dict(data["synthetic"])
        folder = Path(synthetic.pop("folder"))
        write_synthetic_textures(folder, sample_rate=sample_rate, textures=[texture], **synthetic)
        return str(texture), folder / str(texture)
    root = Path(root)
    if texture is not None and (root / str(texture)).is_dir():
        return str(texture), root / str(texture)
    return root.name, root
