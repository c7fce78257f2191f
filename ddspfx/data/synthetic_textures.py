"""Synthetic textures: built-in recordings for the texture task, so `train_texture.py` runs without a download.

Four textures, each a plain function `(seconds, sample_rate, generator) -> (samples,)` float32,
peak-normalized to −1 dBFS and deterministic in the generator:

- **rain**: droplets as filtered clicks (an impulse through a resonance: a damped sinusoid at
  1–6 kHz) in two Poisson layers, many soft distant drops (300–900 /s) and a few loud near ones
  (6–20 /s, Pareto amplitudes), whose rates drift slowly, over a soft 400 Hz–10 kHz noise bed;
- **wind**: noise through a Gaussian band (in log-frequency, 0.5–0.8 octave wide) whose centre
  (250–700 Hz, ±1 octave) and gain (gusts, ±9 dB) follow smoothed random processes with
  correlation times of seconds, over a faint low-frequency floor; filtered in the STFT domain;
- **fire**: crackle, sparse sharp clicks (0.2–1.5 ms noise bursts, some with a 1.5–4 kHz pop)
  with heavy-tailed (Pareto, α = 1.5) amplitudes at 6–20 /s in bursts, over a low rumble
  (noise low-passed at 80–200 Hz) and a faint 1–6 kHz hiss;
- **stream**: bubbles, damped sinusoids whose pitch rises during their decay (van den Doel's
  f(t) = f0 (1 + ξ t / τ), f0 log-uniform in 400–2200 Hz, τ 3–10 ms) at 100–250 /s, over
  broadband (200 Hz–8 kHz) water noise.

Event textures draw Poisson onsets (thinned by a slowly varying rate) and overlap-add `(events,
samples)` grains (`scatter_grains`: index_add, in chunks to bound memory); noise is shaped by
FFT. No per-sample Python loops: the four render 30 s at 44.1 kHz in well under a second each.

`write_synthetic_textures` writes them to `root/<texture>/<texture>.wav` with a manifest of the
settings (idempotent and atomic, like `ddspfx.data.virtual_drums`).
"""

from __future__ import annotations

import math
import os
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F

from ddspfx.core.errors import ConfigError
from ddspfx.data.generated import is_current, read_manifest, write_float_wav, write_manifest
from ddspfx.data.music import filtered_noise, track_generator
from ddspfx.dsp.filters import next_power_of_two

PEAK = 10 ** (-1 / 20)  # −1 dBFS
MIN_SAMPLE_RATE = 16000  # Hz: the textures hold energy up to ~10 kHz (kept below 0.45·fs)
CONTROL_RATE = 100.0  # Hz of the slowly varying processes before upsampling
GRAIN_BUDGET = 1 << 22  # samples of grains rendered at once: bounds the (events, samples) tensors
MANIFEST = "synthetic_textures.json"
MANIFEST_FORMAT = 1

Texture = Callable[[float, int, torch.Generator], torch.Tensor]


# --- random draws ------------------------------------------------------------------------------


def _uniform(n: int, low: float, high: float, generator: torch.Generator) -> torch.Tensor:
    """`(n,)` uniform in [low, high)."""
    return low + (high - low) * torch.rand(n, generator=generator)


def _log_uniform(n: int, low: float, high: float, generator: torch.Generator) -> torch.Tensor:
    """`(n,)` log-uniform in [low, high)."""
    return torch.exp(_uniform(n, math.log(low), math.log(high), generator))


def _scalar(low: float, high: float, generator: torch.Generator) -> float:
    """One uniform draw in [low, high)."""
    return float(_uniform(1, low, high, generator))


def _pareto(n: int, alpha: float, generator: torch.Generator, cap: float = 50.0) -> torch.Tensor:
    """`(n,)` Pareto(α) amplitudes ≥ 1 (heavy-tailed: P(a > x) = x^−α), capped at `cap`."""
    return torch.rand(n, generator=generator).clamp_min(1e-12).pow(-1.0 / alpha).clamp(max=cap)


def _signs(n: int, generator: torch.Generator) -> torch.Tensor:
    """`(n,)` random ±1."""
    return torch.randint(0, 2, (n,), generator=generator) * 2.0 - 1.0


# --- building blocks ---------------------------------------------------------------------------


