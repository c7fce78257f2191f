"""A DX7-style FM synthesizer: algorithms 5/6 without feedback ("ddx7_56", reference A.2).

Three parallel two-operator stacks (2→1, 4→3, 6→5) at a fixed fundamental f0:

    y(t) = Σ_k a_k · sin( 2π f0 t + I·m_k · sin(2π r_k f0 t) ),   k = 1, 2, 3

with carrier levels a_k (operators 1, 3, 5; carrier ratio 1), modulator levels m_k (operators
2, 4, 6) scaled by the maximum modulation index I = 12.57 rad, and modulator ratios r_k.
Levels follow the DX7 scale: L = 99·w, dB = 0.75·L − 74.25 ∈ [−74.25, 0], amplitude 10^(dB/20).
The output is the plain sum (peak up to 3); no envelopes, detune or feedback.
"""

from __future__ import annotations

import itertools

import torch

from ddspfx.dsp.oscillators import oscillator_phase
from ddspfx.params import ParamSpec
from ddspfx.synths.base import Synth

N_OPERATORS = 6
CARRIERS = (0, 2, 4)
MODULATORS = (1, 3, 5)
DX7_MAX_LEVEL = 99
DX7_DB_PER_LEVEL = 0.75


def dx7_level_to_amplitude(level: torch.Tensor) -> torch.Tensor:
    """DX7 output level (0..99) → linear amplitude; 0.75 dB a step, 99 ↦ 0 dB, 0 ↦ −74.25 dB."""
    db = DX7_DB_PER_LEVEL * (level - DX7_MAX_LEVEL)
    return torch.pow(10.0, db / 20.0)


class FMSynth(Synth):
    """The 9-control FM synth of DX7 algorithms 5/6 (three parallel modulator→carrier pairs).

    Controls `(batch, 9)` in [0, 1], in this order: output levels of operators 1–6 (linear in the
    DX7 0–99 scale), then the frequency ratios of modulators 2, 4, 6 (log scale over
    [ratio_min, ratio_max]). Call `synth(controls)` → audio `(batch, samples)` at `sample_rate`.
    Controls are static (no frames) and there is no conditioning input: f0 is fixed at construction.

    Args:
        sample_rate: Hz.
        duration: seconds rendered by default (`forward(..., n_samples=…)` overrides it).
        f0: fundamental (carrier) frequency in Hz.
        max_mod_index: phase deviation in radians of a modulator at level 99.
        ratio_min, ratio_max: range of the modulator frequency ratios.
    """

    branches = tuple(zip(CARRIERS, MODULATORS, (6, 7, 8)))  # control indices of each pair
    time_varying = False

    def __init__(
        self,
        sample_rate: int = 44100,
        duration: float = 0.5,
        f0: float = 110.0,
        max_mod_index: float = 12.57,
        ratio_min: float = 0.5,
        ratio_max: float = 10.0,
    ):
        super().__init__()
        if f0 <= 0 or f0 >= sample_rate / 2:
            raise ValueError(f"FMSynth: f0 must lie in (0, {sample_rate / 2}) Hz, got {f0}")
        if duration <= 0:
            raise ValueError(f"FMSynth: duration must be positive, got {duration} s")
        self.sample_rate = int(sample_rate)
        self.duration = float(duration)
        self.f0 = float(f0)
        self.max_mod_index = float(max_mod_index)
        self.ratio_min, self.ratio_max = float(ratio_min), float(ratio_max)
        levels = [ParamSpec(f"level_{i + 1}", "DX7 level", 0.0, DX7_MAX_LEVEL) for i in range(N_OPERATORS)]
        ratios = [ParamSpec(f"ratio_{i + 1}", "ratio", ratio_min, ratio_max, "log") for i in MODULATORS]
        self.params = levels + ratios

    def render(self, n_samples: int, **physical: torch.Tensor) -> torch.Tensor:
        """Audio `(batch, n_samples)` from `level_1`…`level_6` (DX7 0–99) and `ratio_2`, `ratio_4`,
        `ratio_6`, each `(batch,)`."""
        amps = dx7_level_to_amplitude(torch.stack([physical[f"level_{i + 1}"] for i in range(6)], 1))
        ratios = torch.stack([physical[f"ratio_{i + 1}"] for i in MODULATORS], 1)
        return fm_render(
            carrier_amp=amps[:, list(CARRIERS)],
            mod_index=self.max_mod_index * amps[:, list(MODULATORS)],
            mod_ratio=ratios,
            f0=self.f0,
            sample_rate=self.sample_rate,
            n_samples=n_samples,
        )

    def equivalent_permutations(self) -> list[list[int]]:
        """Control index lists of the 6 orderings of the pairs (`itertools.permutations` order,
        identity first): `controls[:, p]` sounds the same."""
        index = torch.arange(self.n_params).unsqueeze(0)
        return [self.permute_branches(index, order)[0].tolist() for order in itertools.permutations(range(3))]

    def permute_branches(self, controls: torch.Tensor, order: tuple[int, int, int]) -> torch.Tensor:
        """Reorder the three (carrier level, modulator level, ratio) pairs; the sound is unchanged.

        Args:
            controls: `(batch, 9)`.
            order: a permutation of (0, 1, 2); pair k of the result is pair order[k] of the input.
        """
        index = list(range(self.n_params))
        for k, src in enumerate(order):
            for dst_i, src_i in zip(self.branches[k], self.branches[src]):
                index[dst_i] = src_i
        return controls[:, index]


def fm_render(
    carrier_amp: torch.Tensor,
    mod_index: torch.Tensor,
    mod_ratio: torch.Tensor,
    f0: float,
    sample_rate: float,
    n_samples: int,
) -> torch.Tensor:
    """Sum of parallel two-operator FM pairs, with float64-exact phases.

    Args:
        carrier_amp: `(batch, pairs)` linear amplitudes of the carriers.
        mod_index: `(batch, pairs)` modulation indices in radians.
        mod_ratio: `(batch, pairs)` modulator frequency ratios (to f0).
        f0: carrier frequency in Hz; sample_rate in Hz.

    Returns:
        `(batch, n_samples)` audio.
    """
    unit_ratio = torch.ones((), dtype=mod_ratio.dtype, device=mod_ratio.device)
    carrier_phase = oscillator_phase(unit_ratio, f0, sample_rate, n_samples)
    modulator = torch.sin(oscillator_phase(mod_ratio, f0, sample_rate, n_samples))  # (batch, pairs, n)
    carrier = torch.sin(carrier_phase + mod_index.unsqueeze(-1) * modulator)
    return torch.einsum("bp,bpn->bn", carrier_amp, carrier)
