"""A TorchScript renderer of the timbre-remapping TR-808 snare (`ddspfx.synths.Snare808`).

`Snare808` renders through custom autograd functions and a numba kernel (the noise high-pass),
none of which TorchScript can compile. `ScriptedSnare808` is its inference path in plain torch
operations, so that `torch.jit.script` compiles it and a host (LibTorch, Neutone, Python without
ddspfx) can render hits: controls `(batch, 14)` in [0, 1] → audio `(batch, n_samples)`.

What is the same as `Snare808.forward` and what is not:

- Controls → physical values, envelopes, their running sum, the pitched phases (float64), the
  gains, the mix and the tanh are the same tensor operations in the same order, so they give the
  same float32 values bit for bit.
- The noise high-pass is computed differently. `Snare808` runs the biquad recursion in float64
  (numba, direct form II). Here the same float64 biquad is applied as an exact linear convolution
  with its impulse response truncated to the render length, which is all a zero-state causal
  filter of `n` samples ever uses: y[k] = Σ_{j≤k} h[j] x[k − j], k < n. The response is the closed
  form of a biquad whose poles are complex or double (true for the RBJ high-pass at every
  Q ≥ 1/2, i.e. over Snare808's whole Q range 0.5 … 10):

      g[k] = r^k · sin((k + 1) θ) / sin θ   (→ (k + 1) r^k at θ = 0),  r = √a2,  θ = atan2(√(4a2 − a1²), −a1)
      h[k] = b0 g[k] + b1 g[k − 1] + b2 g[k − 2]

  and the convolution is one float64 rFFT product of size ≥ 2n − 1 (no circular wrap). Both paths
  compute in float64 and round once to float32; they differ by float64 rounding (≲ 1e-12 of the
  filtered noise), so the outputs agree to within a float32 ulp or two of the noise term
  (tests: max |difference| ≤ 1e-6 on random controls, most samples bit-identical).

The noise is the synth's own buffer (copied into the module, so the same hits come out) or, for
`noise="fresh"`, `torch.rand` at every call.

Cost: the FFT convolution is ≈ 3× slower than the numba recursion on a CPU for a 1-s hit (a few ms;
rendering happens once per hit, not per audio block).
"""

import math

import torch
from torch import nn

from ddspfx.dsp.envelopes import DECAY_LOG_RATIO, LOG_FLOOR, MIN_DECAY_SAMPLES, attack_samples
from ddspfx.dsp.filters import Q_MIN, W0_MAX, W0_MIN
from ddspfx.synths.snare808 import Snare808


def _next_power_of_two(n: int) -> int:
    power = 1
    while power < n:
        power *= 2
    return power


