"""Train a drum timbre remapper: onset features of a drum's hits -> TR-808 snare modulations.

    python train_remap.py                                          # built-in virtual snares, CPU, minutes
    python train_remap.py data.root=<folder of wavs> preset=snare_1
    python train_remap.py experiment=remap/linear2048 data.root=<SDSS folder> data.drum=<name>
    python train_remap.py experiment=remap/direct                  # the direct-optimisation baseline
"""

from pathlib import Path

import hydra
from omegaconf import DictConfig

from ddspfx.core.console import plain_warnings
from ddspfx.train.launch import preflight, run_training

CONF_DIR = Path(__file__).resolve().parent / "conf"


@hydra.main(config_path="conf", config_name="remap", version_base="1.3")
def main(cfg: DictConfig) -> None:
    run_training(cfg)  # exit status: 0 done, 1 stopped, 2 config error, 130/143 interrupted


if __name__ == "__main__":
    plain_warnings()  # one line each, each message once
    preflight(CONF_DIR, "remap")  # config and resume checks, before Hydra writes the run folder
    main()
