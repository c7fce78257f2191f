"""Audio files as a source of random mono crops (the dry music of the mastering task, A.13 / B.6).

Every source of dry audio implements the same small interface (`CropSource`):

    sample_rate: int                      Hz of the crops
    segment: int                          samples per crop
    crops(n, generator) -> (n, segment)   fresh random crops (training)
    fixed_crops(n, seed) -> (n, segment)  the same crops for the same seed (validation / test)

Crops are float32 and returned as read (no normalization). A crop is *near-silent* when its peak
is below `MIN_PEAK` (−80 dBFS) or when the standard deviation of the peak-normalized crop is below
`min_std` (the reference keeps crops whose std after peak normalization exceeds 1e-2). Near-silent
crops are redrawn up to `max_draws` times, then accepted with a warning.

Files are read with soundfile (wav, flac, ogg), mixed to mono by the mean of the channels and
resampled with `torchaudio.functional.resample` when their rate differs from the one asked for.
"""

from __future__ import annotations

import itertools
import math
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio.functional as AF

from ddspfx.data.errors import DataError

AUDIO_EXTENSIONS = ("wav", "flac", "ogg")
SPLITS = ("train", "valid", "test")
MIN_PEAK = 1e-4  # −80 dBFS: below this a crop is silent whatever its shape
SILENCE_DB = -60.0  # AudioFolder: a file (or crop) whose peak is below this is silent
SCAN_BLOCK = 4096  # frames per peak of the scan of a file (`scan_audio`)
MIXTURE_STEM = "mixture"  # MUSDB18-HQ track folders: mixture.wav next to the stems

# torchaudio's resampling defaults, used to size the context read around a crop.
_LOWPASS_WIDTH = 6
_ROLLOFF = 0.99


class AudioFileError(DataError):
    """An audio file that cannot be used: unreadable, empty, or asked for frames it lacks."""


@dataclass(frozen=True)
class AudioInfo:
    """What `soundfile.info` says about a file: rate in Hz, length in frames (per channel)."""

    path: Path
    sample_rate: int
    frames: int
    channels: int

    def frames_at(self, sample_rate: int) -> int:
        """Length in samples once resampled to `sample_rate` (rounded down)."""
        return self.frames * int(sample_rate) // self.sample_rate


def probe_audio(path: str | os.PathLike) -> AudioInfo:
    """Header of an audio file; raises `AudioFileError` naming the file if unreadable or empty."""
    path = Path(path)
    try:
        info = sf.info(str(path))
    except (sf.SoundFileError, RuntimeError, OSError, TypeError, ValueError) as err:
        raise AudioFileError(f"{path}: unreadable audio file ({err})") from err
    if info.frames <= 0:
        raise AudioFileError(f"{path}: empty audio file (0 frames)")
    if info.samplerate <= 0 or info.channels <= 0:
        raise AudioFileError(f"{path}: invalid header ({info.samplerate} Hz, {info.channels} channels)")
    return AudioInfo(path, int(info.samplerate), int(info.frames), int(info.channels))


def _read_mono(path: Path, start: int, frames: int) -> torch.Tensor:
    """Frames [start, start + frames) of a file at its own rate, channel mean → `(frames_read,)`."""
    try:
        data, _ = sf.read(str(path), start=start, frames=frames, dtype="float32", always_2d=True)
    except (sf.SoundFileError, RuntimeError, OSError, ValueError) as err:
        raise AudioFileError(f"{path}: cannot read frames {start}..{start + frames} ({err})") from err
    return torch.from_numpy(data).mean(dim=1)


def _resample_context(file_rate: int, sample_rate: int) -> tuple[int, int, int]:
    """(stride_in, stride_out, width) of torchaudio's sinc resampler from `file_rate` to `sample_rate`.

    The resampler maps every block of `stride_in` input frames to `stride_out` output samples and
    looks `width` input frames to each side. A window read from a stride-aligned frame, with
    `width` frames of context on both sides, therefore resamples to exactly the samples the whole
    file would give there.
    """
    g = math.gcd(file_rate, sample_rate)
    stride_in, stride_out = file_rate // g, sample_rate // g
    width = math.ceil(_LOWPASS_WIDTH * stride_in / (min(stride_in, stride_out) * _ROLLOFF))
    return stride_in, stride_out, width + 1


