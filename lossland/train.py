"""`python -m lossland.train`: the training sweep's entry point (thin: compose, then train_one).

    python -m lossland.train -m arch=fcp,lenet,lstm,ae opt=sgd,lbfgs seed='range(75)'
"""

from __future__ import annotations

import hydra
from hydra.utils import to_absolute_path
from omegaconf import DictConfig, OmegaConf

from lossland.cli import run_reporting_errors
from lossland.config import register_configs
from lossland.storage import train_task_dir
from lossland.training import train_one

register_configs()


def absolute_paths(cfg: DictConfig) -> DictConfig:
    """Relative paths mean the launch directory, also inside a Slurm job."""
    cfg = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True, enum_to_str=True))
    cfg.out_dir = to_absolute_path(cfg.out_dir)
    cfg.dataset.root = to_absolute_path(cfg.dataset.root)
    return cfg


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def main(cfg: DictConfig) -> None:
    def job() -> None:
        run = absolute_paths(cfg)
        train_one(run, train_task_dir(run.out_dir, run.arch.name, run.opt.name, run.seed))

    run_reporting_errors(job)


if __name__ == "__main__":
    main()
