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

    def window_peak(self, start: int, stop: int) -> float:
        """Peak over native frames [start, stop) (to the block: blocks overlapping the window)."""
        lo, hi = start // SCAN_BLOCK, -(-stop // SCAN_BLOCK)
        return float(self.peaks[lo:hi].max()) if hi > lo and self.peaks[lo:hi].size else 0.0


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


def _check_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
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


class AudioFolder(CropSource):
    """Random mono crops from the audio files of a folder (MillionSong-like or MUSDB18-HQ).

    Layouts:
        plain: every wav/flac/ogg file under `root` (recursively, sorted) is one track. The sorted
            list is dealt into train / valid / test by `split_fractions` with a permutation fixed by
            `split_seed` (the reference: random_split [0.8, 0.1, 0.1], seed 0).
        MUSDB18-HQ: a folder holding `mixture.wav` is a track; only the mixture is used, never the
            stems (the compressed MUSDB18 `.stem.mp4` files must be decoded to wav first). If
            `root/train` and `root/test` both exist, "test" is all of `root/test`, and
            `root/train` is dealt into "train" and "valid" in the proportions
            split_fractions[0] : split_fractions[1] (same seeded permutation; valid is the last part).

    Too few files (time split): when dealing the files would leave a split of positive fraction
    without a file (fewer than 8 files at 80/10/10), every split uses every file and the files are
    split by time instead: with c the cumulative normalized fractions, split k takes samples
    [floor(c_k·n), floor(c_(k+1)·n)) of each file of n samples (80/10/10: train the first 80 % of each
    file, valid the next 10 %, test the last 10 %; crops never cross a boundary). One warning says so.
    If then some split cannot hold one segment in any file, a `DataError` says how long a file must
    be and what to change (`segment=`, more files).

    The split is made on file names before any file is opened, so a bad file never moves the others
    between splits. The files of the split are then probed (soundfile.info) and read once in blocks
    (`scan_audio`, cached per process). Skipped, with one warning naming each file: unreadable or empty
    files, files holding NaN or ±Inf samples, files shorter than one segment (in their time window).
    Skipped with one warning for all of them (count and names): silent files, whose peak (of the
    time window in a time split) is below `silence_db`. A split left without a usable file is a
    `DataError` naming the folder and counting what was found. Files at another rate are resampled
    on read, announced by one warning for the whole folder.

    A crop picks a file uniformly, then a start uniformly within it (its window), and reads only
    those frames. Crops whose peak is below `silence_db`, or whose peak-normalized std is below
    `min_std`, are redrawn (random and fixed crops alike, see `CropSource`).

    Args:
        root: folder of audio files.
        sample_rate: Hz of the crops.
        segment_seconds: crop length in seconds (segment = round(seconds · sample_rate) samples).
        split: "train", "valid" or "test".
        split_fractions: (train, valid, test) proportions of the plain layout (and of the time split).
        split_seed: seed of the split permutation.
        min_std: near-silence threshold on the std of the peak-normalized crop.
        silence_db: files and crops whose peak is below this level (dBFS) are silent.
        extensions: file name endings accepted (case-insensitive).

    Attributes:
        files: the usable files of the split, sorted.
        infos: their `AudioInfo`.
        ranges: `(start, stop)` samples (at `sample_rate`) of each usable file that this split uses.
        rejected: `(path, reason)` of the skipped files.
        time_split: True when the files are split by time (see above).

    Raises:
        DataError: missing folder, no audio file, a split that cannot be formed, no usable file.
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
        self.split_fractions = _check_fractions(split_fractions)
        self.split_seed = int(split_seed)
        self.min_std = float(min_std)
        self.silence_db = float(silence_db)
        self.min_peak = 10 ** (self.silence_db / 20)
        self.extensions = tuple(extensions)
        self.time_split = False
        candidates, pool, fractions = self._split_candidates()
        if self.time_split:
            self._check_time_split(pool, fractions)
            window = time_windows(fractions)[self._pool_index(fractions)]
        else:
            window = (0.0, 1.0)
        self.infos, self.ranges, self.rejected = self._probe(candidates, window)
        self.files = [info.path for info in self.infos]
        if not self.files:
            raise DataError(
                f"AudioFolder: no usable audio for split {split!r} in {self._where()}: "
                f"{self._rejection_summary(len(candidates))}"
            )
        self._warn_resampling()

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
        return SPLITS.index(self.split) if len(fractions) == 3 else ("train", "valid").index(self.split)

    def _split_candidates(self) -> tuple[list[Path], list[Path], tuple[float, ...]]:
        """(the audio files of this split, the pool it is dealt from, the fractions of the pool's
        splits), before probing; switches to the time split when a split would get no file."""
        if self.musdb_layout and self.split == "test":
            candidates = find_audio_files(self.root / "test", self.extensions)
            if not candidates:
                raise DataError(f"AudioFolder: {self.root / 'test'} holds no {'/'.join(self.extensions)} file")
            return candidates, candidates, (1.0,)
        if self.musdb_layout:
            fractions = self.split_fractions[:2]
            if sum(fractions) <= 0:
                raise DataError(f"AudioFolder: split_fractions {self.split_fractions} leave no train/valid")
        else:
            fractions = self.split_fractions
        pool = find_audio_files(self._where(), self.extensions)
        if not pool:
            raise DataError(f"AudioFolder: no {'/'.join(self.extensions)} file in {self._where()} (searched recursively)")
        index = self._pool_index(fractions)
        if fractions[index] <= 0:
            raise DataError(
                f"AudioFolder: split {self.split!r} of {self._where()} is empty (split_fractions={self.split_fractions})"
            )
        parts = split_paths(pool, fractions, self.split_seed)
        if all(part or f <= 0 for part, f in zip(parts, fractions)):
            return parts[index], pool, fractions
        self.time_split = True
        names = ("train", "valid", "test")[: len(fractions)]
        rule = ", ".join(
            f"{name} {round(100 * a)}–{round(100 * b)} %" for name, (a, b), f in zip(names, time_windows(fractions), fractions) if f > 0
        )
        warnings.warn(
            f"AudioFolder {self._where()}: {_plural(len(pool), 'file')} cannot be dealt into {'/'.join(names)} "
            f"(split_fractions={self.split_fractions}; {min_files_for_split(fractions)} files needed); "
            f"splitting each file by time instead: {rule} of its duration",
            stacklevel=3,
        )
        return pool, pool, fractions

    def _check_time_split(self, pool: list[Path], fractions: Sequence[float]) -> None:
        """DataError unless every split of positive fraction can hold one segment of some file."""
        durations = []
        for path in pool:
            try:
                info = probe_audio(path)
                scan = scan_audio(info)
            except AudioFileError:
                continue
            if scan.nonfinite_at is None and scan.peak >= self.min_peak:
                durations.append(info.frames_at(self.sample_rate))
        if not durations:
            return  # nothing usable at all: `_probe` reports what was found, file by file
        names = ("train", "valid", "test")[: len(fractions)]
        longest = max(durations)
        short = [
            (name, b - a) for name, (a, b), f in zip(names, time_windows(fractions), fractions)
            if f > 0 and max((_window(n, (a, b))[1] - _window(n, (a, b))[0] for n in durations), default=0) < self.segment
        ]
        if not short:
            return
        share = min(width for _, width in short)
        seg = self.segment / self.sample_rate
        raise DataError(
            f"AudioFolder: {self._where()} has too little audio for segment={seg:g} s with split_fractions="
            f"{self.split_fractions}: {_plural(len(pool), 'file')} ({_plural(len(durations), 'usable file')}, longest "
            f"{longest / self.sample_rate:.2f} s) are too few to split by file, and split by time the "
            f"{'/'.join(n for n, _ in short)} share ({share:.0%}) of a file must hold one segment, so a file needs "
            f"≥ {seg / share:.2f} s. Use a shorter segment= (≤ {longest * share / self.sample_rate:.3g} s here), "
            f"longer recordings, or ≥ {min_files_for_split(fractions)} files of ≥ {seg:g} s"
        )

    def _probe(
        self, paths: list[Path], window: tuple[float, float]
    ) -> tuple[list[AudioInfo], list[tuple[int, int]], list[tuple[Path, str]]]:
        """Keep the files that can give a full, finite, non-silent segment in `window`; warn once for
        each unreadable / non-finite / short file and once for all the silent ones."""
        usable, ranges, rejected, silent = [], [], [], []
        part = "" if window == (0.0, 1.0) else f" (its {window[0]:.0%}–{window[1]:.0%} time window for split {self.split!r})"
        for path in paths:
            reason = None
            try:
                info = probe_audio(path)
                scan = scan_audio(info)
                n = info.frames_at(self.sample_rate)
                start, stop = _window(n, window)
                native = (start * info.sample_rate // self.sample_rate, -(-stop * info.sample_rate // self.sample_rate))
                if scan.nonfinite_at is not None:
                    reason = f"non-finite samples (NaN or Inf; first at {scan.nonfinite_at / info.sample_rate:.3f} s)"
                elif stop - start < self.segment:
                    have = (stop - start) / self.sample_rate
                    reason = f"shorter than one segment{part} ({have:.2f} s < {self.segment / self.sample_rate:.2f} s)"
                elif scan.window_peak(*native) < self.min_peak:
                    reason = f"silent{part} (peak below {self.silence_db:g} dBFS)"
                    silent.append(path)
            except AudioFileError as err:
                reason = str(err).removeprefix(f"{path}: ")
            if reason is None:
                usable.append(info)
                ranges.append((start, stop))
                continue
            rejected.append((path, reason))
            if path not in silent:
                warnings.warn(f"AudioFolder: skipped {path}: {reason}", stacklevel=3)
        if silent:
            names = ", ".join(p.name for p in silent[:5]) + (", …" if len(silent) > 5 else "")
            warnings.warn(
                f"AudioFolder {self._where()}: skipped {len(silent)} of {_plural(len(paths), 'file')} of split "
                f"{self.split!r} as silent{part} (peak below {self.silence_db:g} dBFS, silence_db): {names}",
                stacklevel=3,
            )
        return usable, ranges, rejected

    def _rejection_summary(self, n_candidates: int) -> str:
        """"3 files: 2 silent (peak below −60 dBFS), 1 unreadable or empty, …" of `rejected`."""
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
        counts = ", ".join(f"{v} {k}" for k, v in kinds.items())
        return (
            f"{_plural(n_candidates, 'file')}, {len(self.rejected)} rejected: {counts} "
            f"(silent: peak below {self.silence_db:g} dBFS; segment {self.segment / self.sample_rate:g} s)"
        )

    def _warn_resampling(self) -> None:
        other = sorted({i.sample_rate for i in self.infos if i.sample_rate != self.sample_rate})
        if other:
            count = sum(i.sample_rate != self.sample_rate for i in self.infos)
            warnings.warn(
                f"AudioFolder {self.root}: {count} of {len(self.infos)} files are at "
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
