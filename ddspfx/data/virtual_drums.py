"""Virtual snares: built-in synthetic drum performances for the timbre-remapping task.

`python train_remap.py` trains by default on performances the project synthesizes itself, so that
a real mapping (from onset features of a hit to the TR-808 controls that change the 808 as the hit
differs from the reference hit) has to be learned. The drums are deliberately *not* the 808 model:

- **membrane**: damped sinusoids at the modes of an ideal circular membrane, mode (m, n) at
  f0 · j_mn / j_01 (ratios 1, 1.594, 2.136, 2.296, 2.653, 2.918, …), each with its own decay
  τ_k = mode_decay / ratio_k^damping, and a short pitch glide (tension modulation: a hit starts
  sharp and falls to pitch) that grows with velocity;
- **strike position** r ∈ [0, 1] (centre → rim): a mode is excited in proportion to its shape at
  the strike point, J_m(j_mn · 0.95 r) (0.95 r: the stick never lands on the clamped rim). A
  centre hit excites only the axisymmetric modes (m = 0, fundamental-heavy); an edge hit loses
  fundamental and gains the higher modes;
- **stick contact**: a harder hit is a shorter contact, i.e. a stick-contact low-pass whose
  cutoff rises with velocity (`contact_hz` · 2^(brightness · velocity)): more high modes;
- **snare wires**: band-passed noise with its own decay, triggered by the membrane (it starts
  `wire_delay` after the strike, its level follows the membrane's excitation: less at the rim);
  its low-pass also opens with velocity (brighter wires for harder hits);
- **stick click**: a 1.5-ms noise burst whose level grows with velocity;
- **velocity** v ∈ [0, 1] sets the level (`dynamic_range` dB from v = 0 to v = 1), the
  brightness (above) and the decay times (× 1 + decay_spread · (v − 0.5)).

Every hit also varies a little at random (pitch ±0.3 %, decays ±8 %, level ±0.7 dB, contact
cutoff ±10 %, wire level ±10 %, position ±0.03), drawn from the caller's generator.

A **performance** is a sequence of phrases (crescendo, decrescendo, accents, ghost notes, steady,
random dynamics) at varied tempi (0.36–0.7 s between hits) with short rests, and a strike
position that drifts within a phrase. The performance is peak-normalized to −1 dBFS.

Detectability. The training onset detector (`ddspfx.dsp.onsets`, 10 / 4.6666 dB, hold 10000
samples) must find every hit, ghost notes included (−23…−28 dB below the loudest hits):
- hits are at least `MIN_GAP` s apart (longer than the hold);
- after the hold the detector re-arms only once d = fast − slow follower < 4.67 dB, and broadband
  noise keeps d at 8–11 dB whatever its level above −50 dBFS: so the wires decay fast (τ ≤ 90 ms
  at velocity 1) and the high membrane modes are damped (damping ≥ 1.2), which leaves a tail
  dominated by a few low modes, where d stays low;
- a hit much softer than the one before waits until that hit's tail, as heard through the
  detector's 600-Hz high-pass, is `DETECT_MARGIN_DB` below it (`tail_gap`).
Measured on 48 performances of 45 s (seeds 8–19 at 44.1 kHz, 8–11 at 48 kHz, 16-bit rounded):
4772 of 4773 hits found within 300 samples, 2 extra detections.

Rendering is vectorized over hits (a `(hits, samples)` tensor per membrane mode, then overlap-add);
the membrane is rendered at a decimated rate (≥ 8 kHz and ≥ 3 × its highest mode) and upsampled by
FFT zero-padding. The only Python loops are over modes, phrases and the hits of a phrase.
"""

from __future__ import annotations

import math
import os
import zlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from scipy.special import jv

from ddspfx.core.errors import ConfigError
from ddspfx.data.generated import is_current, read_manifest, write_float_wav, write_manifest
from ddspfx.data.music import Dice, overlap_add

