"""Where a task's files live and how they are written: atomically, never half a file.

Every entry point and the aggregator go through this module. A task directory is derived from
the task's config (never a timestamp), so reruns and aggregation find the same place.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lossland.errors import LosslandError

RESULT_FILE = "result.json"
CHECKPOINT_FILE = "checkpoint.pt"


def train_task_dir(out_dir: str | Path, arch: str, opt: str, seed: int) -> Path:
    """outputs/<...>/train/<arch>/<opt>/seed=<n>: one training job's home."""
    return Path(out_dir) / "train" / arch / opt / f"seed={seed}"


def path_task_dir(out_dir: str | Path, arch: str, set_name: str, landscape: str) -> Path:
    """outputs/<...>/paths/<arch>/<set>/<landscape>: the records of one set's pairs."""
    return Path(out_dir) / "paths" / arch / set_name / landscape


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to `path`; on success it replaces `path` in one rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600: results are for the whole group
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())


def write_json(path: str | Path, obj: Any) -> None:
    write_bytes(
        path, (json.dumps(obj, indent=1, sort_keys=True, default=_jsonable) + "\n").encode()
    )


def read_json(path: str | Path) -> dict[str, Any]:
    """Read a record; a corrupt one raises a LosslandError that names the file."""
    try:
        with open(path) as f:
            obj = json.load(f)
    except json.JSONDecodeError as e:
        raise LosslandError(f"corrupt record {path} ({e.msg}): delete it to rerun that task") from e
    if not isinstance(obj, dict):
        raise LosslandError(f"corrupt record {path} (not a JSON object): delete it to rerun")
    return obj


def write_npy(path: str | Path, array: np.ndarray) -> None:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    write_bytes(path, buf.getvalue())


def write_torch(path: str | Path, obj: Any) -> None:
    buf = io.BytesIO()
    torch.save(obj, buf)
    write_bytes(path, buf.getvalue())


def read_torch(path: str | Path) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a truncated or foreign file: name it, never a deep traceback
        raise LosslandError(f"corrupt checkpoint {path} ({e}): delete it to restart") from e


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray | torch.Tensor):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot write {type(obj).__name__} to JSON")
