"""FM synth benchmarks: render speed against a per-operator reference, posterior sampling, training steps."""

from __future__ import annotations

import math

import torch

from ddspfx.synths import FMSynth
from ddspfx.synths.fm import dx7_level_to_amplitude

from .common import REPO_ROOT, Row, forward_backward, milliseconds, real_time, timeit

HEADS = ["gauss_l2", "mog_full_k6_l1", "mog_unif_k24_l1"]


def fm_reference(synth: FMSynth, controls: torch.Tensor) -> torch.Tensor:
    """Plain per-operator FM: one float32 running phase (cumulative sum) per operator, as in DDX7."""
    phys = synth.denormalize(controls)
    n = synth.n_samples
    out = torch.zeros(controls.shape[0], n, device=controls.device)
    for carrier, modulator in ((1, 2), (3, 4), (5, 6)):
        ratio = phys[f"ratio_{modulator}"].unsqueeze(-1)
        increment = (2 * math.pi * synth.f0 / synth.sample_rate) * torch.ones(controls.shape[0], n, device=controls.device)
        mod_phase = torch.cumsum(increment * ratio, dim=-1) - increment * ratio
        car_phase = torch.cumsum(increment, dim=-1) - increment
        mod_amp = synth.max_mod_index * dx7_level_to_amplitude(phys[f"level_{modulator}"]).unsqueeze(-1)
        car_amp = dx7_level_to_amplitude(phys[f"level_{carrier}"]).unsqueeze(-1)
        out = out + car_amp * torch.sin(car_phase + mod_amp * torch.sin(mod_phase))
    return out


def bench_fm(device: torch.device, repeats: int) -> list[Row]:
    """FM render at batch 64 × 0.5 s: real-time factors and ratio to the per-operator reference."""
    synth = FMSynth(duration=0.5).to(device)
    controls = torch.rand(64, 9, generator=torch.Generator().manual_seed(0)).to(device)
    audio_seconds = controls.shape[0] * synth.duration
    with torch.no_grad():
        ours = timeit(lambda: synth(controls), repeats, device)
        ref = timeit(lambda: fm_reference(synth, controls), repeats, device)
    rows = [Row("FM render, forward (64 × 0.5 s)", real_time(audio_seconds, ours), milliseconds(ours), f"{ref / ours:.2f}")]
    ours = timeit(forward_backward(synth, controls), repeats, device)
    ref = timeit(forward_backward(lambda c: fm_reference(synth, c), controls), repeats, device)
    rows.append(Row("FM render, forward+backward", real_time(audio_seconds, ours), milliseconds(ours), f"{ref / ours:.2f}"))
    return rows


def build_fm_task(experiment: str | None, device: torch.device):
    """The FM task of `conf/fm.yaml` (with `experiment=fm/<experiment>` if given), on `device`."""
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate

    overrides = [f"experiment=fm/{experiment}"] if experiment else []
    with initialize_config_dir(config_dir=str(REPO_ROOT / "conf"), version_base="1.3"):
        cfg = compose(config_name="fm", overrides=overrides)
    return instantiate(cfg.task).to(device)


def bench_fm_training(device: torch.device, steps: int, experiments: list[str]) -> list[Row]:
    """Training steps/s of FM models (batch 32 × 0.5 s, SOT + 0.05 MR-STFT) per head."""
    rows = []
    for experiment in experiments:
        task = build_fm_task(experiment, device)
        optimizer = torch.optim.AdamW(task.parameters(), lr=1e-4)
        generator = torch.Generator().manual_seed(0)

        def step():
            batch = {k: v.to(device) for k, v in task.train_batch(32, generator).items()}
            loss = task(batch)["loss"]
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

        seconds = timeit(step, steps, device)
        rows.append(Row(f"FM training step, {experiment} (bs 32)", f"{1 / seconds:.2f} steps/s", milliseconds(seconds, 0)))
    return rows


def bench_posterior_sampling(device: torch.device, repeats: int, experiments: list[str]) -> list[Row]:
    """Posterior samples/s (with log-densities) for K = 10,000 samples at one input."""
    rows = []
    for experiment in experiments:
        task = build_fm_task(experiment, device).eval()
        controls = torch.rand(1, 9, generator=torch.Generator().manual_seed(0)).to(device)
        with torch.no_grad():
            embedding = task.encoder(task.render(controls))
            seconds = timeit(lambda: task.head.sample_and_log_prob(embedding, 10_000), repeats, device)
        name = f"posterior sampling, {experiment} (K = 10,000)"
        rows.append(Row(name, f"{10_000 / seconds:,.0f} samples/s", milliseconds(seconds, 0)))
    return rows


def run(device: torch.device, quick: bool) -> list[Row]:
    """All FM rows: render, posterior sampling per head, a training step per head (and `deter`)."""
    repeats = 3 if quick else 15
    rows = bench_fm(device, repeats)
    rows += bench_posterior_sampling(device, repeats, HEADS)
    rows += bench_fm_training(device, 3 if quick else 10, ["deter", *HEADS])
    return rows
