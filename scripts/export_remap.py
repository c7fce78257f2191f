"""Export a trained drum timbre-remapping model as TorchScript files a real-time host can load.

    python scripts/export_remap.py run=<run dir> out=<mapper.pt> [model=<index>] [sensitivity=1.0]
        [synth_out=<snare.pt>] [neutone_out=<folder>] [checkpoint=auto|best|last]

`run` is a folder written by `train_remap.py` (as for `evaluate.py run=...`); checkpoint=auto takes
checkpoints/best.pt, else last.pt. Written (each atomically, one line printed per file):

- `out`: the mapper (`ddspfx.export.RemapMapper`, scripted): RAW onset features `(batch, 3)` of a
  hit's first `window` samples (from `backtrack` samples before the detected onset) as
  `ddspfx.dsp.features.onset_features` computes them → Snare808 controls `(batch, 14)`. The
  training normalization, the centring on the reference hit, the preset and the damping are
  inside; `sensitivity` scales the modulation (a host changes it later with
  `module.set_sensitivity(x)`). The module also carries `window`, `backtrack`, `sample_rate` and
  `param_names`.
- `synth_out` (when given): the run's Snare808 as TorchScript (`ddspfx.export.export_snare808`):
  controls `(batch, 14)` → audio `(batch, samples)`.
- `neutone_out` (when given; needs `pip install neutone-sdk`, which is not a dependency): the whole
  streaming processor (onset detector, feature windows, mapper, synth, voices;
  `ddspfx.export.streaming.ScriptedRemapStream`) as a Neutone FX model, `<folder>/model.nm`,
  saved through the SDK's own checks (`ddspfx.export.neutone_remap`).

`model` selects one model of a run that holds several (a later grid task); today a run holds one
model, `model=0` (the default). A direct-optimisation run (model=direct) has no network and
cannot be exported. Errors (a missing run, a run of another task, a bad setting) are one line on
stderr, exit status 2.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import torch
from omegaconf import DictConfig

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ddspfx.core.checkpoint import CheckpointError  # noqa: E402
from ddspfx.core.console import script_status  # noqa: E402
from ddspfx.export import RemapMapper, ScriptedSnare808, export_mapper, export_snare808, save_module  # noqa: E402
from ddspfx.eval.runner import NotARunError, load_run_config, open_run  # noqa: E402

PROG = "export_remap.py"
# the single-model task, and the grid of many models in one run (whose members `select_model` picks)
REMAP_TASKS = ("ddspfx.tasks.remap.RemapTask", "ddspfx.tasks.remap_grid.RemapGridTask")
CHECKPOINTS = ("auto", "best", "last")
SETTINGS = {"run": None, "out": None, "model": None, "sensitivity": "1.0", "synth_out": None, "neutone_out": None,
            "checkpoint": "auto"}


class UsageError(ValueError):
    """A bad command line, a missing file, a run that cannot be exported."""


def parse_settings(items: list[str], settings: dict) -> dict:
    """`key=value` items → {key: value} over the defaults in `settings`; UsageError names an unknown
    key or an item without '='."""
    values = dict(settings)
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or key not in settings:
            raise UsageError(f"unknown setting {item!r}: give key=value with key among {', '.join(settings)}")
        values[key] = value
    return values


def parse_member(text: str | None) -> int | None:
    """model=<index> → int ≥ 0 (None when not given)."""
    if text is None or text == "":
        return None
    try:
        member = int(text)
    except ValueError:
        raise UsageError(f"model={text!r}: give the index of a model of the run (an integer >= 0)") from None
    if member < 0:
        raise UsageError(f"model={member}: the index must be >= 0")
    return member


def parse_sensitivity(text: str) -> float:
    """sensitivity=<x> → a finite float ≥ 0."""
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"sensitivity={text!r} is not a number") from None
    if not (0.0 <= value < float("inf")):
        raise UsageError(f"sensitivity={text}: must be a finite number >= 0 (1 = as trained, 0 = the preset)")
    return value


def load_remap_task(run: Path, checkpoint: str = "auto"):
    """The trained `RemapTask` of a run folder, on the CPU, eval mode, and its checkpoint path.
    UsageError for a folder of another task; NotARunError for a folder that is not a run."""
    if checkpoint not in CHECKPOINTS:
        raise UsageError(f"checkpoint={checkpoint!r}: choose among {', '.join(CHECKPOINTS)}")
    config = load_run_config(run)  # NotARunError: no folder, no .hydra/config.yaml
    task_config = config.get("task", None)
    target = task_config.get("_target_", None) if isinstance(task_config, DictConfig) else None
    if target not in REMAP_TASKS:
        kind = config.get("task_name", None) or target or "unknown"
        raise UsageError(f"{run} is a {kind!r} run, not a remap run (train one with train_remap.py)")
    loaded = open_run(run, checkpoint, "cpu")
    return loaded.task, loaded.checkpoint


def select_model(task, member: int | None, run: Path):
    """Model `member` of a remap run, as an object with the single task's attributes (`mapping`,
    `preset`, `damping`, `onset_min`, `onset_max`, `onset_reference`, `window`, `synth`,
    `sample_rate`, `data`, `model_kind`): the task itself for a single run (`member` None or 0),
    `task.member(member)` for a grid run (`ddspfx.tasks.remap_grid`, `model=<index>` required)."""
    count = int(getattr(task, "members", 1) or 1)
    if count == 1:
        if member not in (None, 0):
            raise UsageError(f"model={member}: {run} holds 1 model (model=0)")
        model = task
    else:
        if member is None or not 0 <= member < count:
            kinds = ", ".join(f"{m}: {c.experiment} {c.drum} {c.preset}" for m, c in list(enumerate(task.cells))[:3])
            raise UsageError(f"{run} is a grid run of {count} models: choose one with model=<0 … {count - 1}> "
                             f"({kinds}, …; all in its metrics.json _run.member_info)")
        model = task.member(member)
    if getattr(model, "direct", False):
        raise UsageError(f"{run}: model {member or 0} is a direct optimisation (model=direct): it has one free "
                         "modulation per test hit and no network, so there is nothing to export (train model=linear, "
                         "mlp or mlp_lrg)")
    return model


def mapper_from_task(task, member: int | None = None, sensitivity: float = 1.0, run: Path | None = None) -> RemapMapper:
    """The `RemapMapper` of model `member` of a trained remap task (module docstring)."""
    model = select_model(task, member, run if run is not None else Path("the run"))
    return RemapMapper(model.mapping, model.onset_min, model.onset_max, model.onset_reference, model.preset,
                       model.damping, sensitivity, window=int(model.window), sample_rate=int(model.sample_rate),
                       param_names=list(model.synth.param_names))


def check_output(path: Path, key: str) -> Path:
    if path.is_dir():
        raise UsageError(f"{key}={path}: is a folder; give a file name (e.g. {key}={path / 'model.pt'})")
    if not path.parent.is_dir():
        raise UsageError(f"{key}={path}: the folder {path.parent} does not exist")
    return path


def run_export(argv: list[str] | None) -> list[Path]:
    """Parse, load, export, write; returns the files written."""
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__)
        return []
    values = parse_settings(list(argv or []), SETTINGS)
    if not values["run"]:
        raise UsageError("run=<run dir> is required (a folder written by train_remap.py)")
    if not values["out"]:
        raise UsageError("out=<file.pt> is required (where to write the mapper)")
    run = Path(values["run"])
    out = check_output(Path(values["out"]), "out")
    synth_out = check_output(Path(values["synth_out"]), "synth_out") if values["synth_out"] else None
    neutone_out = check_neutone_output(Path(values["neutone_out"])) if values["neutone_out"] else None
    member, sensitivity = parse_member(values["model"]), parse_sensitivity(values["sensitivity"])
    task, checkpoint = load_remap_task(run, values["checkpoint"])
    mapper = mapper_from_task(task, member, sensitivity, run)
    save_module(export_mapper(mapper), out)
    written = [out]
    print(f"Wrote {out}: the {select_model(task, member, run).model_kind} mapper of {run} (raw onset features (batch, 3) of a "
          f"{mapper.window}-sample window from {mapper.backtrack} samples before the onset → controls (batch, {len(mapper.param_names)}), "
          f"{mapper.sample_rate} Hz, sensitivity {sensitivity:g}; {checkpoint.name})")
    if synth_out is not None:
        module = export_snare808(task.synth)
        save_module(module, synth_out)
        written.append(synth_out)
        print(f"Wrote {synth_out}: the Snare808 renderer (controls (batch, {len(mapper.param_names)}) → audio "
              f"(batch, {module.n_samples}) at {module.sample_rate} Hz)")
    if neutone_out is not None:
        written.append(save_neutone(task, mapper, neutone_out))
    return written


def check_neutone_output(folder: Path) -> Path:
    """neutone_out=<folder>: its parent must exist, and neutone-sdk must be installed."""
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"neutone_out={folder}: is a file; give a folder (model.nm and metadata.json go in it)")
    if not folder.parent.is_dir():
        raise UsageError(f"neutone_out={folder}: the folder {folder.parent} does not exist")
    if importlib.util.find_spec("neutone_sdk") is None:
        raise UsageError("neutone_out needs the Neutone SDK, which ddspfx does not install: pip install neutone-sdk")
    return folder


def save_neutone(task, mapper: RemapMapper, folder: Path) -> Path:
    """The run's streaming processor as a Neutone model in `folder` (the SDK's checks run); prints a line."""
    from ddspfx.export.neutone_remap import save_neutone_remap
    from ddspfx.export.streaming import ScriptedRemapStream

    stream = ScriptedRemapStream(mapper, ScriptedSnare808(task.synth), dict(task.data.get("detector") or {}))
    path = save_neutone_remap(stream, folder)
    print(f"Wrote {path}: a Neutone FX model (mono, {stream.sample_rate} Hz, onset → sound {stream.latency} samples, "
          f"knob 'sensitivity' 0 … 1 → 0 … 4)")
    return path


def main(argv: list[str] | None = None) -> int:
    """The command line; returns the exit status (0, or 2 with one line on stderr)."""
    return script_status(
        PROG, lambda: run_export(sys.argv[1:] if argv is None else argv),
        (UsageError, NotARunError, CheckpointError))


if __name__ == "__main__":
    sys.exit(main())