def slow_process(seconds: float, correlation: float, n_samples: int, generator: torch.Generator) -> torch.Tensor:
    """`(n_samples,)` smoothed Gaussian noise, zero mean and unit std, varying over `correlation` s.

    White noise at `CONTROL_RATE` is low-passed by a Gaussian (in frequency: exp(−(π f τ)²), τ =
    `correlation` s) and linearly upsampled to `n_samples` (first and last points on the first and last
    samples, as `ddspfx.dsp.controls.upsample_frames` places frames).
    """
    n_points = math.ceil(seconds * CONTROL_RATE) + 2
    noise = torch.randn(n_points, generator=generator)
    f = torch.fft.rfftfreq(n_points, 1 / CONTROL_RATE)
    smooth = torch.fft.irfft(torch.fft.rfft(noise) * torch.exp(-((math.pi * f * correlation) ** 2)), n=n_points)
    smooth = (smooth - smooth.mean()) / smooth.std().clamp_min(1e-8)
    return F.interpolate(smooth.view(1, 1, -1), size=n_samples, mode="linear", align_corners=True).view(-1)


def band_gain(freqs: torch.Tensor, low: float, high: float, order: int = 2) -> torch.Tensor:
    """Magnitude of a Butterworth-like band-pass of `order` per side: high-pass at `low` Hz times
    low-pass at `high` Hz (`low` = 0: low-pass only), at `freqs` Hz."""
    lowpass = 1 / torch.sqrt(1 + (freqs / high) ** (2 * order))
    if low <= 0:
        return lowpass
    ratio = (freqs / low) ** (2 * order)
    return torch.sqrt(ratio / (1 + ratio)) * lowpass


def band_noise(n_samples: int, sample_rate: int, low: float, high: float, generator: torch.Generator) -> torch.Tensor:
    """`(n_samples,)` white noise band-passed to [low, high] Hz (`band_gain`, 2nd order), unit RMS."""
    high = min(high, 0.45 * sample_rate)
    freqs = torch.fft.rfftfreq(n_samples, 1 / sample_rate)
    return filtered_noise(1, n_samples, band_gain(freqs, low, high), generator)[0]


def poisson_onsets(rate: torch.Tensor, sample_rate: int, generator: torch.Generator) -> torch.Tensor:
    """Onsets (samples, long, in no particular order) of a Poisson process whose rate (events/s) at each sample
    is `rate` `(n_samples,)`: a homogeneous process at max(rate), thinned with probability rate/max."""
    n_samples, peak = rate.shape[0], float(rate.max())
    mean = torch.tensor(peak * n_samples / sample_rate)
    count = int(torch.poisson(mean, generator=generator))
    onsets = torch.randint(0, n_samples, (count,), generator=generator)
    keep = torch.rand(count, generator=generator) * peak < rate[onsets]
    return onsets[keep]


