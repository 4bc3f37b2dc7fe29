"""Where a task's files live and how they are written: atomically, never half a file.

Every entry point and the aggregator go through this module. A task directory is derived from
the task's config (never a timestamp), so reruns and aggregation find the same place.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lossland.core.errors import LosslandError

RESULT_FILE = "result.json"
CHECKPOINT_FILE = "checkpoint.pt"
SEED_DIR = re.compile(r"^seed=(-?\d+)$")
PAIRS_FILE = "pairs.json"  # a path set's drawn pairs
PAIR_FILE = re.compile(r"^pair=(\d+)-(\d+)\.json$")
DEPTH = {"paths": 5, "probes": 4}  # task dir levels: <arch>/<set>/<landscape>/<finder>/<sig>
JOB_DIR = "shard="  # + <s>: one path or probe job's log and Hydra config, in its task dir


def train_task_dir(out_dir: str | Path, arch: str, opt: str, seed: int, sig: str) -> Path:
    """outputs/<...>/train/<arch>/<opt>/<sig>/seed=<n>: one training job's home.

    `sig` (lossland.core.identity.dir_signature) hashes the other result-relevant settings, so two
    configs that differ only in, say, opt.lr never share a directory.
    """
    return Path(out_dir) / "train" / arch / opt / sig / f"seed={seed}"


def train_task_dirs(out_dir: str | Path) -> list[tuple[str, str, str, int, Path]]:
    """Every (arch, opt, sig, seed, dir) under train/, sorted: what aggregation reads."""
    found = []
    for task in sorted((Path(out_dir) / "train").glob("*/*/*/seed=*")):
        m = SEED_DIR.match(task.name)
        if task.is_dir() and m is not None:
            arch, opt, sig = task.parts[-4:-1]
            found.append((arch, opt, sig, int(m.group(1)), task))
    return found


def path_task_dir(
    out_dir: str | Path, arch: str, set_name: str, landscape: str, finder: str, sig: str
) -> Path:
    """outputs/<...>/paths/<arch>/<set>/<landscape>/<finder>/<sig>: one set's pair records,
    one finder's (`set` is `file-<stem>` for paths between the rows of a weights file)."""
    return Path(out_dir) / "paths" / arch / set_name / landscape / finder / sig


def path_task_dirs(out_dir: str | Path) -> list[tuple[str, str, str, str, str, Path]]:
    """Every (arch, set, landscape, finder, sig, dir) under paths/, sorted."""
    return _task_dirs(Path(out_dir) / "paths", DEPTH["paths"])


def _task_dirs(root: Path, depth: int) -> list[tuple]:
    found = []
    for d in sorted(root.glob("/".join(["*"] * depth))):
        if d.is_dir() and not d.name.startswith(JOB_DIR):
            found.append((*d.parts[-depth:], d))
    return found


def pair_file(task_dir: str | Path, i: int, j: int) -> Path:
    """<path task dir>/pair=<i>-<j>.json: one pair's record (i, j index the set)."""
    return Path(task_dir) / f"pair={i}-{j}.json"


def job_logs(out_dir: str | Path, stage: str = "paths") -> list[Path]:
    """Every job log of a stage (paths/.../<sig>/shard=<s>/*.log), sorted."""
    stars = "/".join(["*"] * DEPTH[stage])
    return sorted(Path(out_dir).glob(f"{stage}/{stars}/{JOB_DIR}*/*.log"))


def probe_task_dir(out_dir: str | Path, arch: str, set_name: str, probe: str, sig: str) -> Path:
    """outputs/<...>/probes/<arch>/<set>/<probe>/<sig>: one probe's records of one set."""
    return Path(out_dir) / "probes" / arch / set_name / probe / sig


def probe_task_dirs(out_dir: str | Path) -> list[tuple[str, str, str, str, Path]]:
    """Every (arch, set, probe, sig, dir) under probes/, sorted."""
    return _task_dirs(Path(out_dir) / "probes", DEPTH["probes"])


def unit_file(task_dir: str | Path, unit: str) -> Path:
    """<probe task dir>/<unit>.json: one unit's record (solution=3, pair=0-5, d=100, ...)."""
    return Path(task_dir) / f"{unit}.json"


def set_file(out_dir: str | Path, arch: str, set_name: str, train_sig: str, n_select: int) -> Path:
    """outputs/<...>/sets/<arch>/<set>/<train sig>-n<n_select>.json (+ .npy beside it)."""
    return Path(out_dir) / "sets" / arch / set_name / f"{train_sig}-n{n_select}.json"


def set_aside(path: str | Path, why: str) -> Path:
    """Move an unusable record out of the way (kept, never deleted) and say so in the log."""
    path = Path(path)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    target = path.with_name(f"{path.name}.{why}-{stamp}")
    n = 1
    while target.exists():
        target = path.with_name(f"{path.name}.{why}-{stamp}.{n}")
        n += 1
    os.replace(path, target)
    logging.getLogger("lossland").warning("%s is %s: moved aside to %s", path, why, target.name)
    return target


def read_record(path: str | Path) -> dict[str, Any] | None:
    """A record, or None when there is none or it is unreadable (then it is moved aside)."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        return read_json(path)
    except (LosslandError, OSError, UnicodeDecodeError):
        set_aside(path, "corrupt")
        return None


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
    try:
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
    except OSError as e:  # read-only or full disk: one line; the old file (if any) is intact
        raise LosslandError(
            f"cannot write {path} ({e.strerror or e}): free some space or pick a writable out_dir"
        ) from e


def write_json(path: str | Path, obj: Any) -> None:
    write_bytes(
        path, (json.dumps(obj, indent=1, sort_keys=True, default=_jsonable) + "\n").encode()
    )


def read_json(path: str | Path) -> dict[str, Any]:
    """Read a record; a corrupt one raises a LosslandError that names the file."""
    try:
        with open(path) as f:
            obj = json.load(f)
    except UnicodeDecodeError as e:
        raise LosslandError(
            f"corrupt record {path} (not text): delete it to rerun that task"
        ) from e
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
