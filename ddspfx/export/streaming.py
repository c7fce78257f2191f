"""The streaming timbre remapper (`ddspfx.realtime.StreamingRemapper`) as one TorchScript module.

A host that loads TorchScript only (the Neutone plug-in, a LibTorch program) cannot run the numba
onset detector, numpy bookkeeping or Python callbacks of the Python processor. `ScriptedRemapStream`
is the same processing in TorchScript-compilable torch and Python scalars:

- `ScriptedOnsetDetector`: the detector of `ddspfx.dsp.onsets` (high-pass biquad, dB level, fast
  and slow followers, threshold crossing with hold and re-arm) as a per-sample loop over Python
  floats in TorchScript (the followers are non-linear recursions: nothing to vectorize). The same
  float64 operations in the same order as the numba kernel; numba's log10 and instruction choices
  differ in the last bits, so the followers agree to ~1e-6 dB and the onsets are the same (unless
  d lands within that of a threshold);
- `ScriptedOnsetFeatures`: `ddspfx.dsp.features.onset_features` (RMS dB, centroid semitones,
  flatness dB) on one window, the same operations;
- the feature windows from max(onset − backtrack, 0), the mapper (`RemapMapper`), the renderer
  (`ScriptedSnare808`) and a voice pool (steal the oldest, linear release) exactly as
  `StreamingRemapper` does; the hits are summed in trigger order.

The output equals `StreamingRemapper` with the same mapper and `ScriptedSnare808` renderer (tests:
within 1e-6; the features are bit-identical, the onsets the same). State lives in buffers and
attributes; `reset()` clears it.

TorchScript pitfalls met here: module-level constants are not visible to compiled methods (they
are attributes), tuple assignments to several attributes mis-compile (one per statement), and
identical `[]` literals of one method are merged into one list object (one new list per method).

Cost (one CPU thread): the detector loop is ~0.5–1 µs per sample (≈ 2–5 % of a core at 44.1 kHz);
each hit renders its whole second of audio in the block where its window completes (~10–15 ms
with `ScriptedSnare808`'s FFT convolution): a host with small audio buffers sees that spike once
per hit (see the README / report; rendering in chunks ahead of the play position would spread it).
"""

import math
from typing import List

import torch
from torch import nn

from ddspfx.dsp.onsets import LEVEL_EPSILON, OnsetDetector
from ddspfx.dsp.spectral import get_window
from ddspfx.export.remap import RemapMapper
from ddspfx.export.snare808 import ScriptedSnare808

MIN_BLOCK = 32
MAX_BLOCK = 2048


