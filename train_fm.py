"""Train an FM sound-matching model (reference part A).

    python train_fm.py                       # small CPU default, minutes
    python train_fm.py experiment=fm/deter   # the paper's deterministic model
"""

import hydra
from omegaconf import DictConfig

from ddspfx.train.launch import train


@hydra.main(config_path="conf", config_name="fm", version_base="1.3")
def main(cfg: DictConfig) -> None:
    train(cfg)


if __name__ == "__main__":
    main()
