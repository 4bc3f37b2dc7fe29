"""`python -m lossland.train`: the training sweep's entry point (thin: compose, then train_task).

    python -m lossland.train -m arch=fcp,lenet,lstm,ae opt=sgd,lbfgs seed='range(75)'

adds `hydra/launcher=slurm` to run as one Slurm job array (docs/cluster.md).
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from lossland.core.conf import CONF_DIR
from lossland.core.config import register_configs
from lossland.launch import checks
from lossland.launch.cli import absolute_paths, run_reporting_errors
from lossland.train import task

register_configs()


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="train")
def main(cfg: DictConfig) -> None:
    def job():  # the values again in the task: a sweeper other than the basic one skips
        checks.check_values(cfg, "train")  # the pre-submission check (SkipFinished)
        return task.train_task(absolute_paths(cfg))

    run_reporting_errors(job)


if __name__ == "__main__":
    main()
