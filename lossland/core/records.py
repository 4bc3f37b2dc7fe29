"""A job's records: the config a record holds, whether a finished one may be reused, a job's
share (shard) of its units. Train, path and probe jobs decide reuse here, by identity
(lossland.core.identity), never by a file's existence."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from omegaconf import DictConfig, OmegaConf

from lossland.core import identity, storage
from lossland.core.errors import LosslandError

T = TypeVar("T")


def job_config(cfg: DictConfig) -> dict[str, Any]:
    """The config a record (and a checkpoint) holds: plain, resolved, without Hydra's node."""
    config = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
    config.pop("hydra", None)
    return config


def existing_result(task_dir: Path, config: dict) -> dict[str, Any] | None:
    """A finished job's record, or None: then the job (re)runs.

    An unreadable record is moved aside and rerun; one finished under other result-relevant
    settings is refused in one line (rerunning would destroy it).
    """
    path = Path(task_dir) / storage.RESULT_FILE
    result = storage.read_record(path)
    if result is None:
        return None
    why = identity.mismatch(result, config)
    if why is not None:
        raise LosslandError(f"{path} was {why}: pick another out_dir or move that directory away")
    return result


def record_state(path: Path, config: dict, inputs: dict[str, str]) -> str:
    """`done` (reusable), `missing` (none, or unreadable: then moved aside) or why it is stale."""
    record = storage.read_record(path)
    if record is None:
        return "missing"
    return identity.mismatch(record, config, inputs) or "done"


def shard_of(units: list[T], shard: int, shard_size: int) -> list[T]:
    """The `shard`-th run of `shard_size` units (pairs of a set, a probe's units)."""
    if shard < 0 or shard_size < 1:
        raise LosslandError(
            f"shard={shard}, shard_size={shard_size}: need shard >= 0, shard_size >= 1"
        )
    return units[shard * shard_size : (shard + 1) * shard_size]
