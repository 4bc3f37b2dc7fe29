"""What every entry point shares: bad input ends in one clear line, not a traceback."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from hydra.utils import to_absolute_path
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue

from lossland.core import cpu
from lossland.core.errors import LosslandError
from lossland.core.progress import log
from lossland.nets import archs

T = TypeVar("T")


def run_reporting_errors(job: Callable[[], T]) -> T:
    """Run `job` with the CPU tuned (`cpu.tune`: denormals flushed, freed memory kept); a
    LosslandError is logged as one line and exits with status 2."""
    cpu.tune()
    try:
        return job()
    except LosslandError as e:
        log.error("error: %s", e)
    except MissingMandatoryValue as e:
        log.error("error: no value for %s: add %s=... to the command", e.full_key, e.full_key)
    raise SystemExit(2)


def absolute_paths(cfg: DictConfig) -> DictConfig:
    """A plain copy of `cfg` whose relative paths mean the launch directory, also on Slurm.
    Its arch entry is registered (lossland.nets.archs): one on a Hydra search path is known too."""
    archs.register(cfg.arch)
    cfg = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True, enum_to_str=True))
    cfg.out_dir = to_absolute_path(cfg.out_dir)
    cfg.dataset.root = to_absolute_path(cfg.dataset.root)
    return cfg
