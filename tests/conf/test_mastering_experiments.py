"""Every mastering preset composes, builds its task, and carries the papers' settings."""

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf.errors import MissingMandatoryValue

from ddspfx.heads import ProbabilisticHead, SigmoidHead

CONF = Path(__file__).resolve().parents[2] / "conf"
EXPERIMENTS = sorted(p.stem for p in (CONF / "experiment" / "mastering").glob("*.yaml") if not p.stem.startswith("_"))
HYBRID = [name for name in EXPERIMENTS if "hybrid" in name]
SMALL_MEE = "encoder.network.width=0.125"
# (synthesis, analysis) control counts (reference "numbers to reproduce" 8; TASLP chains of A.13)
CONTROLS = {
    "icassp_peq_params": (15, 15), "icassp_peq_mel": (15, 15), "icassp_geq": (15, 10), "icassp_comp": (6, 6),
    "icassp_dist": (3, 3), "icassp_taylor": (3, 24), "icassp_chebyshev": (3, 24), "icassp_full": (24, 24),
    "taslp_deter": (40, 45),
}


def load(experiment, *overrides):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name="mastering", overrides=[f"experiment=mastering/{experiment}", *overrides])


def build(experiment):
    """The preset's config and task; the 81 M-parameter MEE is built at a small width."""
    cfg = load(experiment)
    if cfg.encoder.get("network", {}).get("_target_", "").endswith("MusicEffectsEncoder"):
        cfg = load(experiment, SMALL_MEE)
    return cfg, instantiate(cfg.task)


@pytest.mark.parametrize("experiment", [e for e in EXPERIMENTS if e not in HYBRID])
def test_experiment_builds_with_the_paper_settings(experiment):
    cfg, task = build(experiment)
    assert cfg.name == experiment
    if experiment.startswith("icassp"):
        assert (cfg.sample_rate, cfg.segment, cfg.trainer.batch_size) == (44100, 10.0, 16)
        assert cfg.trainer.optimizer._target_ == "torch.optim.Adam" and cfg.trainer.optimizer.lr == 1e-4
        assert cfg.trainer.scheduler.factor == 0.1 and cfg.trainer.scheduler.patience == 30
        assert dict(cfg.normalize) == {"sfx": "peak", "afx": "peak"}
        assert isinstance(task.head, SigmoidHead)
    else:
        assert (cfg.sample_rate, cfg.segment, cfg.trainer.batch_size, cfg.trainer.grad_clip) == (16000, 4.0, 16, 1.0)
        assert (cfg.trainer.optimizer.lr, cfg.trainer.optimizer.weight_decay) == (1e-4, 0.01)
        assert dict(cfg.normalize) == {"sfx": "peak", "afx": None}
        assert isinstance(task.head, SigmoidHead if experiment == "taslp_deter" else ProbabilisticHead)
        if experiment != "taslp_deter":
            assert (cfg.beta.start, cfg.beta.end) == ((0.02 if experiment.endswith("_noann") else 0.5), 0.02)
    expected = CONTROLS.get(experiment, CONTROLS["taslp_deter"])
    assert (task.sfx.n_params, task.afx.n_params) == expected


def test_icassp_tfe_controller_has_the_published_parameter_count():
    _, task = build("icassp_peq_params")
    n_weights = sum(p.numel() for p in [*task.encoder.parameters(), *task.head.parameters()])
    assert n_weights == 3_355_734


def test_taslp_chains_follow_the_reference_order():
    _, task = build("taslp_deter")
    assert [type(m).__name__ for m in task.sfx.members.values()] == ["ParametricEQ", "Compressor", "SoftClipper", "ParametricEQ", "SoftClipper"]
    kinds = [type(m).__name__ for m in task.afx.members.values()]
    assert kinds == ["ParametricEQ", "Gain", "SimpleCompressor", "Gain", "SimpleCompressor", "ParametricEQ", "Gain", "SoftClipper"]
    assert task.sfx.members["comp"].params[0].min == -20.0  # the reference DSP compressor's threshold range


@pytest.mark.parametrize("experiment", HYBRID)
def test_hybrid_presets_ask_for_a_proxy_checkpoint(experiment):
    with pytest.raises(MissingMandatoryValue, match="checkpoint"):
        instantiate(load(experiment).task)


def test_icassp_presets_train_on_auraloss_mel_stft_and_every_run_reports_it():
    from ddspfx.losses import LogMelLoss, MelSTFTLoss

    for experiment in [e for e in EXPERIMENTS if e.startswith("icassp") and e not in HYBRID and e != "icassp_peq_params"]:
        cfg = load(experiment)
        assert cfg.loss._target_ == "ddspfx.losses.MelSTFTLoss", experiment
        assert (cfg.loss.n_fft, cfg.loss.hop, cfg.loss.win_length, cfg.loss.n_mels, cfg.loss.w_sc) == (4096, 1024, 4096, 128, 0.0)
    assert load("taslp_deter").loss._target_ == "ddspfx.losses.LogMelLoss"
    _, task = build("icassp_peq_mel")
    assert isinstance(task.loss, MelSTFTLoss) and task.loss.sample_rate == 44100
    assert isinstance(task._metrics["mel_stft"], MelSTFTLoss) and isinstance(task._metrics["mel"], LogMelLoss)
    assert {"mel", "mel_stft"} <= {spec.name for spec in task.metric_specs()}
