"""Train a blind audio-effect (mastering) estimator (reference part B and A.13).

    python train_mastering.py                                 # small CPU default, minutes
    python train_mastering.py sfx=peq_comp_dist afx=peq_comphybrid_dist encoder=tfe
    python train_mastering.py experiment=mastering/icassp_peq_mel
"""

from pathlib import Path

import hydra
from omegaconf import DictConfig

from ddspfx.core.console import plain_warnings
from ddspfx.train.launch import preflight, run_training

CONF_DIR = Path(__file__).resolve().parent / "conf"


@hydra.main(config_path="conf", config_name="mastering", version_base="1.3")
def main(cfg: DictConfig) -> None:
    run_training(cfg)  # exit status: 0 done, 1 stopped, 2 config error, 130/143 interrupted


if __name__ == "__main__":
    plain_warnings()  # one line each, each message once
    preflight(CONF_DIR, "mastering")  # config and resume checks, before Hydra writes the run folder
    main()
