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
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from hydra.utils import get_method, to_absolute_path
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from lossland.core.errors import LosslandError

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


def task_configs_and_dirs(config: DictConfig, tasks: list[list[str]]):
    """Yield (config, Hydra's output dir) of each task, as the launcher will make them."""
    loader = GlobalHydra.instance().config_loader()
    saved = HydraConfig.instance().cfg
    try:
        for overrides in tasks:
            sweep_config = loader.load_sweep_config(config, list(overrides))
            HydraConfig.instance().set_config(sweep_config)  # for ${hydra:...} and cwd
            sweep = sweep_config.hydra.sweep
            out = Path(to_absolute_path(str(sweep.dir))) / str(sweep.subdir)
            task_cfg = copy.deepcopy(sweep_config)
            with read_write(task_cfg), open_dict(task_cfg):
                del task_cfg["hydra"]
            yield task_cfg, out
    finally:
        HydraConfig.instance().cfg = saved


def no_shared_dirs(dirs: dict[Path, str], task: str, mine: list[Path]) -> None:
    """Two tasks of one sweep writing one directory would overwrite each other: refuse."""
    for d in mine:
        d = d.resolve()
        if d in dirs and dirs[d] != task:
            raise LosslandError(
                f"tasks [{dirs[d]}] and [{task}] would both write {d}: "
                "their settings differ only in keys that do not name the directory; "
                "split the sweep or drop the duplicate"
            )
        dirs[d] = task


def stop(e: BaseException, task: str, stderr: bool = False) -> SystemExit:
    """One line for any failing check (never Hydra's warning, never a launch)."""
    text = str(e) if isinstance(e, LosslandError) else f"{type(e).__name__}: {e}"
    line = f"error: {text.splitlines()[0] if text else repr(e)} (task: {task})"
    if stderr:  # a single run: before Hydra's job logging exists, as the job's errors go
        print(line, file=sys.stderr)
    else:
        log.error("%s", line)
    return SystemExit(2)


def slurm_is_there(config: DictConfig) -> None:
    """hydra/launcher=slurm needs Slurm's sbatch here (the submitting machine): say so in one
    line instead of the launcher's traceback."""
    target = str(OmegaConf.select(config, "hydra.launcher._target_") or "")
    if "Slurm" in target and shutil.which("sbatch") is None:
        raise LosslandError(
            "hydra/launcher=slurm needs Slurm, and this machine has no sbatch on PATH: submit "
            "from the cluster's login node, or drop hydra/launcher=slurm to run the tasks here"
        )


class SkipFinished(Callback):
    """Before a multirun: check every task, say how many are finished, submit nothing if all are.

    `task_done(cfg)` also validates the task (values, data, out_dir: lossland.launch.checks) and
    refuses a record of another config; `task_dirs(cfg)` lists every directory the task writes
    besides Hydra's. Any exception (a damaged record included) stops the sweep in one line.
    """

    def __init__(self, task_done: str, task_dirs: str | None = None) -> None:
        self.task_done = task_done  # "module.function": cfg -> bool
        self.task_dirs = task_dirs  # "module.function": cfg -> list[Path]

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        """A single run: the same checks before Hydra writes anything into the task dir."""
        task_cfg = copy.deepcopy(config)
        with read_write(task_cfg), open_dict(task_cfg):
            del task_cfg["hydra"]
        try:
            get_method(self.task_done)(task_cfg)
        except Exception as e:  # noqa: BLE001 - any failing check: one line, exit 2
            raise stop(e, " ".join(config.hydra.overrides.task), stderr=True) from e

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        try:
            slurm_is_there(config)
            tasks = sweep_overrides(config)
        except Exception as e:  # noqa: BLE001 - one line, before anything is submitted
            raise stop(e, " ".join(config.hydra.overrides.task)) from e
        if not tasks:
            return
        task_done: Callable[[DictConfig], bool] = get_method(self.task_done)
        task_dirs = get_method(self.task_dirs) if self.task_dirs else (lambda cfg: [])
        finished, dirs, task = 0, {}, ""
        configs = task_configs_and_dirs(config, tasks)
        try:
            for overrides in tasks:
                task = " ".join(overrides)  # named before its config is composed
                cfg, out = next(configs)
                no_shared_dirs(dirs, task, [out, *task_dirs(cfg)])
                finished += bool(task_done(cfg))
        except Exception as e:  # noqa: BLE001 - Hydra would turn it into a warning and launch
            raise stop(e, task) from e
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
