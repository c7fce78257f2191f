"""Drum-hit datasets of timbre remapping (reference timbreremap §3 and §5).

A drum is a folder of recordings of one drum (the SDSS layout: `root/<DrumName>/*.wav`; the
built-in `ddspfx.data.virtual_drums` writes the same layout). `load_hits` cuts every recording
into one fixed-length frame per detected onset; `build_drum_dataset` computes, per hit:

    F  (H, 7)  target features of the hit (`ddspfx.dsp.features.target_features`)
    ΔF (H, 7)  F − F[ref]: the training targets; ref = the median-transient-loudness hit
    O  (H, 3)  onset features of the first `window` samples (`onset_features`)
    x  (H, 3)  network inputs: O min-max normalized with the TRAIN split's statistics, then
               centred on the reference hit (`DrumDataset.normalize_onset`)

and splits the hits into train / valid / test, stratified by loudness (§5 step 7).

Deliberate differences from the reference:
- every file is resampled to one sample rate, the synth's (44.1 kHz by default), and the features
  are computed at that rate (the reference resampled to 48 kHz and used 44.1 kHz constants);
- the onset-feature min / max come from the training split only (the reference used all hits,
  test hits included);
- min-max normalization divides by (max − min), not by max(O − min) (the same value), and a
  feature with max == min is divided by 1 instead of 0.
"""

from __future__ import annotations

import inspect
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ddspfx.core.errors import ConfigError, DataError
from ddspfx.data.audio import AUDIO_EXTENSIONS, MIN_PEAK, AudioFileError, find_audio_files, probe_audio, read_segment
from ddspfx.dsp.features import MIN_TARGET_SAMPLES, onset_features, target_features
from ddspfx.dsp.onsets import OnsetDetector, detect_onsets, frame_hits

SPLIT_NAMES = ("train", "valid", "test")
FEATURE_CHUNK = 64  # hits per call of the feature extractors (bounds memory)
DETECTOR_KEYS = tuple(p for p in inspect.signature(OnsetDetector).parameters if p != "sample_rate")


def _extensions() -> str:
    return "/".join(AUDIO_EXTENSIONS)