class ScriptedOnsetDetector(nn.Module):
    """`ddspfx.dsp.onsets.OnsetDetector` in TorchScript: `process(block (n,)) -> List[int]`
    absolute onset indices; the state is one float64 buffer (the numba detector's layout)."""

    b0: float
    b1: float
    b2: float
    a1: float
    a2: float
    min_db: float
    fast_up: float
    fast_down: float
    slow_up: float
    slow_down: float
    on: float
    off: float
    hold: float
    epsilon: float

    def __init__(self, detector: OnsetDetector):
        super().__init__()
        b, a = detector.highpass_b, detector.highpass_a
        self.b0, self.b1, self.b2 = float(b[0]), float(b[1]), float(b[2])
        self.a1, self.a2 = float(a[1]), float(a[2])
        self.min_db = detector.min_db
        self.fast_up, self.fast_down = 1.0 / detector.fast[0], 1.0 / detector.fast[1]
        self.slow_up, self.slow_down = 1.0 / detector.slow[0], 1.0 / detector.slow[1]
        self.on, self.off, self.hold = detector.on_threshold, detector.off_threshold, float(detector.hold)
        self.epsilon = LEVEL_EPSILON
        self.register_buffer("initial", torch.from_numpy(detector.initial_state()).clone())
        self.register_buffer("state", self.initial.clone())  # z1, z2, fast, slow, d[n−1], armed, hold left, position

    @torch.jit.export
    def reset(self) -> None:
        self.state.copy_(self.initial)

    def forward(self, block: torch.Tensor) -> List[int]:
        """Onsets (absolute sample indices) in the next block `(n,)` of mono audio."""
        xs: List[float] = block.to(torch.float64).tolist()
        s: List[float] = self.state.tolist()
        z1, z2, fast, slow, previous = s[0], s[1], s[2], s[3], s[4]
        armed, hold_left, start = s[5] != 0.0, s[6], int(s[7])
        b0, b1, b2, a1, a2 = self.b0, self.b1, self.b2, self.a1, self.a2
        min_db, on, off = self.min_db, self.on, self.off
        onsets: List[int] = []
        n = 0
        for xn in xs:
            h = z1 + b0 * xn
            z1 = z2 + xn * b1 - h * a1
            z2 = xn * b2 - h * a2
            level = 20.0 * math.log10(abs(h) + self.epsilon)
            if level < min_db:
                level = min_db
            fast = fast + (self.fast_up if level > fast else self.fast_down) * (level - fast)
            slow = slow + (self.slow_up if level > slow else self.slow_down) * (level - slow)
            d = fast - slow
            if hold_left > 0.0:
                hold_left -= 1.0
            elif not armed and d < off:
                armed = True
            if armed and d >= on and previous < on:
                onsets.append(start + n)
                armed = False
                hold_left = self.hold
            previous = d
            n += 1
        self.state.copy_(torch.tensor([z1, z2, fast, slow, previous, 1.0 if armed else 0.0, hold_left,
                                       float(start + len(xs))], dtype=torch.float64))
        return onsets


class ScriptedOnsetFeatures(nn.Module):
    """`ddspfx.dsp.features.onset_features` of windows `(batch, window)` → `(batch, 3)` in TorchScript."""

    sample_rate: float
    window: int

    def __init__(self, sample_rate: float, window: int):
        super().__init__()
        self.sample_rate, self.window = float(sample_rate), int(window)
        self.register_buffer("hann", get_window("hann", self.window, dtype=torch.float64).to(torch.float32))

    def forward(self, frame: torch.Tensor) -> torch.Tensor:
        spectrum = torch.fft.rfft(frame * self.hann)
        power = torch.view_as_real(spectrum).square().sum(-1).clamp(min=1e-10)
        rms = 20 * torch.log10(torch.sqrt(frame.square().mean(-1) + 1e-8) + 1e-8)
        magnitude = spectrum.abs()
        bins = torch.arange(magnitude.shape[-1], dtype=magnitude.dtype)
        sums = magnitude @ torch.stack([torch.ones_like(bins), bins], dim=-1)
        hz = sums[..., 1] / (sums[..., 0] + 1e-12) * (self.sample_rate / self.window)
        semitones = 12 * torch.log2((hz + 1e-8) / 440.0) + 69
        flatness = (torch.exp(torch.log(power).mean(-1)) / power.mean(-1)).clamp(max=1.0)
        return torch.stack([rms, semitones, 20 * torch.log10(flatness + 1e-8)], dim=-1)


