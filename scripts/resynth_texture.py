"""Resynthesize a recording with a trained TexDSP texture model (reference textures §4.6).

    python scripts/resynth_texture.py in.wav out.wav run=<run dir> [checkpoint=auto|best|last]
        [loudness=specific|generic|none] [seed=0] [device=auto|cpu|cuda|cuda:N]

`run` is a folder written by `train_texture.py` (as for `evaluate.py run=...`); checkpoint=auto
takes checkpoints/best.pt, else last.pt. The input may have any length, sample rate and channel
count (wav, flac, ogg): channels are mixed to mono by their mean and the signal is resampled to the
model's rate (said once). The output is written as a float32 wav at the model's rate, exactly as
long as the input at that rate; nothing else is written.

Timbre transfer: run a model trained on one texture on a recording of another (e.g. a rain model on
a fire recording). The input's frame features drive the model's synth, and the output follows the
input's level; loudness=specific also imposes the input's ERB band energies (its spectral
envelope), loudness=generic only its overall level, so more of the model's texture remains.

How (n = the model's frame, hop = n/2, L = the input's length at the model's rate):

1. The input is padded with n/2 zeros in front and zeros behind, and cut into J = 1 + ⌈L/hop⌉
   frames j at j·hop: every input sample lies in exactly two frames (an input shorter than a frame
   is zero-padded in the same way).
2. Each frame is z-normalized (as the task normalizes its training excerpts), its features go to
   the model, and the GRU state is carried from frame to frame over the whole file. The model was
   trained on excerpts of consecutive, non-overlapping frames, so the frames are run as two
   interleaved sequences that each step by a whole frame, as in training: the even frames
   (0, 2, 4, …) and the odd frames (1, 3, 5, …), each with its own state.
3. The level is imposed per frame on the synth (`TexEnvSynth`, §2.2), measured on the input frame
   before normalization: loudness=generic, its L2 norm; loudness=specific (default, the paper's
   setting for every texture), the L2 norms of its ERB subbands; loudness=none, no imposition:
   the model's own level for the normalized frame, times the frame's standard deviation (undoing
   the normalization). In all three the measure is scaled by √(n/m), m the frame's samples inside
   the input, so that padding does not count as quiet: a synthesized frame has the per-sample level
   of the input samples it covers.
4. Each synthesized frame (frame-periodic) is rolled circularly by a random offset U{0, …, n−1}
   (torch.Generator seeded by `seed`, one offset per frame): it hides that every frame uses the same
   fixed noise carriers (§4.6, §7).
5. Windowed by the periodic Hann window w(t) = sin²(πt/n), whose copies at a hop of n/2 sum to one
   (w(t) + w(t + n/2) = 1), and overlap-added; the samples of the input's span are kept.
   Neighbouring synthesized frames are uncorrelated noise, so the cross-fade's power dips between
   frame centres (w² + (1 − w)², 1/2 at the dip, 3/4 on average: the output's RMS is ≈ 0.87 of the
   input's, with a ripple of period hop; 0.8–1.1 per second on 60 s of the synthetic rain).

The reference also peak-normalized its output and had an optional envelope follower and "audio
improver"; neither is done here (the level follows the input). Errors (a missing or unreadable
file, a folder that is not a texture run, a bad setting) are one line on stderr, exit status 2.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import NamedTuple

import numpy as np
import soundfile as sf
import torch
from omegaconf import DictConfig

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ddspfx.core.checkpoint import CheckpointError  # noqa: E402
from ddspfx.core.devices import resolve_device  # noqa: E402
from ddspfx.core.files import write_atomically  # noqa: E402
from ddspfx.core.console import script_status  # noqa: E402
from ddspfx.data.audio import load_recording, probe_audio  # noqa: E402
from ddspfx.eval.runner import NotARunError, load_run_config, load_task  # noqa: E402

PROG = "resynth_texture.py"
LOUDNESS = ("specific", "generic", "none")
CHECKPOINTS = ("auto", "best", "last")
SETTINGS = {"run": None, "checkpoint": "auto", "loudness": "specific", "seed": "0", "device": "auto"}
CHUNK = 16  # frames per model call and sequence (bounds memory: CHUNK · n_carriers · n floats)
TEXTURE_TASK = "ddspfx.tasks.texture.TextureTask"


class UsageError(ValueError):
    """A bad command line, a missing file, a folder that is not a texture run."""


class Settings(NamedTuple):
    """The command line, checked."""

    input: Path
    output: Path
    run: Path
    checkpoint: str = "auto"
    loudness: str = "specific"
    seed: int = 0
    device: str = "auto"


def parse_args(argv: list[str] | None = None) -> Settings:
    """`in out key=value …` (keys: run, checkpoint, loudness, seed, device) → Settings."""
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("input", help="the recording to resynthesize (wav, flac, ogg)")
    parser.add_argument("output", help="the wav file to write (float32, the model's rate)")
    parser.add_argument("settings", nargs="*", metavar="key=value",
                        help="run=<run dir> (required), checkpoint=auto|best|last, loudness=specific|generic|none, "
                             "seed=0, device=auto")
    args = parser.parse_args(argv)
    values = dict(SETTINGS)
    for item in args.settings:
        key, sep, value = item.partition("=")
        if not sep or key not in SETTINGS:
            raise UsageError(f"unknown setting {item!r}: give key=value with key among {', '.join(SETTINGS)}")
        values[key] = value
    if not values["run"]:
        raise UsageError("run=<run dir> is required (a folder written by train_texture.py)")
    if values["checkpoint"] not in CHECKPOINTS:
        raise UsageError(f"checkpoint={values['checkpoint']!r}: choose among {', '.join(CHECKPOINTS)}")
    if values["loudness"] not in LOUDNESS:
        raise UsageError(f"loudness={values['loudness']!r}: choose among {', '.join(LOUDNESS)}")
    try:
        seed = int(values["seed"])
    except ValueError:
        raise UsageError(f"seed={values['seed']!r} is not an integer") from None
    return Settings(Path(args.input), Path(args.output), Path(values["run"]), values["checkpoint"],
                    values["loudness"], seed, values["device"])


def load_texture_model(run: Path, checkpoint: str = "auto", device: str = "auto"):
    """The trained `TextureTask` of a run folder (eval mode, on `device`), without its data: the
    training recordings are not read (`excerpts={}`). Raises UsageError for a folder that is not a
    texture run."""
    config = load_run_config(run)  # NotARunError: no folder, no .hydra/config.yaml
    task_config = config.get("task", None)
    target = task_config.get("_target_", None) if isinstance(task_config, DictConfig) else None
    if target != TEXTURE_TASK:
        kind = config.get("task_name", None) or target or "unknown"
        raise UsageError(f"{run} is a {kind!r} run, not a texture run (train one with train_texture.py)")
    task, path = load_task(run, checkpoint, device, overrides={"task": {"excerpts": {}}})
    return task, path


def frame_signal(audio: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Frames `(J, n)` of `audio (L,)` at hop n/2 after n/2 zeros in front (J = 1 + ⌈L/hop⌉; zeros
    behind), and the count of input samples in each frame `(J,)` (≥ 1)."""
    hop, length = n // 2, audio.shape[-1]
    count = 1 + -(-length // hop)
    padded = audio.new_zeros((count + 1) * hop)
    padded[hop : hop + length] = audio
    starts = torch.arange(count) * hop - hop  # frame j spans [start, start + n) of the input
    inside = (starts + n).clamp(max=length) - starts.clamp(min=0)
    return padded.unfold(0, n, hop), inside


@torch.no_grad()
def resynthesize(task, audio: torch.Tensor, loudness: str = "specific", seed: int = 0) -> torch.Tensor:
    """The model's resynthesis of `audio (L,)` (at the model's rate) → `(L,)` float32 on the CPU
    (module docstring, steps 1–5), computed on the task's device."""
    from ddspfx.tasks.texture import normalize_excerpts

    synth = task.synth
    if getattr(task, "model", "texdsp") == "pvae" and loudness != "none":
        raise UsageError(f"loudness={loudness}: a P-VAE run has no level imposition (its synth is not TexEnv); "
                         "pass loudness=none")
    n = int(synth.n_samples)
    if n % 2:
        raise UsageError(f"the model's frame has an odd length ({n} samples): a hop of n/2 needs an even frame")
    hop, length = n // 2, audio.shape[-1]
    device = next(iter(task.buffers())).device
    frames, inside = frame_signal(audio.to(torch.float32), n)
    count = frames.shape[0]
    level = torch.sqrt(n / inside.to(torch.float64)).to(torch.float32)  # padding is not quiet
    offsets = torch.randint(0, n, (count,), generator=torch.Generator().manual_seed(int(seed)))
    window = torch.hann_window(n, periodic=True, dtype=torch.float32)
    blocks = torch.zeros(count + 1, hop)  # the padded signal in blocks of hop samples
    time = torch.arange(n)
    for chain in (0, 1):  # even and odd frames: two sequences of non-overlapping frames (step 2)
        state = None
        indices = torch.arange(chain, count, 2)
        for chunk in indices.split(CHUNK):
            raw = frames[chunk].to(device)
            scale = level[chunk].to(device)
            model_input = normalize_excerpts(raw.unsqueeze(1)).view(1, *raw.shape)  # per frame → (1, c, n)
            if loudness == "none":
                out, state = task.resynthesize_frames(model_input, state)
                out = out[0] * (raw.std(dim=-1) * scale).unsqueeze(-1)
            else:
                target = synth.target_loudness(raw, loudness)
                target = target * (scale if loudness == "generic" else scale.unsqueeze(-1))
                out, state = task.resynthesize_frames(model_input, state, loudness, target.unsqueeze(0))
                out = out[0]
            out = out.float().cpu()
            rolled = out.gather(-1, (time - offsets[chunk].unsqueeze(-1)) % n)  # torch.roll by each offset
            overlap_add(blocks, chunk, rolled * window)
    return blocks.flatten()[hop : hop + length].contiguous()


def overlap_add(blocks: torch.Tensor, index: torch.Tensor, frames: torch.Tensor) -> None:
    """Add frames `(c, n)` of indices `index (c,)` (frame j starts at j·n/2) into `blocks`
    `(J + 1, n/2)`, the output signal cut in blocks of a hop, in place."""
    hop = blocks.shape[-1]
    blocks.index_add_(0, index, frames[:, :hop])
    blocks.index_add_(0, index + 1, frames[:, hop:])


def write_wav(path: Path, audio: torch.Tensor, sample_rate: int) -> None:
    """Float32 mono wav, written to a temporary file beside `path` and moved into place."""
    write_atomically(path, lambda temp: sf.write(str(temp), audio.numpy().astype(np.float32), int(sample_rate),
                                                 format="WAV", subtype="FLOAT"))


def run(settings: Settings) -> Path:
    """Check the files, load the model and the input, resynthesize, write. Returns the output path."""
    if not settings.input.is_file():
        raise UsageError(f"{settings.input}: no such file")
    if not settings.output.parent.is_dir():
        raise UsageError(f"{settings.output}: the folder {settings.output.parent} does not exist")
    probe_audio(settings.input)  # AudioFileError (unreadable or empty) before the model loads
    try:
        device = resolve_device(settings.device)
    except (ValueError, RuntimeError) as error:
        raise UsageError(f"device={settings.device}: {error}") from None
    task, checkpoint = load_texture_model(settings.run, settings.checkpoint, str(device))
    rate = int(task.sample_rate)
    audio, notes = load_recording(settings.input, rate, "the model's")
    if notes:
        print(f"{PROG}: {settings.input}: {'; '.join(notes)}", file=sys.stderr)
    output = resynthesize(task, audio, settings.loudness, settings.seed)
    write_wav(settings.output, output, rate)
    peak = float(output.abs().max()) if output.numel() else 0.0
    clip = f"; peak {peak:.2f} > 1 (kept in float32, a player may clip)" if peak > 1 else ""
    frames = 1 + -(-audio.shape[-1] // (task.frame // 2))
    print(f"Wrote {settings.output}: {output.shape[-1] / rate:.2f} s at {rate} Hz, {frames} frames of "
          f"{task.frame} samples, loudness={settings.loudness}, seed={settings.seed} ({checkpoint}){clip}")
    return settings.output


def main(argv: list[str] | None = None) -> int:
    """The command line; returns the exit status (0, or 2 with one line on stderr)."""
    return script_status(
        PROG, lambda: run(parse_args(argv)),
        (UsageError, NotARunError, CheckpointError))


if __name__ == "__main__":
    sys.exit(main())
