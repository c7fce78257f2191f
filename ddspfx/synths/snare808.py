"""The differentiable TR-808-style snare of timbre remapping (reference timbreremap §1) and its presets.

Two sine oscillators with a shared pitch envelope, white noise through a resonant high-pass, and
a tanh drive (all envelopes: `ddspfx.dsp.envelopes.decay_envelope`, 1 ms linear attack then an
exponential decay to ≈ −60 dB at the decay time):

    e_f = Env(freq_env.decay)
    s_i = sin φ_i,  φ_i[n] = Σ_{k<n} ω_i (1 + m_i e_f[k]),  ω_i = 2π f_i / sr        i = 1, 2
    tone = G(osc1_gain)·s_1·Env(osc1_env.decay) + G(osc2_gain)·s_2·Env(osc2_env.decay)
    nz   = G(noise_gain) · HPF_{fc, Q}( noise · Env(noise_env.decay) )    (envelope before the filter)
    y    = tanh( G(tanh.in_gain) · (tone + nz) ),   G(g) = 10^(g/20)

Presets are JSON files `conf/presets/808/<name>.json` (reference §2):
`{"preset": {name: value in units, … all 14}, "damping": {name: multiplier, …}}`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
from torch.autograd.function import once_differentiable

from ddspfx.core.errors import ConfigError
from ddspfx.dsp.envelopes import decay_envelope, decay_envelope_sum
from ddspfx.dsp.filters import biquad_coefficients, biquad_filter, fsm_filter
from ddspfx.params import ParamSpec
from ddspfx.synths.base import Synth

PARAM_NAMES = (
    "osc1.freq",
    "osc1.mod",
    "osc2.freq",
    "osc2.mod",
    "freq_env.decay",
    "osc1_env.decay",
    "osc2_env.decay",
    "noise_env.decay",
    "noise_filter.freq",
    "noise_filter.q",
    "osc1_gain.gain",
    "osc2_gain.gain",
    "noise_gain.gain",
    "tanh.in_gain",
)
# Control indices exchanged by swapping the two oscillators (freq, mod, envelope decay, gain).
OSC_SWAP = (2, 3, 0, 1, 4, 6, 5, 7, 8, 9, 11, 10, 12, 13)
NOISE_KINDS = ("buffer", "fresh")
MIN_FILTER_FREQ = 20.0

PRESETS_DIR = Path(__file__).resolve().parents[2] / "conf" / "presets" / "808"


def snare808_params(sample_rate: int) -> list[ParamSpec]:
    """The 14 linear ParamSpecs of `Snare808` in control order (`PARAM_NAMES`); the high-pass
    cut-off spans 20 Hz … sample_rate // 2."""
    freq = ("Hz", 20.0, 2000.0)
    mod = ("ratio", -1.0, 2.0)
    decay = ("ms", 10.0, 2000.0)
    gain = ("dB", -60.0, 6.0)
    ranges = [freq, mod, freq, mod, decay, decay, decay, decay]
    ranges += [("Hz", MIN_FILTER_FREQ, float(sample_rate // 2)), ("", 0.5, 10.0)]
    ranges += [gain, gain, gain, ("dB", -24.0, 24.0)]
    return [ParamSpec(name, unit, lo, hi) for name, (unit, lo, hi) in zip(PARAM_NAMES, ranges)]


def db_to_gain(db: torch.Tensor) -> torch.Tensor:
    """10^(dB/20), any shape: exp(ln 10 · dB/20) in float64 (dB/20 formed in db's dtype), returned
    in db's dtype (float32: the correctly rounded 10^(dB/20), as torch.pow's almost always is).

    Not `torch.pow`: on CPU it computes the last elements of a tensor (after its vectorized loop)
    with another implementation that can differ in the last bit, so a hit's gains, audio and
    gradients would depend on the other hits of its batch. exp gives an element the same value
    wherever it sits (row independence, see `ddspfx.dsp.envelopes._row_dot`).
    """
    return torch.exp((db / 20.0).to(torch.float64) * math.log(10.0)).to(db.dtype)


class _PitchedPhase(torch.autograd.Function):
    """φ = 2π·frac(f/sr·(n + m·S[n])) for f, m `(batch, K)`, S `(batch, n)` float64 → `(batch, K, n)`.

    The forward is float64 in place (one float64 temporary); the backward reduces over time with
    float64 products instead of keeping autograd's half-dozen `(batch, K, n)` float64 temporaries
    (2× faster at 16 × 1 s). Its reductions are sums over one axis, not matrix products, so each
    row's gradient is bit-for-bit independent of the other rows of the batch (BLAS blocks the rows
    of a product by their number; see `ddspfx.dsp.envelopes._row_dot`).
    """

    @staticmethod
    def forward(ctx, freq_hz, mod, env_sum, sample_rate):
        n = torch.arange(env_sum.shape[-1], dtype=torch.float64, device=env_sum.device)
        step = freq_hz.to(torch.float64).unsqueeze(-1) / sample_rate  # cycles per sample
        cycles = step * n
        cycles.addcmul_(step * mod.to(torch.float64).unsqueeze(-1), env_sum.unsqueeze(-2))
        cycles.frac_()  # the whole cycles dropped are constant: the derivative is unchanged
        ctx.save_for_backward(freq_hz, mod, env_sum)
        ctx.sample_rate = sample_rate
        return cycles.to(freq_hz.dtype).mul_(2 * math.pi)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_phase):
        freq_hz, mod, env_sum = ctx.saved_tensors
        w0 = 2 * math.pi / ctx.sample_rate
        grad = grad_phase.to(torch.float64)
        n = torch.arange(env_sum.shape[-1], dtype=torch.float64, device=env_sum.device)
        freq, m = freq_hz.to(torch.float64), mod.to(torch.float64)
        grad_n = (grad * n).sum(-1)  # (batch, K): Σ_n g·n
        grad_s = (grad * env_sum.unsqueeze(-2)).sum(-1)  # (batch, K): Σ_n g·S[n]
        grad_env_sum = (grad * (w0 * freq * m).unsqueeze(-1)).sum(-2)  # (batch, n): Σ_k
        grad_freq = (w0 * (grad_n + m * grad_s)).to(freq_hz.dtype)
        grad_mod = (w0 * freq * grad_s).to(mod.dtype)
        return grad_freq, grad_mod, grad_env_sum, None


def pitched_phase(
    freq_hz: torch.Tensor, mod: torch.Tensor, env_sum: torch.Tensor, sample_rate: float
) -> torch.Tensor:
    """Phases of sine oscillators with a pitch envelope, exact and wrapped by whole cycles.

    φ[n] = Σ_{k<n} ω0 (1 + m e_f[k]) = ω0 (n + m S[n]),  ω0 = 2π f / sample_rate, so φ[0] = 0.
    Evaluated in float64, wrapped to [0, 2π) (to (−2π, 0] where the phase is negative, which
    needs m < −1), returned in freq_hz's dtype; differentiable in f, m and S.

    Args:
        freq_hz: `(batch, K)` base frequencies f in Hz.
        mod: `(batch, K)` pitch-envelope depths m (the peak frequency is f·(1 + m)).
        env_sum: `(batch, n_samples)` float64 exclusive running sum S of the pitch envelope
            (`ddspfx.dsp.envelopes.decay_envelope_sum`), shared by the K oscillators.
        sample_rate: Hz.

    Returns:
        `(batch, K, n_samples)` radians.
    """
    return _PitchedPhase.apply(freq_hz, mod, env_sum.to(torch.float64), sample_rate)


FILTER_METHODS = ("auto", "recursive", "fsm")


def high_pass(
    x: torch.Tensor,
    freq_hz: torch.Tensor,
    q: torch.Tensor,
    sample_rate: float,
    clamp: bool = False,
    method: str = "auto",
) -> torch.Tensor:
    """Zero-state causal resonant high-pass biquad (|H(fc)| = Q) over the whole signal.

    The reference's design (K = tan(π fc/sr), norm = 1/(1 + K/Q + K²), b = [1, −2, 1]·norm,
    a = [1, 2(K² − 1)·norm, (1 − K/Q + K²)·norm]) is the RBJ cookbook high-pass, so
    `biquad_coefficients` designs it, in float64 (fc is kept below Nyquist, w0 ≤ π − 1e-3).

    Two exact paths (within 1e-6 of scipy's float64 lfilter at the presets' settings):
    - "recursive": `biquad_filter`, the float64 recursion in compiled kernels (CPU; tensors on
      another device are copied). The fastest on a CPU by far (see the note above the kernels).
    - "fsm": `fsm_filter` in float64, padded by at least the signal length, so only impulse
      response taps later than that alias back. Parallel over time: the path for GPUs. float64,
      because a float32 response loses ~1e-3 of the output near Nyquist at Q = 10.
    "auto" takes "recursive" for CPU tensors and "fsm" for any other device.

    Args:
        x: `(batch, samples)` signal.
        freq_hz, q: `(batch,)` cut-off in Hz and quality factor.
        sample_rate: Hz.
        clamp: clip the output to [−1, 1] (the reference's `lfilter(clamp=True)`).
        method: "auto", "recursive" or "fsm".

    Returns:
        `(batch, samples)` in x's dtype.
    """
    if method not in FILTER_METHODS:
        raise ValueError(f"high_pass: method must be one of {FILTER_METHODS}, got {method!r}")
    if method == "auto":
        method = "recursive" if x.device.type == "cpu" else "fsm"
    b, a = biquad_coefficients("high_pass", freq_hz.double(), 0.0, q.double(), sample_rate)
    if method == "recursive":
        y = biquad_filter(x, b, a)
    else:
        y = fsm_filter(x.double(), b.unsqueeze(-2), a.unsqueeze(-2), pad=x.shape[-1]).to(x.dtype)
    return y.clamp(-1.0, 1.0) if clamp else y


class Snare808(Synth):
    """The 14-control TR-808-style snare of timbre remapping (module docstring, reference §1).

    Controls `(batch, 14)` in [0, 1], linear over the ranges of `snare808_params` in the order of
    `PARAM_NAMES`; `synth(controls)` → audio `(batch, round(duration · sample_rate))` in [−1, 1]
    (tanh; not normalized: the loudness is part of the timbre).
    Static controls, no conditioning input.

    Noise is uniform in [−1, 1). `noise="buffer"` (the reference): one buffer of `noise_length`
    samples drawn at construction from `noise_seed`, kept as the buffer `noise` (in state_dict),
    shared by every batch item and repeated cyclically when a render is longer. `noise="fresh"`:
    new noise for every call and batch item (torch's global generator).

    Deviations from the reference:
    - the high-pass cut-off is kept below Nyquist (w0 ≤ π − 1e-3, 22043 Hz at 44.1 kHz), so the
      top of its range (u = 1, fc = sample_rate // 2) gives a finite filter and finite gradients;
    - the high-pass output is not clipped unless `filter_clamp=True`. The reference filtered with
      torchaudio's `lfilter`, whose default clamp=True clips to [−1, 1]: with Q = 6
      (noisy_snare, +15.6 dB at fc) it clipped, with zero gradient through the clipped samples.
    - envelopes and phases are closed forms (no float32 cumulative product or sum).

    Args:
        sample_rate: Hz (> 41, so that the cut-off range 20 … sample_rate // 2 is not empty).
        duration: seconds rendered by default.
        noise: "buffer" or "fresh".
        noise_seed: seed of the noise buffer.
        noise_length: samples in the noise buffer (default round(sample_rate · duration)).
        filter_clamp: clip the high-pass output to [−1, 1] as the reference did.
    """

    time_varying = False

    def __init__(
        self,
        sample_rate: int = 44100,
        duration: float = 1.0,
        noise: str = "buffer",
        noise_seed: int = 0,
        noise_length: int | None = None,
        filter_clamp: bool = False,
    ):
        super().__init__()
        if not sample_rate // 2 > MIN_FILTER_FREQ:
            raise ConfigError(f"Snare808: sample_rate must exceed {2 * MIN_FILTER_FREQ + 1:.0f} Hz, got {sample_rate}")
        if not duration > 0:
            raise ConfigError(f"Snare808: duration must be positive, got {duration} s")
        if noise not in NOISE_KINDS:
            raise ConfigError(f"Snare808: noise must be one of {NOISE_KINDS}, got {noise!r}")
        self.sample_rate = int(sample_rate)
        self.duration = float(duration)
        self.noise_kind = noise
        self.filter_clamp = bool(filter_clamp)
        self.params = snare808_params(self.sample_rate)
        length = self.n_samples if noise_length is None else noise_length
        if isinstance(length, bool) or not isinstance(length, int) or length < 1:
            raise ConfigError(f"Snare808: noise_length must be a positive int, got {noise_length!r}")
        generator = torch.Generator().manual_seed(int(noise_seed))
        self.register_buffer("noise", torch.rand(length, generator=generator) * 2 - 1)

    def render(self, n_samples: int, **physical: torch.Tensor) -> torch.Tensor:
        """Audio `(batch, n_samples)` from the 14 physical values of `PARAM_NAMES` (units of
        `snare808_params`), each `(batch,)`."""
        p = physical
        sr = self.sample_rate
        freqs = torch.stack([p["osc1.freq"], p["osc2.freq"]], dim=-1)  # (batch, 2)
        mods = torch.stack([p["osc1.mod"], p["osc2.mod"]], dim=-1)
        env_sum = decay_envelope_sum(p["freq_env.decay"], n_samples, sr)  # (batch, n) float64
        sines = torch.sin(pitched_phase(freqs, mods, env_sum, sr))  # (batch, 2, n)
        envs = decay_envelope(torch.stack([p["osc1_env.decay"], p["osc2_env.decay"]], dim=-1), n_samples, sr)
        gains = db_to_gain(torch.stack([p["osc1_gain.gain"], p["osc2_gain.gain"]], dim=-1))
        # one small product per hit (row-independent) and the scripted export's very op
        tone = torch.einsum("bk,bkn->bn", gains, sines * envs)
        noise = self.noise_signal(freqs.shape[0], n_samples, freqs.dtype, freqs.device)
        noise = noise * decay_envelope(p["noise_env.decay"], n_samples, sr)
        filtered = high_pass(noise, p["noise_filter.freq"], p["noise_filter.q"], sr, self.filter_clamp)
        mix = tone + db_to_gain(p["noise_gain.gain"]).unsqueeze(-1) * filtered
        return torch.tanh(db_to_gain(p["tanh.in_gain"]).unsqueeze(-1) * mix)

    def noise_signal(self, batch: int, n_samples: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        """`(batch, n_samples)` uniform noise in [−1, 1): the buffer (cycled) or fresh draws."""
        if self.noise_kind == "fresh":
            return torch.rand(batch, n_samples, dtype=dtype, device=device) * 2 - 1
        length = self.noise.shape[0]
        noise = self.noise if n_samples <= length else self.noise.repeat(-(-n_samples // length))
        return noise[:n_samples].to(dtype=dtype, device=device).expand(batch, n_samples)

    def equivalent_permutations(self) -> list[list[int]]:
        """The identity and the osc1 ↔ osc2 swap (freq, mod, envelope decay and gain)."""
        return [list(range(self.n_params)), list(OSC_SWAP)]

    def extra_repr(self) -> str:
        return f"sample_rate={self.sample_rate}, noise={self.noise_kind!r}, filter_clamp={self.filter_clamp}"


def preset_names() -> list[str]:
    """Names (file stems) of the presets in `PRESETS_DIR`, sorted."""
    return sorted(path.stem for path in PRESETS_DIR.glob("*.json"))


def load_preset(name_or_path: str | Path, sample_rate: int = 44100) -> tuple[torch.Tensor, torch.Tensor]:
    """Read a Snare808 preset: normalized preset controls and damping multipliers.

    Args:
        name_or_path: a preset name (`conf/presets/808/<name>.json`), or a path to a .json file
            (absolute or relative to the working directory).
        sample_rate: Hz; sets the range of noise_filter.freq used to normalize.

    Returns:
        preset `(14,)` float32 in [0, 1] (control order of `PARAM_NAMES`) and damping `(14,)`
        float32 (a multiplier per control, 1.0 where the file gives none).

    Raises:
        ValueError: unknown name, missing or unreadable file, invalid JSON, missing "preset"
            section, unknown or missing keys, non-numeric, out-of-range values, negative damping.
    """
    path = _preset_path(name_or_path)
    data = _read_json(path)
    specs = snare808_params(sample_rate)
    preset = data.get("preset")
    if not isinstance(preset, dict):
        raise ConfigError(f"{path}: needs a \"preset\" section, an object of the {len(specs)} parameters")
    damping = data.get("damping", {})
    if not isinstance(damping, dict):
        raise ConfigError(f"{path}: \"damping\" must be an object of parameter multipliers")
    for section, values in (("preset", preset), ("damping", damping)):
        unknown = [key for key in values if key not in PARAM_NAMES]
        if unknown:
            raise ConfigError(f"{path}: unknown key(s) {unknown} in \"{section}\"; valid keys are {list(PARAM_NAMES)}")
    missing = [name for name in PARAM_NAMES if name not in preset]
    if missing:
        raise ConfigError(f"{path}: \"preset\" is missing key(s) {missing}")
    values = [_preset_value(path, spec, preset[spec.name]) for spec in specs]
    normalized = torch.stack([spec.normalize(torch.tensor(v, dtype=torch.float64)) for spec, v in zip(specs, values)])
    multipliers = [_damping_value(path, name, damping.get(name, 1.0)) for name in PARAM_NAMES]
    return normalized.float(), torch.tensor(multipliers, dtype=torch.float32)


def _preset_path(name_or_path: str | Path) -> Path:
    text = str(name_or_path)
    if isinstance(name_or_path, Path) or text.endswith(".json") or "/" in text or "\\" in text:
        path = Path(name_or_path)
        if not path.is_file():
            raise ConfigError(f"{path}: preset file not found")
        return path
    known = preset_names()
    if text not in known:
        raise ConfigError(f"unknown Snare808 preset {text!r}; known presets are {known} (in {PRESETS_DIR})")
    return PRESETS_DIR / f"{text}.json"


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ConfigError(f"{path}: invalid JSON ({error})") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read the preset ({error})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a preset must be a JSON object, got {type(data).__name__}")
    return data


def _number(path: Path, where: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{path}: {where} must be a finite number, got {value!r}")
    return float(value)


def _preset_value(path: Path, spec: ParamSpec, value) -> float:
    value = _number(path, f"preset value of {spec.name!r}", value)
    if not spec.min <= value <= spec.max:
        unit = f" {spec.unit}" if spec.unit else ""
        raise ConfigError(
            f"{path}: preset value of {spec.name!r} is {value:g}{unit}, outside its range "
            f"[{spec.min:g}, {spec.max:g}]{unit}"
        )
    return value


def _damping_value(path: Path, name: str, value) -> float:
    value = _number(path, f"damping of {name!r}", value)
    if value < 0:
        raise ConfigError(f"{path}: damping of {name!r} must be >= 0, got {value:g}")
    return value
