"""Every command the README shows runs, as a new user would type it, with the tiny-run overrides.

The commands are read from the README's code blocks (and inline code that starts like a command);
each is rewritten only as much as a smoke run needs: the smoke config group (`smoke=<task>`) and
the CPU for training scripts, `--quick` and one model for sweeps, a few steps for the proxy, 2
processes for torchrun (`--standalone`: a free port), placeholders (`<date>_<time>`, `<run dir>`)
filled with the runs made by the commands before them, `--all` for results tables (smoke runs are
marked quick), and data a user brings (`/data/musdb18hq`) replaced by a folder generated
here. They run in a scratch folder that links to the repository, so `outputs/` stays
clean. Commands that cannot run here are skipped with the reason (see `SKIP`).
"""

from __future__ import annotations

import glob
import os
import re
import shlex
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from ddspfx.data.synthetic_textures import write_synthetic_textures
from ddspfx.data.virtual_drums import write_virtual_drums

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
COMMAND = re.compile(r"^(?:[A-Z_]+=(?:\"[^\"]*\"|\S+) )*(?:python |torchrun |scripts/|make )")
SKIP = {  # substring of a command → why it is not run here
    "make ": "make targets run this suite or the commands below (demo = train + evaluate)",
    "hydra/launcher=slurm": "needs a SLURM cluster",
    "scripts/bench.py": "benchmarks are timed by hand, one at a time (never beside the test suite)",
    "experiment=texture/grains": "the P-VAE chain (grains, pvae, evaluate) runs in tests/scripts/test_train_texture_evaluate.py",
    "experiment=texture/pvae": "the P-VAE chain (grains, pvae, evaluate) runs in tests/scripts/test_train_texture_evaluate.py",
    "outputs/texture/pvae/": "the P-VAE chain (grains, pvae, evaluate) runs in tests/scripts/test_train_texture_evaluate.py",
}
USER_DATA = "/data/musdb18hq"
USER_TEXTURES = "/data/textures"
USER_DRUMS = {"/data/sdss_filtered": "drums", "/data/my_snare": "drums/maple_14x5", "Premier_BigFatSnare": "maple_14x5"}
SWEEP_ENV = {  # one model of each sweep (and for remap one drum and one preset)
    "fm": {"MODELS": "deter"},
    "mastering": {"MODELS": "icassp_peq_mel"},
    "remap": {"MODELS": "mlp", "DRUMS": "maple_14x5", "PRESETS": "snare_1"},
    "texture": {"TEXTURES": "rain"},
}
SMALL_MEE = "encoder.network.width=0.05"  # the MEE presets are 81 M weights at width 1
TINY_PROXY = ["--steps", "2", "--segment", "0.5", "--batch-size", "2", "--channels", "4", "--valid-every", "2",
              "--valid-size", "2", "--n-tracks", "1", "--track-seconds", "1"]


def readme_commands(text: str) -> list[str]:
    """Command lines of the README, in order: code-block lines and inline code spans that start
    like a command (a synopsis with `[optional]` parts is not a command). Comments are cut."""
    found = []
    for block in re.findall(r"```[a-z]*\n(.*?)```", text, re.S):
        found += [line.split("  #")[0].strip() for line in block.splitlines()]
    found += [span for span in re.findall(r"`([^`\n]+)`", text) if " " in span and " [" not in span]
    return [c for c in dict.fromkeys(found) if COMMAND.match(c)]


@dataclass
class Step:
    command: str  # as the README shows it
    argv: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    lane: str = "fm"  # steps of one lane run in order; lanes run side by side
    skip: str = ""


def task_of(command: str) -> str:
    for task in ("remap", "texture"):
        if task in command:
            return task
    return "mastering" if "mastering" in command or "proxy" in command else "fm"


def plan(command: str, work: Path) -> Step:
    """How `command` runs here (see the module docstring)."""
    step = Step(command, lane=task_of(command))
    for marker, reason in SKIP.items():
        if marker in command:
            step.skip = reason
            return step
    words = shlex.split(fill_placeholders(command, work, step.lane))
    while "=" in words[0] and not words[0].startswith(("python", "scripts")):
        key, value = words.pop(0).split("=", 1)
        step.env[key] = value
    words = [w.replace(USER_DATA, str(work / "musdb")) for w in words]
    words = [w.replace(USER_TEXTURES, str(work / "textures")) for w in words]
    for user, ours in USER_DRUMS.items():
        words = [w.replace(user, str(work / ours)) if user.startswith("/") else w.replace(user, ours) for w in words]
    step.env = {k: v.replace("/data/sdss_filtered", str(work / "drums")).replace(USER_TEXTURES, str(work / "textures"))
                for k, v in step.env.items()}
    if not torch.cuda.is_available():
        words = [w.replace("device=cuda", "device=cpu") for w in words]
    if words[0] == "python":
        words[0] = sys.executable
    if words[0] == "torchrun":
        words = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", *words[2:]]
    script = next((w for w in words if w.endswith((".py", ".sh"))), "")
    if script.startswith("train_"):
        words += [f"smoke={step.lane}", "trainer.device=cpu", *extra_for(words)]
    elif script.endswith(".sh"):
        for key, value in SWEEP_ENV[step.lane].items():
            step.env.setdefault(key, value)
        if step.lane in ("remap", "mastering"):  # one model: the others run the same commands (fm's posterior table needs two)
            step.env["MODELS"] = step.env["MODELS"].split()[0]
        step.env["PY"] = sys.executable
        if "--quick" not in words:
            words.insert(1, "--quick")
        words += ["trainer.device=cpu", *extra_for([step.env.get("MODELS", "")])]
    elif script.endswith("train_proxy.py"):
        words = [w for i, w in enumerate(words) if not (words[i - 1] == "--steps" or w == "--steps")] + TINY_PROXY
    elif script.endswith("evaluate.py"):
        words += ["progress=false"]
    elif script.endswith("results.py") and "--all" not in words:
        words += ["--all"]  # smoke runs are marked quick, and tables leave quick runs out
    step.argv = words
    return step


