"""Train an FM sound-matching model (reference part A).

    python train_fm.py                       # small CPU default, minutes
    python train_fm.py experiment=fm/deter   # the paper's deterministic model
"""

from pathlib import Path

import hydra
from omegaconf import DictConfig

from ddspfx.core.console import plain_warnings
from ddspfx.train.launch import preflight, run_training

CONF_DIR = Path(__file__).resolve().parent / "conf"


@hydra.main(config_path="conf", config_name="fm", version_base="1.3")
def main(cfg: DictConfig) -> None:
    run_training(cfg)  # exit status: 0 done, 1 stopped, 2 config error, 130/143 interrupted


if __name__ == "__main__":
    plain_warnings()  # one line each, each message once
    preflight(CONF_DIR, "fm")  # config and resume checks, before Hydra writes the run folder
    main()
