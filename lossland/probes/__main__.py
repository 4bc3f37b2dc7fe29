"""`python -m lossland.probes`: the probe jobs' entry point (thin: compose, then run_probe)."""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from lossland.core.conf import CONF_DIR
from lossland.core.config import register_configs
from lossland.launch import checks
from lossland.launch.cli import run_reporting_errors
from lossland.probes.job import probe_paths, run_probe

register_configs()


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="probe")
def main(cfg: DictConfig) -> None:
    def job():  # the values again in the task: a sweeper other than the basic one skips
        checks.check_values(cfg, "probe")  # the pre-submission check (SkipFinished)
        return run_probe(probe_paths(cfg))

    run_reporting_errors(job)


if __name__ == "__main__":
    main()
