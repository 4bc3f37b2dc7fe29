"""`python -m lossland.paths`: the path-pair jobs' entry point (thin: compose, then run_paths)."""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from lossland.core.conf import CONF_DIR
from lossland.core.config import register_configs
from lossland.launch import checks
from lossland.launch.cli import absolute_paths, run_reporting_errors
from lossland.paths.job import run_paths

register_configs()


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="paths")
def main(cfg: DictConfig) -> None:
    def job():  # the values again in the task: a sweeper other than the basic one skips
        checks.check_values(cfg, "paths")  # the pre-submission check (SkipFinished)
        return run_paths(absolute_paths(cfg))

    run_reporting_errors(job)


if __name__ == "__main__":
    main()
