"""The config layout: every task config extends conf/base.yaml, every preset composes and is named
after its file, shared nodes (losses, data splits, smoke runs) are defined once."""

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

CONF = Path(__file__).resolve().parents[2] / "conf"
# primary (task) configs: conf/<task>.yaml with a `task:` node; base.yaml and evaluate.yaml are not tasks
PRIMARY = sorted(p.stem for p in CONF.glob("*.yaml") if "task" in OmegaConf.load(p))
PRESETS = [(task, p.stem) for task in PRIMARY for p in sorted((CONF / "experiment" / task).glob("*.yaml")) if not p.stem.startswith("_")]
RUN_DIR = "outputs/${task_name}/${name}/${now:%Y-%m-%d}_${now:%H-%M-%S}"
SWEEP_DIR = "outputs/${task_name}/${name}/multirun_${now:%Y-%m-%d}_${now:%H-%M-%S}"


def load(config_name, *overrides):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name=config_name, overrides=list(overrides), return_hydra_config=True)


def test_the_task_configs_are_found():
    assert {"fm", "mastering"} <= set(PRIMARY)
    assert "base" not in PRIMARY and "evaluate" not in PRIMARY


@pytest.mark.parametrize("task", PRIMARY)
def test_task_config_extends_the_base(task):
    assert OmegaConf.load(CONF / f"{task}.yaml").defaults[0] == "base"
    cfg = load(task)
    assert cfg.task_name == task
    assert cfg.name == "default"
    assert cfg.quick is False
    assert OmegaConf.to_container(cfg.hydra.run, resolve=False)["dir"] == RUN_DIR
    assert OmegaConf.to_container(cfg.hydra.sweep, resolve=False)["dir"] == SWEEP_DIR
    assert cfg.hydra.job.chdir is False
    assert "_target_" in cfg.trainer.optimizer  # the trainer group of the base (a task may pick another optimizer)
    assert {"device", "seed", "epochs", "resume", "steps_per_epoch"} <= set(cfg.trainer)
    assert "_target_" in cfg.task


@pytest.mark.parametrize("task, preset", PRESETS)
def test_every_preset_composes_and_is_named_after_its_file(task, preset):
    cfg = load(task, f"experiment={task}/{preset}")
    assert cfg.name == preset
    assert cfg.quick is False
    assert cfg.task_name == task


@pytest.mark.parametrize("task", PRIMARY)
def test_the_smoke_group_marks_a_quick_run_and_leaves_the_device_alone(task, tiny_overrides):
    assert (CONF / "smoke" / f"{task}.yaml").is_file()
    cfg = load(task, *tiny_overrides(task))
    assert cfg.quick is True
    assert cfg.trainer.device == "cpu"
    assert cfg.trainer.epochs == 1
    assert "device" not in OmegaConf.load(CONF / "smoke" / f"{task}.yaml").get("trainer", {})


@pytest.mark.parametrize("task, preset", PRESETS)
def test_the_smoke_group_shrinks_every_preset(task, preset):
    plain = load(task, f"experiment={task}/{preset}")
    cfg = load(task, f"experiment={task}/{preset}", f"smoke={task}")
    assert cfg.quick is True and cfg.name == preset
    assert cfg.trainer.epochs == 1 and cfg.trainer.steps_per_epoch <= 3
    if "test_size" in plain.data:  # a fixed test set of a size
        assert cfg.data.test_size < plain.data.test_size
    else:  # data the task makes itself, shorter
        assert cfg.data.synthetic.seconds < plain.data.synthetic.seconds
    assert cfg.get("head") == plain.get("head") and cfg.get("sfx") == plain.get("sfx")  # the model stays the preset's
    assert cfg.get("model") == plain.get("model")


def test_command_line_overrides_win_over_the_smoke_group():
    cfg = load("fm", "smoke=fm", "trainer.epochs=2", "data.test_size=6")
    assert (cfg.trainer.epochs, cfg.data.test_size) == (2, 6)
    cfg = load("mastering", "smoke=mastering")
    assert [cfg.source[s].n_tracks for s in ("train", "valid", "test")] == [2, 1, 1]
    cfg = load("mastering", "smoke=mastering", "source=folder", "source.root=/data/music")
    assert cfg.source.train._target_ == "ddspfx.data.audio.AudioFolder" and "n_tracks" not in cfg.source.train


