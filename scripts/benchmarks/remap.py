"""Drum timbre remapping benchmarks (reference timbreremap §1, §4.2, §7), 44.1 kHz.

- Snare808 render, forward and forward+backward (gradients w.r.t. the controls) at 16 × 1 s,
  against the reference's formulation written out below (`snare_reference`): cumulative-product
  envelopes, float32 cumulative-sum phases and torchaudio's `lfilter(clamp=True)` for the noise
  high-pass (§1.3). Checked once against Snare808 (`filter_clamp=True`) on the snare_1 preset.
- The 7 target features forward+backward at 16 × 35,328 samples (what a training step computes),
  against the reference's formulation (`features_reference`): per-frame `lfilter` K-weighting
  (two stages, clamp=True), plain `torch.fft.rfft` spectra and a `conv1d` energy envelope for the
  temporal centroid, timed with a third of the repeats (seconds a call on a CPU). Checked once
  against `target_features(clamp=True)`; ours is timed as training runs it (clamp=False), and so
  is Snare808 (filter_clamp=False).
- A training step of the paper MLP (RemapTask, batch 16: forward, backward, Adam) in steps/s, on
  45 s of the virtual drum "maple_14x5" written to a temporary folder.
- The grid (issue "remapping II"): one training step of 30 models of one drum (5 presets × 2
  windows × 3 model types) as one `RemapGridTask` against the 30 `RemapTask` steps one after
  another, in models·steps/s; the speedup column is their time ratio.
- The streaming remapper (`realtime_remap.bench_streaming`): a virtual performance in 64-sample
  blocks on one thread; goal ≥ 50× real time.
- Goal: one paper model trained end to end by the Trainer (conf/remap.yaml's trainer settings,
  250 epochs over the drum's ~60 training hits) in under 2 minutes on a 2-core CPU. With --quick,
  25 epochs are trained and the time is extrapolated × 10. A run still going at 1.5 × the goal
  (180 s; 18 s with --quick) is stopped and extrapolated from the steps done, which keeps the
  group within ~4 minutes (~1 minute with --quick) on a slow machine.

Each ratio times our call and the reference's call in turn (`timeit_pair`), so that a load that
comes and goes on a shared CPU weighs on both.
"""

from __future__ import annotations

import copy
import logging
import math
import tempfile
import threading
import time
import warnings
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
import torchaudio

from ddspfx.data.virtual_drums import write_virtual_drums
from ddspfx.dsp.features import (
    FRAME_SIZE,
    HOP,
    MIN_TARGET_SAMPLES,
    N_FRAMES,
    SUSTAIN,
    TC_FRAME,
    TC_KERNEL,
    TRANSIENT,
    k_weighting_coefficients,
    target_features,
)
from ddspfx.dsp.filters import biquad_coefficients
from ddspfx.data.drums import build_drum_dataset, load_hits
from ddspfx.synths.snare808 import Snare808, load_preset
from ddspfx.tasks.remap import RemapTask
from ddspfx.tasks.remap_grid import RemapGridTask

from .common import Row, forward_backward, milliseconds, real_time, time_call, timeit

SAMPLE_RATE, SECONDS, BATCH = 44100, 1.0, 16
PRESET = "snare_1"
DRUM, DRUM_SECONDS = "maple_14x5", 45.0
EPOCHS, GOAL_SECONDS = 250, 120.0
# conf/remap.yaml's trainer node (on top of conf/trainer/default.yaml), without media and progress bar
TRAINER = {
    "seed": 0,
    "steps_per_epoch": None,  # one pass over the training hits
    "batch_size": 16,
    "valid_batch_size": 64,
    "grad_clip": None,
    "optimizer": {"_target_": "torch.optim.Adam", "_partial_": True, "lr": 5e-4, "weight_decay": 0.0},
    "scheduler": {"_target_": "torch.optim.lr_scheduler.ReduceLROnPlateau", "_partial_": True,
                  "factor": 0.5, "patience": 20},
    "log_every": 10,
    "media_every": None,
    "progress": False,
}
GRID = {"presets": ["snare_1", "snare_2", "snare_3", "open_snare", "noisy_snare"], "windows": [256, 2048],
        "models": ["linear", "mlp", "mlp_lrg"]}  # 30 models of one drum
FLATTOP = (0.21557895, 0.41663158, 0.277263158, 0.083578947, 0.006947368)


