"""Hydra callbacks that make a sweep safe to resubmit and a task's log easy to find.

Both are switched on in the `hydra.callbacks` of conf/train.yaml (and conf/paths.yaml); they
work with every launcher (local, submitit_local, Slurm) because they are plain callbacks.

- `SkipFinished` runs once in the submitting process: it composes every task of the sweep,
  asks the entry point's `task_done(cfg)` which tasks already have their results, and logs how
  many will be skipped. When all are finished it submits nothing; otherwise Hydra launches the
  whole sweep and each finished task returns at once ("skipping ...: result exists").
- `TaskLogs` runs in each task: under submitit it links the job's stdout/stderr into the task
  directory (`slurm.out`, `slurm.err`), and when the task raises it logs the traceback into the
  task's own log and names those files in the error the submitting process shows.
"""

from __future__ import annotations

import copy
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from hydra.utils import get_method
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from lossland.errors import LosslandError

log = logging.getLogger("lossland")
BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"


class TaskFailed(RuntimeError):
    """A task's exception, re-raised in the submitting process with where its logs are."""


def sweep_overrides(config: DictConfig) -> list[list[str]] | None:
    """The override lists of every task of this multirun, as the basic sweeper expands them."""
    if OmegaConf.select(config, "hydra.sweeper._target_") != BASIC_SWEEPER:
        return None  # another sweeper (optuna, ...) decides its tasks as it goes
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    params = OmegaConf.select(config, "hydra.sweeper.params") or {}
    arguments = [f"{k}={v}" for k, v in params.items()] + list(config.hydra.overrides.task)
    parsed = OverridesParser.create().parse_overrides(arguments)
    return [task for batch in BasicSweeper.split_arguments(parsed, None) for task in batch]


def task_configs(config: DictConfig, tasks: list[list[str]]):
    """Yield each task's config as its task function will see it (Hydra's node removed)."""
    loader = GlobalHydra.instance().config_loader()
    saved = HydraConfig.instance().cfg
    try:
        for overrides in tasks:
            sweep_config = loader.load_sweep_config(config, list(overrides))
            HydraConfig.instance().set_config(sweep_config)  # for ${hydra:...} and cwd
            task_cfg = copy.deepcopy(sweep_config)
            with read_write(task_cfg), open_dict(task_cfg):
                del task_cfg["hydra"]
            yield task_cfg
    finally:
        HydraConfig.instance().cfg = saved


class SkipFinished(Callback):
    """Before a multirun: say how many tasks are finished, and submit nothing if all are."""

    def __init__(self, task_done: str) -> None:
        self.task_done = task_done  # "module.function": cfg -> bool

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        tasks = sweep_overrides(config)
        if not tasks:
            return
        task_done: Callable[[DictConfig], bool] = get_method(self.task_done)
        try:
            finished = sum(bool(task_done(cfg)) for cfg in task_configs(config, tasks))
        except LosslandError as e:
            log.error("error: %s", e)
            raise SystemExit(2) from e
        log.info(
            "sweep of %d tasks: %d finished before (skipped), %d to run",
            len(tasks),
            finished,
            len(tasks) - finished,
        )
        if finished == len(tasks):
            log.info("all %d tasks are finished: nothing to submit", len(tasks))
            raise SystemExit(0)


def link_job_logs(task_dir: Path) -> dict[str, Path]:
    """Under submitit, link the job's stdout/stderr into the task dir; returns name -> link."""
    executor = os.environ.get("SUBMITIT_EXECUTOR")
    if not executor:
        return {}
    import submitit

    paths = submitit.JobEnvironment().paths
    links = {}
    for suffix, target in (("out", paths.stdout), ("err", paths.stderr)):
        link = task_dir / f"{executor}.{suffix}"
        tmp = link.with_name(f".{link.name}.tmp")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(os.path.relpath(target, task_dir))
        os.replace(tmp, link)  # a requeued or resubmitted task points at its latest log
        links[suffix] = link
    return links


class TaskLogs(Callback):
    """In each task: Slurm logs beside the results, a failure's traceback in the task's log."""

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        task_dir = Path(config.hydra.runtime.output_dir)
        for link in link_job_logs(task_dir).values():
            log.info("job log: %s -> %s", link, os.readlink(link))

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        if job_return.status != JobStatus.FAILED:
            return
        error = job_return._return_value
        task_dir = Path(config.hydra.runtime.output_dir)
        logs = [task_dir / f"{config.hydra.job.name}.log"]
        logs += sorted(task_dir.glob(f"{os.environ.get('SUBMITIT_EXECUTOR', '-')}.err"))
        where = " and ".join(str(p) for p in logs)
        log.error("task %s failed: %r; its log: %s", task_dir, error, where, exc_info=error)
        failed = TaskFailed(f"task {task_dir} failed: {error!r}; traceback in {where}")
        job_return.return_value = failed