def drum_folders(root: str | os.PathLike) -> dict[str, Path]:
    """The drums under `root`, `{name: folder}`, sorted by name.

    If `root` holds audio files directly it is one drum, named after it. Otherwise every
    sub-folder of `root` with audio files in it (at any depth) is one drum, named after the
    sub-folder (the SDSS layout `root/<DrumName>/*.wav`).

    Raises:
        DataError: `root` missing, or no wav/flac/ogg file found in it.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: no such folder (looked for drum folders of {_extensions()} files)")
    suffixes = tuple("." + e for e in AUDIO_EXTENSIONS)
    if any(p.is_file() and p.suffix.lower() in suffixes and not p.name.startswith(".") for p in root.iterdir()):
        return {root.resolve().name: root}
    subfolders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    drums = {p.name: p for p in subfolders if find_audio_files(p)}
    if not drums:
        raise DataError(f"{root}: no {_extensions()} files in it or in its sub-folders")
    return dict(sorted(drums.items()))


@dataclass
class DrumHits:
    """The hits of one drum, one frame per detected onset.

    Attributes:
        audio: `(H, frame_length)` float32, each frame from 16 samples before its onset.
        sample_rate: Hz.
        files: the source file of each hit (H paths).
        onsets: `(H,)` int64, the onset of each hit in samples (at `sample_rate`) in its file.
        name: the drum's name (its folder's name; a file's stem when loaded from one file).
    """

    audio: torch.Tensor
    sample_rate: int
    files: list[Path]
    onsets: torch.Tensor
    name: str

    def __len__(self) -> int:
        return self.audio.shape[0]


def _detector_settings(detector: dict | None) -> dict:
    """`detector` checked against the OnsetDetector keywords; ConfigError names an unknown key."""
    settings = dict(detector or {})
    unknown = sorted(set(settings) - set(DETECTOR_KEYS))
    if unknown:
        known = ", ".join(DETECTOR_KEYS)
        raise ConfigError(f"data.detector.{unknown[0]}: unknown onset-detector setting (known: {known})")
    return settings


def _read_files(folder: Path, sample_rate: int) -> list[tuple[Path, torch.Tensor]]:
    """(path, mono audio at `sample_rate`) of every readable audio file under `folder` (or of
    `folder` itself if it is a file). Warns once naming the files skipped, once naming the
    files resampled; DataError if none is found or none can be read."""
    if not folder.exists():
        raise DataError(f"{folder}: no such folder (looked for {_extensions()} files)")
    paths = [folder] if folder.is_file() else find_audio_files(folder)
    if not paths:
        raise DataError(f"{folder}: no {_extensions()} files in it (searched recursively)")
    loaded, skipped, resampled = [], [], []
    for path in paths:
        try:
            info = probe_audio(path)
            audio = read_segment(info, sample_rate)
        except AudioFileError as err:
            skipped.append(f"{path.name} ({str(err).removeprefix(f'{path}: ')})")
            continue
        if not torch.isfinite(audio).all():
            skipped.append(f"{path.name} (non-finite samples)")
            continue
        if info.sample_rate != sample_rate:
            resampled.append(f"{path.name} ({info.sample_rate} Hz)")
        loaded.append((path, audio))
    if skipped:
        message = f"{folder}: skipped {len(skipped)} of {len(paths)} audio files: {'; '.join(skipped)}"
        warnings.warn(message, stacklevel=3)
    if not loaded:
        raise DataError(f"{folder}: none of its {len(paths)} audio files could be read ({skipped[0]})")
    if resampled:
        warnings.warn(f"{folder}: resampled to {sample_rate} Hz: {', '.join(resampled)}", stacklevel=3)
    return loaded


def load_hits(
    folder: str | os.PathLike,
    sample_rate: int = 44100,
    frame_length: int | None = None,
    min_hits: int = 10,
    detector: dict | None = None,
) -> DrumHits:
    """Every hit in the recordings of one drum (reference §3).

    Each wav/flac/ogg file under `folder` (recursively, in sorted order; or `folder` itself if it
    is a file) is read as mono and resampled to `sample_rate`. Onsets come from `detect_onsets`
    (the training settings, overridden by `detector`), frames from `frame_hits`. A hit whose frame
    peaks below −80 dBFS (e.g. all zeros: the next onset came within 1024 samples) is dropped.

    Args:
        folder: the drum's folder (or one file).
        sample_rate: Hz of the hits; files at other rates are resampled (one warning names them).
        frame_length: samples per hit; default `sample_rate` (1 s).
        min_hits: fewer usable hits than this is a DataError.
        detector: `OnsetDetector` settings (on_threshold, off_threshold, hold, min_db, …).

    Raises:
        DataError: no readable audio, or fewer than `min_hits` hits (the message gives the count).
        ConfigError: an unknown detector setting.
    """
    folder = Path(folder)
    settings = _detector_settings(detector)
    frame_length = int(sample_rate if frame_length is None else frame_length)
    loaded = _read_files(folder, int(sample_rate))
    frames, files, onsets = [], [], []
    for path, audio in loaded:
        found = detect_onsets(audio, sample_rate, **settings)
        if found.numel() == 0:
            continue
        hits = frame_hits(audio, found, frame_length)
        audible = hits.abs().amax(dim=1) >= MIN_PEAK
        frames.append(hits[audible])
        onsets.append(found[audible])
        files.extend([path] * int(audible.sum()))
    count = len(files)
    if count < min_hits:
        n_files = f"{len(loaded)} file{'' if len(loaded) == 1 else 's'}"
        raise DataError(
            f"found {count} hits in {folder} ({n_files}); at least {min_hits} are needed "
            "(lower data.detector.on_threshold for quiet recordings)"
        )
    name = folder.stem if folder.is_file() else folder.resolve().name
    return DrumHits(torch.cat(frames), int(sample_rate), files, torch.cat(onsets), name)


def loudness_stratified_split(
    order: torch.Tensor, reference: int, fraction: float, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Hold out about `fraction` of the ids, stratified by loudness (reference §5 step 7).

    `order` (ids in loudness order) is cut into int(len · fraction) + 1 chunks by `torch.chunk`
    (which can give fewer chunks), and one member of each chunk, drawn uniformly with
    `generator`, is held out. The reference hit is never held out: if it is drawn, the next member
    of its chunk is taken instead, or the previous one when it is the chunk's last; a chunk that
    holds only the reference gives nothing. `fraction` ≤ 0 holds out nothing (the reference
    formula would still take one).

    Args:
        order: `(n,)` int64 ids, loudest first.
        reference: the id that must stay in `rest`.
        fraction: in [0, 1).
        generator: one draw per chunk, in chunk order.

    Returns:
        (held_out, rest): int64 ids; held_out in chunk order, rest in the order of `order`.
    """
    if not 0 <= fraction < 1:
        raise ConfigError(f"split fraction must be in [0, 1), got {fraction}")
    if fraction == 0 or order.numel() == 0:
        return order[:0], order
    held = []
    for chunk in torch.chunk(order, int(len(order) * fraction) + 1):
        pick = int(torch.randint(len(chunk), (), generator=generator))
        if int(chunk[pick]) == reference:
            if len(chunk) == 1:
                continue
            pick = pick + 1 if pick + 1 < len(chunk) else pick - 1
        held.append(int(chunk[pick]))
    held_out = torch.tensor(held, dtype=order.dtype)
    return held_out, order[~torch.isin(order, held_out)]


