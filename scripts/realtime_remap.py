"""Stream a drum recording through a trained timbre-remapping model, block by block, as a plug-in would.

    python scripts/realtime_remap.py [in.wav | -] out.wav run=<run dir> [block=64] [mix=0.5]
        [model=0] [sensitivity=1.0] [voices=4] [mapper=<mapper.pt>] [checkpoint=auto|best|last]

`run` is a folder written by `train_remap.py`. The input (wav, flac, ogg; channels mixed to mono by
their mean; another sample rate is resampled to the run's, said once) goes through
`ddspfx.realtime.StreamingRemapper` in blocks of `block` samples (32 … 2048): the run's onset
detector, the onset-feature window of the run (256 or 2048 samples, from 16 samples before each
detected onset, as in training), the run's mapping network (or an exported `mapper=` file, see
`scripts/export_remap.py`) and the run's Snare808, one 1-s hit per onset in a pool of `voices`.
Without an input (or with `-`) it streams 10 s of a virtual snare performance the project
synthesizes (`ddspfx.data.virtual_drums`, the run's drum when it trained on one, with a seed it
did not train on), whose true onsets are known: the detector's delay is then measured too.

Written: `out.wav`, the synth alone, and `out_mix.wav` beside it, the input and the synth mixed
with equal power (dry √(1 − mix), wet √mix), both float32 at the run's rate and as long as the
input. Printed: the hits found, the onset → sound latency (samples and ms: `window − 16` after
the detected onset, plus the detector's delay) and the real-time factor (seconds of audio per
second of processing, the streaming loop alone, on one CPU thread as in an audio callback).
Errors are one line on stderr, exit status 2.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np
import soundfile as sf
import torch

ROOT = Path(__file__).resolve().parents[1]
for folder in (ROOT, Path(__file__).resolve().parent):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

from export_remap import (  # noqa: E402 - the run loading and member selection of the exporter
    UsageError,
    load_remap_task,
    mapper_from_task,
    select_model,
    parse_member,
    parse_sensitivity,
    parse_settings,
)

from ddspfx.core.checkpoint import CheckpointError  # noqa: E402
from ddspfx.core.console import script_status  # noqa: E402
from ddspfx.core.files import write_atomically  # noqa: E402
from ddspfx.data.audio import load_recording  # noqa: E402
from ddspfx.data.virtual_drums import VIRTUAL_SNARES, render_performance  # noqa: E402
from ddspfx.eval.runner import NotARunError  # noqa: E402
from ddspfx.export import load_mapper  # noqa: E402
from ddspfx.realtime import StreamingRemapper  # noqa: E402
from ddspfx.realtime.remap import MAX_BLOCK, MIN_BLOCK  # noqa: E402

PROG = "realtime_remap.py"
SETTINGS = {"run": None, "block": "64", "mix": "0.5", "model": None, "sensitivity": "1.0", "voices": "4",
            "mapper": None, "checkpoint": "auto"}
DEFAULT_SECONDS = 10.0
DEFAULT_DRUM = "maple_14x5"
MATCH = 300  # samples: a detected onset within this of a true onset is that onset


class Settings(NamedTuple):
    """The command line, checked."""

    input: Path | None  # None: the built-in virtual performance
    output: Path
    run: Path
    block: int = 64
    mix: float = 0.5
    model: int | None = None
    sensitivity: float = 1.0
    voices: int = 4
    mapper: Path | None = None
    checkpoint: str = "auto"


def _int(values: dict, key: str, low: int, high: int) -> int:
    try:
        value = int(values[key])
    except ValueError:
        raise UsageError(f"{key}={values[key]!r} is not an integer") from None
    if not low <= value <= high:
        raise UsageError(f"{key}={value}: must lie in {low} … {high}")
    return value


def parse_args(argv: list[str]) -> Settings:
    """`[in] out key=value …` → Settings."""
    positional = [a for a in argv if "=" not in a]
    values = parse_settings([a for a in argv if "=" in a], SETTINGS)
    if len(positional) not in (1, 2):
        raise UsageError(f"give [in.wav | -] out.wav, then key=value settings; got {len(positional)} file names")
    source = positional[0] if len(positional) == 2 else "-"
    if not values["run"]:
        raise UsageError("run=<run dir> is required (a folder written by train_remap.py)")
    try:
        mix = float(values["mix"])
    except ValueError:
        raise UsageError(f"mix={values['mix']!r} is not a number") from None
    if not 0.0 <= mix <= 1.0:
        raise UsageError(f"mix={mix:g}: must lie in [0, 1] (0: the input alone, 1: the synth alone)")
    return Settings(
        input=None if source == "-" else Path(source),
        output=Path(positional[-1]),
        run=Path(values["run"]),
        block=_int(values, "block", MIN_BLOCK, MAX_BLOCK),
        mix=mix,
        model=parse_member(values["model"]),
        sensitivity=parse_sensitivity(values["sensitivity"]),
        voices=_int(values, "voices", 2, 64),
        mapper=Path(values["mapper"]) if values["mapper"] else None,
        checkpoint=values["checkpoint"],
    )


def mix_path(output: Path) -> Path:
    """out.wav → out_mix.wav (same folder and suffix)."""
    return output.with_name(f"{output.stem}_mix{output.suffix or '.wav'}")


def read_input(settings: Settings, rate: int, model) -> tuple[np.ndarray, np.ndarray | None, str]:
    """(mono float32 audio at `rate`, true onsets or None, a description); `model`: the
    streamed model (`select_model`)."""
    if settings.input is None:
        drum = getattr(model, "drum", None) or model.dataset.name
        name = drum if drum in VIRTUAL_SNARES else DEFAULT_DRUM
        seed = int(model.data["synthetic"]["seed"]) + 1  # a performance the run did not train on
        audio, onsets = render_performance(VIRTUAL_SNARES[name], DEFAULT_SECONDS, seed, rate)
        return audio.numpy(), onsets.numpy(), f"the virtual snare {name!r} (seed {seed}, {DEFAULT_SECONDS:g} s)"
    if not settings.input.is_file():
        raise UsageError(f"{settings.input}: no such file")
    audio, notes = load_recording(settings.input, rate, "the run's")  # AudioFileError: unreadable, empty, NaN
    if notes:
        print(f"{PROG}: {settings.input}: {'; '.join(notes)}", file=sys.stderr)
    return audio.numpy(), None, str(settings.input)


def build_remapper(settings: Settings, task, model) -> StreamingRemapper:
    """The streaming processor of the run: its detector settings, window, mapper and synth."""
    if settings.mapper is not None:
        try:
            mapper = load_mapper(settings.mapper)
        except RuntimeError as error:
            first = str(error).splitlines()[0]
            raise UsageError(f"mapper={settings.mapper}: not a TorchScript file ({first})") from None
        if int(getattr(mapper, "window", model.window)) != model.window:
            raise UsageError(f"mapper={settings.mapper}: its window ({mapper.window} samples) is not the run's "
                             f"({model.window})")
        mapper.set_sensitivity(settings.sensitivity)
    else:
        mapper = mapper_from_task(task, settings.model, settings.sensitivity, settings.run)
    detector = dict(model.data.get("detector") or {})
    return StreamingRemapper(mapper, model.synth, int(model.sample_rate), int(model.window), detector,
                             voices=settings.voices)


def stream(remapper: StreamingRemapper, audio: np.ndarray, block: int) -> tuple[np.ndarray, float]:
    """(the synth's output, seconds of processing) of `audio` streamed in blocks of `block`, on one
    CPU thread as an audio callback runs (torch's intra-op threads only add synchronization to
    single-hit renders, and slow them many times over on a loaded machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        start = time.perf_counter()
        out = remapper.process_signal(audio, block)
        return out, time.perf_counter() - start
    finally:
        torch.set_num_threads(threads)


def latency_report(remapper: StreamingRemapper, true_onsets: np.ndarray | None) -> str:
    """One line: onset → sound latency after the detected onset, and measured from true onsets if known."""
    rate = remapper.sample_rate
    line = (f"latency: {remapper.latency} samples ({remapper.latency_ms:.2f} ms) from the detected onset to the sound "
            f"(window {remapper.window} − backtrack {remapper.backtrack}), plus the detector's delay")
    if true_onsets is None or not remapper.hits:
        return line
    delays = []
    for hit in remapper.hits:
        before = true_onsets[(true_onsets <= hit.onset) & (true_onsets > hit.onset - MATCH)]
        if before.size:
            delays.append(hit.onset - int(before[-1]))
    if not delays:
        return line
    total = remapper.latency + np.asarray(delays)
    return (f"{line}; measured on {len(delays)} of {len(true_onsets)} true onsets: detector delay "
            f"{np.mean(delays):.1f} samples on average (max {max(delays)}), onset → sound {total.mean():.0f} samples "
            f"({1000 * total.mean() / rate:.2f} ms; max {1000 * total.max() / rate:.2f} ms)")


def write_wav(path: Path, audio: np.ndarray, rate: int) -> None:
    """Float32 mono wav, written atomically."""
    write_atomically(path, lambda temp: sf.write(str(temp), audio.astype(np.float32), int(rate), format="WAV",
                                                 subtype="FLOAT"))


def run(settings: Settings) -> tuple[Path, Path]:
    """Check, load, stream, write, report. Returns (out, out_mix)."""
    if not settings.output.parent.is_dir():
        raise UsageError(f"{settings.output}: the folder {settings.output.parent} does not exist")
    if settings.input is not None and not settings.input.is_file():
        raise UsageError(f"{settings.input}: no such file")
    if settings.mapper is not None and not settings.mapper.is_file():
        raise UsageError(f"mapper={settings.mapper}: no such file")
    task, checkpoint = load_remap_task(settings.run, settings.checkpoint)
    model = select_model(task, settings.model, settings.run)  # a grid run: its member model=<k>
    remapper = build_remapper(settings, task, model)
    rate = int(model.sample_rate)
    audio, true_onsets, source = read_input(settings, rate, model)
    out, seconds = stream(remapper, audio, settings.block)
    wet = out.astype(np.float32)
    mixed = math.sqrt(1 - settings.mix) * audio + math.sqrt(settings.mix) * wet
    mix_file = mix_path(settings.output)
    write_wav(settings.output, wet, rate)
    write_wav(mix_file, mixed, rate)
    duration = len(audio) / rate
    peak = float(np.abs(mixed).max()) if mixed.size else 0.0
    clip = f"; mix peak {peak:.2f} > 1 (kept in float32)" if peak > 1 else ""
    print(f"Wrote {settings.output} (synth) and {mix_file} (mix={settings.mix:g}): {duration:.2f} s at {rate} Hz from "
          f"{source}, {len(remapper.hits)} hits, blocks of {settings.block} samples ({checkpoint.name}){clip}")
    print(latency_report(remapper, true_onsets))
    factor = duration / seconds if seconds > 0 else math.inf
    print(f"real-time factor: {factor:,.0f}× ({duration:.2f} s of audio streamed in {seconds:.3f} s)")
    return settings.output, mix_file


def main(argv: list[str] | None = None) -> int:
    """The command line; returns the exit status (0, or 2 with one line on stderr)."""
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    return script_status(
        PROG, lambda: run(parse_args(argv)),
        (UsageError, NotARunError, CheckpointError))


if __name__ == "__main__":
    sys.exit(main())
