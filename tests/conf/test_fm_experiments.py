"""Every FM experiment preset composes, builds its task, and carries the paper's settings."""

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from ddspfx.heads import ProbabilisticHead, SigmoidHead

CONF = Path(__file__).resolve().parents[2] / "conf"
EXPERIMENTS = sorted(p.stem for p in (CONF / "experiment" / "fm").glob("*.yaml") if not p.stem.startswith("_"))
ZOO = ["deter", "gauss_l0", "mog_full_k6_l0", "gauss_l1", "gauss_l2", "mog_full_k6_l1", "mog_unif_k6_l1", "mog_unif_k24_l1"]


def load(experiment, *overrides):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name="fm", overrides=[f"experiment=fm/{experiment}", *overrides])


def test_the_whole_zoo_and_its_no_annealing_twins_exist():
    expected = set(ZOO) | {f"{name}_noann" for name in ZOO if name != "deter"}
    assert expected <= set(EXPERIMENTS)


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_experiment_builds_and_matches_the_paper(experiment):
    cfg = load(experiment)
    assert cfg.name == experiment
    assert (cfg.trainer.batch_size, cfg.trainer.steps_per_epoch, cfg.trainer.grad_clip) == (32, 4000, 2.0)
    assert (cfg.trainer.optimizer.lr, cfg.trainer.optimizer.weight_decay) == (1e-4, 0.01)
    assert cfg.synth.duration == 0.5
    task = instantiate(cfg.task)
    head_type = SigmoidHead if experiment == "deter" else ProbabilisticHead
    assert isinstance(task.head, head_type)
    if experiment != "deter":
        assert cfg.beta.end == 0.005
        assert cfg.beta.start == (0.005 if experiment.endswith("_noann") else 0.5)


@pytest.mark.parametrize(
    "experiment, base, components, length",
    [("mog_full_k6_l1", "mog_full", 6, 1), ("mog_unif_k24_l1", "mog_unif", 24, 1), ("gauss_l2", "gaussian", 1, 2), ("gauss_l0", "gaussian_log", 1, 0)],
)
def test_zoo_heads(experiment, base, components, length):
    head = load(experiment).head
    assert head.base.type == base
    assert head.base.get("components", 1) == components
    assert head.flow.length == length


def test_mixture_weights_use_a_free_softmax_by_default():
    assert load("mog_full_k6_l1").head.base.weights == "softmax"


def test_presets_path_override_reaches_the_task(tmp_path):
    cfg = load("deter", f"data.presets=[{tmp_path}/a.syx]")
    assert list(cfg.task.data.presets) == [f"{tmp_path}/a.syx"]
