"""Train a TexDSP texture model: per-frame texture features -> TexEnv controls -> TexStat.

    python train_texture.py                                       # built-in synthetic rain, CPU, minutes
    python train_texture.py data.texture=fire                     # rain | wind | fire | stream
    python train_texture.py data.root=<folder of wavs> loss=texstat_mrstft
    python train_texture.py experiment=texture/texdsp_n16 data.root=<folder> loss_beta=[1,5,5,5,5]
"""

from pathlib import Path

import hydra
from omegaconf import DictConfig

from ddspfx.core.console import plain_warnings
from ddspfx.train.launch import preflight, run_training

CONF_DIR = Path(__file__).resolve().parent / "conf"


@hydra.main(config_path="conf", config_name="texture", version_base="1.3")
def main(cfg: DictConfig) -> None:
    run_training(cfg)  # exit status: 0 done, 1 stopped, 2 config error, 130/143 interrupted


if __name__ == "__main__":
    plain_warnings()  # one line each, each message once
    preflight(CONF_DIR, "texture")  # config and resume checks, before Hydra writes the run folder
    main()
