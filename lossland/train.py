"""`python -m lossland.train`: the training sweep's entry point (thin: compose, then train_task).

    python -m lossland.train -m arch=fcp,lenet,lstm,ae opt=sgd,lbfgs seed='range(75)'

adds `hydra/launcher=slurm` to run as one Slurm job array (docs/cluster.md).
"""

from __future__ import annotations

from pathlib import Path

import hydra
from omegaconf import DictConfig

from lossland import checks, training
from lossland.cli import absolute_paths, run_reporting_errors
from lossland.config import CONF_DIR, register_configs

register_configs()


def task_done(cfg: DictConfig) -> bool:
    """Check the task (values, data, out_dir); whether its seeds all have their records (the
    sweep's SkipFinished asks before anything is submitted)."""
    checks.check_task(cfg, "train")
    return training.task_done(absolute_paths(cfg))


def task_dirs(cfg: DictConfig) -> list[Path]:
    """Every directory this task writes: one per packed seed."""
    return [training.run_dir(run) for run in training.seed_runs(absolute_paths(cfg))]


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="train")
def main(cfg: DictConfig) -> None:
    def job():  # the values again in the task: a sweeper other than the basic one skips
        checks.check_values(cfg, "train")  # the pre-submission check (SkipFinished)
        return training.train_task(absolute_paths(cfg))

    run_reporting_errors(job)


if __name__ == "__main__":
    main()
