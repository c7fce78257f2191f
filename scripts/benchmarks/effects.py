"""Audio-effect benchmarks at batch 16 × 4 s, 44.1 kHz, forward+backward (gradients w.r.t. controls).

- ParametricEQ by frequency sampling against the same biquad cascade through torchaudio's lfilter.
- The exact Compressor against the obvious per-sample attack/release loop recorded by autograd; that
  loop is timed on a short excerpt and extrapolated linearly (its cost per sample does not depend on
  the length). Goal: ≥ 300× real time on a 2-core CPU.
- On a device other than the CPU (`--device cuda`), also the Compressor's device path (torch scans,
  the default there) against the CPU kernel with its round trip (`backend="numba"`, what CUDA audio
  took before the scan path existed).
"""

from __future__ import annotations

import warnings

import torch

from ddspfx.dsp.dynamics import amplitude_to_db, db_to_amplitude, gain_reduction
from ddspfx.dsp.filters import lfilter_cascade
from ddspfx.dsp.recursive import time_constant_to_alpha
from ddspfx.effects.dynamics import LEVEL_FLOOR, Compressor
from ddspfx.effects.eq import ParametricEQ

from .common import Row, forward_backward, milliseconds, real_time, timeit

SAMPLE_RATE, SECONDS, BATCH = 44100, 4.0, 16
SHAPE = f"{BATCH} × {SECONDS:g} s, {SAMPLE_RATE / 1000:g} kHz"
COMPRESSOR_EXCERPT = 2000  # samples of the per-sample reference loop actually timed


def bench_peq(device: torch.device, repeats: int) -> list[Row]:
    """ParametricEQ forward+backward: our row, then the reference's own row (speed-up 1.00).

    Ours: the default frequency-sampling path. Reference: the same 5-biquad cascade (same
    coefficients, cast to float32) through `torchaudio.functional.lfilter`, section after section.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the high shelf's range is narrowed at 44.1 kHz
        eq = ParametricEQ(SAMPLE_RATE, method="fsm").to(device)
    generator = torch.Generator().manual_seed(0)
    audio = (0.1 * torch.randn(BATCH, int(SECONDS * SAMPLE_RATE), generator=generator)).to(device)
    controls = torch.rand(BATCH, eq.n_params, generator=generator).to(device)

    def reference(c: torch.Tensor) -> torch.Tensor:
        b, a = eq.coefficients(c)
        return lfilter_cascade(audio, b.float(), a.float())

    ours = timeit(forward_backward(lambda c: eq(audio, c), controls), repeats, device)
    ref = timeit(forward_backward(reference, controls), repeats, device)
    ours_name = f"ParametricEQ fwd+bwd, frequency sampling ({SHAPE})"
    ref_name = "ParametricEQ fwd+bwd, reference: torchaudio lfilter cascade (float32)"
    return [
        Row(ours_name, real_time(BATCH * SECONDS, ours), milliseconds(ours), f"{ref / ours:.2f}"),
        Row(ref_name, real_time(BATCH * SECONDS, ref), milliseconds(ref), "1.00"),
    ]


def reference_compressor(compressor: Compressor, audio: torch.Tensor, controls: torch.Tensor) -> torch.Tensor:
    """The obvious differentiable compressor: vectorized gain computer, per-sample attack/release loop."""
    p = compressor.denormalize(controls)
    column = {name: value.unsqueeze(-1) for name, value in p.items()}
    reduction = gain_reduction(
        amplitude_to_db(audio, LEVEL_FLOOR), column["threshold_db"], column["ratio"], column["knee_db"]
    )
    alpha_attack = time_constant_to_alpha(p["attack_ms"], compressor.sample_rate)
    alpha_release = time_constant_to_alpha(p["release_ms"], compressor.sample_rate)
    state = torch.zeros_like(alpha_attack)
    smoothed = []
    for n in range(reduction.shape[-1]):
        alpha = torch.where(reduction[:, n] > state, alpha_attack, alpha_release)
        state = alpha * state + (1 - alpha) * reduction[:, n]
        smoothed.append(state)
    return audio * db_to_amplitude(column["makeup_db"] - torch.stack(smoothed, dim=-1))


def bench_compressor(device: torch.device, repeats: int) -> list[Row]:
    """Compressor forward+backward: real-time factor and ratio to the extrapolated per-sample loop."""
    generator = torch.Generator().manual_seed(0)
    n = int(SECONDS * SAMPLE_RATE)
    envelope = torch.rand(BATCH, 1, generator=generator) * torch.linspace(0, 8, n).sin().abs()
    audio = (torch.randn(BATCH, n, generator=generator) * envelope).to(device)
    compressor = Compressor(SAMPLE_RATE).to(device)
    controls = torch.rand(BATCH, compressor.n_params, generator=generator).to(device)

    ours = timeit(forward_backward(lambda c: compressor(audio, c), controls), repeats, device)
    short = audio[:, :COMPRESSOR_EXCERPT].contiguous()
    loop = forward_backward(lambda c: reference_compressor(compressor, short, c), controls)
    ref = timeit(loop, max(1, min(repeats, 3)), device) * (n / COMPRESSOR_EXCERPT)
    name = (
        f"Compressor fwd+bwd, exact ({SHAPE}); reference: per-sample autograd loop "
        f"timed on {COMPRESSOR_EXCERPT:,} samples, extrapolated"
    )
    rows = [Row(name, real_time(BATCH * SECONDS, ours), milliseconds(ours), f"{ref / ours:,.0f}")]
    if device.type != "cpu":
        kernel = Compressor(SAMPLE_RATE, backend="numba").to(device)
        round_trip = timeit(forward_backward(lambda c: kernel(audio, c), controls), repeats, device)
        rows += [
            Row(f"Compressor fwd+bwd, device scan path ({SHAPE})", real_time(BATCH * SECONDS, ours),
                milliseconds(ours), f"{round_trip / ours:.2f}"),
            Row("Compressor fwd+bwd, reference: CPU kernel with the device round trip (backend=numba)",
                real_time(BATCH * SECONDS, round_trip), milliseconds(round_trip), "1.00"),
        ]
    return rows


def run(device: torch.device, quick: bool) -> list[Row]:
    """ParametricEQ and Compressor rows."""
    repeats = 3 if quick else 10
    return bench_peq(device, repeats) + bench_compressor(device, repeats)
