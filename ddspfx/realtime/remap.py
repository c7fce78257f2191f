"""Streaming drum timbre remapping: drum audio in, TR-808 snare audio out, block by block.

Per block of input (mono, 32 … 2048 samples, any sizes in any order):

1. The stateful onset detector (`ddspfx.dsp.onsets.OnsetDetector`, the run's `data.detector`
   settings) finds the onsets o; its trajectory does not depend on how its input is cut.
2. Each onset opens a feature window of `window` samples starting at s = max(o − backtrack, 0),
   the samples training computed the hit's onset features on (`ddspfx.data.drums.load_hits` cuts
   each hit from o − BACKTRACK, `frame_hits`; the window is the frame's first `window` samples).
   The recent input is kept, so a window may start in an earlier block.
3. When the window is complete (at sample s + window, which can be in a later block), its raw
   onset features (`ddspfx.dsp.features.onset_features`) go to the mapper (raw features
   `(1, 3)` → controls `(1, 14)`: a `ddspfx.export.RemapMapper` or its TorchScript file), and the
   renderer (controls `(1, 14)` → audio `(1, n)`: `Snare808`, `ScriptedSnare808` or its TorchScript
   file) renders the whole hit once.
4. The hit plays from absolute sample s + window on, in a voice of a pool of `voices`; a new hit
   overlaps the ringing ones. When all voices are busy the oldest is stolen: it fades out linearly
   over `release` samples from the new hit's start (then stops).

Latency. A hit sounds at s + window, i.e. `window − backtrack` samples after the detected onset
(240 samples, 5.4 ms at 44.1 kHz for the 256-sample window; 2032 samples, 46 ms for 2048), plus
the detector's own delay between the true onset of a sound and its detection (a few samples on a
sharp attack, more on a soft one: the fast follower rises within ~3 samples of the high-passed
level). `latency` gives the first part; a recording with known onsets measures the second.

The output is causal and does not depend on the block sizes: the output at sample k depends only on
input samples < k, every hit starts at the same absolute sample whatever the blocking, and the
voices are summed in trigger order. Block sizes therefore give identical output.

Where it equals training. The window equals the one the dataset computed a hit's features on
whenever the next onset is at least `window + 2·OVERLAP_BUFFER − backtrack` samples later (else
`frame_hits` cut and faded that hit's frame): always with the training detector's hold of
10000 samples. Hits that training dropped (a frame peaking below −80 dBFS) are still played here.

Cost: a hit whose onset is at o cannot sound before s + window ≥ o + window − backtrack, so the
detector (a compiled kernel, but ~10 µs of Python around each call) is fed only when its answer can
matter: once every `window − backtrack` samples or so (every 4th block of 64 at window 256), with
all the input it has not seen. This changes nothing in the output (the detector is blocking-
invariant and every hit is still triggered in the block it starts in). Each block otherwise costs a
few numpy slices; rendering (one synth call, ~3 ms for 1 s of audio on one CPU thread) happens
once per hit, in the block where its window completes. No per-sample Python loop.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from ddspfx.dsp.features import onset_features
from ddspfx.dsp.onsets import BACKTRACK, OnsetDetector

MIN_BLOCK = 32
MAX_BLOCK = 2048
DEFAULT_VOICES = 4
DEFAULT_RELEASE = 64  # samples of the fade-out of a stolen voice (1.5 ms at 44.1 kHz)

Mapper = Callable[[torch.Tensor], torch.Tensor]  # raw onset features (1, 3) → controls (1, n_params)
Renderer = Callable[[torch.Tensor], torch.Tensor]  # controls (1, n_params) → audio (1, samples)


@dataclass
class Hit:
    """One triggered hit.

    Attributes:
        onset: the detected onset, absolute sample index (from construction or `reset`).
        start: first sample of its feature window, max(onset − backtrack, 0).
        trigger: the sample its synth sound starts at, start + window.
        features: raw onset features `(3,)` float32 (dB, semitones, dB).
        controls: the synth controls `(n_params,)` float32.
    """

    onset: int
    start: int
    trigger: int
    features: np.ndarray
    controls: np.ndarray


class _Voice:
    """A rendered hit playing from absolute sample `start` until `stop` (exclusive)."""

    __slots__ = ("start", "stop", "audio", "released")

    def __init__(self, start: int, audio: np.ndarray):
        self.start, self.audio = start, audio
        self.stop = start + audio.shape[0]
        self.released = False


class StreamingRemapper:
    """Block-based drum → TR-808 timbre remapping (module docstring).

    Args:
        mapper: raw onset features `(1, 3)` → controls `(1, n_params)` (e.g. `RemapMapper`).
        renderer: controls `(1, n_params)` → audio `(1, samples)` (e.g. `Snare808`).
        sample_rate: Hz of the input and output (the run's).
        window: onset-feature window in samples (the run's, 256 or 2048).
        detector: `OnsetDetector` keyword settings (the run's `data.detector`; {} = training's).
        backtrack: samples the window starts before the detected onset (training's `BACKTRACK`).
        voices: hits that may ring at once (≥ 2); a further hit steals the oldest.
        release: fade-out of a stolen voice, samples (≥ 1).

    Call `process(block)` for each block; `latency` is the onset → sound delay in samples;
    `hits` lists what was triggered; `reset()` starts over.

    Raises:
        ValueError: a bad setting (named).
    """

    def __init__(
        self,
        mapper: Mapper,
        renderer: Renderer,
        sample_rate: int,
        window: int,
        detector: dict | None = None,
        backtrack: int = BACKTRACK,
        voices: int = DEFAULT_VOICES,
        release: int = DEFAULT_RELEASE,
    ):
        for name, value, low in (("sample_rate", sample_rate, 1), ("window", window, 1), ("backtrack", backtrack, 0),
                                 ("voices", voices, 2), ("release", release, 1)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise ValueError(f"StreamingRemapper: {name} must be an integer >= {low}, got {value!r}")
        if window <= backtrack:
            raise ValueError(f"StreamingRemapper: window ({window}) must be longer than backtrack ({backtrack}): "
                             "a window has to end after its onset")
        if not callable(mapper) or not callable(renderer):
            raise ValueError("StreamingRemapper: mapper and renderer must be callables (modules)")
        self.mapper, self.renderer = mapper, renderer
        self.sample_rate, self.window, self.backtrack = int(sample_rate), int(window), int(backtrack)
        self.voices, self.release = int(voices), int(release)
        self.detector_settings = dict(detector or {})
        self.detector = OnsetDetector(self.sample_rate, **self.detector_settings)
        self._fade = np.linspace(1.0, 0.0, self.release + 1, dtype=np.float32)[1:]  # ends at 0
        # Input kept: the detector may lag up to window − backtrack samples behind (see `process`),
        # and a window starts up to backtrack samples before its onset.
        self._keep = self.window + self.backtrack + MAX_BLOCK
        self.reset()

    # --- state -----------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget everything: detector state, pending windows, ringing voices, hits, position 0."""
        self.detector.reset()
        self._position = 0
        self._detected = 0  # the detector has seen input samples [0, _detected)
        self._history = np.zeros(self._keep + MAX_BLOCK, dtype=np.float32)  # input [_first, position)
        self._first = -self._keep  # absolute index of _history[0]; samples before 0 are zeros
        self._pending: list[tuple[int, int]] = []  # (onset, window start) of windows not complete yet
        self._voices: list[_Voice] = []
        self.hits: list[Hit] = []

    @property
    def position(self) -> int:
        """Samples processed since construction or the last `reset`."""
        return self._position

    @property
    def latency(self) -> int:
        """Samples from a detected onset to the start of its synth hit: window − backtrack
        (the detector's own delay after the true onset comes on top)."""
        return self.window - self.backtrack

    @property
    def latency_ms(self) -> float:
        """`latency` in milliseconds."""
        return 1000.0 * self.latency / self.sample_rate

    @property
    def active_voices(self) -> int:
        """Voices still sounding (stolen ones still fading included)."""
        return len(self._voices)

    # --- processing --------------------------------------------------------------------------
    def process(self, block) -> np.ndarray:
        """Feed the next block of mono input; returns the synth's output for the same samples.

        Args:
            block: `(samples,)` or `(1, samples)` float numpy array or tensor, 32 … 2048 samples,
                finite.

        Returns:
            `(samples,)` float32 numpy array.

        Raises:
            ValueError: (one line) a block of another shape or size, not floating-point, or with
                a non-finite sample; the state is then unchanged.
        """
        x = _check_block(block)
        n = x.shape[0]
        if not math.isfinite(float(np.dot(x, x))) and not np.isfinite(x).all():  # one dot product when finite
            first = int(np.argmin(np.isfinite(x)))
            raise ValueError(f"StreamingRemapper.process: sample {first} of the block is not finite")
        self._append(x)
        end = self._position + n
        # The hits that start in this block, at s + window < end, have onsets o ≤ end − 1 − window +
        # backtrack: the detector needs to have seen samples up to there only. It is fed whatever
        # it has not seen once that point passes, i.e. every (window − backtrack) samples or so.
        if self._detected < end - self.window + self.backtrack:
            onsets = self.detector.process(self._history[self._detected - self._first:end - self._first])
            self._detected = end
            self._pending.extend((o, max(o - self.backtrack, 0)) for o in onsets.tolist())
        if self._pending:
            self._trigger_complete(end)
        out = self._mix(n)
        self._position = end
        return out

    def _append(self, x: np.ndarray) -> None:
        """Add a block to the input history (moving the last `_keep` samples to the front when full)."""
        at = self._position - self._first
        if at + x.shape[0] > self._history.shape[0]:
            self._history[:self._keep] = self._history[at - self._keep:at]
            self._first = self._position - self._keep
            at = self._keep
        self._history[at:at + x.shape[0]] = x

    def _trigger_complete(self, end: int) -> None:
        """Trigger every pending window that is complete by sample `end` (exclusive), in onset order."""
        still = []
        for onset, start in self._pending:
            if start + self.window <= end:
                self._trigger(onset, start)
            else:
                still.append((onset, start))
        self._pending = still

    @torch.no_grad()
    def _trigger(self, onset: int, start: int) -> None:
        """Features of the window [start, start + window) → controls → the rendered hit, started in
        a voice at start + window."""
        window = self._history[start - self._first:start - self._first + self.window].copy()
        raw = onset_features(torch.from_numpy(window).unsqueeze(0), self.sample_rate, self.window)
        controls = self.mapper(raw)
        audio = self.renderer(controls)
        audio = audio.detach().to("cpu", torch.float32).numpy().reshape(-1).copy()
        trigger = start + self.window
        self._steal_if_full(trigger)
        self._voices.append(_Voice(trigger, audio))
        self.hits.append(Hit(onset, start, trigger, raw[0].detach().cpu().numpy(),
                             controls[0].detach().cpu().numpy().astype(np.float32)))

    def _steal_if_full(self, at: int) -> None:
        """If every voice is busy at sample `at`, fade the oldest out over `release` samples from `at`."""
        busy = [v for v in self._voices if not v.released and v.stop > at]
        if len(busy) < self.voices:
            return
        oldest = min(busy, key=lambda v: v.start)
        k = at - oldest.start
        length = min(self.release, oldest.audio.shape[0] - k)
        oldest.audio[k:k + length] *= self._fade[:length]
        oldest.stop = oldest.start + k + length
        oldest.released = True

    def _mix(self, n: int) -> np.ndarray:
        """The voices' samples [position, position + n), summed in trigger order; ended voices dropped."""
        out = np.zeros(n, dtype=np.float32)
        voices = self._voices
        if not voices:
            return out
        p, end = self._position, self._position + n
        ended = False
        for voice in voices:
            a = voice.start if voice.start > p else p
            b = voice.stop if voice.stop < end else end
            if a < b:
                out[a - p:b - p] += voice.audio[a - voice.start:b - voice.start]
            ended = ended or voice.stop <= end
        if ended:
            self._voices = [v for v in voices if v.stop > end]
        return out

    def process_signal(self, audio, block: int = 64) -> np.ndarray:
        """Stream a whole signal `(samples,)` through `process` in blocks of `block` samples (the
        last block is zero-padded to 32 samples if shorter); returns the output `(samples,)`."""
        x = np.asarray(audio.detach().cpu().numpy() if torch.is_tensor(audio) else audio, dtype=np.float32)
        if x.ndim != 1:
            raise ValueError(f"StreamingRemapper.process_signal: audio must be mono (samples,), got shape {x.shape}")
        _check_size(block, "StreamingRemapper.process_signal")
        out = np.empty_like(x)
        for lo in range(0, x.shape[0], block):
            chunk = x[lo:lo + block]
            if chunk.shape[0] < MIN_BLOCK:
                chunk = np.concatenate([chunk, np.zeros(MIN_BLOCK - chunk.shape[0], dtype=np.float32)])
            out[lo:lo + block] = self.process(chunk)[:min(block, x.shape[0] - lo)]
        return out


def _check_size(n, owner: str = "StreamingRemapper.process") -> None:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not MIN_BLOCK <= n <= MAX_BLOCK:
        raise ValueError(f"{owner}: blocks must have {MIN_BLOCK} … {MAX_BLOCK} samples, got {n!r}")


def _check_block(block) -> np.ndarray:
    """A block as a 1-D float32 numpy array (a view where possible), its shape and dtype checked
    (one-line ValueError); `process` checks that the samples are finite."""
    if (type(block) is np.ndarray and block.ndim == 1 and block.dtype == np.float32
            and MIN_BLOCK <= block.shape[0] <= MAX_BLOCK):
        return block  # the common case, without the general checks below
    if torch.is_tensor(block):
        if not block.is_floating_point():
            raise ValueError(f"StreamingRemapper.process: blocks must be floating-point, got {block.dtype}")
        block = block.detach().to("cpu", torch.float32).numpy()
    else:
        block = np.asarray(block)
        if block.dtype.kind != "f":
            raise ValueError(f"StreamingRemapper.process: blocks must be floating-point, got {block.dtype}")
    if block.ndim == 2 and block.shape[0] == 1:
        block = block[0]
    if block.ndim != 1:
        raise ValueError("StreamingRemapper.process: blocks must be mono, (samples,) or (1, samples); "
                         f"got shape {block.shape}")
    _check_size(block.shape[0])
    return block.astype(np.float32, copy=False)


def trigger_positions(onsets, window: int, backtrack: int = BACKTRACK) -> np.ndarray:
    """Where the hits of detected `onsets` (samples) start sounding: max(o − backtrack, 0) + window."""
    onsets = np.asarray(onsets, dtype=np.int64)
    return np.maximum(onsets - backtrack, 0) + window