# ----------------------------------------------------------------------------------------------
# The reference's formulations


def envelope_reference(decay_ms: torch.Tensor, n: int, sample_rate: int) -> torch.Tensor:
    """§1.2: linear attack over int(0.001·sr) samples, then the cumulative product of [1, r, r, …]."""
    attack = int(0.001 * sample_rate)
    r = 1 - 6.91 / (decay_ms * sample_rate / 1000)
    ramp = ((torch.arange(attack, device=r.device) + 1) / attack).to(r.dtype).expand(r.shape[0], attack)
    ratios = torch.cat([torch.ones_like(r).unsqueeze(-1), r.unsqueeze(-1).expand(-1, n - attack - 1)], dim=-1)
    return torch.cat([ramp, torch.cumprod(ratios, dim=-1)], dim=-1)


def snare_reference(synth: Snare808, controls: torch.Tensor) -> torch.Tensor:
    """§1.3 in float32: cumprod envelopes, exclusive cumsum phases, lfilter(clamp=True) high-pass."""
    p = synth.denormalize(controls)
    sr, n = synth.sample_rate, synth.n_samples
    gains = ("osc1_gain.gain", "osc2_gain.gain", "noise_gain.gain", "tanh.in_gain")
    gain = {k: torch.pow(10.0, p[k] / 20).unsqueeze(-1) for k in gains}
    pitch = envelope_reference(p["freq_env.decay"], n, sr)
    tone = 0.0
    for osc in ("osc1", "osc2"):
        increment = (2 * math.pi / sr) * p[f"{osc}.freq"].unsqueeze(-1) * (1 + p[f"{osc}.mod"].unsqueeze(-1) * pitch)
        phase = torch.cumsum(increment, dim=-1) - increment
        tone = tone + gain[f"{osc}_gain.gain"] * torch.sin(phase) * envelope_reference(p[f"{osc}_env.decay"], n, sr)
    noise = synth.noise_signal(controls.shape[0], n, controls.dtype, controls.device)
    noise = noise * envelope_reference(p["noise_env.decay"], n, sr)
    b, a = biquad_coefficients("high_pass", p["noise_filter.freq"], 0.0, p["noise_filter.q"], sr)
    filtered = torchaudio.functional.lfilter(noise, a.to(noise.dtype), b.to(noise.dtype), clamp=True, batching=True)
    return torch.tanh(gain["tanh.in_gain"] * (tone + gain["noise_gain.gain"] * filtered))