# Ideal circular membrane, modes in order of frequency: (m, j_mn), j_mn the n-th zero of J_m.
MEMBRANE_MODES = (
    (0, 2.404826), (1, 3.831706), (2, 5.135622), (0, 5.520078), (3, 6.380162), (1, 7.015587),
    (4, 7.588342), (2, 8.417244), (0, 8.653728), (5, 8.771484), (3, 9.761023), (6, 9.936110),
)
MODE_RATIOS = tuple(z / MEMBRANE_MODES[0][1] for _, z in MEMBRANE_MODES)
LEVEL = 0.18  # linear gain of a velocity-1 hit (a single hit's peak stays below 1)
PEAK = 10 ** (-1 / 20)  # performances are peak-normalized to −1 dBFS
HIT_SECONDS = 1.0  # length of one rendered hit in a performance, s
CLICK_SECONDS = 0.02  # the stick click (τ = 1.5 ms) is rendered over this, s
FADE = 0.2  # the last 20 % of a hit fades linearly to 0
MIN_GAP = 0.36  # s between two hits, > the detector's hold of 10000 samples (0.23 s at 44.1 kHz)
DETECT_MARGIN_DB = 14.0  # a softer hit waits until the tail before it is this far below it
DETECTOR_HIGHPASS_HZ = 600.0  # the training onset detector listens through this 2nd-order high-pass
DB_PER_NEPER = 20 * math.log10(math.e)  # a decay exp(−t/τ) loses 8.69 dB per τ
VELOCITY_RANGE = (0.08, 1.0)
MANIFEST = "virtual_drums.json"
MANIFEST_FORMAT = 1


@dataclass(frozen=True)
class VirtualSnare:
    """A virtual snare drum (see the module doc for the model).

    Attributes:
        name: folder name of its performance.
        fundamental: Hz, frequency of the (0, 1) membrane mode (the drum's tuning).
        n_modes: number of membrane modes rendered, 1–12.
        mode_decay: s, decay time constant of the fundamental at velocity 0.5.
        damping: higher modes decay faster: τ_k = mode_decay / ratio_k ** damping.
        pitch_bend: fraction by which the pitch starts above the fundamental at velocity 1.
        bend_decay: s, time constant of the pitch glide.
        contact_hz: Hz, stick-contact low-pass (2nd order) cutoff at velocity 0.
        brightness: octaves by which the contact and wire cutoffs rise from velocity 0 to 1.
        wire_level: RMS of the wires relative to the membrane's mode-amplitude sum, centre hit.
        wire_low: Hz, high-pass (2nd order) of the wire noise.
        wire_high: Hz, low-pass (2nd order) of the wire noise at velocity 0.
        wire_decay: s, decay time constant of the wires at velocity 0.5.
        wire_delay: s, from the strike to the wires' response.
        click: level of the stick click at velocity 1, relative to the membrane.
        dynamic_range: dB from a velocity-0 hit to a velocity-1 hit.
        decay_spread: decay times scale by 1 + decay_spread · (velocity − 0.5).
    """

    name: str
    fundamental: float
    n_modes: int
    mode_decay: float
    damping: float
    pitch_bend: float
    bend_decay: float
    contact_hz: float
    brightness: float
    wire_level: float
    wire_low: float
    wire_high: float
    wire_decay: float
    wire_delay: float
    click: float
    dynamic_range: float = 30.0
    decay_spread: float = 0.5

    def __post_init__(self):
        if not 1 <= self.n_modes <= len(MEMBRANE_MODES):
            raise ConfigError(
                f"VirtualSnare {self.name!r}: n_modes must be 1–{len(MEMBRANE_MODES)}, got {self.n_modes}"
            )
        for key in ("fundamental", "mode_decay", "bend_decay", "contact_hz", "wire_low", "wire_high", "wire_decay"):
            if not getattr(self, key) > 0:
                raise ConfigError(f"VirtualSnare {self.name!r}: {key} must be > 0, got {getattr(self, key)}")

    def tail(self) -> list[tuple[float, float]]:
        """(τ in s at velocity 1, gain in dB of the onset detector's 600-Hz high-pass) of each
        component: the membrane modes and the wires (taken at their high-pass corner)."""
        stretch = 1 + 0.5 * self.decay_spread
        out = [(self.wire_decay * stretch, 0.0)]
        for ratio in MODE_RATIOS[: self.n_modes]:
            x = (self.fundamental * ratio / DETECTOR_HIGHPASS_HZ) ** 2
            out.append((self.mode_decay / ratio**self.damping * stretch, 20 * math.log10(x / math.sqrt(1 + x * x))))
        return out