def extra_for(words: list[str]) -> list[str]:
    """Overrides a smoke run of a heavy preset needs on two CPU cores."""
    heavy = any(name in " ".join(words) for name in ("icassp_comp", "icassp_dist", "icassp_taylor", "icassp_chebyshev"))
    return [SMALL_MEE] if heavy else []


def fill_placeholders(command: str, work: Path, lane: str) -> str:
    """`outputs/<task>/<name>/<date>_<time>` → the newest such run; `<run dir>` → the newest run
    of the lane's task."""
    resumed = set(run_overrides(command.split())) if "trainer.resume=true" in command else None
    for match in re.finditer(r"(outputs/[^<\s]*)<date>_<time>", command):
        command = command.replace(match.group(0), newest(work, match.group(1) + "2*", resumed))
    return command.replace("<run dir>", newest(work, f"outputs/{lane}/*/2*"))


def run_overrides(words: list[str]) -> list[str]:
    """The overrides that define a run (what a resume must repeat)."""
    own = ("hydra.run.dir=", "trainer.resume=", "smoke=", "trainer.device=")
    return [w for w in words if "=" in w and not w.startswith(own) and not w.startswith("-")]


def newest(work: Path, pattern: str, overrides: set[str] | None = None) -> str:
    """The newest run folder matching `pattern`; with `overrides`, the newest one trained with
    exactly those (a resume continues the run it names)."""
    runs = sorted(glob.glob(str(work / pattern)), key=os.path.getmtime)
    if overrides is not None:
        runs = [r for r in runs if set(run_overrides(saved_overrides(Path(r)))) == overrides]
    return str(Path(runs[-1]).relative_to(work)) if runs else pattern


def saved_overrides(run: Path) -> list[str]:
    path = run / ".hydra" / "overrides.yaml"
    return [line[2:].strip() for line in path.read_text().splitlines() if line.startswith("- ")] if path.is_file() else []


def make_workdir(work: Path) -> None:
    """A scratch folder that sees the repository's scripts and configs, plus user data."""
    for name in ("train_fm.py", "train_mastering.py", "train_remap.py", "train_texture.py", "evaluate.py", "scripts",
                 "conf", "ddspfx"):
        (work / name).symlink_to(ROOT / name)
    make_music_folder(work / "musdb")
    write_virtual_drums(work / "drums", seconds=8.0, drums=["maple_14x5", "steel_piccolo"])
    write_synthetic_textures(work / "textures", seconds=8.0, textures=["rain", "fire"])


def make_music_folder(root: Path, rate: int = 44100, seconds: float = 3.0) -> None:
    """A MUSDB18-HQ-like folder: train/ and test/ track folders holding mixture.wav (noisy chords)."""
    rng = np.random.default_rng(0)
    t = np.arange(int(rate * seconds)) / rate
    for split, count in (("train", 10), ("test", 3)):
        for k in range(count):
            notes = sum(np.sin(2 * np.pi * f * t) for f in rng.uniform(80, 2000, 3))
            audio = 0.2 * notes + 0.05 * rng.standard_normal(t.size)
            (root / split / f"track{k}").mkdir(parents=True)
            sf.write(root / split / f"track{k}" / "mixture.wav", audio.astype(np.float32), rate)


def run_lane(steps: list[Step], work: Path, results: dict) -> None:
    for step in steps:
        step = plan(step.command, work)  # placeholders depend on what ran before
        if step.skip:
            results[step.command] = (None, step.skip)
            continue
        env = {**os.environ, "OMP_NUM_THREADS": "1", **step.env}
        done = subprocess.run(step.argv, cwd=work, env=env, capture_output=True, text=True, timeout=900)
        results[step.command] = (done.returncode, f"{shlex.join(step.argv)}\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")


COMMANDS = readme_commands((ROOT / "README.md").read_text())


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory) -> dict:
    work = tmp_path_factory.mktemp("readme")
    make_workdir(work)
    lanes: dict[str, list[Step]] = {}
    for command in COMMANDS:
        lanes.setdefault(task_of(command), []).append(Step(command))
    results: dict = {}
    with ThreadPoolExecutor(max_workers=3) as pool:  # lanes wait on subprocess starts: 3 keep 2 cores busy
        list(pool.map(lambda steps: run_lane(steps, work, results), lanes.values()))
    return results


def test_the_readme_shows_the_commands_of_every_task():
    scripts = " ".join(COMMANDS)
    for needed in ("train_fm.py", "train_mastering.py", "train_remap.py", "train_texture.py", "evaluate.py", "scripts/results.py",
                   "scripts/sweeps/fm.sh", "scripts/sweeps/remap.sh", "scripts/sweeps/texture.sh"):
        assert needed in scripts


@pytest.mark.parametrize("command", COMMANDS)
def test_readme_command_runs(outcomes, command):
    code, detail = outcomes[command]
    if code is None:
        pytest.skip(detail)
    assert code == 0, detail
