"""`python -m lossland.paths`: the path-pair jobs' entry point (thin: compose, then run_paths)."""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from lossland import checks
from lossland.cli import absolute_paths, run_reporting_errors
from lossland.config import CONF_DIR, register_configs
from lossland.path_job import run_paths, shard_done

register_configs()


def task_done(cfg: DictConfig) -> bool:
    """Check the task (values, data, out_dir); whether its pairs all have reusable records (the
    sweep's SkipFinished asks before anything is submitted)."""
    checks.check_task(cfg, "paths")
    return shard_done(absolute_paths(cfg))


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="paths")
def main(cfg: DictConfig) -> None:
    def job():  # the values again in the task: a sweeper other than the basic one skips
        checks.check_values(cfg, "paths")  # the pre-submission check (SkipFinished)
        return run_paths(absolute_paths(cfg))

    run_reporting_errors(job)


if __name__ == "__main__":
    main()