@pytest.mark.parametrize(
    "combined, members",
    [("sot", {"sot": "sot_only", "mrstft_rev": "mrstft_rev"}), ("mel_ldr", {"mel": "mel", "ldr": "ldr"}), ("params10", {"params": "params"})],
)
def test_combined_losses_are_made_of_the_single_loss_configs(combined, members):
    cfg = load("mastering", f"loss={combined}")
    assert cfg.loss._target_ == "ddspfx.losses.WeightedSum"
    assert list(cfg.loss.losses) == list(members) == list(cfg.loss.weights)
    for name, single in members.items():
        assert cfg.loss.losses[name] == load("mastering", f"loss={single}").loss


def test_paper_heads_are_shared_presets():
    for preset in ("gauss_l1", "gauss_l2", "mog_full_k6_l1", "mog_unif_k6_l1", "mog_unif_k24_l1"):
        assert load("fm", f"experiment=fm/{preset}").head == load("fm", f"head={preset}").head
        assert load("mastering", f"experiment=mastering/taslp_{preset}").head == load("fm", f"head={preset}").head
    # the FM twins without annealing use 8 sigmoids instead of the annealed models' 16
    assert load("fm", "experiment=fm/mog_full_k6_l1_noann").head.flow.hidden == 8


@pytest.mark.parametrize("source, extra", [("synthetic", []), ("folder", ["source.root=/data/music"])])
def test_the_three_splits_are_instances_of_one_node(source, extra):
    cfg = load("mastering", f"source={source}", *extra)
    splits = [OmegaConf.to_container(cfg.source[s], resolve=True) for s in ("train", "valid", "test")]
    assert len({s["_target_"] for s in splits}) == 1
    assert all(s["sample_rate"] == cfg.sample_rate and s["segment_seconds"] == cfg.segment for s in splits)
    if source == "synthetic":
        assert [s["seed"] for s in splits] == [0, 1, 2] and [s["n_tracks"] for s in splits] == [32, 8, 8]
    else:
        assert [s["split"] for s in splits] == ["train", "valid", "test"]
        assert {s["root"] for s in splits} == {"/data/music"}


def test_one_split_can_be_overridden_alone():
    cfg = load("mastering", "source.train.n_tracks=2")
    assert (cfg.source.train.n_tracks, cfg.source.valid.n_tracks, cfg.source.test.n_tracks) == (2, 8, 8)


def test_evaluate_config_has_only_generic_data_keys():
    cfg = load("evaluate", "run=/tmp/run")
    assert dict(cfg.data) == {"test_size": None}
    cfg = load("evaluate", "run=/tmp/run", "+data.presets=[a.syx,b.syx]")
    assert list(cfg.data.presets) == ["a.syx", "b.syx"]


@pytest.mark.parametrize("grid, name", [("paper", "grid_paper"), ("paper_direct", "grid_direct")])
def test_the_remap_grids_compose_to_the_grid_task(grid, name):
    cfg = load("remap", f"grid={grid}")
    assert cfg.name == name
    assert cfg.task._target_ == "ddspfx.tasks.remap_grid.RemapGridTask"
    assert "preset" not in cfg.task and "model" not in cfg.task  # the cells come from cfg.grid
    if grid == "paper_direct":
        assert cfg.grid.direct and not cfg.grid.models
        assert (cfg.trainer.epochs, cfg.trainer.steps_per_epoch, cfg.trainer.optimizer.lr) == (1000, 1, 5e-3)
    else:
        assert list(cfg.grid.models) == ["linear", "mlp", "mlp_lrg"] and list(cfg.grid.windows) == [256, 2048]
        assert dict(cfg.grid.lr) == {"linear": 5e-3, "mlp": 5e-4, "mlp_lrg": 5e-4}
