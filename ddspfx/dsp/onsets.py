"""Onset detection (a FluCoMa-style envelope-follower detector) and hit framing.

The detector (reference timbreremap §3 steps 1–6, and the plug-in's C++ port, §12) runs per
sample n on mono audio x:

    h[n]    = high-pass biquad of x (RBJ, 600 Hz, Q 0.707, float64 transposed direct form II)
    l[n]    = max(20·log10(|h[n]| + 1e−8), min_db)                       level in dB
    f[n]    = f[n−1] + c·(l[n] − f[n−1]),  c = 1/attack if l[n] > f[n−1] else 1/release
              fast follower: attack 3, release 383 samples; the slow follower s[n] is the same
              with attack = release = 2205 samples; both start at min_db (f[−1] = s[−1] = min_db)
    d[n]    = f[n] − s[n]                                                 detection function, dB
    onset at n  ⇔  armed and d[n] ≥ on and d[n−1] < on                   (d[−1] = 0)

An onset disarms the detector and starts a hold counter of `hold` samples: samples n+1 … n+hold
neither trigger nor re-arm. From sample n+hold+1 on, the first sample with d < off re-arms it (that
sample cannot itself trigger, as d < off < on there). The follower times and the hold are counted
in samples, as in the reference, whatever the sample rate; only the high-pass depends on it.
Training used on = 10 dB, off = 4.6666 dB, hold = 10000 samples (the defaults here); the plug-in's
host defaults are 16 / 4.66 / 1000.

Streaming. `OnsetDetector` is stateful and processes any sequence of blocks. Its whole state
(high-pass memory, both followers, d[n−1], the armed flag, the hold counter and the number of
samples seen) is one float64 array of STATE_SIZE values (`copy_state` / `load_state`). What the
real-time processor relies on:

- Block-by-block equals offline, exactly: the one compiled kernel carries every quantity across
  block boundaries, so splitting a signal into blocks of any sizes (empty blocks included) gives
  bit-for-bit the same trajectory and the same onset indices as `detect_onsets` on the whole signal
  (which is that same detector fed one block).
- Onsets are absolute sample indices counted from construction or the last `reset()`.
- `load_state(copy_state())` resumes identically; `reset()` restores the initial state.

`frame_hits` cuts one fixed-length frame per onset out of a file (reference §3 step 7).
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import torch
from numba import njit

from ddspfx.dsp.filters import biquad_coefficients

# Settings of the training data (reference §3 step 6) and of the detector (steps 1–3).
ON_THRESHOLD_DB = 10.0
OFF_THRESHOLD_DB = 4.6666
HOLD_SAMPLES = 10000
MIN_DB = -55.0
HIGHPASS_HZ = 600.0
HIGHPASS_Q = 0.707
FAST_FOLLOWER = (3.0, 383.0)  # (attack, release) in samples
SLOW_FOLLOWER = (2205.0, 2205.0)
LEVEL_EPSILON = 1e-8  # added to |h| before the log

# Framing (reference §3 step 7).
BACKTRACK = 16
OVERLAP_BUFFER = 1024

# Layout of the state array.
Z1, Z2, FAST, SLOW, PREVIOUS_D, ARMED, HOLD_LEFT, POSITION = range(8)
STATE_SIZE = 8
# Layout of the settings array the kernel reads.
_B0, _B1, _B2, _A1, _A2, _MIN_DB, _FAST_UP, _FAST_DOWN, _SLOW_UP, _SLOW_DOWN, _ON, _OFF, _HOLD = range(13)

CHUNK = 1 << 16  # samples per kernel call (bounds the temporary float64 copy and index buffer)


@njit(cache=True, nogil=True)
def _detect_kernel(x, settings, state, onsets, detection):
    """Run the detector over x (float64, (samples,)), updating `state` in place.

    Writes the absolute indices of the onsets found to onsets[:count] (onsets has ≥ len(x)
    entries), d[n] to detection[n] if detection is not empty, and returns count.
    """
    b0, b1, b2 = settings[_B0], settings[_B1], settings[_B2]
    a1, a2 = settings[_A1], settings[_A2]
    min_db = settings[_MIN_DB]
    fast_up, fast_down = settings[_FAST_UP], settings[_FAST_DOWN]
    slow_up, slow_down = settings[_SLOW_UP], settings[_SLOW_DOWN]
    on, off, hold = settings[_ON], settings[_OFF], settings[_HOLD]
    z1, z2 = state[Z1], state[Z2]
    fast, slow, previous = state[FAST], state[SLOW], state[PREVIOUS_D]
    armed, hold_left = state[ARMED] != 0.0, state[HOLD_LEFT]
    start = np.int64(state[POSITION])
    record = detection.shape[0] > 0
    count = 0
    for n in range(x.shape[0]):
        xn = x[n]
        h = z1 + b0 * xn
        z1 = z2 + xn * b1 - h * a1
        z2 = xn * b2 - h * a2
        level = 20.0 * math.log10(abs(h) + LEVEL_EPSILON)
        if level < min_db:
            level = min_db
        fast = fast + (fast_up if level > fast else fast_down) * (level - fast)
        slow = slow + (slow_up if level > slow else slow_down) * (level - slow)
        d = fast - slow
        if hold_left > 0.0:
            hold_left -= 1.0
        elif not armed and d < off:
            armed = True
        if armed and d >= on and previous < on:
            onsets[count] = start + n
            count += 1
            armed = False
            hold_left = hold
        previous = d
        if record:
            detection[n] = d
    state[Z1], state[Z2] = z1, z2
    state[FAST], state[SLOW], state[PREVIOUS_D] = fast, slow, previous
    state[ARMED] = 1.0 if armed else 0.0
    state[HOLD_LEFT] = hold_left
    state[POSITION] = float(start + x.shape[0])
    return count


def _check_follower(value, name: str) -> tuple[float, float]:
    """(attack, release) in samples, both finite and ≥ 1 → floats."""
    try:
        attack, release = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"OnsetDetector: {name} must be a pair (attack, release) in samples, got {value!r}") from None
    for label, v in (("attack", attack), ("release", release)):
        if not (math.isfinite(v) and v >= 1.0):
            raise ValueError(f"OnsetDetector: {name} {label} must be ≥ 1 sample, got {v}")
    return attack, release


def _as_samples(block, owner: str) -> np.ndarray:
    """A 1-D float numpy array or tensor → 1-D numpy array (float32 or float64, on the CPU), checked finite."""
    if torch.is_tensor(block):
        if not block.is_floating_point():
            raise ValueError(f"{owner}: audio must be floating-point, got {block.dtype}")
        block = block.detach().cpu()
        if block.dtype not in (torch.float32, torch.float64):
            block = block.to(torch.float32)
        block = block.numpy()
    else:
        block = np.asarray(block)
        if block.dtype.kind != "f":
            raise ValueError(f"{owner}: audio must be floating-point, got {block.dtype}")
    if block.ndim != 1:
        raise ValueError(f"{owner}: audio must be 1-D (samples,), got shape {block.shape}")
    finite = np.isfinite(block)
    if not finite.all():
        first = int(np.argmin(finite))
        raise ValueError(f"{owner}: audio sample {first} is not finite ({block[first]})")
    return block


class OnsetDetector:
    """Stateful, block-by-block onset detector (see the module docstring for the equations).

    Args:
        sample_rate: Hz; sets the high-pass design only.
        on_threshold: d (dB) must cross this upward to trigger.
        off_threshold: d (dB) must fall below this to re-arm; < on_threshold.
        hold: samples after an onset during which nothing triggers or re-arms (integer ≥ 0).
        min_db: level floor in dB; both followers start there.
        highpass_hz: high-pass corner in Hz, in (0, sample_rate/2).
        highpass_q: high-pass Q (> 0).
        fast, slow: (attack, release) of each follower in samples, each ≥ 1 (c = 1/time).

    The settings are fixed at construction (the attributes of the same names are for reading);
    to change them, build a new detector and `load_state` the old one's state into it.

    Raises:
        ValueError: naming the first invalid setting.
    """

    def __init__(
        self,
        sample_rate: float,
        on_threshold: float = ON_THRESHOLD_DB,
        off_threshold: float = OFF_THRESHOLD_DB,
        hold: int = HOLD_SAMPLES,
        min_db: float = MIN_DB,
        highpass_hz: float = HIGHPASS_HZ,
        highpass_q: float = HIGHPASS_Q,
        fast: tuple[float, float] = FAST_FOLLOWER,
        slow: tuple[float, float] = SLOW_FOLLOWER,
    ) -> None:
        owner = "OnsetDetector"
        real = isinstance(sample_rate, numbers.Real) and not isinstance(sample_rate, bool)
        if not (real and math.isfinite(sample_rate) and sample_rate > 0):
            raise ValueError(f"{owner}: sample_rate must be a positive number of Hz, got {sample_rate!r}")
        for name, value in (("on_threshold", on_threshold), ("off_threshold", off_threshold), ("min_db", min_db)):
            if not math.isfinite(value):
                raise ValueError(f"{owner}: {name} must be finite, got {value}")
        if not on_threshold > off_threshold:
            raise ValueError(
                f"{owner}: on_threshold ({on_threshold} dB) must be greater than off_threshold ({off_threshold} dB)"
            )
        if isinstance(hold, bool) or not float(hold).is_integer() or hold < 0:
            raise ValueError(f"{owner}: hold must be a whole number of samples ≥ 0, got {hold!r}")
        if not 0 < highpass_hz < sample_rate / 2:
            raise ValueError(f"{owner}: highpass_hz must lie in (0, {sample_rate / 2}) Hz, got {highpass_hz}")
        if not (math.isfinite(highpass_q) and highpass_q > 0):
            raise ValueError(f"{owner}: highpass_q must be positive, got {highpass_q}")
        self.fast = _check_follower(fast, "fast")
        self.slow = _check_follower(slow, "slow")
        self.sample_rate = float(sample_rate)
        self.on_threshold = float(on_threshold)
        self.off_threshold = float(off_threshold)
        self.hold = int(hold)
        self.min_db = float(min_db)
        self.highpass_hz = float(highpass_hz)
        self.highpass_q = float(highpass_q)
        f0 = torch.tensor(self.highpass_hz, dtype=torch.float64)
        b, a = biquad_coefficients("high_pass", f0, 0.0, self.highpass_q, self.sample_rate)
        self.highpass_b, self.highpass_a = b.numpy().copy(), a.numpy().copy()  # (3,) each, a[0] = 1
        self._settings = np.array(
            [*self.highpass_b, *self.highpass_a[1:], self.min_db,
             1.0 / self.fast[0], 1.0 / self.fast[1], 1.0 / self.slow[0], 1.0 / self.slow[1],
             self.on_threshold, self.off_threshold, float(self.hold)],
            dtype=np.float64,
        )
        self._state = np.empty(STATE_SIZE, dtype=np.float64)
        self.reset()

    def initial_state(self) -> np.ndarray:
        """The state after `reset()`: silent filter, followers at min_db, d = 0, armed, no hold, position 0."""
        state = np.zeros(STATE_SIZE, dtype=np.float64)
        state[FAST] = state[SLOW] = self.min_db
        state[ARMED] = 1.0
        return state

    def reset(self) -> None:
        """Forget everything: back to the initial state, positions counted from 0 again."""
        self._state[:] = self.initial_state()

    def copy_state(self) -> np.ndarray:
        """A copy of the state, float64 `(STATE_SIZE,)`.

        Entries (module constants): Z1, Z2 (high-pass memory), FAST, SLOW (followers, dB),
        PREVIOUS_D (d[n−1], dB), ARMED (0 or 1), HOLD_LEFT (samples), POSITION (samples seen).
        """
        return self._state.copy()

    def load_state(self, state) -> None:
        """Restore a state from `copy_state` (any array-like of STATE_SIZE values)."""
        state = np.asarray(state, dtype=np.float64)
        if state.shape != (STATE_SIZE,):
            raise ValueError(f"OnsetDetector: state must have shape ({STATE_SIZE},), got {state.shape}")
        if not np.isfinite(state).all():
            raise ValueError("OnsetDetector: state must be finite")
        if state[ARMED] not in (0.0, 1.0):
            raise ValueError(f"OnsetDetector: state[ARMED] must be 0 or 1, got {state[ARMED]}")
        for index, name in ((HOLD_LEFT, "HOLD_LEFT"), (POSITION, "POSITION")):
            if state[index] < 0 or not float(state[index]).is_integer():
                raise ValueError(f"OnsetDetector: state[{name}] must be a whole number ≥ 0, got {state[index]}")
        self._state[:] = state

    @property
    def state(self) -> np.ndarray:
        """A copy of the state (see `copy_state`); assigning to it calls `load_state`."""
        return self.copy_state()

    @state.setter
    def state(self, value) -> None:
        self.load_state(value)

    @property
    def position(self) -> int:
        """Samples processed since construction or the last reset."""
        return int(self._state[POSITION])

    def process(self, block) -> np.ndarray:
        """Feed the next block of mono audio.

        Args:
            block: `(samples,)` float numpy array or tensor (any device), any length ≥ 0.

        Returns:
            int64 `(onsets,)`: absolute sample indices (from the last reset) of the onsets in this block.

        Raises:
            ValueError: a block that is not 1-D floating-point, or a non-finite sample (the state is
                then left unchanged).
        """
        onsets, _ = self._process(block, record=False)
        return onsets

    def _process(self, block, record: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """`process`, plus d[n] (float64 `(samples,)`) when `record`."""
        x = _as_samples(block, "OnsetDetector.process")
        found = []
        buffer = np.empty(min(CHUNK, x.shape[0]), dtype=np.int64)
        detection = np.empty(x.shape[0] if record else 0, dtype=np.float64)
        for lo in range(0, x.shape[0], CHUNK):
            chunk = np.ascontiguousarray(x[lo:lo + CHUNK], dtype=np.float64)
            d_out = detection[lo:lo + CHUNK] if record else detection
            count = _detect_kernel(chunk, self._settings, self._state, buffer, d_out)
            if count:
                found.append(buffer[:count].copy())
        onsets = np.concatenate(found) if found else np.empty(0, dtype=np.int64)
        return onsets, (detection if record else None)


def _mono(audio, owner: str):
    """`(samples,)` or `(1, samples)` audio → `(samples,)`; anything else is a ValueError naming the shape."""
    shape = tuple(audio.shape)
    if len(shape) == 2 and shape[0] == 1:
        return audio[0]
    if len(shape) != 1:
        raise ValueError(f"{owner}: audio must be mono, (samples,) or (1, samples), got shape {shape}")
    return audio


def detect_onsets(audio, sample_rate: float, **settings) -> torch.Tensor:
    """Onsets of a whole mono file: a fresh `OnsetDetector` fed the file as one block.

    Args:
        audio: `(samples,)` or `(1, samples)` float tensor or numpy array.
        sample_rate: Hz.
        **settings: `OnsetDetector` keywords (on_threshold, off_threshold, hold, …); the defaults
            are the training settings.

    Returns:
        int64 `(onsets,)` sample indices, ascending.
    """
    audio = _mono(audio if torch.is_tensor(audio) else np.asarray(audio), "detect_onsets")
    detector = OnsetDetector(sample_rate, **settings)
    return torch.from_numpy(detector.process(audio))


def detection_function(audio, sample_rate: float, **settings) -> torch.Tensor:
    """d[n] = fast − slow follower in dB, float64 `(samples,)`, of mono audio (as in `detect_onsets`)."""
    audio = _mono(audio if torch.is_tensor(audio) else np.asarray(audio), "detection_function")
    _, detection = OnsetDetector(sample_rate, **settings)._process(audio, record=True)
    return torch.from_numpy(detection)


def fade_out(length: int) -> np.ndarray:
    """The falling half of a symmetric 2·length-point Hann window, float64 `(length,)` (`np.hanning(2L)[L:]`)."""
    return np.hanning(2 * length)[length:]


def _check_count(value, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not float(value).is_integer() or value < minimum:
        raise ValueError(f"frame_hits: {name} must be a whole number ≥ {minimum}, got {value!r}")
    return int(value)


def _check_onsets(onsets, samples: int) -> np.ndarray:
    """Onset indices → int64 numpy `(hits,)`, strictly increasing, each in [0, samples)."""
    if torch.is_tensor(onsets):
        onsets = onsets.detach().cpu().numpy()
    onsets = np.asarray(onsets)
    if onsets.ndim != 1:
        raise ValueError(f"frame_hits: onsets must be 1-D, got shape {onsets.shape}")
    if onsets.size and onsets.dtype.kind not in "iu":
        raise ValueError(f"frame_hits: onsets must be integer sample indices, got {onsets.dtype}")
    onsets = onsets.astype(np.int64)
    if onsets.size and (onsets[0] < 0 or onsets[-1] >= samples):
        raise ValueError(f"frame_hits: onsets must lie in [0, {samples}), got {onsets.min()} … {onsets.max()}")
    if np.any(np.diff(onsets) <= 0):
        raise ValueError("frame_hits: onsets must be strictly increasing")
    return onsets


def frame_hits(
    audio: torch.Tensor,
    onsets,
    frame_length: int,
    backtrack: int = BACKTRACK,
    overlap_buffer: int = OVERLAP_BUFFER,
) -> torch.Tensor:
    """One frame per onset (reference §3 step 7), in onset order.

    Frame i starts at s = max(onsets[i] − backtrack, 0) and holds audio[s : s + frame_length].
    If the next onset o' falls inside it (o' < s + frame_length), the frame keeps only
    audio[s : o' − overlap_buffer], the last overlap_buffer kept samples are multiplied by
    `fade_out(overlap_buffer)` (which ends at exactly 0, so the last kept sample is 0), and the
    rest is zeros. A frame running past the end of the file is zero-padded.

    Degenerate cases: the fade is anchored at the cut. If fewer than overlap_buffer samples are
    kept (o' − overlap_buffer − s < overlap_buffer), they get the last values of the fade, as they
    would in a longer frame; if none are (o' ≤ s + overlap_buffer), the frame is all zeros. A
    frame is still returned for every onset, so hits stay aligned with onsets.

    Args:
        audio: `(samples,)` or `(1, samples)` float tensor.
        onsets: `(hits,)` strictly increasing integer sample indices in [0, samples) (tensor,
            array or list).
        frame_length: samples per frame (≥ 1); the reference uses the sample rate (1 s).
        backtrack: samples a frame starts before its onset (≥ 0).
        overlap_buffer: samples kept clear before the next onset, and fade length (≥ 0).

    Returns:
        `(hits, frame_length)` in audio's dtype and device.
    """
    if not torch.is_tensor(audio) or not audio.is_floating_point():
        kind = getattr(audio, "dtype", type(audio).__name__)
        raise ValueError(f"frame_hits: audio must be a floating-point tensor, got {kind}")
    audio = _mono(audio, "frame_hits")
    samples = audio.shape[0]
    frame_length = _check_count(frame_length, "frame_length", 1)
    backtrack = _check_count(backtrack, "backtrack", 0)
    overlap_buffer = _check_count(overlap_buffer, "overlap_buffer", 0)
    onsets = _check_onsets(onsets, samples)
    fade = torch.as_tensor(fade_out(overlap_buffer), dtype=audio.dtype, device=audio.device)
    frames = audio.new_zeros(len(onsets), frame_length)
    for i, onset in enumerate(onsets.tolist()):
        start = max(onset - backtrack, 0)
        stop = min(start + frame_length, samples)
        cut = i + 1 < len(onsets) and onsets[i + 1] < start + frame_length
        if cut:
            stop = int(onsets[i + 1]) - overlap_buffer
        kept = stop - start
        if kept <= 0:
            continue
        frames[i, :kept] = audio[start:stop]
        if cut and overlap_buffer:
            faded = min(kept, overlap_buffer)
            frames[i, kept - faded:kept] *= fade[overlap_buffer - faded:]
    return frames