def features_reference(audio: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """The 7 target features of §4.2 the reference's way → `(batch, 7)`."""
    frames = audio[:, :MIN_TARGET_SAMPLES].unfold(-1, FRAME_SIZE, HOP)  # (batch, 66, 2048)
    flat = frames.reshape(-1, FRAME_SIZE)
    # loudness: K-weighting per frame, torchaudio lfilter per stage with its default clamp=True
    b, a = k_weighting_coefficients(sample_rate)
    weighted = flat
    for stage in range(b.shape[0]):
        weighted = torchaudio.functional.lfilter(
            weighted, a[stage].to(audio.dtype).to(audio.device), b[stage].to(audio.dtype).to(audio.device), clamp=True
        )
    spl = -0.691 + 10 * torch.log10(weighted.square().mean(-1) + 1e-8)
    # spectral centroid: symmetric flat-top, |X| floored at 1e-4, ln(1 + |X|), L1-normalized, Kazazis
    n = torch.arange(FRAME_SIZE, dtype=audio.dtype, device=audio.device)
    window = sum((-1) ** k * c * torch.cos(2 * math.pi * k * n / (FRAME_SIZE - 1)) for k, c in enumerate(FLATTOP))
    magnitude = torch.log1p(torch.fft.rfft(flat * window).abs().clamp(min=1e-4))
    weights = magnitude / (magnitude.sum(-1, keepdim=True) + 1e-12)
    bins = torch.arange(magnitude.shape[-1], dtype=audio.dtype, device=audio.device)
    hz = (weights * bins).sum(-1) * sample_rate / FRAME_SIZE
    centroid = -34.61 * hz.clamp(min=1e-3) ** -0.1621 + 21.2985
    # spectral flatness: periodic Hann, P = max(|X|², 1e-10), 20·log10(gmean / mean + 1e-8)
    hann = torch.hann_window(FRAME_SIZE, dtype=audio.dtype, device=audio.device)
    power = torch.fft.rfft(flat * hann).abs().square().clamp(min=1e-10)
    flatness = 20 * torch.log10(torch.exp(torch.log(power).mean(-1)) / power.mean(-1) + 1e-8)
    columns = []
    for values in (spl, centroid, flatness):
        values = values.reshape(audio.shape[0], N_FRAMES)
        for start, count in (TRANSIENT, SUSTAIN):
            columns.append(values[:, start : start + count].mean(-1))
    # temporal centroid: e = conv1d(x², periodic Hann 2048, padding "same"), Schlauch scale
    # (padding "same" with an even kernel: (kernel − 1) // 2 zeros on the left, the rest on the right)
    energy = F.pad(audio[:, :TC_FRAME].square().unsqueeze(1), ((TC_KERNEL - 1) // 2, TC_KERNEL // 2))
    kernel = torch.hann_window(TC_KERNEL, dtype=audio.dtype, device=audio.device).view(1, 1, -1)
    envelope = F.conv1d(energy, kernel).squeeze(1)
    index = torch.arange(TC_FRAME, dtype=audio.dtype, device=audio.device)
    tc_ms = (envelope * index).sum(-1) / (envelope.sum(-1) + 1e-8) / sample_rate * 1000
    columns.append(0.03 * tc_ms.clamp(min=0) ** 1.864)
    return torch.stack(columns, dim=-1)


# ----------------------------------------------------------------------------------------------
# Rows


def timeit_pair(
    ours: Callable[[], object], reference: Callable[[], object], repeats: int, device: torch.device,
    reference_repeats: int | None = None,
) -> tuple[float, float]:
    """Median wall times of `ours` and `reference` (as `common.timeit`: one warm-up call each),
    their calls interleaved so that a load that comes and goes on a shared machine weighs on both
    alike; `reference_repeats` (default `repeats`) may be fewer for a slow reference."""
    reference_repeats = repeats if reference_repeats is None else reference_repeats
    ours(), reference()
    times: tuple[list[float], list[float]] = ([], [])
    for i in range(max(repeats, reference_repeats)):
        if i < repeats:
            times[0].append(time_call(ours, device))
        if i < reference_repeats:
            times[1].append(time_call(reference, device))
    return tuple(sorted(t)[len(t) // 2] for t in times)


def preset_controls(device: torch.device) -> torch.Tensor:
    """16 control vectors around the snare_1 preset (± 0.1, as a trained mapping moves them)."""
    preset, _ = load_preset(PRESET, SAMPLE_RATE)
    jitter = 0.1 * (2 * torch.rand(BATCH, preset.shape[0], generator=torch.Generator().manual_seed(0)) - 1)
    return (preset + jitter).clamp(0, 1).to(device)


def bench_render(device: torch.device, repeats: int) -> list[Row]:
    """Snare808 at 16 × 1 s: forward and forward+backward, against `snare_reference`."""
    synth = Snare808(SAMPLE_RATE, SECONDS).to(device)
    with torch.no_grad():  # the reference clips the high-pass output: compare with filter_clamp=True
        preset, _ = load_preset(PRESET, SAMPLE_RATE)
        clamped = Snare808(SAMPLE_RATE, SECONDS, filter_clamp=True).to(device)
        error = (snare_reference(synth, preset[None].to(device)) - clamped(preset[None].to(device))).abs().max().item()
    assert error < 1e-3, f"the reference Snare808 formulation is off by {error:.2e} on {PRESET}"
    controls = preset_controls(device)
    audio_seconds = BATCH * SECONDS
    with torch.no_grad():
        ours, ref = timeit_pair(lambda: synth(controls), lambda: snare_reference(synth, controls), repeats, device)
    shape = f"{BATCH} × {SECONDS:g} s, {SAMPLE_RATE / 1000:g} kHz"
    name = (f"Snare808 render, forward ({shape}); reference: cumprod envelopes, float32 cumsum phases, "
            "lfilter high-pass")
    rows = [Row(name, real_time(audio_seconds, ours), milliseconds(ours), f"{ref / ours:.2f}")]
    reference = forward_backward(lambda c: snare_reference(synth, c), controls)
    ours, ref = timeit_pair(forward_backward(synth, controls), reference, repeats, device)
    name = "Snare808 render, forward+backward (gradients w.r.t. the controls)"
    rows.append(Row(name, real_time(audio_seconds, ours), milliseconds(ours), f"{ref / ours:.2f}"))
    return rows


def bench_features(device: torch.device, repeats: int) -> list[Row]:
    """The 7 target features forward+backward at 16 × 35,328 samples, against `features_reference`."""
    synth = Snare808(SAMPLE_RATE, SECONDS).to(device)
    with torch.no_grad():
        audio = synth(preset_controls(device), n_samples=MIN_TARGET_SAMPLES)
        ours = target_features(audio, SAMPLE_RATE, clamp=True)
        error = (features_reference(audio, SAMPLE_RATE) - ours).abs().max().item()
    assert error < 1e-3, f"the reference target-feature formulation is off by {error:.2e}"
    ours, ref = timeit_pair(
        forward_backward(lambda x: target_features(x, SAMPLE_RATE), audio),
        forward_backward(lambda x: features_reference(x, SAMPLE_RATE), audio),
        repeats, device, reference_repeats=max(1, repeats // 3),
    )
    name = (f"7 target features, forward+backward ({BATCH} × {MIN_TARGET_SAMPLES:,} samples); reference: "
            "per-frame lfilter K-weighting, rfft spectra, conv1d envelope")
    return [Row(name, real_time(audio.numel() / SAMPLE_RATE, ours), milliseconds(ours), f"{ref / ours:.2f}")]


def build_task(root: Path):
    """The paper MLP's RemapTask (conf/remap.yaml defaults) on the drum under `root`."""
    synth = Snare808(SAMPLE_RATE, SECONDS)
    return RemapTask(synth, preset=PRESET, model="mlp", data={"root": str(root), "drum": DRUM})


def bench_training_step(task, device: torch.device, steps: int) -> list[Row]:
    """One training step of the paper MLP (batch 16): forward, backward, Adam step."""
    task = task.to(device)
    optimizer = torch.optim.Adam(task.trainable_parameters(), lr=5e-4)
    generator = torch.Generator().manual_seed(0)

    def step():
        batch = {k: v.to(device) for k, v in task.train_batch(TRAINER["batch_size"], generator).items()}
        loss = task(batch)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    seconds = timeit(step, steps, device)
    hits = len(task.dataset.splits["train"])
    name = f"remap training step, paper MLP (bs 16, {DRUM}: {hits} training hits)"
    return [Row(name, f"{1 / seconds:.2f} steps/s", milliseconds(seconds, 0))]


def bench_training_run(task, device: torch.device, epochs: int) -> list[Row]:
    """The goal row: the Trainer's wall time for `EPOCHS` epochs, measured on `epochs` and scaled.

    The run is stopped (`Trainer.request_stop`) once it has taken 1.5 × the goal's share of
    `epochs`, so a slow machine does not stretch the benchmark: the time is then extrapolated from
    the steps done (the goal is not met either way).
    """
    from ddspfx.train import Trainer

    limit = 1.5 * GOAL_SECONDS * epochs / EPOCHS
    trainer_log = logging.getLogger("ddspfx.train.trainer")
    level = trainer_log.level
    with tempfile.TemporaryDirectory(prefix="bench_remap_run_") as run_dir, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer_log.setLevel(logging.ERROR)  # no "stop requested" warning when the limit stops the run
        timer = None
        try:
            start = time.perf_counter()
            trainer = Trainer(task, {**TRAINER, "epochs": epochs, "device": str(device)}, run_dir)
            timer = threading.Timer(limit, trainer.request_stop)
            timer.start()
            summary = trainer.fit()
            seconds = time.perf_counter() - start
        finally:
            if timer is not None:
                timer.cancel()
            trainer_log.setLevel(level)
    done = summary["epoch"] + summary["epoch_step"] / trainer.steps_per_epoch
    seconds *= EPOCHS / done
    hits = sum(len(task.dataset.splits[s]) for s in ("train", "valid", "test"))
    if summary["status"] == "finished" and epochs == EPOCHS:
        how = ""
    elif summary["status"] == "finished":
        how = f", timed on {epochs} epochs and extrapolated × {EPOCHS / epochs:g}"
    else:
        how = f", stopped at the {limit:.0f} s limit after {done:.1f} epochs and extrapolated"
    name = (f"GOAL: one paper model trained end to end by the Trainer ({EPOCHS} epochs, {DRUM}: {hits} hits, "
            f"{trainer.steps_per_epoch} steps/epoch + validation + checkpoints{how})")
    verdict = "met" if seconds < GOAL_SECONDS else "not met"
    return [Row(name, f"goal < {GOAL_SECONDS:.0f} s: {verdict}", f"{seconds:.1f} s")]


def grid_and_singles(root: Path) -> tuple[RemapGridTask, list[RemapTask]]:
    """The 30 models of one drum (5 presets × windows 256 and 2048 × linear, mlp, mlp_lrg) as
    one grid and as 30 single tasks."""
    hits = load_hits(Path(root) / DRUM, SAMPLE_RATE)
    datasets = {(DRUM, w): build_drum_dataset(hits, window=w, seed=0) for w in (256, 2048)}
    grid = RemapGridTask(Snare808(SAMPLE_RATE), GRID, init_seed=0, datasets=datasets)
    singles = [RemapTask(Snare808(SAMPLE_RATE), preset=c.preset, model=c.model, window=c.window, init_seed=0,
                         dataset=datasets[c.drum, c.window]) for c in grid.cells]
    return grid, singles


def training_step(task, device: torch.device, batch_size: int = 16) -> Callable[[], None]:
    """One training step of `task` (a batch, forward, backward, Adam) as the Trainer takes it."""
    task = task.to(device)
    optimizer = torch.optim.Adam(task.parameters(), lr=5e-4)
    generator = torch.Generator().manual_seed(0)
    task.epoch_steps(batch_size)

    def step():
        if hasattr(task, "position"):
            task.position.fill_(0)  # every member active, as at an epoch's start
        batch = {k: v.to(device) if torch.is_tensor(v) else v for k, v in task.train_batch(batch_size, generator).items()}
        task(batch)["loss"].sum().backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return step


def bench_grid(root: Path, device: torch.device, repeats: int) -> list[Row]:
    """A step of 30 models as one grid against 30 single-model steps one after another."""
    grid, singles = grid_and_singles(root)
    grid_step = training_step(grid, device)
    single_steps = [training_step(task, device) for task in singles]
    ours = timeit(grid_step, repeats, device)
    ref = timeit(lambda: [step() for step in single_steps], repeats, device)
    name = f"remap grid: {grid.members} models × batch 16, one training step (vs the models one after another)"
    return [Row(name, f"{grid.members / ours:.1f} models·steps/s", milliseconds(ours, 0), f"{ref / ours:.2f}")]


def bench_stream(quick: bool) -> list[Row]:
    """The streaming remapper (`scripts/benchmarks/realtime_remap.py`): 64-sample blocks, one thread."""
    from .realtime_remap import bench_streaming

    result = bench_streaming(seconds=5.0 if quick else 10.0, block=64, repeats=2 if quick else 3)
    verdict = "met" if result["real_time_factor"] >= result["goal"] else "not met"
    name = (f"streaming remapper, 64-sample blocks, 1 thread ({result['hits']} hits in {result['seconds']:g} s; "
            f"{result['render_ms']:.1f} ms per hit render)")
    return [Row(name, f"{result['real_time_factor']:.0f}× RT", f"{result['wall_s'] * 1e3:.0f} ms",
                f"goal ≥ {result['goal']:.0f}× RT: {verdict}")]


def run(device: torch.device, quick: bool) -> list[Row]:
    """Snare808 render, target features, a training step, the 250-epoch training run, the grid
    and the streaming remapper."""
    repeats = 3 if quick else 10
    rows = bench_render(device, repeats) + bench_features(device, repeats)
    with tempfile.TemporaryDirectory(prefix="bench_remap_drums_") as root:
        write_virtual_drums(root, seconds=DRUM_SECONDS, seed=0, sample_rate=SAMPLE_RATE, drums=[DRUM])
        task = build_task(Path(root))
        rows += bench_grid(Path(root), device, 1 if quick else 3)
    fresh = copy.deepcopy(task)  # untrained, for the Trainer
    rows += bench_training_step(task, device, 3 if quick else 10)
    rows += bench_training_run(fresh, device, EPOCHS // 10 if quick else EPOCHS)
    return rows + bench_stream(quick)
