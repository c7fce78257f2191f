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

import soundfile as sf
import torch
import torchaudio.functional as AF

AUDIO_EXTENSIONS = ("wav", "flac", "ogg")
SPLITS = ("train", "valid", "test")
MIN_PEAK = 1e-4  # −80 dBFS: below this a crop is silent whatever its shape
MIXTURE_STEM = "mixture"  # MUSDB18-HQ track folders: mixture.wav next to the stems

# torchaudio's resampling defaults, used to size the context read around a crop.
_LOWPASS_WIDTH = 6
_ROLLOFF = 0.99


class AudioFileError(ValueError):
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
        silent = is_near_silent(out, self.min_std)
        for _ in range(self.max_draws - 1):
            if not silent.any():
                break
            index = silent.nonzero().squeeze(1)
            out[index] = self._draw(index.numel(), generator)
            silent[index] = is_near_silent(out[index], self.min_std)
        if silent.any():
            warnings.warn(
                f"{self!r}: {int(silent.sum())} of {n} crops still near-silent after {self.max_draws} draws "
                f"(std of the peak-normalized crop < {self.min_std}); kept",
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

    The split is made on file names before any file is opened, so a bad file never moves the others
    between splits. The files of the split are then probed (soundfile.info): unreadable, empty or
    shorter than one segment ones are skipped with one warning each. Files at another rate are
    resampled on read, announced by one warning for the whole folder.

    A crop picks a file uniformly, then a start uniformly within it, and reads only those frames.

    Args:
        root: folder of audio files.
        sample_rate: Hz of the crops.
        segment_seconds: crop length in seconds (segment = round(seconds · sample_rate) samples).
        split: "train", "valid" or "test".
        split_fractions: (train, valid, test) proportions of the plain layout.
        split_seed: seed of the split permutation.
        min_std: near-silence threshold on the std of the peak-normalized crop.
        extensions: file name endings accepted (case-insensitive).

    Attributes:
        files: the usable files of the split, sorted.
        infos: their `AudioInfo`.
        rejected: `(path, reason)` of the skipped files.
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
            raise FileNotFoundError(f"AudioFolder: {self.root} is not a folder")
        self.sample_rate = int(sample_rate)
        self.segment = max(1, round(segment_seconds * self.sample_rate))
        self.split = split
        self.split_fractions = _check_fractions(split_fractions)
        self.split_seed = int(split_seed)
        self.min_std = float(min_std)
        self.extensions = tuple(extensions)
        candidates = self._split_candidates()
        self.infos, self.rejected = self._probe(candidates)
        self.files = [info.path for info in self.infos]
        if not self.files:
            raise ValueError(
                f"AudioFolder: no usable audio file for split {split!r} in {self.root} "
                f"({len(candidates)} candidate files, {len(self.rejected)} rejected; see the warnings)"
            )
        self._warn_resampling()

    def __repr__(self) -> str:
        return f"AudioFolder({str(self.root)!r}, split={self.split!r}, {len(self.files)} files)"

    @property
    def musdb_layout(self) -> bool:
        """True when `root` holds `train/` and `test/` folders (MUSDB18-HQ style pre-split)."""
        return (self.root / "train").is_dir() and (self.root / "test").is_dir()

    def _split_candidates(self) -> list[Path]:
        """The audio files of this split, before probing."""
        if self.musdb_layout:
            if self.split == "test":
                candidates = find_audio_files(self.root / "test", self.extensions)
            else:
                f_train, f_valid, _ = self.split_fractions
                if f_train + f_valid <= 0:
                    raise ValueError(f"AudioFolder: split_fractions {self.split_fractions} leave no train/valid")
                tracks = find_audio_files(self.root / "train", self.extensions)
                parts = split_paths(tracks, (f_train, f_valid), self.split_seed)
                candidates = parts[SPLITS.index(self.split)]
            where = self.root / ("test" if self.split == "test" else "train")
        else:
            everything = find_audio_files(self.root, self.extensions)
            candidates = split_paths(everything, self.split_fractions, self.split_seed)[SPLITS.index(self.split)]
            where = self.root
        if not candidates:
            raise ValueError(
                f"AudioFolder: split {self.split!r} of {where} is empty (no {'/'.join(self.extensions)} files "
                f"for it; split_fractions={self.split_fractions})"
            )
        return candidates

    def _probe(self, paths: list[Path]) -> tuple[list[AudioInfo], list[tuple[Path, str]]]:
        """Keep the files that can give a full segment; warn once for each other one."""
        usable, rejected = [], []
        for path in paths:
            try:
                info = probe_audio(path)
                reason = None
                if info.frames_at(self.sample_rate) < self.segment:
                    seconds = info.frames / info.sample_rate
                    reason = f"shorter than one segment ({seconds:.2f} s < {self.segment / self.sample_rate:.2f} s)"
            except AudioFileError as err:
                reason = str(err).removeprefix(f"{path}: ")
            if reason is None:
                usable.append(info)
            else:
                rejected.append((path, reason))
                warnings.warn(f"AudioFolder: skipped {path}: {reason}", stacklevel=3)
        return usable, rejected

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
            info = self.infos[i]
            max_start = info.frames_at(self.sample_rate) - self.segment
            crop = read_segment(info, self.sample_rate, int(u * (max_start + 1)), self.segment)
            out[row, : crop.numel()] = crop  # a file shorter than its header says leaves zeros
        return out