VIRTUAL_SNARES: dict[str, VirtualSnare] = {
    s.name: s
    for s in (
        # a warm all-round maple snare
        VirtualSnare("maple_14x5", fundamental=190.0, n_modes=12, mode_decay=0.22, damping=1.2, pitch_bend=0.04,
                     bend_decay=0.03, contact_hz=450.0, brightness=2.5, wire_level=0.45, wire_low=1500.0,
                     wire_high=5000.0, wire_decay=0.06, wire_delay=0.002, click=0.3),
        # high-tuned, ringing fundamental, crisp bright wires
        VirtualSnare("steel_piccolo", fundamental=330.0, n_modes=12, mode_decay=0.3, damping=1.8, pitch_bend=0.03,
                     bend_decay=0.02, contact_hz=800.0, brightness=2.5, wire_level=0.55, wire_low=2500.0,
                     wire_high=8000.0, wire_decay=0.05, wire_delay=0.001, click=0.5),
        # low-tuned and deep, a strong pitch drop on hard hits, dark wires
        VirtualSnare("brass_deep", fundamental=150.0, n_modes=10, mode_decay=0.3, damping=1.6, pitch_bend=0.06,
                     bend_decay=0.04, contact_hz=350.0, brightness=3.0, wire_level=0.35, wire_low=1000.0,
                     wire_high=4000.0, wire_decay=0.06, wire_delay=0.003, click=0.25),
        # slack wires: loud, late, buzzy and dark, over a short membrane
        VirtualSnare("loose_wires", fundamental=220.0, n_modes=8, mode_decay=0.15, damping=1.2, pitch_bend=0.05,
                     bend_decay=0.03, contact_hz=500.0, brightness=2.0, wire_level=0.9, wire_low=800.0,
                     wire_high=3500.0, wire_decay=0.07, wire_delay=0.004, click=0.2),
    )
}


def _as_hits(value: float | torch.Tensor, name: str) -> torch.Tensor:
    """A velocity or position as a float32 `(hits,)` tensor in [0, 1]."""
    x = torch.as_tensor(value, dtype=torch.float32).reshape(-1)
    if not torch.isfinite(x).all() or (x < 0).any() or (x > 1).any():
        raise ValueError(f"render_hit: {name} must be in [0, 1], got {value}")
    return x


def _jitter(n: int, spread: float, generator: torch.Generator) -> torch.Tensor:
    """`(n,)` factors uniform in [1 − spread, 1 + spread]."""
    return 1 + spread * (2 * torch.rand(n, generator=generator) - 1)