def read_segment(info: AudioInfo, sample_rate: int, start: int = 0, frames: int = -1) -> torch.Tensor:
    """Samples [start, start + frames) of a probed file, mono, at `sample_rate` → `(samples,)`.

    `start` and `frames` count samples at `sample_rate` (frames = −1: to the end). Only the frames
    needed (plus the resampler's context) are read. Fewer samples are returned when the file ends
    first, as soundfile does. No warning: callers say once that they resample.
    """
    if start < 0:
        raise AudioFileError(f"{info.path}: start must be ≥ 0, got {start}")
    if info.sample_rate == sample_rate:
        return _read_mono(info.path, start, frames)
    stride_in, stride_out, width = _resample_context(info.sample_rate, sample_rate)
    first = (max(0, start * info.sample_rate // sample_rate - width) // stride_in) * stride_in
    if frames < 0:
        last = info.frames
    else:
        last = min(info.frames, -(-(start + frames) * info.sample_rate // sample_rate) + width)
    native = _read_mono(info.path, first, max(0, last - first))
    if native.numel() == 0:
        return native
    resampled = AF.resample(native, info.sample_rate, sample_rate)
    offset = start - first // stride_in * stride_out
    stop = None if frames < 0 else offset + frames
    return resampled[offset:stop]


def load_audio(
    path: str | os.PathLike,
    sample_rate: int,
    start: int = 0,
    frames: int = -1,
    warn_resample: bool = True,
) -> torch.Tensor:
    """Read a wav/flac/ogg file as mono float32 at `sample_rate`.

    Args:
        path: the audio file.
        sample_rate: Hz of the result; a file at another rate is resampled (with a warning naming
            the file unless `warn_resample` is False).
        start: first sample, counted at `sample_rate`.
        frames: number of samples at `sample_rate`; −1 reads to the end.

    Returns:
        `(samples,)` float32, the mean of the channels. Shorter than `frames` if the file ends first.

    Raises:
        AudioFileError: unreadable or empty file (the message names it).
    """
    info = probe_audio(path)
    if warn_resample and info.sample_rate != sample_rate:
        warnings.warn(f"{info.path}: {info.sample_rate} Hz, resampled to {sample_rate} Hz", stacklevel=2)
    return read_segment(info, int(sample_rate), start, frames)


def load_recording(path: str | os.PathLike, sample_rate: int, rate_owner: str = "the model's") -> tuple[torch.Tensor, list[str]]:
    """A recording a script processes: mono float32 `(samples,)` at `sample_rate`, and what was
    done to it, for the script to print ("2 channels mixed to mono", "resampled from 48000 Hz to
    44100 Hz (<rate_owner> rate)"; empty when nothing).

    Raises:
        AudioFileError: unreadable or empty file, or NaN / infinite samples (the message names it).
    """
    info = probe_audio(path)
    notes = []
    if info.channels > 1:
        notes.append(f"{info.channels} channels mixed to mono")
    if info.sample_rate != sample_rate:
        notes.append(f"resampled from {info.sample_rate} Hz to {sample_rate} Hz ({rate_owner} rate)")
    audio = read_segment(info, int(sample_rate))
    if not torch.isfinite(audio).all():
        raise AudioFileError(f"{path}: contains NaN or infinite samples")
    return audio, notes


@dataclass(frozen=True)
class AudioScan:
    """What reading a whole file found: `peaks[i]` is the peak of the mono mix (channel mean) over
    native frames [i·SCAN_BLOCK, (i + 1)·SCAN_BLOCK); `nonfinite_at` is the first frame holding a NaN
    or ±Inf sample in any channel (None if every sample is finite); `frames` the frames read."""

    peaks: np.ndarray
    nonfinite_at: int | None
    frames: int

    @property
    def peak(self) -> float:
        return float(self.peaks.max()) if self.peaks.size else 0.0

    def window_peak(self, path: Path, start: int, stop: int) -> float:
        """Peak of the mono mix over native frames [start, stop) of the scanned file at `path`: the
        blocks inside the window from the scan, the partial blocks at its two ends read again (at
        most 2·SCAN_BLOCK frames), so a loud block next to the window does not count."""
        stop = min(stop, self.frames)
        if stop <= start:
            return 0.0
        lo, hi = -(-start // SCAN_BLOCK), stop // SCAN_BLOCK  # the blocks wholly inside
        edges = [(start, stop)] if lo >= hi else [(start, lo * SCAN_BLOCK), (hi * SCAN_BLOCK, stop)]
        peak = float(self.peaks[lo:hi].max()) if hi > lo else 0.0
        for a, b in edges:
            if b > a:
                peak = max(peak, float(_read_mono(path, a, b - a).abs().max()))
        return peak


_SCANS: dict[tuple, AudioScan] = {}  # (path, size, mtime_ns) → scan: each file is read once a process


def scan_audio(info: AudioInfo) -> AudioScan:
    """Read a whole file once (in blocks) for its peaks and its first non-finite sample.

    Cached per process by (path, size, modification time), so the train, valid and test splits of a
    folder read a file once. Raises `AudioFileError` naming the file if it cannot be read to the end.
    """
    path = info.path
    try:
        stat = path.stat()
        key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    except OSError as err:
        raise AudioFileError(f"{path}: unreadable audio file ({err.strerror or err})") from err
    if key in _SCANS:
        return _SCANS[key]
    peaks, nonfinite_at, frames = [], None, 0
    try:
        with sf.SoundFile(str(path)) as f:
            for block in f.blocks(blocksize=SCAN_BLOCK * 64, dtype="float32", always_2d=True):
                finite = np.isfinite(block).all(axis=1)
                if nonfinite_at is None and not finite.all():
                    nonfinite_at = frames + int(np.argmin(finite))
                mono = np.abs(np.where(finite, block.mean(axis=1), 0.0))
                pad = -len(mono) % SCAN_BLOCK
                peaks.append(np.pad(mono, (0, pad)).reshape(-1, SCAN_BLOCK).max(axis=1))
                frames += len(block)
    except (sf.SoundFileError, RuntimeError, OSError, ValueError) as err:
        raise AudioFileError(f"{path}: unreadable audio file ({err})") from err
    scan = AudioScan(np.concatenate(peaks) if peaks else np.zeros(0, np.float32), nonfinite_at, frames)
    _SCANS[key] = scan
    return scan


def is_near_silent(crops: torch.Tensor, min_std: float, min_peak: float = MIN_PEAK) -> torch.Tensor:
    """Which crops are near-silence: peak < min_peak, or std(crop / peak) < min_std.

    Args:
        crops: `(n, samples)` audio.

    Returns:
        `(n,)` bool.
    """
    peak = crops.abs().amax(dim=-1)
    std = (crops / peak.clamp_min(min_peak).unsqueeze(-1)).std(dim=-1, correction=0)
    return (peak < min_peak) | (std < min_std)


class CropSource:
    """Base of the crop sources: redraws near-silent crops; subclasses implement `_draw`."""

    sample_rate: int
    segment: int
    min_std: float
    min_peak: float = MIN_PEAK
    max_draws: int = 20

    def _draw(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """`(n, segment)` random crops, silent or not."""
        raise NotImplementedError

    def crops(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """`(n, segment)` float32 random crops, as read; near-silent ones redrawn (see module doc)."""
        if n < 0:
            raise ValueError(f"{type(self).__name__}.crops: n must be ≥ 0, got {n}")
        generator = generator if generator is not None else torch.default_generator
        out = self._draw(n, generator)
        silent = is_near_silent(out, self.min_std, self.min_peak)
        for _ in range(self.max_draws - 1):
            if not silent.any():
                break
            index = silent.nonzero().squeeze(1)
            out[index] = self._draw(index.numel(), generator)
            silent[index] = is_near_silent(out[index], self.min_std, self.min_peak)
        if silent.any():
            warnings.warn(
                f"{self!r}: {int(silent.sum())} of {n} crops still near-silent after {self.max_draws} draws "
                f"(peak < {self.min_peak:.2g} or std of the peak-normalized crop < {self.min_std}); kept",
                stacklevel=2,
            )
        return out

    def fixed_crops(self, n: int, seed: int) -> torch.Tensor:
        """`(n, segment)` crops that depend only on `seed` (and the source): validation / test sets."""
        return self.crops(n, torch.Generator().manual_seed(int(seed)))


def find_audio_files(root: Path, extensions: Sequence[str] = AUDIO_EXTENSIONS) -> list[Path]:
    """Audio files under `root`, recursively, in sorted (deterministic) order.

    A folder holding `mixture.<ext>` is a MUSDB18-HQ track folder: only the mixture is taken, not
    the stems next to it. Hidden files and folders (`.name`, e.g. macOS `._mixture.wav`) are ignored.
    """
    suffixes = tuple("." + e.lower().lstrip(".") for e in extensions)
    found = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        audio = sorted(n for n in names if n.lower().endswith(suffixes) and not n.startswith("."))
        mixtures = [n for n in audio if Path(n).stem.lower() == MIXTURE_STEM]
        found.extend(Path(folder) / n for n in (mixtures or audio))
    return found


def split_paths(paths: list[Path], fractions: Sequence[float], seed: int) -> list[list[Path]]:
    """Deal `paths` into len(fractions) parts of those proportions, by a permutation fixed by `seed`.

    Part boundaries are round(n · cumulative fraction); each part keeps sorted order.
    """
    n, total = len(paths), float(sum(fractions))
    order = torch.randperm(n, generator=torch.Generator().manual_seed(int(seed))).tolist()
    bounds, acc = [0], 0.0
    for f in fractions:
        acc += f
        bounds.append(round(n * acc / total))
    return [sorted(paths[i] for i in order[a:b]) for a, b in itertools.pairwise(bounds)]


def check_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    fractions = tuple(float(f) for f in fractions)
    if len(fractions) != 3 or any(f < 0 for f in fractions) or sum(fractions) <= 0:
        raise ValueError(
            f"split_fractions must be three non-negative numbers (train, valid, test), got {fractions}"
        )
    return fractions


def min_files_for_split(fractions: Sequence[float], limit: int = 1000) -> int | None:
    """The fewest files that `split_paths` deals so that every part of positive fraction gets one."""
    for n in range(1, limit + 1):
        parts = split_paths([Path(str(i)) for i in range(n)], fractions, 0)  # sizes do not depend on the seed
        if all(part or f <= 0 for part, f in zip(parts, fractions)):
            return n
    return None


def time_windows(fractions: Sequence[float]) -> list[tuple[float, float]]:
    """The time split: part k of every file is [c_k, c_(k+1)) of its duration, c the cumulative
    normalized fractions (0.8, 0.1, 0.1 → [0, 0.8), [0.8, 0.9), [0.9, 1))."""
    total, acc, bounds = float(sum(fractions)), 0.0, [0.0]
    for f in fractions:
        acc += f
        bounds.append(acc / total)
    bounds[-1] = 1.0
    return list(itertools.pairwise(bounds))


def _window(n_samples: int, window: tuple[float, float]) -> tuple[int, int]:
    """Samples [floor(a·n), floor(b·n)) of a file of n samples."""
    return math.floor(window[0] * n_samples), math.floor(window[1] * n_samples)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _names(paths: Sequence[Path], limit: int = 5) -> str:
    """"a.wav, b.wav, …": the first `limit` file names."""
    return ", ".join(p.name for p in paths[:limit]) + (", …" if len(paths) > limit else "")


_WARNED: set[str] = set()  # AudioFolder messages given in this process (see `_warn_once`)


def _warn_once(message: str, stacklevel: int) -> None:
    """`warnings.warn(message)` unless this process gave the same message before: the train, valid
    and test splits of a folder share their file-level warnings, which are said once, not thrice."""
    if message not in _WARNED:
        _WARNED.add(message)
        warnings.warn(message, stacklevel=stacklevel + 1)


class AudioFolder(CropSource):
    """Random mono crops from the audio files of a folder (MillionSong-like or MUSDB18-HQ).

    Layouts:
        plain: every wav/flac/ogg file under `root` (recursively, sorted) is one track; the pool
            of the three splits is the whole folder.
        MUSDB18-HQ: a folder holding `mixture.wav` is a track; only the mixture is used, never the
            stems (the compressed MUSDB18 `.stem.mp4` files must be decoded to wav first). If
            `root/train` and `root/test` both exist, "test" is all of `root/test`, and the pool of
            "train" and "valid" is `root/train`, dealt in the proportions
            split_fractions[0] : split_fractions[1].

    Usable files. Every file of the pool is probed (soundfile.info) and read once in blocks
    (`scan_audio`, cached per process). Skipped, with one warning naming each file: unreadable or
    empty files, files holding NaN or ±Inf samples, files shorter than one segment. Skipped with one
    warning for all of them (count and names): silent files, whose peak is below `silence_db`. The
    three splits of a folder give each of these warnings once. A pool without a usable file is a
    `DataError` naming the folder and counting what was found. Files at another rate are resampled
    on read, announced by one warning for the folder.

    The deal. The usable files (sorted) are dealt into the splits by `split_fractions` with a
    permutation fixed by `split_seed` (the reference: random_split [0.8, 0.1, 0.1], seed 0), so a bad
    file never leaves a split empty. The deal depends on the usable files only: the same folder
    and `silence_db` give the same splits; fixing or removing a bad file re-deals the folder.

    Too few files (time split): when the deal would leave a split of positive fraction without a
    file (fewer than 8 usable files at 80/10/10), every split uses every usable file and the files
    are split by time instead: with c the cumulative normalized fractions, split k takes samples
    [floor(c_k·n), floor(c_(k+1)·n)) of each file of n samples (80/10/10: train the first 80 % of
    each file, valid the next 10 %, test the last 10 %; crops never cross a boundary). One warning
    says so. A file whose window is shorter than one segment or silent is not used by that split
    (one warning per split counts them). If a split is left without a file, a `DataError` says so:
    how long a file must be for the segment and what to change (`segment=`, longer recordings, more
    files), or which windows are silent.

    A crop picks a file uniformly, then a start uniformly within it (its window), and reads only
    those frames. Crops whose peak is below `silence_db`, or whose peak-normalized std is below
    `min_std`, are redrawn (random and fixed crops alike, see `CropSource`).

    Args:
        root: folder of audio files.
        sample_rate: Hz of the crops.
        segment_seconds: crop length in seconds (segment = round(seconds · sample_rate) samples).
        split: "train", "valid" or "test".
        split_fractions: (train, valid, test) proportions of the deal (and of the time split).
        split_seed: seed of the deal's permutation.
        min_std: near-silence threshold on the std of the peak-normalized crop.
        silence_db: files and crops whose peak is below this level (dBFS) are silent.
        extensions: file name endings accepted (case-insensitive).

    Attributes:
        files: the files this split uses, sorted.
        infos: their `AudioInfo`.
        ranges: `(start, stop)` samples (at `sample_rate`) of each file that this split uses.
        rejected: `(path, reason)` of the skipped files of the pool (and, in a time split, of the
            files whose window this split cannot use).
        time_split: True when the files are split by time (see above).

    Raises:
        DataError: missing folder, no audio file, a split of zero fraction, no usable file, a split
            left without a file.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        sample_rate: int = 44100,
        segment_seconds: float = 4.0,
        split: str = "train",
        split_fractions: Sequence[float] = (0.8, 0.1, 0.1),
        split_seed: int = 0,
        min_std: float = 1e-2,
        silence_db: float = SILENCE_DB,
        extensions: Sequence[str] = AUDIO_EXTENSIONS,
    ):
        if split not in SPLITS:
            raise ValueError(f"AudioFolder: unknown split {split!r}; expected one of {SPLITS}")
        if sample_rate <= 0 or segment_seconds <= 0:
            raise ValueError(
                f"AudioFolder: sample_rate and segment_seconds must be positive, got {sample_rate}, {segment_seconds}"
            )
        self.root = Path(root)
        if not self.root.is_dir():
            raise DataError(f"AudioFolder: {self.root} is not a folder (source.root)")
        self.sample_rate = int(sample_rate)
        self.segment = max(1, round(segment_seconds * self.sample_rate))
        self.split = split
        self.split_fractions = check_fractions(split_fractions)
        self.split_seed = int(split_seed)
        self.min_std = float(min_std)
        self.silence_db = float(silence_db)
        self.min_peak = 10 ** (self.silence_db / 20)
        self.extensions = tuple(extensions)
        self.time_split = False
        pool, fractions = self._pool()
        usable, self.rejected = self._assess(pool)
        if not usable:
            raise DataError(f"AudioFolder: no usable audio in {self._where()}: {self._rejection_summary(len(pool))}")
        index = self._pool_index(fractions)
        parts = split_paths([info.path for info in usable], fractions, self.split_seed)
        if all(part or f <= 0 for part, f in zip(parts, fractions)):
            chosen = set(parts[index])
            self.infos = [info for info in usable if info.path in chosen]
            self.ranges = [(0, info.frames_at(self.sample_rate)) for info in self.infos]
        else:
            self.time_split = True
            self.infos, self.ranges = self._split_by_time(usable, len(pool), fractions, index)
        self.files = [info.path for info in self.infos]
        self._warn_resampling(usable)

    def __repr__(self) -> str:
        return f"AudioFolder({str(self.root)!r}, split={self.split!r}, {len(self.files)} files)"

    @property
    def musdb_layout(self) -> bool:
        """True when `root` holds `train/` and `test/` folders (MUSDB18-HQ style pre-split)."""
        return (self.root / "train").is_dir() and (self.root / "test").is_dir()

    def _where(self) -> Path:
        if self.musdb_layout:
            return self.root / ("test" if self.split == "test" else "train")
        return self.root

    def _pool_index(self, fractions: Sequence[float]) -> int:
        """Index of this split among the splits sharing its pool of files."""
        if len(fractions) == 1:
            return 0
        return SPLITS.index(self.split) if len(fractions) == 3 else ("train", "valid").index(self.split)

    def _pool(self) -> tuple[list[Path], tuple[float, ...]]:
        """(the audio files this split is dealt from, the fractions of the splits sharing them)."""
        if self.musdb_layout and self.split == "test":
            fractions = (1.0,)
        elif self.musdb_layout:
            fractions = self.split_fractions[:2]
        else:
            fractions = self.split_fractions
        pool = find_audio_files(self._where(), self.extensions)
        if not pool:
            raise DataError(f"AudioFolder: no {'/'.join(self.extensions)} file in {self._where()} (searched recursively)")
        if fractions[self._pool_index(fractions)] <= 0:
            raise DataError(
                f"AudioFolder: split {self.split!r} of {self._where()} is empty (split_fractions={self.split_fractions})"
            )
        return pool, fractions

    def _assess(self, pool: list[Path]) -> tuple[list[AudioInfo], list[tuple[Path, str]]]:
        """(the usable files of the pool, `(path, reason)` of the others): readable, finite, at
        least one segment long, not silent. Warns once per skipped file and once for the silent ones."""
        usable, rejected, silent = [], [], []
        seconds = self.segment / self.sample_rate
        for path in pool:
            try:
                info = probe_audio(path)
                scan = scan_audio(info)
            except AudioFileError as err:
                rejected.append((path, str(err).removeprefix(f"{path}: ")))
                continue
            n = info.frames_at(self.sample_rate)
            if scan.nonfinite_at is not None:
                reason = f"non-finite samples (NaN or Inf; first at {scan.nonfinite_at / info.sample_rate:.3f} s)"
            elif n < self.segment:
                reason = f"shorter than one segment ({n / self.sample_rate:.2f} s < {seconds:.2f} s)"
            elif scan.peak < self.min_peak:
                reason = f"silent (peak below {self.silence_db:g} dBFS)"
                silent.append(path)
            else:
                usable.append(info)
                continue
            rejected.append((path, reason))
        for path, reason in rejected:
            if path not in silent:
                _warn_once(f"AudioFolder: skipped {path}: {reason}", stacklevel=3)
        if silent:
            _warn_once(
                f"AudioFolder {self._where()}: skipped {len(silent)} of {_plural(len(pool), 'file')} as silent "
                f"(peak below {self.silence_db:g} dBFS, source.silence_db): {_names(silent)}",
                stacklevel=3,
            )
        return usable, rejected

    def _split_by_time(
        self, usable: list[AudioInfo], n_pool: int, fractions: Sequence[float], index: int
    ) -> tuple[list[AudioInfo], list[tuple[int, int]]]:
        """The time split (class docstring): (files, sample ranges) of this split; DataError if any
        split of positive fraction is left without a file."""
        names = ("train", "valid", "test")[: len(fractions)]
        windows = time_windows(fractions)
        rule = ", ".join(
            f"{name} {round(100 * a)}–{round(100 * b)} %" for name, (a, b), f in zip(names, windows, fractions) if f > 0
        )
        _warn_once(
            f"AudioFolder {self._where()}: {len(usable)} usable of {_plural(n_pool, 'file')} cannot be dealt into "
            f"{'/'.join(names)} (split_fractions={self.split_fractions}; {min_files_for_split(fractions)} files "
            f"needed); splitting each file by time instead: {rule} of its duration",
            stacklevel=3,
        )
        plans = {}  # split → (usable ranges, files too short in the window, files silent in it)
        for k, (window, f) in enumerate(zip(windows, fractions)):
            if f <= 0:
                continue
            kept, short, silent = [], [], []
            for info in usable:
                start, stop = _window(info.frames_at(self.sample_rate), window)
                native = (start * info.sample_rate // self.sample_rate, -(-stop * info.sample_rate // self.sample_rate))
                if stop - start < self.segment:
                    short.append(info.path)
                elif scan_audio(info).window_peak(info.path, *native) < self.min_peak:
                    silent.append(info.path)
                else:
                    kept.append((info, (start, stop)))
            plans[k] = (kept, short, silent)
        failing = [k for k, (kept, _, _) in plans.items() if not kept]
        if failing:
            raise self._time_split_error(usable, n_pool, fractions, [names[k] for k in failing], [plans[k] for k in failing])
        kept, short, silent = plans[index]
        (a, b), name = windows[index], names[index]
        for paths, why in ((short, "shorter than one segment"), (silent, f"silent (peak below {self.silence_db:g} dBFS)")):
            self.rejected += [(p, f"{why} in the {round(100 * a)}–{round(100 * b)} % time window of split {name!r}") for p in paths]
        if short or silent:
            parts = [f"{len(p)} {why} ({_names(p)})" for p, why in ((silent, "silent"), (short, "shorter than one segment")) if p]
            _warn_once(
                f"AudioFolder {self._where()}: split {name!r} uses {len(kept)} of {_plural(len(usable), 'usable file')}; "
                f"skipped in its {round(100 * a)}–{round(100 * b)} % time window: {', '.join(parts)}",
                stacklevel=3,
            )
        return [info for info, _ in kept], [r for _, r in kept]

    def _time_split_error(self, usable, n_pool, fractions, failing, plans) -> DataError:
        """The DataError of a time split that leaves the splits `failing` (names) without a file;
        `plans` are their (kept, too short, silent) lists."""
        seg = self.segment / self.sample_rate
        windows = dict(zip(SPLITS, time_windows(fractions)))
        where = ", ".join(f"{n} {round(100 * windows[n][0])}–{round(100 * windows[n][1])} %" for n in failing)
        silent = sorted({p for _, _, paths in plans for p in paths})
        if silent:
            others = len(silent) < len(usable)
            return DataError(
                f"AudioFolder: {self._where()} split by time ({where} of each file): no usable file for "
                f"{'/'.join(failing)}, the window is silent (peak below {self.silence_db:g} dBFS) in "
                f"{_names(silent)}{' and shorter than one segment in the others' if others else ''}. Trim the "
                f"silence at the ends of the recordings, add recordings, or use ≥ {min_files_for_split(fractions)} "
                f"usable files"
            )
        # every usable file's window of each failing split is shorter than one segment

        def room(name: str) -> int:  # the longest window of split `name`, in samples
            return max(
                stop - start
                for start, stop in (_window(i.frames_at(self.sample_rate), windows[name]) for i in usable)
            )

        longest = max(info.frames_at(self.sample_rate) for info in usable)
        share = min(windows[n][1] - windows[n][0] for n in failing)
        return DataError(
            f"AudioFolder: {self._where()} has too little audio for segment={seg:g} s with split_fractions="
            f"{self.split_fractions}: {len(usable)} usable of {_plural(n_pool, 'file')} (longest "
            f"{longest / self.sample_rate:.2f} s) are too few to deal by file, and split by time ({where}) "
            f"the {'/'.join(failing)} share ({share:.0%}) of a file must hold one segment, so a file needs "
            f"≥ {seg / share:.2f} s. Use a shorter segment= (≤ {min(map(room, failing)) / self.sample_rate:.3g} s "
            f"here), longer recordings, or ≥ {min_files_for_split(fractions)} usable files of ≥ {seg:g} s"
        )

    def _rejection_summary(self, n_files: int) -> str:
        """"10 files, 10 rejected: 9 silent, 1 unreadable or empty (…); what to do" of `rejected`."""
        kinds = {"silent": 0, "unreadable or empty": 0, "non-finite (NaN/Inf)": 0, "too short": 0}
        for _, reason in self.rejected:
            if reason.startswith("silent"):
                kinds["silent"] += 1
            elif reason.startswith("non-finite"):
                kinds["non-finite (NaN/Inf)"] += 1
            elif reason.startswith("shorter"):
                kinds["too short"] += 1
            else:
                kinds["unreadable or empty"] += 1
        counts = ", ".join(f"{v} {k}" for k, v in kinds.items() if v)
        todo = []
        if kinds["silent"]:
            todo.append(f"lower source.silence_db (now {self.silence_db:g} dBFS) if the files are only quiet")
        if kinds["too short"]:
            todo.append(f"use a shorter segment= (now {self.segment / self.sample_rate:g} s)")
        if kinds["unreadable or empty"] or kinds["non-finite (NaN/Inf)"]:
            todo.append("fix or replace the files named in the warnings")
        return f"{_plural(n_files, 'file')}, {len(self.rejected)} rejected: {counts}; {', or '.join(todo)}"

    def _warn_resampling(self, usable: list[AudioInfo]) -> None:
        other = sorted({i.sample_rate for i in usable if i.sample_rate != self.sample_rate})
        if other:
            count = sum(i.sample_rate != self.sample_rate for i in usable)
            _warn_once(
                f"AudioFolder {self._where()}: {count} of {_plural(len(usable), 'usable file')} are at "
                f"{', '.join(map(str, other))} Hz; they are resampled to {self.sample_rate} Hz when read",
                stacklevel=3,
            )

    def _draw(self, n: int, generator: torch.Generator) -> torch.Tensor:
        out = torch.zeros(n, self.segment)
        choice = torch.randint(len(self.infos), (n,), generator=generator).tolist()
        unit = torch.rand(n, generator=generator, dtype=torch.float64).tolist()
        for row, (i, u) in enumerate(zip(choice, unit)):
            info, (first, stop) = self.infos[i], self.ranges[i]
            max_start = stop - first - self.segment
            crop = read_segment(info, self.sample_rate, first + int(u * (max_start + 1)), self.segment)
            out[row, : crop.numel()] = crop  # a file shorter than its header says leaves zeros
        return out