class ScriptedRemapStream(nn.Module):
    """`StreamingRemapper` in TorchScript: `process(block (n,)) -> (n,)` float32, n in 32 … 2048.

    Args:
        mapper: a `RemapMapper` (raw onset features → controls).
        synth: a `ScriptedSnare808` (controls → the hit).
        detector: `OnsetDetector` keyword settings (the run's `data.detector`).
        voices: hits that may ring at once (≥ 2; the oldest is stolen beyond).
        release: fade-out of a stolen voice in samples (≥ 1).

    `latency` (samples) = window − backtrack after the detected onset; `set_sensitivity(x)` sets
    the mapper's sensitivity; `hits` counts the hits triggered since `reset()`.
    """

    window: int
    backtrack: int
    sample_rate: int
    voices: int
    slots: int
    keep: int
    position: int
    first: int
    hits: int
    latency: int
    pending_starts: List[int]
    slot_start: List[int]
    slot_stop: List[int]
    slot_released: List[bool]
    order: List[int]

    def __init__(self, mapper: RemapMapper, synth: ScriptedSnare808, detector: dict | None = None,
                 voices: int = 4, release: int = 64):
        super().__init__()
        if not isinstance(mapper, RemapMapper) or not isinstance(synth, ScriptedSnare808):
            raise TypeError("ScriptedRemapStream: needs a RemapMapper and a ScriptedSnare808")
        if int(voices) < 2 or int(release) < 1:
            raise ValueError(f"ScriptedRemapStream: voices must be >= 2 and release >= 1, got {voices}, {release}")
        if mapper.window <= mapper.backtrack:
            raise ValueError(f"ScriptedRemapStream: window ({mapper.window}) must be longer than backtrack "
                             f"({mapper.backtrack})")
        if mapper.sample_rate != synth.sample_rate:
            raise ValueError(f"ScriptedRemapStream: the mapper is for {mapper.sample_rate} Hz, the synth for "
                             f"{synth.sample_rate} Hz")
        self.mapper, self.synth = mapper, synth
        self.detector = ScriptedOnsetDetector(OnsetDetector(synth.sample_rate, **dict(detector or {})))
        self.features = ScriptedOnsetFeatures(synth.sample_rate, mapper.window)
        self.window, self.backtrack, self.sample_rate = mapper.window, mapper.backtrack, synth.sample_rate
        self.latency = self.window - self.backtrack
        self.voices = int(voices)
        self.slots = 2 * self.voices  # stolen voices keep a slot while they fade
        self.keep = self.window + self.backtrack + MAX_BLOCK
        self.register_buffer("fade", torch.linspace(1.0, 0.0, int(release) + 1)[1:].contiguous())
        self.register_buffer("history", torch.zeros(self.keep + MAX_BLOCK))
        self.register_buffer("slot_audio", torch.zeros(self.slots, synth.n_samples))
        self.position, self.first, self.hits = 0, -self.keep, 0
        self.pending_starts = []
        self.slot_start, self.slot_stop = [0] * self.slots, [0] * self.slots
        self.slot_released = [False] * self.slots
        self.order = []

    @torch.jit.export
    def reset(self) -> None:
        """Forget everything: detector, input history, pending windows, voices; position 0."""
        self.detector.reset()
        self.history.zero_()
        # one attribute per statement: TorchScript mis-compiles tuple assignments to attributes
        self.position = 0
        self.first = -self.keep
        self.hits = 0
        self.pending_starts.clear()  # in place (see _trigger_complete on list literals)
        self.order.clear()
        self.slot_stop = [0] * self.slots
        self.slot_released = [False] * self.slots

    @torch.jit.export
    def set_sensitivity(self, value: float) -> None:
        self.mapper.set_sensitivity(value)

    def forward(self, block: torch.Tensor) -> torch.Tensor:
        return self.process(block)

    @torch.jit.export
    def process(self, block: torch.Tensor) -> torch.Tensor:
        """The next block of mono input `(n,)` (32 ≤ n ≤ 2048) → the synth's output `(n,)` float32."""
        if block.dim() != 1 or block.shape[0] < 32 or block.shape[0] > 2048:  # MIN_BLOCK, MAX_BLOCK
            raise ValueError(f"ScriptedRemapStream: blocks must be (samples,) with 32 … 2048 samples, "
                             f"got {block.shape}")
        x = block.to(torch.float32)
        n = x.shape[0]
        self._append(x)
        for onset in self.detector(x):
            self.pending_starts.append(max(onset - self.backtrack, 0))
        end = self.position + n
        if len(self.pending_starts) > 0:
            self._trigger_complete(end)
        out = self._mix(n, end)
        self.position = end
        return out

    def _append(self, x: torch.Tensor) -> None:
        at = self.position - self.first
        n = x.shape[0]
        if at + n > self.history.shape[0]:
            self.history[:self.keep] = self.history[at - self.keep:at].clone()
            self.first = self.position - self.keep
            at = self.keep
        self.history[at:at + n] = x

    def _trigger_complete(self, end: int) -> None:
        """Trigger the pending windows complete by sample `end`, in onset order; keep the others.
        (One new list per method: TorchScript's CSE merges identical `[]` literals of a graph into
        one object, so two of them would alias.)"""
        kept: List[int] = []
        for start in self.pending_starts:
            if start + self.window <= end:
                self._trigger(start)
            else:
                kept.append(start)
        self.pending_starts = kept

    def _trigger(self, start: int) -> None:
        lo = start - self.first
        raw = self.features(self.history[lo:lo + self.window].unsqueeze(0))
        audio = self.synth(self.mapper(raw))[0]
        trigger = start + self.window
        self._steal_if_full(trigger)
        slot = self._free_slot(trigger)
        self.slot_audio[slot] = audio
        self.slot_start[slot] = trigger
        self.slot_stop[slot] = trigger + audio.shape[0]
        self.slot_released[slot] = False
        self.order.append(slot)
        self.hits += 1

    def _steal_if_full(self, at: int) -> None:
        busy: List[int] = []
        for slot in self.order:
            if not self.slot_released[slot] and self.slot_stop[slot] > at:
                busy.append(slot)
        if len(busy) < self.voices:
            return
        oldest = busy[0]
        for slot in busy:
            if self.slot_start[slot] < self.slot_start[oldest]:
                oldest = slot
        k = at - self.slot_start[oldest]
        length = min(self.fade.shape[0], self.slot_audio.shape[1] - k)
        self.slot_audio[oldest, k:k + length] *= self.fade[:length]
        self.slot_stop[oldest] = self.slot_start[oldest] + k + length
        self.slot_released[oldest] = True

    def _free_slot(self, at: int) -> int:
        """A slot whose voice ended before this block (not in `order`); if every slot is taken
        (many steals within a few samples), the voice that ends first is cut and its slot reused."""
        for slot in range(self.slots):
            if slot not in self.order:
                return slot
        first = self.order[0]
        for slot in self.order:
            if self.slot_stop[slot] < self.slot_stop[first]:
                first = slot
        self._drop(first)
        return first

    def _drop(self, slot: int) -> None:
        kept: List[int] = []
        for s in self.order:
            if s != slot:
                kept.append(s)
        self.order = kept

    def _mix(self, n: int, end: int) -> torch.Tensor:
        """The voices' samples [position, end), summed in trigger order; ended voices dropped."""
        out = torch.zeros(n)
        p = self.position
        for slot in self.order:
            start, stop = self.slot_start[slot], self.slot_stop[slot]
            a = max(start, p)
            b = min(stop, end)
            if a < b:
                out[a - p:b - p] += self.slot_audio[slot, a - start:b - start]
        kept: List[int] = []
        for slot in self.order:
            if self.slot_stop[slot] > end:
                kept.append(slot)
        self.order = kept
        return out


def export_stream(mapper: RemapMapper, synth: ScriptedSnare808, detector: dict | None = None,
                  voices: int = 4, release: int = 64) -> torch.jit.ScriptModule:
    """`torch.jit.script` of a `ScriptedRemapStream`."""
    return torch.jit.script(ScriptedRemapStream(mapper, synth, detector, voices, release).eval())


def stream_signal(stream, audio: torch.Tensor, block: int = 64) -> torch.Tensor:
    """Stream `audio (samples,)` through a (scripted) stream in blocks (the last padded to 32)."""
    pieces: List[torch.Tensor] = []
    for lo in range(0, audio.shape[0], block):
        chunk = audio[lo:lo + block]
        size = chunk.shape[0]
        if size < MIN_BLOCK:
            chunk = torch.cat([chunk, torch.zeros(MIN_BLOCK - size, dtype=chunk.dtype)])
        pieces.append(stream.process(chunk)[:size])
    return torch.cat(pieces) if pieces else audio.new_zeros(0)