def mode_amplitudes(
    snare: VirtualSnare, velocity: torch.Tensor, position: torch.Tensor, contact: torch.Tensor | float = 1.0
) -> torch.Tensor:
    """Signed amplitude of each membrane mode, `(hits, n_modes)`, for velocities and positions `(hits,)`.

    Shape at the strike point J_m(j_mn · 0.95 r), times 1 / ratio (an impulse gives each mode a
    displacement ∝ 1/ω), times the stick-contact low-pass |H(f_k)| = 1 / sqrt(1 + (f_k / fc)^4),
    fc = contact · contact_hz · 2^(brightness · v) (`contact`: a factor per hit, the jitter).
    """
    m = np.array([m for m, _ in MEMBRANE_MODES[: snare.n_modes]])
    z = np.array([z for _, z in MEMBRANE_MODES[: snare.n_modes]])
    shape = torch.from_numpy(jv(m, z * 0.95 * position.double().numpy()[:, None])).float()
    ratios = torch.tensor(MODE_RATIOS[: snare.n_modes])
    cutoff = snare.contact_hz * contact * 2 ** (snare.brightness * velocity)
    lowpass = 1 / torch.sqrt(1 + (snare.fundamental * ratios / cutoff.unsqueeze(1)) ** 4)
    return shape * lowpass / ratios


def _band_gain(freqs: torch.Tensor, low: float, high: torch.Tensor) -> torch.Tensor:
    """`(hits, freqs)` magnitude of a 2nd-order high-pass at `low` Hz times 2nd-order low-passes at
    `high` `(hits,)` Hz."""
    hp = (freqs / low) ** 2 / torch.sqrt(1 + (freqs / low) ** 4)
    return hp / torch.sqrt(1 + (freqs / high.unsqueeze(1)) ** 4)


def _shaped_noise(gain: torch.Tensor, n_samples: int, generator: torch.Generator) -> torch.Tensor:
    """`(hits, n_samples)` white noise shaped by `gain` `(hits, n_samples // 2 + 1)`, unit RMS."""
    noise = torch.randn(gain.shape[0], n_samples, generator=generator)
    shaped = torch.fft.irfft(torch.fft.rfft(noise) * gain, n=n_samples)
    return shaped / shaped.pow(2).mean(dim=1, keepdim=True).sqrt().clamp_min(1e-8)


def _envelope(t: torch.Tensor, tau: torch.Tensor, attack: float, delay: float = 0.0) -> torch.Tensor:
    """`(hits, samples)` linear attack of `attack` s after `delay` s, then exp(−t/τ), τ `(hits,)` in s."""
    u = (t - delay).clamp_min(0)
    return (u / attack).clamp(max=1.0) * torch.exp(-u / tau.unsqueeze(1))


def _membrane(snare, amplitude, velocity, decay, pitch, t) -> torch.Tensor:
    """`(hits, samples)` sum of the damped modes at the times `t` `(samples,)` in s; `amplitude`
    `(hits, modes)`, the rest `(hits,)`.

    Pitch glide f(t) = f_k · (1 + b e^(−t/τ_b)), b = pitch_bend · v, in closed form: the phase is
    2π f_k · (t + b τ_b (1 − e^(−t/τ_b))). A product, not an accumulation: over a 1-s hit its
    float32 error stays below 1e-3 rad.
    """
    bend = (snare.pitch_bend * velocity).unsqueeze(1)
    warp = t + bend * snare.bend_decay * (1 - torch.exp(-t / snare.bend_decay))
    phase = (2 * math.pi * snare.fundamental * pitch).unsqueeze(1) * warp
    out = torch.zeros(amplitude.shape[0], t.shape[-1])
    for k, ratio in enumerate(MODE_RATIOS[: snare.n_modes]):
        rate = (ratio**snare.damping / (snare.mode_decay * decay)).unsqueeze(1)  # 1/τ_k, 1/s
        out += amplitude[:, k : k + 1] * torch.exp(-rate * t) * torch.sin(ratio * phase)
    return out


