"""Onset-aligned grains of texture recordings: the training data of the grain VAE (textures §5).

The reference cut 0.4-s segments at the onsets of each recording (librosa onset detection on the
pre-emphasized signal) and z-normalized each; the autoencoder's input was the segment's vector of
ERB band energies. Here:

- `cut_grains`: one grain of `length` samples per onset of `ddspfx.dsp.onsets.detect_onsets`,
  starting `backtrack` samples before it (clamped at 0); grains that would run past the end of
  the file are dropped. `align="regular"` cuts back-to-back grains instead (every `length`
  samples from 0), for textures without events (wind). Each grain is z-normalized: zero mean and
  unit variance, its standard deviation floored at `GRAIN_EPS` so that a silent grain stays 0.
- `load_grains`: the grains of every audio file under a folder, as a `GrainSet`.
- `grain_descriptors`: the encoder's input, log ERB band energies (`erb_band_energies`).

Onset settings for textures (`texture_onset_settings`): on_threshold 18 dB, off_threshold 12 dB,
hold 0.1 s (4410 samples at 44.1 kHz), the detector's followers and high-pass unchanged. The drum
settings (10 / 4.67 dB, hold 10000 samples) suit hits separated by silence; in a texture the
detection function d (fast − slow follower) rarely falls under 4.67 dB (on rain its 1st
percentile is 7.5 dB: the fast follower rides the peaks of the noise bed), so the detector seldom
re-arms: 5 onsets in 60 s of the built-in synthetic rain. With 18 / 12 dB and a 0.1-s hold, 60 s of
the built-in textures (seed 0, 44.1 kHz) give rain 175, fire 146, stream 174 onsets (174, 146, 172
grains of 16384 samples), and wind (no events) 6: use `align="regular"` for wind (161 grains).
Other seeds: rain 142–167, fire 143–271 onsets.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from ddspfx.core.errors import ConfigError
from ddspfx.data.audio import AUDIO_EXTENSIONS, find_audio_files
from ddspfx.data.errors import DataError
from ddspfx.data.textures import split_segments, usable_recording
from ddspfx.dsp.onsets import BACKTRACK, detect_onsets
from ddspfx.dsp.texture_features import erb_band_energies

ALIGNS = ("onsets", "regular")
ON_THRESHOLD_DB = 18.0  # texture onsets: d must cross this (dB) ...
OFF_THRESHOLD_DB = 12.0  # ... and fall below this to re-arm
HOLD_SECONDS = 0.1  # no new onset within this time of the last (converted to samples)
GRAIN_EPS = 1e-6  # floor of a grain's standard deviation in z-normalization (−120 dBFS)


def texture_onset_settings(sample_rate: float, onset: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """`detect_onsets` keywords for textures (module docstring), updated with `onset`.

    The hold is HOLD_SECONDS · sample_rate samples unless `onset` sets `hold` (in samples).
    """
    settings = {
        "on_threshold": ON_THRESHOLD_DB,
        "off_threshold": OFF_THRESHOLD_DB,
        "hold": round(HOLD_SECONDS * sample_rate),
    }
    if onset is not None:
        if not isinstance(onset, Mapping):
            raise ConfigError(f"grains: onset must be a mapping of detect_onsets settings, got {onset!r}")
        settings.update(dict(onset))
    return settings


def normalize_grains(grains: torch.Tensor, eps: float = GRAIN_EPS) -> torch.Tensor:
    """Each row of `(G, L)` to zero mean and unit variance (std floored at `eps`: silence stays 0)."""
    centered = grains - grains.mean(dim=-1, keepdim=True)
    return centered / centered.std(dim=-1, correction=0, keepdim=True).clamp_min(eps)


def _check_int(owner: str, name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ConfigError(f"{owner}: {name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def _onset_starts(
    audio: torch.Tensor, sample_rate: int, onset: Mapping[str, Any] | None, backtrack: int
) -> torch.Tensor:
    """Grain starts (long, ascending, distinct): the onsets minus `backtrack`, clamped at 0."""
    settings = texture_onset_settings(sample_rate, onset)
    try:
        onsets = detect_onsets(audio, sample_rate, **settings)
    except TypeError as error:  # an unknown keyword
        raise ConfigError(f"cut_grains: bad onset settings {settings}: {error}") from None
    except ValueError as error:  # the audio is checked before: a bad setting
        raise ConfigError(f"cut_grains: bad onset settings: {error}") from None
    return torch.unique_consecutive((onsets - backtrack).clamp_min(0))


def cut_grains(
    audio: torch.Tensor,
    sample_rate: int,
    length: int,
    align: str = "onsets",
    onset: Mapping[str, Any] | None = None,
    backtrack: int = BACKTRACK,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Grains of one recording, z-normalized (module docstring).

    Args:
        audio: `(samples,)` float mono audio.
        sample_rate: Hz.
        length: samples per grain.
        align: "onsets" (a grain per detected onset) or "regular" (back-to-back, every `length`).
        onset: `detect_onsets` settings overriding `texture_onset_settings` (on_threshold and
            off_threshold in dB, hold in samples, …); only for align="onsets".
        backtrack: samples a grain starts before its onset (≥ 0); only for align="onsets".

    Returns:
        grains `(G, length)` in audio's dtype (G may be 0), and their first samples `(G,)` long.

    Raises:
        ConfigError: a bad align, length, backtrack or onset setting. ValueError: audio not 1-D float.
    """
    if not torch.is_tensor(audio) or not audio.is_floating_point() or audio.dim() != 1:
        shape = tuple(audio.shape) if torch.is_tensor(audio) else type(audio).__name__
        raise ValueError(f"cut_grains: audio must be a 1-D float tensor (samples,), got {shape}")
    if not torch.isfinite(audio).all():
        raise ValueError("cut_grains: audio holds NaN or Inf")
    if align not in ALIGNS:
        raise ConfigError(f"cut_grains: align must be one of {ALIGNS}, got {align!r}")
    length = _check_int("cut_grains", "length", length, 1)
    backtrack = _check_int("cut_grains", "backtrack", backtrack, 0)
    samples = audio.shape[0]
    if align == "regular":
        starts = torch.arange(0, samples - length + 1, length, dtype=torch.long)
    else:
        starts = _onset_starts(audio, sample_rate, onset, backtrack)
        starts = starts[starts + length <= samples]
    grains = audio[starts.to(audio.device).unsqueeze(1) + torch.arange(length, device=audio.device)]
    return normalize_grains(grains), starts


