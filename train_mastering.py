"""Train a blind audio-effect (mastering) estimator (reference part B and A.13).

    python train_mastering.py                                 # small CPU default, minutes
    python train_mastering.py sfx=peq_comp_dist afx=peq_comphybrid_dist encoder=tfe
    python train_mastering.py experiment=mastering/icassp_peq_mel
"""

import hydra
from omegaconf import DictConfig

from ddspfx.train.launch import train


@hydra.main(config_path="conf", config_name="mastering", version_base="1.3")
def main(cfg: DictConfig) -> None:
    train(cfg)


if __name__ == "__main__":
    main()