def membrane_factor(snare: VirtualSnare, sample_rate: int) -> int:
    """Decimation D of the membrane's rendering rate sample_rate / D: the highest mode (with its
    pitch glide) stays below a third of that rate, and the rate stays ≥ 8 kHz."""
    highest = snare.fundamental * MODE_RATIOS[snare.n_modes - 1] * (1 + snare.pitch_bend) * 1.01
    return max(1, int(sample_rate // max(8000.0, 3 * highest)))


def _fade(t: torch.Tensor, duration: float) -> torch.Tensor:
    """`(samples,)` 1, then a linear fade to 0 over the last `FADE` of `duration` s, at times `t`."""
    return ((duration - t) / (FADE * duration)).clamp(0.0, 1.0)


def _upsample(x: torch.Tensor, factor: int, n_samples: int) -> torch.Tensor:
    """`(hits, n_samples)` band-limited (FFT zero-padding) upsampling by `factor` of `(hits, m)`.

    Circular: `x` must end near 0 (faded) so that its periodic extension is continuous.
    """
    if factor == 1:
        return x[:, :n_samples]
    m = x.shape[1]
    return torch.fft.irfft(torch.fft.rfft(x), n=m * factor)[:, :n_samples] * factor


def render_hit(
    snare: VirtualSnare,
    velocity: float | torch.Tensor,
    position: float | torch.Tensor,
    generator: torch.Generator,
    sample_rate: int = 44100,
    n_samples: int | None = None,
) -> torch.Tensor:
    """Render snare hits.

    Args:
        snare: the drum.
        velocity: in [0, 1] (0: softest, 1: hardest), a float or `(hits,)`.
        position: strike radius in [0, 1] (0: centre, 1: rim), a float or `(hits,)` (broadcast).
        generator: draws the per-hit variation and the noise; the same generator state gives
            the same hits.
        sample_rate: Hz.
        n_samples: length of each hit (default `HIT_SECONDS` · sample_rate); the last 20 % fade out.

    Returns:
        `(n_samples,)` float32 for scalar velocity and position, else `(hits, n_samples)`.
    """
    scalar = not (torch.is_tensor(velocity) and velocity.dim()) and not (torch.is_tensor(position) and position.dim())
    v, p = torch.broadcast_tensors(_as_hits(velocity, "velocity"), _as_hits(position, "position"))
    n = v.shape[0]
    n_samples = round(HIT_SECONDS * sample_rate) if n_samples is None else int(n_samples)
    pitch, decay, level = _jitter(n, 0.003, generator), _jitter(n, 0.08, generator), _jitter(n, 0.08, generator)
    contact, wires = _jitter(n, 0.1, generator), _jitter(n, 0.1, generator)
    p = (p + 0.03 * (2 * torch.rand(n, generator=generator) - 1)).clamp(0, 1)
    decay = decay * (1 + snare.decay_spread * (v - 0.5))
    t = torch.arange(n_samples) / sample_rate

    amplitude = mode_amplitudes(snare, v, p, contact)
    factor = membrane_factor(snare, sample_rate)
    t_low = torch.arange(-(-n_samples // factor)) * (factor / sample_rate)
    duration = n_samples / sample_rate
    membrane = _membrane(snare, amplitude, v, decay, pitch, t_low) * _fade(t_low, duration)
    membrane = _upsample(membrane, factor, n_samples)
    freqs = torch.fft.rfftfreq(n_samples, 1 / sample_rate)
    wire_high = snare.wire_high * 2 ** (snare.brightness * v)
    noise = _shaped_noise(_band_gain(freqs, snare.wire_low, wire_high), n_samples, generator)
    excitation = amplitude.abs().sum(1) * (1 - 0.5 * p)  # the membrane drives the wires, less at the rim
    wire = snare.wire_level * wires * excitation
    wire = wire.unsqueeze(1) * noise * _envelope(t, snare.wire_decay * decay, 0.002, snare.wire_delay)
    burst = min(n_samples, round(CLICK_SECONDS * sample_rate))  # the click is silent after this
    click = torch.randn(n, burst, generator=generator) * _envelope(t[:burst], torch.full((n,), 0.0015), 1e-4)
    sound = membrane + wire
    sound[:, :burst] += (snare.click * v * amplitude[:, 0].abs().clamp_min(0.2)).unsqueeze(1) * click

    gain = LEVEL * level * 10 ** (snare.dynamic_range * (v - 1) / 20)
    out = gain.unsqueeze(1) * sound * _fade(t, duration)
    return out[0] if scalar else out


def _generator(seed: int, name: str) -> torch.Generator:
    """A generator for the performance of drum `name` with `seed`, independent of other pairs."""
    words = np.random.SeedSequence([int(seed), zlib.crc32(name.encode())]).generate_state(2, dtype=np.uint32)
    return torch.Generator().manual_seed(int(words[0]) << 32 | int(words[1]))


PHRASES = ("crescendo", "decrescendo", "accents", "ghosts", "steady", "random")


def phrase_velocities(kind: str, n: int, dice: Dice) -> list[float]:
    """Velocities of a phrase of `n` hits, in [0.08, 1]."""
    if kind in ("crescendo", "decrescendo"):
        low, high = dice.uniform(0.1, 0.35), dice.uniform(0.8, 1.0)
        v = [low + (high - low) * i / max(1, n - 1) for i in range(n)]
        return v if kind == "crescendo" else v[::-1]
    if kind == "accents":
        every, base = dice.choice((2, 3, 4)), dice.uniform(0.35, 0.6)
        return [dice.uniform(0.85, 1.0) if i % every == 0 else base + dice.uniform(-0.05, 0.05) for i in range(n)]
    if kind == "ghosts":
        return [dice.uniform(0.8, 1.0) if i % 3 == 0 else dice.uniform(0.08, 0.22) for i in range(n)]
    if kind == "steady":
        base = dice.uniform(0.3, 0.9)
        return [base + dice.uniform(-0.06, 0.06) for _ in range(n)]
    return [dice.uniform(0.1, 1.0) for _ in range(n)]


def tail_gap(snare: VirtualSnare, before: float, after: float) -> float:
    """s a hit of velocity `after` waits after one of velocity `before`: long enough that every
    component of the earlier hit's tail, as the onset detector hears it (through its 600-Hz
    high-pass), is `DETECT_MARGIN_DB` below the new hit. Conservative: each component is taken
    at the full level of its hit."""
    drop_db = snare.dynamic_range * (before - after) + DETECT_MARGIN_DB
    return max(max(0.0, drop_db + gain_db) * tau / DB_PER_NEPER for tau, gain_db in snare.tail())


def compose(
    snare: VirtualSnare, seconds: float, generator: torch.Generator
) -> tuple[list[float], list[float], list[float]]:
    """(onsets in s, velocities, positions) of a performance of `seconds` (see the module doc).

    Hits within a phrase are `interval` ± 10 ms apart, phrases are separated by a rest of 0–0.8 s,
    and no gap is shorter than `MIN_GAP` or than `tail_gap` after the hit before.
    """
    dice = Dice(generator)
    onsets, velocities, positions = [], [], []
    gap = dice.uniform(0.1, 0.4)  # the first onset
    while True:
        kind, n = dice.choice(PHRASES), int(dice.choice(range(4, 13)))
        interval = dice.uniform(MIN_GAP + 0.02, 0.7)
        start, end = dice.uniform(0.0, 0.8), dice.uniform(0.0, 0.8)
        for i, v in enumerate(phrase_velocities(kind, n, dice)):
            v = min(max(v, VELOCITY_RANGE[0]), VELOCITY_RANGE[1])
            if onsets:
                gap = max(gap + dice.uniform(-0.01, 0.01), MIN_GAP, tail_gap(snare, velocities[-1], v))
            time = onsets[-1] + gap if onsets else gap
            if time > seconds - 0.25:
                return onsets, velocities, positions
            onsets.append(time)
            velocities.append(v)
            positions.append(start + (end - start) * i / max(1, n - 1))
            gap = interval
        gap = interval + dice.uniform(0.0, 0.8)  # a rest before the next phrase


def render_performance(
    snare: VirtualSnare, seconds: float = 45.0, seed: int = 0, sample_rate: int = 44100
) -> tuple[torch.Tensor, torch.LongTensor]:
    """A performance of `snare`: `(audio (round(seconds · sample_rate),), onsets (hits,))`.

    `onsets` are the true hit starts in samples, ascending. Deterministic in (seed, snare.name):
    two drums with the same seed play different performances. Peak-normalized to −1 dBFS.
    """
    if seconds <= 1.0:
        raise ValueError(f"render_performance: seconds must be > 1, got {seconds}")
    generator = _generator(seed, snare.name)
    times, velocities, positions = compose(snare, seconds, generator)
    n_samples = round(seconds * sample_rate)
    onsets = torch.tensor([round(s * sample_rate) for s in times], dtype=torch.long)
    hits = render_hit(snare, torch.tensor(velocities), torch.tensor(positions), generator, sample_rate)
    audio = overlap_add(hits, onsets, n_samples)
    return audio * (PEAK / audio.abs().max().clamp_min(1e-8)), onsets


def _settings(snare: VirtualSnare, seconds: float, seed: int, sample_rate: int) -> dict:
    """What a performance file depends on (the manifest entry, without the onsets)."""
    return {"format": MANIFEST_FORMAT, "seconds": float(seconds), "seed": int(seed),
            "sample_rate": int(sample_rate), "snare": asdict(snare)}


def _select(drums: Sequence[str | VirtualSnare] | None) -> list[VirtualSnare]:
    """The drums asked for: all of `VIRTUAL_SNARES` when None, else names or VirtualSnare objects."""
    if drums is None:
        return list(VIRTUAL_SNARES.values())
    out = []
    for drum in drums:
        if isinstance(drum, VirtualSnare):
            out.append(drum)
        elif drum in VIRTUAL_SNARES:
            out.append(VIRTUAL_SNARES[drum])
        else:
            raise ConfigError(f"virtual drums: unknown drum {drum!r} (known: {', '.join(VIRTUAL_SNARES)})")
    return out


def write_virtual_drums(
    root: str | os.PathLike,
    seconds: float = 45.0,
    seed: int = 0,
    sample_rate: int = 44100,
    drums: Sequence[str | VirtualSnare] | None = None,
) -> list[Path]:
    """Write one performance per drum as `root/<drum name>/performance.wav` (float32 wav).

    The SDSS layout (`root/<DrumName>/*.wav`), so `ddspfx.data.drums.drum_folders(root)` finds them.
    `root/virtual_drums.json` records the settings of each file (duration, seed, sample rate, the
    drum's parameters) and its true onsets in samples (`onsets`). A file whose entry matches the
    settings asked for is not rendered again (idempotent: its modification time is unchanged);
    files and manifest are written atomically (temporary file, then `os.replace`).

    Args:
        root: folder of the drum folders (created if needed).
        seconds: length of each performance, s.
        seed: selects the performances (each drum plays its own for the same seed).
        sample_rate: Hz.
        drums: names in `VIRTUAL_SNARES` or `VirtualSnare` objects; None: all of `VIRTUAL_SNARES`.

    Returns:
        The paths of the performance files, in the order of `drums`.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    manifest = root / MANIFEST
    entries = read_manifest(manifest, "drums")
    paths, changed = [], False
    for snare in _select(drums):
        path = root / snare.name / "performance.wav"
        settings = _settings(snare, seconds, seed, sample_rate)
        entry = entries.get(snare.name, {})
        if is_current(path, entry, settings):
            paths.append(path)
            continue
        audio, onsets = render_performance(snare, seconds, seed, sample_rate)
        write_float_wav(path, audio.numpy(), sample_rate)
        entries[snare.name] = {**settings, "file": f"{snare.name}/performance.wav", "onsets": onsets.tolist()}
        paths.append(path)
        changed = True
    if changed or not manifest.is_file():
        write_manifest(manifest, "drums", entries)
    return paths
