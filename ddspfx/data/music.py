"""Synthetic music: a built-in source of dry mixes, so the mastering task runs without a download.

Each track is a short loop-based arrangement in 4/4 on a 16th-note grid:

- tempo 70–160 BPM, a random key (major or minor) and a four-chord progression (1 or 2 bars a chord);
- bass (41–300 Hz fundamentals), chords (130–830 Hz) and a melody (290–1400 Hz), each note a
  two-operator FM voice `env(t) · sin(2π f0 t + I(t) · sin(2π r f0 t))` with an ADSR-like amplitude
  envelope, a decaying modulation index I(t) and a timbre (ratio r, index, envelope times) drawn
  per instrument and track;
- drums: kick (exponentially pitch-swept sine, 40–180 Hz), snare (band-passed noise burst plus a
  pitched body) and hi-hat (high-passed noise burst), with varying velocities and ±3 ms timing.

Low (bass, kick), mid (chords, melody) and high (FM sidebands, snare, hats) bands all carry energy,
and the drums give sharp transients: what EQ and compressor estimation need. The mix is
peak-normalized to −1 dBFS. Rendering is vectorized over the notes of each instrument (one
`(notes, samples)` tensor overlap-added into the track); the only Python loops are over notes
and drum steps while composing.

Track i of seed s depends only on (s, i): the task uses different seeds for train, valid and test.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from ddspfx.data.audio import CropSource
from ddspfx.dsp.oscillators import oscillator_phase

PEAK = 10 ** (-1 / 20)  # −1 dBFS
TEMPO_RANGE = (70.0, 160.0)  # BPM
STEPS_PER_BAR = 16
MAJOR = (0, 2, 4, 5, 7, 9, 11)
MINOR = (0, 2, 3, 5, 7, 8, 10)
PROGRESSIONS = (  # scale degrees, 0-based
    (0, 4, 5, 3), (0, 5, 3, 4), (5, 3, 0, 4), (0, 3, 4, 3), (0, 3, 0, 4), (1, 4, 0, 5), (0, 6, 5, 4), (0, 2, 3, 4)
)
KICK_PATTERNS = ((0, 8), (0, 8, 10), (0, 6, 8), (0, 3, 8, 11), (0, 4, 8, 12), (0, 7, 10))
SNARE_PATTERNS = ((4, 12), (4, 12, 15), (8,), (4, 12, 14))
HAT_PATTERNS = (tuple(range(0, 16, 2)), tuple(range(16)), (2, 6, 10, 14))
# (steps, note length in 16ths)
BASS_RHYTHMS = (((0, 4, 8, 12), 3), (tuple(range(0, 16, 2)), 2), ((0, 3, 6, 8, 11, 14), 2), ((0, 8), 7))
MELODY_STEPS = (1, 2, 2, 2, 3, 4, 4, 6, 8)  # note lengths in 16ths
MELODY_MOVES = (-3, -2, -1, -1, 0, 1, 1, 2, 3)  # scale steps
JITTER_S = 0.003
# FM voices: ratio choices, then (low, high) ranges; index in rad, times in seconds.
BASS_VOICE = {"ratios": (1.0, 1.0, 2.0, 3.0), "index": (0.5, 3.0), "index_decay": (0.05, 0.4),
              "attack": (0.002, 0.01), "decay": (0.1, 0.5), "sustain": (0.3, 0.8), "release": (0.03, 0.1)}
CHORD_VOICE = {"ratios": (0.5, 1.0, 2.0, 3.0, 4.0), "index": (0.2, 2.5), "index_decay": (0.2, 2.0),
               "attack": (0.003, 0.15), "decay": (0.2, 1.0), "sustain": (0.2, 0.8), "release": (0.05, 0.3)}
STACCATO_RELEASE = (0.03, 0.1)  # chords played as stabs or pulses
LEAD_VOICE = {"ratios": (1.0, 2.0, 3.0, 4.0, 5.0), "index": (0.5, 4.0), "index_decay": (0.05, 0.8),
              "attack": (0.002, 0.04), "decay": (0.1, 0.6), "sustain": (0.0, 0.7), "release": (0.03, 0.2)}
RELEASE_SPAN = 4  # a release lasts this many time constants
MAX_FM_BAND = 0.45  # FM sidebands kept below this fraction of the sample rate


class Dice:
    """Scalar random draws from one torch generator (composition is a sequence of small choices)."""

    def __init__(self, generator: torch.Generator):
        self.generator = generator

    def uniform(self, low: float, high: float) -> float:
        return low + (high - low) * torch.rand((), generator=self.generator).item()

    def chance(self, p: float) -> bool:
        return torch.rand((), generator=self.generator).item() < p

    def choice(self, options):
        return options[int(torch.randint(len(options), (), generator=self.generator))]


@dataclass
class Voice:
    """FM timbre and envelope of an instrument: ratio r, peak index (rad), times in seconds."""

    ratio: float
    index: float
    index_decay: float
    attack: float
    decay: float
    sustain: float
    release: float

    @classmethod
    def draw(cls, dice: Dice, ratios, index, index_decay, attack, decay, sustain, release) -> Voice:
        """A voice with `ratios` a tuple of choices and the others (low, high) ranges."""
        values = [dice.uniform(*r) for r in (index, index_decay, attack, decay, sustain, release)]
        return cls(dice.choice(ratios), *values)


@dataclass
class Notes:
    """Notes of one instrument: onsets in seconds, durations (note-off) in seconds, MIDI, velocity."""

    onset: list[float]
    duration: list[float]
    pitch: list[float]
    velocity: list[float]

    @classmethod
    def empty(cls) -> Notes:
        return cls([], [], [], [])

    def add(self, onset: float, duration: float, pitch: float, velocity: float) -> None:
        self.onset.append(onset)
        self.duration.append(duration)
        self.pitch.append(pitch)
        self.velocity.append(velocity)


def midi_to_hz(pitch: torch.Tensor) -> torch.Tensor:
    """MIDI note numbers → Hz (A4 = 69 = 440 Hz)."""
    return 440.0 * torch.pow(2.0, (pitch - 69.0) / 12.0)


def adsr(duration: torch.Tensor, voice: Voice, sample_rate: int, n_samples: int) -> torch.Tensor:
    """Amplitude envelopes `(notes, n_samples)` of notes held for `duration` `(notes,)` seconds.

    Linear attack to 1, exponential decay (time constant `decay`) towards `sustain`, and from the
    note-off an exponential release (time constant `release`) faded linearly to exactly 0 at
    RELEASE_SPAN·release after the note-off.
    """
    t = torch.arange(n_samples) / sample_rate
    rise = (t / voice.attack).clamp(max=1.0)
    held = voice.sustain + (1 - voice.sustain) * torch.exp(-(t - voice.attack).clamp(min=0) / voice.decay)
    release = torch.exp(-t / voice.release) * (1 - t / (RELEASE_SPAN * voice.release)).clamp(min=0)
    since_off = (torch.arange(n_samples) - (duration * sample_rate).round().long().unsqueeze(1)).clamp(min=0)
    return (rise * held) * release[since_off]


def render_fm_notes(notes: Notes, voice: Voice, sample_rate: int) -> torch.Tensor:
    """Each note as an FM voice, `(notes, samples)`, samples covering the longest note and its release.

    The modulation index decays from `voice.index` to 30 % of it (time constant `index_decay`),
    capped per note so that the sidebands (f0 + (I + 1)·r·f0) stay below 0.45·sample_rate.
    """
    f0 = midi_to_hz(torch.tensor(notes.pitch, dtype=torch.float32))
    duration = torch.tensor(notes.duration)
    n_samples = math.ceil((max(notes.duration) + RELEASE_SPAN * voice.release) * sample_rate)
    t = torch.arange(n_samples) / sample_rate
    max_index = ((MAX_FM_BAND * sample_rate - f0) / (voice.ratio * f0) - 1).clamp(min=0)
    index = max_index.clamp(max=voice.index).unsqueeze(1) * (0.3 + 0.7 * torch.exp(-t / voice.index_decay))
    carrier = oscillator_phase(f0, 1.0, sample_rate, n_samples)
    modulator = torch.sin(oscillator_phase(f0 * voice.ratio, 1.0, sample_rate, n_samples))
    envelope = adsr(duration, voice, sample_rate, n_samples) * torch.tensor(notes.velocity).unsqueeze(1)
    return envelope * torch.sin(carrier + index * modulator)


def overlap_add(events: torch.Tensor, onsets: torch.Tensor, n_samples: int) -> torch.Tensor:
    """Sum `(n, L)` events starting at sample `onsets` `(n,)` into a `(n_samples,)` signal."""
    length = events.shape[1]
    out = torch.zeros(n_samples + length)
    index = onsets.clamp(0, n_samples).unsqueeze(1) + torch.arange(length)
    out.index_add_(0, index.flatten(), events.flatten())
    return out[:n_samples]


def decay_envelope(n_samples: int, decay: float, sample_rate: int, attack: float = 0.001) -> torch.Tensor:
    """`(n_samples,)` percussive envelope: linear attack, exponential decay, linear fade to 0 at the end."""
    t = torch.arange(n_samples) / sample_rate
    fade = 1 - torch.arange(n_samples) / n_samples
    return (t / attack).clamp(max=1.0) * torch.exp(-t / decay) * fade


def filtered_noise(n: int, n_samples: int, gain: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """`(n, n_samples)` white noise shaped by the magnitude response `gain` `(n_samples // 2 + 1,)`,
    scaled to unit RMS."""
    noise = torch.randn(n, n_samples, generator=generator)
    shaped = torch.fft.irfft(torch.fft.rfft(noise) * gain, n=n_samples)
    return shaped / shaped.pow(2).mean(dim=1, keepdim=True).sqrt().clamp_min(1e-8)


def kick(velocity: torch.Tensor, dice: Dice, sample_rate: int) -> torch.Tensor:
    """Kick hits `(hits, samples)`: a sine swept f_start → f_end, f(t) = f_end + (f_start − f_end)·e^(−t/τ),
    whose phase has the closed form 2π (f_end t + (f_start − f_end) τ (1 − e^(−t/τ))), plus a click."""
    f_start, f_end, tau = dice.uniform(100.0, 180.0), dice.uniform(40.0, 60.0), dice.uniform(0.02, 0.06)
    n_samples = round(0.6 * sample_rate)
    t = torch.arange(n_samples) / sample_rate
    phase = 2 * math.pi * (f_end * t + (f_start - f_end) * tau * (1 - torch.exp(-t / tau)))
    body = torch.sin(phase) * decay_envelope(n_samples, dice.uniform(0.12, 0.35), sample_rate, attack=0.0005)
    click = torch.randn(n_samples, generator=dice.generator)
    click = click * decay_envelope(n_samples, 0.002, sample_rate, attack=0.0002)
    return velocity.unsqueeze(1) * (body + dice.uniform(0.1, 0.4) * click)


def snare(velocity: torch.Tensor, dice: Dice, sample_rate: int) -> torch.Tensor:
    """Snare hits `(hits, samples)`: noise band-passed around 1.5–3.5 kHz plus a 160–240 Hz body."""
    n_samples = round(0.4 * sample_rate)
    f = torch.fft.rfftfreq(n_samples, 1 / sample_rate)
    centre = min(dice.uniform(1500.0, 3500.0), 0.3 * sample_rate)
    octaves = torch.log2(f.clamp_min(1.0) / centre)
    gain = torch.exp(-0.5 * (octaves / 1.2) ** 2) * (f / 150.0).pow(2) / (1 + (f / 150.0).pow(2))
    noise = filtered_noise(len(velocity), n_samples, gain, dice.generator)
    noise = noise * decay_envelope(n_samples, dice.uniform(0.06, 0.18), sample_rate)
    t = torch.arange(n_samples) / sample_rate
    body = torch.sin(2 * math.pi * dice.uniform(160.0, 240.0) * t)
    body = body * decay_envelope(n_samples, 0.04, sample_rate)
    return velocity.unsqueeze(1) * (0.5 * noise + dice.uniform(0.3, 0.8) * body)


def hihat(velocity: torch.Tensor, decay: torch.Tensor, dice: Dice, sample_rate: int) -> torch.Tensor:
    """Hi-hat hits `(hits, samples)`: noise high-passed (4th order) at 5–8 kHz (≤ 0.35·fs),
    each hit with its own decay time constant `decay` `(hits,)` in seconds."""
    n_samples = round(0.5 * sample_rate)
    f = torch.fft.rfftfreq(n_samples, 1 / sample_rate)
    cutoff = min(dice.uniform(5000.0, 8000.0), 0.35 * sample_rate)
    gain = (f / cutoff).pow(4) / (1 + (f / cutoff).pow(4))
    noise = filtered_noise(len(velocity), n_samples, gain, dice.generator)
    t = torch.arange(n_samples) / sample_rate
    fade = 1 - torch.arange(n_samples) / n_samples
    envelope = (t / 0.0005).clamp(max=1.0) * torch.exp(-t / decay.unsqueeze(1)) * fade
    return velocity.unsqueeze(1) * noise * envelope


class Arrangement:
    """The composition of one track: tempo, key, progression; builds the note lists of each part."""

    def __init__(self, dice: Dice, seconds: float):
        self.dice = dice
        self.step = 60.0 / dice.uniform(*TEMPO_RANGE) / 4  # seconds per 16th
        self.n_bars = math.ceil(seconds / (self.step * STEPS_PER_BAR))
        self.root = int(dice.choice(range(12)))
        self.scale = dice.choice((MAJOR, MINOR))
        self.progression = dice.choice(PROGRESSIONS)
        self.chord_bars = dice.choice((1, 1, 2))
        self.chord_style = dice.choice(("pad", "half", "stabs", "pulse"))

    def time(self, bar: int, step: float) -> float:
        """Onset in seconds of a grid step, with a little timing jitter."""
        jitter = self.dice.uniform(-1.0, 1.0) * JITTER_S
        return max(0.0, (bar * STEPS_PER_BAR + step) * self.step + jitter)

    def degree(self, bar: int) -> int:
        """Scale degree (0-based) of the chord of a bar."""
        return self.progression[(bar // self.chord_bars) % len(self.progression)]

    def pitch(self, degree: int, octave_base: int) -> int:
        """MIDI note of a scale degree (any integer) above `octave_base` + key root."""
        return octave_base + self.root + self.scale[degree % 7] + 12 * (degree // 7)

    def bass(self) -> Notes:
        notes, (steps, length) = Notes.empty(), self.dice.choice(BASS_RHYTHMS)
        base = 24 if self.root >= 4 else 36  # tonic in MIDI 28–39 (41–78 Hz)
        for bar in range(self.n_bars):
            for s in steps:
                pitch = self.pitch(self.degree(bar) + self.dice.choice((0, 0, 0, 0, 4, 7)), base)  # root, 5th, 8ve
                notes.add(self.time(bar, s), 0.9 * length * self.step, pitch, self.dice.uniform(0.7, 1.0))
        return notes

    def chords(self) -> Notes:
        notes, style = Notes.empty(), self.chord_style
        steps, length = {
            "pad": ((0,), STEPS_PER_BAR * self.chord_bars),
            "half": ((0, 8), 7),
            "stabs": ((2, 6, 10, 14), 1),
            "pulse": (tuple(range(0, 16, 2)), 1.6),
        }[style]
        seventh = self.dice.chance(0.4)
        for bar in range(self.n_bars):
            if style == "pad" and bar % self.chord_bars:
                continue
            d = self.degree(bar)
            tones = (d, d + 2, d + 4, d + 6) if seventh else (d, d + 2, d + 4)
            for s in steps:
                onset, velocity = self.time(bar, s), self.dice.uniform(0.6, 1.0)
                for tone in tones:
                    notes.add(onset, length * self.step, self.pitch(tone, 48), velocity)
        return notes

    def melody(self) -> Notes:
        notes, degree = Notes.empty(), self.dice.choice((0, 2, 4, 7))
        base = 60 if self.root >= 6 else 72  # tonic in MIDI 66–77 (370–698 Hz)
        total_steps, position = self.n_bars * STEPS_PER_BAR, 0
        while position < total_steps:
            length = self.dice.choice(MELODY_STEPS)
            bar, step = divmod(position, STEPS_PER_BAR)
            resting = (bar // 2) % 4 == 3 or self.dice.chance(0.2)  # a silent phrase now and then
            if not resting:
                degree = max(-2, min(9, degree + self.dice.choice(MELODY_MOVES)))
                pitch, velocity = self.pitch(degree, base), self.dice.uniform(0.5, 1.0)
                notes.add(self.time(bar, step), 0.85 * length * self.step, pitch, velocity)
            position += length
        return notes

    def drum_hits(self) -> dict[str, tuple[list[float], list[float]]]:
        """Onsets (s) and velocities of the kick, snare, closed and open hats."""
        kick_steps, snare_steps = self.dice.choice(KICK_PATTERNS), self.dice.choice(SNARE_PATTERNS)
        hat_steps = self.dice.choice(HAT_PATTERNS)
        hits = {name: ([], []) for name in ("kick", "snare", "hat", "open_hat")}

        def hit(name: str, bar: int, step: int, accent: float) -> None:
            hits[name][0].append(self.time(bar, step))
            hits[name][1].append(accent * self.dice.uniform(0.75, 1.0))

        for bar in range(self.n_bars):
            fill = self.dice.chance(0.15)
            for s in kick_steps:
                hit("kick", bar, s, 1.0)
            for s in snare_steps + ((13, 14, 15) if fill else ()):
                hit("snare", bar, s, 1.0 if s % 4 == 0 else 0.7)
            for s in hat_steps:
                open_hat = s % 8 == 6 and self.dice.chance(0.3)
                hit("open_hat" if open_hat else "hat", bar, s, 1.0 if s % 4 == 0 else 0.6)
        return hits


def render_track(sample_rate: int, seconds: float, generator: torch.Generator) -> torch.Tensor:
    """One synthetic track `(round(seconds · sample_rate),)`, peak-normalized to −1 dBFS."""
    dice = Dice(generator)
    n_samples = round(seconds * sample_rate)
    song = Arrangement(dice, seconds)

    def add(events: torch.Tensor, onsets: list[float], gain: float) -> torch.Tensor:
        start = torch.tensor([round(o * sample_rate) for o in onsets])
        return overlap_add(events, start, n_samples) * gain * 10 ** (dice.uniform(-4.0, 4.0) / 20)

    mix = torch.zeros(n_samples)
    bass = Voice.draw(dice, **BASS_VOICE)
    staccato = song.chord_style in ("stabs", "pulse")
    chords = Voice.draw(dice, **({**CHORD_VOICE, "release": STACCATO_RELEASE} if staccato else CHORD_VOICE))
    lead = Voice.draw(dice, **LEAD_VOICE)
    for notes, voice, gain in ((song.bass(), bass, 0.45), (song.chords(), chords, 0.12), (song.melody(), lead, 0.25)):
        if notes.onset:
            mix += add(render_fm_notes(notes, voice, sample_rate), notes.onset, gain)

    hits = song.drum_hits()
    velocity = {name: torch.tensor(v) for name, (_, v) in hits.items()}
    mix += add(kick(velocity["kick"], dice, sample_rate), hits["kick"][0], 0.9)
    mix += add(snare(velocity["snare"], dice, sample_rate), hits["snare"][0], 0.5)
    hat_onsets = hits["hat"][0] + hits["open_hat"][0]
    hat_velocity = torch.cat([velocity["hat"], velocity["open_hat"]])
    closed_decay = torch.full((len(hits["hat"][0]),), dice.uniform(0.015, 0.05))
    hat_decay = torch.cat([closed_decay, torch.full((len(hits["open_hat"][0]),), 0.2)])
    mix += add(hihat(hat_velocity, hat_decay, dice, sample_rate), hat_onsets, 0.15)
    return mix * (PEAK / mix.abs().max().clamp_min(1e-8))


def track_generator(seed: int, index: int) -> torch.Generator:
    """A generator for track `index` of `seed`, independent of every other (seed, index) pair."""
    words = np.random.SeedSequence([int(seed), int(index)]).generate_state(2, dtype=np.uint32)
    return torch.Generator().manual_seed(int(words[0]) << 32 | int(words[1]))


class SyntheticMusic(CropSource):
    """Random crops of `n_tracks` synthetic tracks (see the module doc), rendered at the first request.

    Args:
        sample_rate: Hz.
        segment_seconds: crop length in seconds (segment = round(seconds · sample_rate)).
        n_tracks: number of tracks rendered and cached in memory.
        track_seconds: length of each track, ≥ segment_seconds.
        seed: selects the tracks; different seeds give different tracks.
        min_std: near-silence threshold on the std of the peak-normalized crop.

    A crop picks a track uniformly and a start uniformly within it.
    """

    def __init__(
        self,
        sample_rate: int = 16000,
        segment_seconds: float = 4.0,
        n_tracks: int = 32,
        track_seconds: float = 16.0,
        seed: int = 0,
        min_std: float = 1e-2,
    ):
        if sample_rate < 4000:
            raise ValueError(f"SyntheticMusic: sample_rate must be ≥ 4000 Hz, got {sample_rate}")
        if n_tracks < 1:
            raise ValueError(f"SyntheticMusic: n_tracks must be ≥ 1, got {n_tracks}")
        if not 0 < segment_seconds <= track_seconds:
            raise ValueError(
                f"SyntheticMusic: need 0 < segment_seconds ≤ track_seconds, got {segment_seconds} and {track_seconds}"
            )
        self.sample_rate = int(sample_rate)
        self.segment = max(1, round(segment_seconds * self.sample_rate))
        self.n_tracks = int(n_tracks)
        self.track_seconds = float(track_seconds)
        self.seed = int(seed)
        self.min_std = float(min_std)
        self._tracks: torch.Tensor | None = None

    def __repr__(self) -> str:
        tracks = f"{self.n_tracks} tracks of {self.track_seconds} s at {self.sample_rate} Hz"
        return f"SyntheticMusic(seed={self.seed}, {tracks})"

    @property
    def tracks(self) -> torch.Tensor:
        """`(n_tracks, track_samples)` float32, rendered once and cached."""
        if self._tracks is None:
            generators = [track_generator(self.seed, i) for i in range(self.n_tracks)]
            self._tracks = torch.stack([render_track(self.sample_rate, self.track_seconds, g) for g in generators])
        return self._tracks

    def _draw(self, n: int, generator: torch.Generator) -> torch.Tensor:
        tracks = self.tracks
        choice = torch.randint(self.n_tracks, (n,), generator=generator)
        start = torch.randint(tracks.shape[1] - self.segment + 1, (n,), generator=generator)
        return tracks[choice.unsqueeze(1), start.unsqueeze(1) + torch.arange(self.segment)]


def write_example_folder(
    path: str | os.PathLike,
    n_files: int,
    sample_rate: int = 16000,
    seconds: float = 8.0,
    seed: int = 0,
) -> list[Path]:
    """Write `n_files` synthetic tracks as 16-bit wav files `track_000.wav`, … into `path`.

    Returns the written paths. The folder is created if needed.
    """
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    music = SyntheticMusic(sample_rate, seconds, n_tracks=n_files, track_seconds=seconds, seed=seed)
    paths = []
    for i, track in enumerate(music.tracks):
        paths.append(folder / f"track_{i:03d}.wav")
        sf.write(str(paths[-1]), track.numpy(), sample_rate, subtype="PCM_16")
    return paths
