"""One training task of a sweep (docs/decisions.md#training): its seeds trained as one pack or
one by one, each in its own directory, and what the sweep asks before it submits the task."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from lossland.core.records import existing_result, job_config
from lossland.launch import checks
from lossland.launch.cli import absolute_paths
from lossland.train import packs, seed_run


def train_task(cfg: DictConfig) -> list[dict[str, Any]]:
    """One task of a sweep: train (or resume, or skip) each of its seeds in its own directory.

    The first seed's directory is the Hydra job's (its train.log, .hydra/, Slurm log links); the
    log lines of every further seed also go to that seed's own train.log.
    """
    if cfg.get("seeds_per_task", 1) > 1:
        packed = packs.train_pack_or_none(cfg)  # None: not packable here (it logs why)
        if packed is not None:
            return packed
    records = []
    for k, run in enumerate(seed_run.seed_runs(cfg)):
        with seed_run.also_logging_to(seed_run.run_dir(run) / seed_run.LOG_FILE if k else None):
            records.append(seed_run.train_one(run, seed_run.run_dir(run)))
    return records


def seeds_done(cfg: DictConfig) -> bool:
    """Whether every seed of this task has its record (one made under another config raises)."""
    return all(
        existing_result(seed_run.run_dir(run), job_config(run)) is not None
        for run in seed_run.seed_runs(cfg)
    )


def task_done(cfg: DictConfig) -> bool:
    """Check the task (values, data, out_dir); whether its seeds all have their records (the
    sweep's SkipFinished asks before anything is submitted)."""
    checks.check_task(cfg, "train")
    return seeds_done(absolute_paths(cfg))


def task_dirs(cfg: DictConfig) -> list[Path]:
    """Every directory this task writes: one per packed seed."""
    return [seed_run.run_dir(run) for run in seed_run.seed_runs(absolute_paths(cfg))]