class ScriptedSnare808(nn.Module):
    """`Snare808`'s forward pass in TorchScript-compilable torch (module docstring).

    Args:
        synth: the `Snare808` to copy (sample rate, duration, ranges, noise buffer, filter clamp).

    Call: `module(controls)` with controls `(batch, 14)` in [0, 1] (clamped; NaN or a wrong shape
    raises) → audio `(batch, n_samples)` float32, n_samples = round(duration · sample_rate);
    `module.render(controls, n)` renders n samples instead (the first n of a longer render).

    Attributes (read-only for a host): `sample_rate` (Hz), `n_samples`, `param_names`.
    """

    sample_rate: int
    n_samples: int
    attack: int
    fresh_noise: bool
    filter_clamp: bool
    param_names: list[str]
    # constants of ddspfx.dsp (TorchScript reads module attributes, not imported globals)
    min_decay_samples: float
    decay_log_ratio: float
    log_floor: float
    w0_min: float
    w0_max: float
    q_min: float

    def __init__(self, synth: Snare808):
        super().__init__()
        if not isinstance(synth, Snare808):
            raise TypeError(f"ScriptedSnare808: expected a Snare808, got {type(synth).__name__}")
        self.sample_rate = int(synth.sample_rate)
        self.n_samples = int(synth.n_samples)
        self.attack = attack_samples(synth.sample_rate)
        self.fresh_noise = synth.noise_kind == "fresh"
        self.filter_clamp = bool(synth.filter_clamp)
        self.param_names = list(synth.param_names)
        self.min_decay_samples, self.decay_log_ratio, self.log_floor = MIN_DECAY_SAMPLES, DECAY_LOG_RATIO, LOG_FLOOR
        self.w0_min, self.w0_max, self.q_min = W0_MIN, W0_MAX, Q_MIN
        self.register_buffer("low", torch.tensor([p.min for p in synth.params], dtype=torch.float32))
        self.register_buffer("span", torch.tensor([p.max - p.min for p in synth.params], dtype=torch.float32))
        self.register_buffer("noise", synth.noise.detach().to("cpu", torch.float32).clone())

    def forward(self, controls: torch.Tensor) -> torch.Tensor:
        """Controls `(batch, 14)` → audio `(batch, n_samples)` float32."""
        return self.render(controls, self.n_samples)

    @torch.jit.export
    def render(self, controls: torch.Tensor, n_samples: int) -> torch.Tensor:
        """Controls `(batch, 14)` in [0, 1] → the first `n_samples` (≥ 1) samples `(batch, n_samples)`."""
        if controls.dim() != 2 or controls.shape[1] != len(self.param_names):
            raise ValueError(f"ScriptedSnare808: controls must have shape (batch, 14), got {controls.shape}")
        if n_samples < 1:
            raise ValueError(f"ScriptedSnare808: n_samples must be at least 1, got {n_samples}")
        if bool(torch.isnan(controls).any()):
            raise ValueError("ScriptedSnare808: controls contain NaN")
        c = controls.to(self.low.dtype).clamp(0.0, 1.0)
        p = c * self.span + self.low  # physical values (batch, 14), as ParamSpec.denormalize
        # columns: 0 osc1.freq, 1 osc1.mod, 2 osc2.freq, 3 osc2.mod, 4 freq_env.decay, 5 osc1_env.decay,
        # 6 osc2_env.decay, 7 noise_env.decay, 8 noise_filter.freq, 9 noise_filter.q, 10 osc1_gain.gain,
        # 11 osc2_gain.gain, 12 noise_gain.gain, 13 tanh.in_gain (PARAM_NAMES)
        n = n_samples
        freqs = torch.stack([p[:, 0], p[:, 2]], dim=-1)
        mods = torch.stack([p[:, 1], p[:, 3]], dim=-1)
        env_sum = self._envelope_sum(p[:, 4].to(torch.float64), n)
        sines = torch.sin(self._pitched_phase(freqs, mods, env_sum))
        envs = self._envelope(torch.stack([p[:, 5], p[:, 6]], dim=-1), n)
        gains = self._db_to_gain(torch.stack([p[:, 10], p[:, 11]], dim=-1))
        tone = torch.einsum("bk,bkn->bn", gains, sines * envs)
        noise = self._noise(freqs.shape[0], n) * self._envelope(p[:, 7], n)
        filtered = self._high_pass(noise, p[:, 8], p[:, 9])
        mix = tone + self._db_to_gain(p[:, 12]).unsqueeze(-1) * filtered
        return torch.tanh(self._db_to_gain(p[:, 13]).unsqueeze(-1) * mix)

    # --- the pieces, as in ddspfx.dsp.envelopes and ddspfx.synths.snare808 -----------------------
    def _db_to_gain(self, db: torch.Tensor) -> torch.Tensor:
        return torch.pow(10.0, db / 20.0)

    def _decay_rate(self, decay_ms: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(1 − r, log r) of the per-sample decay ratio, as `ddspfx.dsp.envelopes.decay_rate`."""
        decay_samples = (decay_ms * (self.sample_rate / 1000.0)).clamp(min=self.min_decay_samples)
        rate = decay_samples.reciprocal() * self.decay_log_ratio  # Python's `number / tensor`
        return rate, torch.log1p(-rate)

    def _envelope(self, decay_ms: torch.Tensor, n: int) -> torch.Tensor:
        """`decay_envelope`: (..., ) decay times in ms → (..., n) linear attack then r^k, floored."""
        rate, log_r = self._decay_rate(decay_ms)
        n_attack = min(self.attack, n)
        attack = (torch.arange(n_attack, dtype=log_r.dtype) + 1) / max(self.attack, 1)
        k = torch.arange(n - n_attack, dtype=log_r.dtype)
        decay = (k * log_r.unsqueeze(-1)).clamp(min=self.log_floor).exp()
        return torch.cat([attack.expand(decay.shape[:-1] + (n_attack,)), decay], dim=-1)

    def _envelope_sum(self, decay_ms: torch.Tensor, n: int) -> torch.Tensor:
        """`decay_envelope_sum` (float64): the exclusive running sum of the envelope, closed form."""
        rate, log_r = self._decay_rate(decay_ms)
        n_attack = min(self.attack, n)
        i = torch.arange(n_attack, dtype=torch.float64)
        ramp = i * (i + 1) / (2 * max(self.attack, 1))
        ramp_total = (self.attack + 1) / 2.0 if self.attack > 0 else 0.0
        j = torch.arange(n - n_attack, dtype=torch.float64)
        decay = torch.expm1(j * log_r.unsqueeze(-1)).div(-rate.unsqueeze(-1)).add(ramp_total)
        return torch.cat([ramp.expand(decay.shape[:-1] + (n_attack,)), decay], dim=-1)

    def _pitched_phase(self, freqs: torch.Tensor, mods: torch.Tensor, env_sum: torch.Tensor) -> torch.Tensor:
        """`pitched_phase`: 2π·frac(f/sr·(n + m·S[n])) in float64, returned `(batch, 2, n)` float32."""
        n = torch.arange(env_sum.shape[-1], dtype=torch.float64)
        step = freqs.to(torch.float64).unsqueeze(-1) / self.sample_rate
        cycles = step * n
        cycles = torch.addcmul(cycles, step * mods.to(torch.float64).unsqueeze(-1), env_sum.unsqueeze(-2))
        return torch.frac(cycles).to(freqs.dtype) * (2 * math.pi)

    def _noise(self, batch: int, n: int) -> torch.Tensor:
        """`(batch, n)` uniform noise in [−1, 1): the buffer (cycled) or fresh draws."""
        if self.fresh_noise:
            return torch.rand(batch, n, dtype=self.low.dtype) * 2 - 1
        length = self.noise.shape[0]
        noise = self.noise if n <= length else self.noise.repeat((n + length - 1) // length)
        return noise[:n].expand(batch, n)

    def _coefficients(self, freq_hz: torch.Tensor, q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """RBJ high-pass b, a `(batch, 3)` float64 with a0 = 1, as `biquad_coefficients("high_pass", …)`."""
        w0 = (2 * math.pi / self.sample_rate * freq_hz.to(torch.float64)).clamp(self.w0_min, self.w0_max)
        cos = torch.cos(w0)
        alpha = torch.sin(w0) / (2 * q.to(torch.float64).clamp(min=self.q_min))
        edge = torch.cos(w0 / 2) ** 2
        b = torch.stack([edge, -2.0 * edge, edge], dim=-1)
        a = torch.stack([1 + alpha, -2 * cos, 1 - alpha], dim=-1)
        a0 = a[:, :1]
        return b / a0, a / a0

    def _impulse_response(self, b: torch.Tensor, a: torch.Tensor, n: int) -> torch.Tensor:
        """h[0 … n−1] `(batch, n)` float64 of biquads with complex or double poles (a2 ≥ a1²/4)."""
        a1, a2 = a[:, 1:2], a[:, 2:3]
        k = torch.arange(n, dtype=torch.float64)
        radius = torch.sqrt(a2.clamp(min=0.0))
        theta = torch.atan2(torch.sqrt((4 * a2 - a1 * a1).clamp(min=0.0)), -a1)
        sin_theta = torch.sin(theta)
        chebyshev = torch.where(sin_theta > 0, torch.sin((k + 1) * theta) / sin_theta, k + 1)  # U_k(cos θ)
        g = torch.pow(radius, k) * chebyshev  # response of 1 / (1 + a1 z⁻¹ + a2 z⁻²)
        h = b[:, :1] * g
        h[:, 1:] += b[:, 1:2] * g[:, :-1]
        h[:, 2:] += b[:, 2:3] * g[:, :-2]
        return h

    def _high_pass(self, x: torch.Tensor, freq_hz: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        """Zero-state causal resonant high-pass of x `(batch, n)` as an exact FFT convolution."""
        b, a = self._coefficients(freq_hz, q)
        n = x.shape[-1]
        h = self._impulse_response(b, a, n)
        size = _next_power_of_two(2 * n - 1)
        spectrum = torch.fft.rfft(x.to(torch.float64), n=size) * torch.fft.rfft(h, n=size)
        y = torch.fft.irfft(spectrum, n=size)[:, :n].to(x.dtype)
        return y.clamp(-1.0, 1.0) if self.filter_clamp else y


def export_snare808(synth: Snare808) -> torch.jit.ScriptModule:
    """`torch.jit.script` of `ScriptedSnare808(synth)`: controls `(batch, 14)` → audio `(batch, n_samples)`.

    Save it with `torch.jit.save` (or `ScriptModule.save`); a host loads it with `torch.jit.load`
    and calls it, or `.render(controls, n_samples)`.
    """
    return torch.jit.script(ScriptedSnare808(synth).eval())
