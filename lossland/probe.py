"""`python -m lossland.probe`: the probe jobs' entry point (thin: compose, then run_probe)."""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from lossland import checks
from lossland.cli import absolute_paths, run_reporting_errors
from lossland.config import CONF_DIR, register_configs
from lossland.probe_job import run_probe, shard_done

register_configs()


def probe_paths(cfg: DictConfig) -> DictConfig:
    """absolute_paths, plus the weights file (relative to the launch directory)."""
    from hydra.utils import to_absolute_path

    cfg = absolute_paths(cfg)
    if cfg.get("weights"):
        cfg.weights = to_absolute_path(cfg.weights)
    return cfg


def task_done(cfg: DictConfig) -> bool:
    """Check the task (values, data, out_dir); whether its units all have reusable records (the
    sweep's SkipFinished asks before anything is submitted)."""
    checks.check_task(cfg, "probe")
    return shard_done(probe_paths(cfg))


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="probe")
def main(cfg: DictConfig) -> None:
    def job():  # the values again in the task: a sweeper other than the basic one skips
        checks.check_values(cfg, "probe")  # the pre-submission check (SkipFinished)
        return run_probe(probe_paths(cfg))

    run_reporting_errors(job)


if __name__ == "__main__":
    main()