def loudness_order(features: torch.Tensor) -> torch.Tensor:
    """`(H,)` hit ids by transient loudness F[:, 0], loudest first (stable for ties)."""
    return torch.sort(features[:, 0], descending=True, stable=True).indices


def normalize_onset(
    raw: torch.Tensor, onset_min: torch.Tensor, onset_max: torch.Tensor, onset_reference: torch.Tensor
) -> torch.Tensor:
    """Network inputs from raw onset features: (raw − min)/(max − min) − (ref − min)/(max − min).

    Args:
        raw: `(..., 3)` onset features (dB, semitones, dB).
        onset_min, onset_max: `(3,)` statistics of the training hits; a feature with max == min
            is divided by 1.
        onset_reference: `(3,)` raw onset features of the reference hit (which maps to 0 exactly).

    Returns:
        `(..., 3)`; the training hits lie in [−1, 1], other hits may fall outside.
    """
    span = onset_max - onset_min
    span = torch.where(span > 0, span, torch.ones_like(span))
    return (raw - onset_min) / span - (onset_reference - onset_min) / span


@dataclass
class DrumDataset:
    """Features, targets, inputs and splits of one drum (see the module doc).

    Attributes:
        features: F `(H, 7)` target features (TARGET_FEATURES order).
        reference: index of the reference hit (median transient loudness).
        targets: ΔF = F − F[reference] `(H, 7)`; the reference row is 0.
        onset_raw: O `(H, 3)` onset features (ONSET_FEATURES order).
        onset_min, onset_max: `(3,)` per-feature min and max of O over the TRAIN split.
        inputs: `normalize_onset(O)` `(H, 3)`; the reference row is 0.
        splits: {"train", "valid", "test"} → int64 hit indices (ascending); the reference is in train.
        reference_audio: `(frame_length,)` the reference hit.
        window: samples of the onset-feature window.
        sample_rate: Hz.
        name: the drum's name.
        hits: the hits the dataset was built from.
    """

    features: torch.Tensor
    reference: int
    targets: torch.Tensor
    onset_raw: torch.Tensor
    onset_min: torch.Tensor
    onset_max: torch.Tensor
    inputs: torch.Tensor
    splits: dict[str, torch.Tensor]
    reference_audio: torch.Tensor
    window: int
    sample_rate: int
    name: str
    hits: DrumHits | None = field(default=None, repr=False)

    def normalize_onset(self, raw: torch.Tensor) -> torch.Tensor:
        """`(..., 3)` raw onset features → network inputs, with this dataset's statistics
        (`ddspfx.data.drums.normalize_onset`)."""
        return normalize_onset(raw, self.onset_min, self.onset_max, self.onset_raw[self.reference])

    def subset(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(inputs `(n, 3)`, targets `(n, 7)`) of the hits of `split`."""
        if split not in self.splits:
            raise ConfigError(f"DrumDataset {self.name!r}: unknown split {split!r} (known: {', '.join(self.splits)})")
        index = self.splits[split]
        return self.inputs[index], self.targets[index]

    def tensors(self) -> dict[str, torch.Tensor]:
        """What a checkpoint needs to map new hits as in training: onset_min, onset_max `(3,)`,
        onset_reference `(3,)` (raw O of the reference hit), reference_features `(7,)` (F[ref])."""
        return {
            "onset_min": self.onset_min.clone(),
            "onset_max": self.onset_max.clone(),
            "onset_reference": self.onset_raw[self.reference].clone(),
            "reference_features": self.features[self.reference].clone(),
        }


def _batched(fn, audio: torch.Tensor) -> torch.Tensor:
    """`fn` applied to `FEATURE_CHUNK` hits at a time without grad, results concatenated."""
    with torch.no_grad():
        return torch.cat([fn(chunk) for chunk in torch.split(audio, FEATURE_CHUNK)])


def build_drum_dataset(
    hits: DrumHits, window: int = 256, valid_fraction: float = 0.1, test_fraction: float = 0.1, seed: int = 0
) -> DrumDataset:
    """Features, targets, splits and normalized inputs of the hits of one drum (reference §5).

    Args:
        hits: from `load_hits`; frames of ≥ 35328 samples (the target features' span).
        window: samples of the onset-feature window (256; 2048 in the reference's ablation).
        valid_fraction, test_fraction: fractions of held-out hits, in [0, 1).
        seed: the data seed; the same seed gives the same splits.
    """
    if hits.audio.shape[1] < MIN_TARGET_SAMPLES:
        raise ConfigError(
            f"drum {hits.name!r}: frames of {hits.audio.shape[1]} samples are shorter than the "
            f"{MIN_TARGET_SAMPLES} the target features need (raise data.frame_length)"
        )
    features = _batched(lambda x: target_features(x, hits.sample_rate), hits.audio)
    onset_raw = _batched(lambda x: onset_features(x, hits.sample_rate, window), hits.audio)
    return dataset_from_features(hits, features, onset_raw, window, valid_fraction, test_fraction, seed)


def dataset_from_features(
    hits: DrumHits,
    features: torch.Tensor,
    onset_raw: torch.Tensor,
    window: int,
    valid_fraction: float = 0.1,
    test_fraction: float = 0.1,
    seed: int = 0,
) -> DrumDataset:
    """`build_drum_dataset` once F `(H, 7)` and O `(H, 3)` are known.

    The reference is the hit at position int(0.5 · H) of the loudness order; test hits are held
    out first (`test_fraction`), then validation hits from the rest, with one generator seeded
    with `seed`; O's min and max are taken over the remaining (train) hits.
    """
    order = loudness_order(features)
    reference = int(order[int(0.5 * len(order))])
    generator = torch.Generator().manual_seed(int(seed))
    test, rest = loudness_stratified_split(order, reference, test_fraction, generator)
    valid, train = loudness_stratified_split(rest, reference, valid_fraction, generator)
    splits = {name: ids.sort().values for name, ids in zip(SPLIT_NAMES, (train, valid, test))}
    dataset = DrumDataset(
        features=features,
        reference=reference,
        targets=features - features[reference],
        onset_raw=onset_raw,
        onset_min=onset_raw[splits["train"]].amin(dim=0),
        onset_max=onset_raw[splits["train"]].amax(dim=0),
        inputs=onset_raw,  # replaced below, once the statistics exist
        splits=splits,
        reference_audio=hits.audio[reference],
        window=int(window),
        sample_rate=hits.sample_rate,
        name=hits.name,
        hits=hits,
    )
    dataset.inputs = dataset.normalize_onset(onset_raw)
    return dataset
