"""conf/trainer/default.yaml matches TrainerConfig, and the scheduler override documented in it works."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from ddspfx.train import Trainer, TrainerConfig
from tests.train.toy_task import ToyRegression

CONF = Path(__file__).resolve().parents[2] / "conf"
PLATEAU = ("trainer.scheduler={_target_:torch.optim.lr_scheduler.ReduceLROnPlateau,"
           "_partial_:true,factor:0.5,patience:5}")


def test_yaml_defaults_equal_dataclass_defaults():
    yaml = OmegaConf.to_container(OmegaConf.load(CONF / "trainer" / "default.yaml"))
    assert yaml == asdict(TrainerConfig())


def test_plateau_scheduler_switched_on_by_override(tmp_path):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="trainer/default",
                      overrides=[PLATEAU, "trainer.device=cpu", "trainer.progress=false"])
    trainer = Trainer(ToyRegression(), cfg.trainer, tmp_path)
    assert isinstance(trainer.optimizer, torch.optim.AdamW)
    assert trainer.optimizer.defaults["weight_decay"] == 0.01
    assert isinstance(trainer.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)
    assert trainer.scheduler.factor == 0.5 and trainer.scheduler.patience == 5
    trainer.close()