def scatter_grains(
    grains: Callable[[slice], torch.Tensor], onsets: torch.Tensor, length: int, n_samples: int
) -> torch.Tensor:
    """`(n_samples,)` sum of the events `grains(slice)` `(events in slice, length)` starting at
    `onsets` `(events,)` samples, rendered `GRAIN_BUDGET // length` events at a time."""
    out = torch.zeros(n_samples + length)
    offsets = torch.arange(length)
    chunk = max(1, GRAIN_BUDGET // length)
    for first in range(0, onsets.shape[0], chunk):
        part = slice(first, first + chunk)
        out.index_add_(0, (onsets[part, None] + offsets).flatten(), grains(part).flatten())
    return out[:n_samples]


def damped_sines(
    freq: torch.Tensor, decay: torch.Tensor, length: int, sample_rate: int, rise: torch.Tensor | None = None
) -> torch.Tensor:
    """`(events, length)` sin(2π ∫ f) · e^(−t/τ) with a 0.2-ms linear attack and a linear fade over
    the last 20 %; `freq` f0 Hz, `decay` τ s, `rise` ξ (default 0): f(t) = f0 (1 + ξ t / τ), so the
    phase is 2π f0 (t + ξ t² / 2τ)."""
    t = torch.arange(length) / sample_rate
    ends = (t / 2e-4).clamp(max=1.0) * ((length - torch.arange(length)) / (0.2 * length)).clamp(max=1.0)
    phase = torch.outer(2 * math.pi * freq, t)
    if rise is not None:
        phase += torch.outer(math.pi * freq * rise / decay, t * t)
    return phase.sin_().mul_(torch.outer(-1 / decay, t).exp_()).mul_(ends)


def noise_bursts(decay: torch.Tensor, length: int, sample_rate: int, generator: torch.Generator) -> torch.Tensor:
    """`(events, length)` white noise under e^(−t/τ), `decay` τ `(events,)` s: sharp broadband clicks."""
    t = torch.arange(length) / sample_rate
    return torch.randn(decay.shape[0], length, generator=generator).mul_(torch.outer(-1 / decay, t).exp_())


def _finish(audio: torch.Tensor) -> torch.Tensor:
    """Peak-normalized to `PEAK`, float32."""
    return (audio * (PEAK / audio.abs().max().clamp_min(1e-8))).to(torch.float32)


def _check(name: str, seconds: float, sample_rate: int) -> int:
    """Samples of a texture of `seconds` at `sample_rate`; ValueError naming the texture if unusable."""
    if not seconds > 0:
        raise ValueError(f"synthetic texture {name}: seconds must be > 0, got {seconds}")
    if sample_rate < MIN_SAMPLE_RATE:
        raise ValueError(f"synthetic texture {name}: sample_rate must be ≥ {MIN_SAMPLE_RATE} Hz, got {sample_rate}")
    return max(1, round(seconds * sample_rate))


# --- the textures ------------------------------------------------------------------------------


def rain(seconds: float, sample_rate: int, generator: torch.Generator) -> torch.Tensor:
    """Rain `(round(seconds · sample_rate),)`: two layers of droplets (filtered clicks) over a noise bed."""
    n = _check("rain", seconds, sample_rate)
    top = 0.45 * sample_rate
    drizzle = 1 + 0.3 * slow_process(seconds, 3.0, n, generator).tanh()  # the rain thickens and thins
    out = 0.12 * band_noise(n, sample_rate, 400.0, 10000.0, generator) * drizzle

    def layer(rate: float, freq: tuple[float, float], decay: tuple[float, float], amplitude, length_s: float):
        onsets = poisson_onsets(rate * drizzle, sample_rate, generator)
        k = onsets.shape[0]
        f = _log_uniform(k, *freq, generator).clamp(max=top)
        tau = _uniform(k, *decay, generator)
        gain = amplitude(k) * _signs(k, generator)
        length = round(length_s * sample_rate)
        def drops(s: slice) -> torch.Tensor:
            return gain[s, None] * damped_sines(f[s], tau[s], length, sample_rate)

        return scatter_grains(drops, onsets, length, n)

    far_rate, near_rate = _scalar(300.0, 900.0, generator), _scalar(6.0, 20.0, generator)
    out += layer(far_rate, (2000.0, 6000.0), (5e-4, 2e-3), lambda k: 0.04 * _log_uniform(k, 0.3, 3.0, generator), 0.008)
    out += layer(near_rate, (1000.0, 4000.0), (2e-3, 8e-3), lambda k: 0.3 * _pareto(k, 2.0, generator), 0.04)
    return _finish(out)


def wind(seconds: float, sample_rate: int, generator: torch.Generator) -> torch.Tensor:
    """Wind `(round(seconds · sample_rate),)`: noise through a slowly moving, gusting Gaussian band."""
    n = _check("wind", seconds, sample_rate)
    n_fft = next_power_of_two(round(0.046 * sample_rate))
    hop = n_fft // 4
    window = torch.hann_window(n_fft)
    spectrum = torch.stft(torch.randn(n, generator=generator), n_fft, hop, window=window, return_complex=True)
    frames = spectrum.shape[1]  # the slow processes are sampled at the STFT frames

    centre = math.log2(_scalar(250.0, 700.0, generator)) + slow_process(seconds, 3.0, frames, generator)
    gain_db = 9.0 * slow_process(seconds, 1.5, frames, generator)
    width = _scalar(0.5, 0.8, generator) * (1 + 0.25 * slow_process(seconds, 4.0, frames, generator).tanh())
    octaves = torch.log2(torch.fft.rfftfreq(n_fft, 1 / sample_rate).clamp_min(1.0)).unsqueeze(1)
    band = torch.exp(-0.5 * ((octaves - centre) / width) ** 2) * 10 ** (gain_db / 20)
    floor = 0.03 * band_gain(2 ** octaves, 0.0, 150.0)
    audio = torch.istft(spectrum * (band + floor), n_fft, hop, window=window, length=n)
    return _finish(audio)


def fire(seconds: float, sample_rate: int, generator: torch.Generator) -> torch.Tensor:
    """Fire `(round(seconds · sample_rate),)`: heavy-tailed crackle over a low rumble and a faint hiss."""
    n = _check("fire", seconds, sample_rate)
    rumble = band_noise(n, sample_rate, 0.0, _scalar(80.0, 200.0, generator), generator)
    rumble = rumble * 10 ** (4.0 * slow_process(seconds, 2.0, n, generator) / 20)
    hiss = 0.05 * band_noise(n, sample_rate, 1000.0, 6000.0, generator)

    bursts = torch.exp(slow_process(seconds, 0.7, n, generator))  # crackle comes in bursts
    onsets = poisson_onsets(_scalar(6.0, 20.0, generator) * bursts / bursts.mean(), sample_rate, generator)
    k, length = onsets.shape[0], round(0.012 * sample_rate)
    gain = 1.5 * _pareto(k, 1.5, generator) * _signs(k, generator)
    tau = _uniform(k, 2e-4, 1.5e-3, generator)
    pop = (torch.rand(k, generator=generator) < 0.3) * _uniform(k, 0.3, 1.0, generator)  # some clicks ring
    pop_hz = _uniform(k, 1500.0, 4000.0, generator)

    def clicks(s: slice) -> torch.Tensor:
        ring = damped_sines(pop_hz[s], torch.full_like(tau[s], 1.5e-3), length, sample_rate)
        return gain[s, None] * (noise_bursts(tau[s], length, sample_rate, generator) + pop[s, None] * ring)

    return _finish(0.5 * rumble + hiss + scatter_grains(clicks, onsets, length, n))


def stream(seconds: float, sample_rate: int, generator: torch.Generator) -> torch.Tensor:
    """Stream `(round(seconds · sample_rate),)`: many rising-pitch bubbles over broadband water noise."""
    n = _check("stream", seconds, sample_rate)
    water = 0.15 * band_noise(n, sample_rate, 200.0, 8000.0, generator)
    flow = torch.exp(0.3 * slow_process(seconds, 1.0, n, generator))
    onsets = poisson_onsets(_scalar(100.0, 250.0, generator) * flow, sample_rate, generator)
    k, length = onsets.shape[0], round(0.04 * sample_rate)
    f0 = _log_uniform(k, 400.0, 2200.0, generator)
    tau = _uniform(k, 3e-3, 10e-3, generator)
    rise = _uniform(k, 0.1, 0.4, generator)
    gain = 0.3 * _log_uniform(k, 0.3, 3.0, generator) * (1000.0 / f0).sqrt()  # bigger bubbles are louder
    def bubbles(s: slice) -> torch.Tensor:
        return gain[s, None] * damped_sines(f0[s], tau[s], length, sample_rate, rise[s])

    return _finish(water + scatter_grains(bubbles, onsets, length, n))


TEXTURES: dict[str, Texture] = {"rain": rain, "wind": wind, "fire": fire, "stream": stream}


# --- writing -----------------------------------------------------------------------------------


def texture_generator(seed: int, name: str) -> torch.Generator:
    """The generator of texture `name` for `seed`: independent of every other (seed, name) pair."""
    return track_generator(seed, zlib.crc32(name.encode()))


def render_texture(name: str, seconds: float = 30.0, seed: int = 0, sample_rate: int = 44100) -> torch.Tensor:
    """Texture `name` of `TEXTURES`, `(round(seconds · sample_rate),)` float32, deterministic in (seed, name)."""
    return TEXTURES[_names([name])[0]](seconds, sample_rate, texture_generator(seed, name))


def _names(textures: Sequence[str] | None) -> list[str]:
    """The textures asked for (all of `TEXTURES` when None); ConfigError naming an unknown one."""
    if textures is None:
        return list(TEXTURES)
    if isinstance(textures, str):
        textures = [textures]
    for name in textures:
        if name not in TEXTURES:
            raise ConfigError(f"synthetic textures: unknown texture {name!r} (known: {', '.join(TEXTURES)})")
    return list(textures)


def _settings(seconds: float, seed: int, sample_rate: int) -> dict:
    """What a texture file depends on (its manifest entry, besides its file name)."""
    return {"format": MANIFEST_FORMAT, "seconds": float(seconds), "seed": int(seed), "sample_rate": int(sample_rate)}


def write_synthetic_textures(
    root: str | os.PathLike,
    seconds: float = 30.0,
    seed: int = 0,
    sample_rate: int = 44100,
    textures: Sequence[str] | None = None,
) -> list[Path]:
    """Write each texture as `root/<texture>/<texture>.wav` (float32 wav, mono).

    `root/synthetic_textures.json` records the settings of each file (duration, seed, sample
    rate). A file whose entry matches the settings asked for is not rendered again (idempotent:
    its modification time is unchanged); files and manifest are written atomically (temporary
    file, then `os.replace`).

    Args:
        root: folder of the texture folders (created if needed).
        seconds: length of each texture, s.
        seed: selects the recordings (each texture draws its own for the same seed).
        sample_rate: Hz, ≥ 16000.
        textures: names in `TEXTURES`; None: all of them.

    Returns:
        The paths of the texture files, in the order of `textures`.

    Raises:
        ConfigError: an unknown texture name.
    """
    root = Path(root)
    names = _names(textures)
    root.mkdir(parents=True, exist_ok=True)
    manifest = root / MANIFEST
    entries = read_manifest(manifest, "textures")
    settings = _settings(seconds, seed, sample_rate)
    paths, changed = [], False
    for name in names:
        path = root / name / f"{name}.wav"
        paths.append(path)
        entry = entries.get(name, {})
        if is_current(path, entry, settings):
            continue
        audio = render_texture(name, seconds, seed, sample_rate).numpy()
        write_float_wav(path, audio, sample_rate)
        entries[name] = {**settings, "file": f"{name}/{name}.wav"}
        changed = True
    if changed or not manifest.is_file():
        write_manifest(manifest, "textures", entries)
    return paths