@dataclass(frozen=True)
class GrainSet:
    """Grains of the recordings of a folder (`load_grains`).

    Attributes:
        audio: `(G, length)` float32, z-normalized grains.
        file_index: `(G,)` long, the grain's file in `files`.
        start: `(G,)` long, its first sample in that file, at `sample_rate`.
        files: the usable files, sorted.
        lengths: their lengths in samples at `sample_rate`.
        root: the folder they were found in.
        sample_rate: Hz; length: samples per grain; align: "onsets" or "regular".
    """

    audio: torch.Tensor
    file_index: torch.Tensor
    start: torch.Tensor
    files: tuple[Path, ...]
    lengths: tuple[int, ...]
    root: Path
    sample_rate: int
    length: int
    align: str

    def __len__(self) -> int:
        return self.audio.shape[0]

    def __repr__(self) -> str:
        return (
            f"GrainSet({str(self.root)!r}, {len(self)} grains of {self.length} samples (align={self.align}) "
            f"at {self.sample_rate} Hz from {len(self.files)} files)"
        )

    def select(self, index: torch.Tensor) -> GrainSet:
        """The grains `index` `(k,)` (long or bool) with their records; files kept."""
        return replace(self, audio=self.audio[index], file_index=self.file_index[index], start=self.start[index])

    def split(self, fractions: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0) -> list[GrainSet]:
        """Train, valid and test grains, by file or else by time (`ddspfx.data.textures.split_segments`):
        grains of one file overlap in time, so they are never dealt one by one (that would put
        nearly the same audio in two splits)."""
        parts = split_segments(self.files, self.lengths, self.file_index, self.start, self.length, self.root,
                               fractions, seed, what="grain")
        return [self.select(index) for index in parts]


def _too_few(root: Path, count: int, files: int, length: int, align: str, onset, min_grains: int) -> DataError:
    on = dict(onset or {}).get("on_threshold", ON_THRESHOLD_DB)
    fix = (
        f"lower onset.on_threshold (now {on:g} dB) or use align=regular"
        if align == "onsets"
        else "use a shorter grain length or longer recordings"
    )
    return DataError(
        f"load_grains: {root} gives {count} grains of {length} samples (align={align}) from {files} usable "
        f"file{'' if files == 1 else 's'}, fewer than min_grains={min_grains}; {fix}"
    )


def load_grains(
    root: str | os.PathLike,
    sample_rate: int,
    length: int,
    align: str = "onsets",
    onset: Mapping[str, Any] | None = None,
    min_grains: int = 8,
    backtrack: int = BACKTRACK,
    extensions: Sequence[str] = AUDIO_EXTENSIONS,
) -> GrainSet:
    """The grains (`cut_grains`) of every audio file under `root` (recursively, sorted).

    Files are read mono at `sample_rate` (`load_audio`; resampled with a warning). Skipped with a
    warning naming each: unreadable or empty files, non-finite ones, files shorter than one grain
    and silent ones (peak below −60 dBFS).

    Returns:
        `GrainSet`: per file, its grains in time order.

    Raises:
        ConfigError: a bad argument. DataError: `root` is not a folder, holds no usable audio file,
        or gives fewer than `min_grains` grains (the message says what to change).
    """
    sample_rate = _check_int("load_grains", "sample_rate", sample_rate, 1)
    length = _check_int("load_grains", "length", length, 1)
    min_grains = _check_int("load_grains", "min_grains", min_grains, 0)
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"load_grains: {root} is not a folder")
    paths = find_audio_files(root, extensions)
    if not paths:
        raise DataError(f"load_grains: no {'/'.join(extensions)} file in {root} (searched recursively)")
    files, lengths, pieces, faults = [], [], [], []
    for path in paths:
        audio, fault = usable_recording(path, sample_rate, length, "one grain", "load_grains")
        if audio is None:
            faults.append(fault)
            continue
        grains, starts = cut_grains(audio, sample_rate, length, align, onset, backtrack)
        pieces.append((grains, torch.full_like(starts, len(files)), starts))
        files.append(path)
        lengths.append(audio.numel())
    if not files:
        counts = ", ".join(f"{faults.count(k)} {k}" for k in dict.fromkeys(faults))
        raise DataError(f"load_grains: no usable audio in {root}: {len(paths)} files ({counts})")
    audio, file_index, start = (torch.cat(parts) for parts in zip(*pieces))
    if len(audio) < min_grains:
        raise _too_few(root, len(audio), len(files), length, align, onset, min_grains)
    return GrainSet(
        audio.float().contiguous(), file_index, start, tuple(files), tuple(lengths), root, sample_rate, length, align
    )


def grain_descriptors(
    grains: torch.Tensor, sample_rate: float, n_bands: int, low: float = 20.0, high: float | None = None
) -> torch.Tensor:
    """The grain VAE's input: log L2 norms of ERB subbands 1 … N (`erb_band_energies`), `(G, L)` → `(G, N)`."""
    return erb_band_energies(grains, sample_rate, n_bands, low, high)
