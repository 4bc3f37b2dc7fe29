"""What a result is: the settings that change it, the inputs it came from, the code that made it.

Every record (a training run, a solution set, a path pair, later the probes) is stamped with
`stamp(record, config, inputs=...)`:

- `config` stays whole in the record; `result_config(config)` drops the keys that only say
  where or how a job runs (device, out_dir, data root, logging, checkpointing, chunking), the
  fixed parts of a registry entry (`_target_`: implied by the entry's name) and keys added
  later while at the value older records implied (OMITTED_AT_DEFAULT), and
  `signature(config)` is a short hash of the rest. A stage reuses a record only when the
  signature of the record's config and the identity of its inputs both equal today's.
- `inputs` names what the record was computed from by *its* hash (a set by its members'
  record hashes, a pair by its set's hash), so a retrained member invalidates what used it.
- `code` (git commit + dirty flag) is recorded and shown by the report, but is not identity:
  a refactoring must not throw away finished runs.
- `record_hash` is a hash of the record's content without timings, code and run-only keys.

Directory names carry the readable swept keys plus `dir_signature(config, kind)`: a short hash
of the *other* result-relevant settings (registered as the `${sig:train}` / `${sig:paths}`
resolver, so Hydra's task directories and lossland.core.storage agree).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import subprocess
from enum import Enum
from functools import lru_cache
from pathlib import Path
from typing import Any

from hydra.utils import to_absolute_path  # relative to the launch directory, also in a job
from omegaconf import DictConfig, ListConfig, OmegaConf

from lossland.core.conf import CONF_DIR

# Dotted keys that never change a result: where and how a job runs, reads, writes, logs, packs,
# and how a computation is sliced (chunks change float summation order at rounding level only).
NON_RESULT_KEYS = (
    "device",
    "out_dir",
    "dataset.root",
    "log_every",
    "checkpoint_every",
    "seeds_per_task",
    "shard",  # a job's share of a set's pairs or units
    "shard_size",
    "chunk",  # shard's name in older records
    "chunk_size",
    "allow_partial",
    "n_runs",
    "train_sig",
    "finder._target_",
    "finder.point_chunk",
    "finder.image_chunk",
    "finder.pairs_per_batch",
    "image_chunk",
    "probe.point_chunk",
    "probe.trace_batch",
    "weights",
    # A registry entry's fixed parts, implied by its name (arch.name, opt.name are in the sig):
    "arch._target_",
    "arch.loss",
    "arch.n_prm",
    "arch.batched",
    "arch.symmetry",
    "opt._target_",
    # which optimizer and weight vector a set takes: a record names its set by the set's hash
    # (inputs.set, made from its members), so the study cannot change a record unseen
    "study",
)
# Keys added after records were made, left out of the signature while they hold the value that
# every earlier record had implicitly: those records keep their signatures (and directories),
# while any other value (opt=sgd opt.optimizer=torch.optim.Adam) makes a new one.
OMITTED_AT_DEFAULT = {
    "opt.optimizer": "torch.optim.SGD",
    "finder.name": "fourier",
    "tf32": False,
    "align": "none",  # paths: endpoints aligned modulo permutations (issue 21)
    "probe.align": "none",  # the interp probe's
    "probe.solver": "eigsh",  # the hessian probe's (issue 23): eigsh, or batched Lanczos
    # a finder's mode (issue 19): null = the paper's full batch and fixed number of steps
    "finder.images_per_step": None,
    "finder.points_per_step": None,
    "finder.tol": None,
    "finder.window": 100,
    "finder.eval_every": 10,
}
# A preset sizes every trained finder by these; a finder without them (linear) ignores them.
SHARED_KEYS = ("steps", "lr", "images_per_step", "tol", "window", "eval_every")
# The swept keys that are readable in the directory name, per kind of task (not in its sig).
DIR_KEYS = {
    "train": ("arch.name", "opt.name", "seed"),
    "paths": ("arch.name", "set", "landscape", "finder.name"),
    "probe": ("arch.name", "set", "probe.name"),
}
VOLATILE = ("train_seconds", "seconds_per_epoch", "wall_seconds", "device_name", "code")
SIG_LEN = 8


def plain(config: Any) -> Any:
    """A plain, resolved dict (Hydra's node and enums removed) of a DictConfig or dict."""
    if isinstance(config, DictConfig):
        config = {
            k: plain(config[k]) if isinstance(config[k], DictConfig | ListConfig) else config[k]
            for k in config
            if k != "hydra"
        }
    elif isinstance(config, ListConfig):
        config = OmegaConf.to_container(config, resolve=True, enum_to_str=True)
    if isinstance(config, dict):
        return {str(k): plain(v) for k, v in config.items() if k != "hydra"}
    if isinstance(config, list | tuple):
        return [plain(v) for v in config]
    if isinstance(config, Enum):
        return config.value
    return config


def without(config: dict, keys: tuple[str, ...]) -> dict:
    """`config` minus the dotted `keys` (a copy; missing keys are fine)."""
    out = dict(config)
    for key in keys:
        head, _, rest = key.partition(".")
        if not rest:
            out.pop(head, None)
        elif isinstance(out.get(head), dict):
            out[head] = without(out[head], (rest,))
    return out


def result_config(config: Any) -> dict:
    """The settings that change a result (NON_RESULT_KEYS, and OMITTED_AT_DEFAULT keys at their
    default, removed)."""
    config = plain(config)
    at_default = tuple(k for k, v in OMITTED_AT_DEFAULT.items() if flat(config).get(k) == v)
    return without(config, NON_RESULT_KEYS + at_default + ignored_by_finder(config))


def ignored_by_finder(config: dict) -> tuple[str, ...]:
    """The shared finder settings (steps, lr) that the config's finder does not take (linear):
    passing them changes none of its results, so not its signature either. The finder is found
    by its registry name (conf/finder/<name>.yaml), so a record keeps its signature when its
    class moves; by the record's `_target_` only for a finder outside the registry."""
    finder = config.get("finder")
    if not isinstance(finder, dict) or not finder.get("_target_"):
        return ()
    accepted = finder_parameters(registered_target(str(finder.get("name", "fourier")), finder))
    return tuple(f"finder.{k}" for k in SHARED_KEYS if k in finder and k not in accepted)


def registered_target(name: str, finder: dict) -> str:
    """The `_target_` that conf/finder/<name>.yaml gives today, else the config's own."""
    return conf_target(name) or str(finder["_target_"])


@lru_cache(maxsize=32)
def conf_target(name: str) -> str | None:
    """conf/finder/<name>.yaml's `_target_` (None: no such entry), read once per process:
    every signature asks for it."""
    path = CONF_DIR / "finder" / f"{name}.yaml"
    target = OmegaConf.load(path).get("_target_") if path.exists() else None
    return None if target is None else str(target)


@lru_cache(maxsize=32)
def finder_parameters(target: str) -> frozenset[str]:
    """The arguments a finder class takes (all of them when it cannot be imported here)."""
    from hydra.utils import get_class

    try:
        return frozenset(inspect.signature(get_class(target)).parameters)
    except Exception:  # noqa: BLE001 - an unknown target: keep every key (build_finder names it)
        return frozenset(("steps", "lr"))


def digest(obj: Any, length: int = SIG_LEN) -> str:
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def signature(config: Any) -> str:
    """Short stable hash of the result-relevant settings."""
    return digest(result_config(config))


def dir_signature(config: Any, kind: str) -> str:
    """Hash of the result-relevant settings that are NOT readable in the directory name."""
    return digest(without(result_config(config), DIR_KEYS[kind]))


def differences(old: Any, new: Any) -> str:
    """`opt.lr 0.1 -> 0.01, ...`: the result-relevant keys in which two configs differ."""
    a, b = flat(result_config(old)), flat(result_config(new))
    keys = sorted(a.keys() | b.keys())
    diffs = [f"{k} {a.get(k)} -> {b.get(k)}" for k in keys if a.get(k) != b.get(k)]
    return ", ".join(diffs) or "no result-relevant key"


def flat(config: dict, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in config.items():
        if isinstance(v, dict):
            out |= flat(v, f"{prefix}{k}.")
        else:
            out[f"{prefix}{k}"] = v
    return out


@lru_cache(maxsize=1)
def code_version() -> dict[str, Any]:
    """The git commit of this checkout and whether it has uncommitted changes (once a process)."""
    repo = Path(__file__).resolve().parents[1]

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=20
        )
        if done.returncode != 0:
            raise OSError(done.stderr)
        return done.stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return {"commit": "unknown", "dirty": None}
    return {"commit": commit, "dirty": dirty}


def code_label(code: Any) -> str:
    """`1a2b3c4d` or `1a2b3c4d+dirty` or `unknown`, for tables."""
    if not isinstance(code, dict) or code.get("commit", "unknown") == "unknown":
        return "unknown"
    return str(code["commit"])[:8] + ("+dirty" if code.get("dirty") else "")


def record_hash(record: dict) -> str:
    """Hash of what a record says (timings, code version and run-only settings left out)."""
    kept = {k: v for k, v in record.items() if k not in (*VOLATILE, "record_hash", "signature")}
    if isinstance(kept.get("config"), dict):
        kept["config"] = result_config(kept["config"])
    return digest(kept, 16)


def stamp(record: dict, config: Any, inputs: dict[str, str] | None = None) -> dict:
    """Add config (if absent), signature, inputs, code version and record_hash; returns it."""
    record.setdefault("config", plain(config))
    record["signature"] = signature(config)
    record["inputs"] = dict(inputs or {})
    record["code"] = code_version()
    record["record_hash"] = record_hash(record)
    return record


def mismatch(record: dict, config: Any, inputs: dict[str, str] | None = None) -> str | None:
    """Why `record` may not be reused for `config` and `inputs` (None: it may)."""
    if signature(record.get("config", {})) != signature(config):
        return f"made under another config ({differences(record.get('config', {}), config)})"
    saved = record.get("inputs") or {}
    for name, value in (inputs or {}).items():
        if saved.get(name) != value:
            return f"made from another {name} ({saved.get(name)} -> {value})"
    return None


def source_name(config: Any) -> str:
    """Where a task's input shows in its directory: its `set`, or `file-<stem>-<path hash>` for
    the weights file of `weights=FILE` (`weights` is not in the signature, so without this a
    file's task would share the set's directory); `@<method>` for aligned paths."""
    return aligned_name(input_name(config), str(config.get("align") or "none"))


def input_name(config: Any) -> str:
    """The task's input: its `set`, or `file-<stem>-<hash>` for `weights=FILE`, the hash of the
    file's full path: two files of one name in different folders never share a directory (nor
    move each other's records aside), and a file changed in place keeps its own (its records'
    `inputs` say that they are stale)."""
    weights = config.get("weights")
    if not weights:
        return str(config.get("set"))
    full = to_absolute_path(str(Path(str(weights)).expanduser()))
    return f"file-{Path(full).stem}-{digest(full, 6)}"


def aligned_name(name: str, align: str) -> str:
    """Where a set's aligned records live: `<set>@<method>` (align=weight), apart from its
    unaligned ones (`<set>`, align=none)."""
    return name if align == "none" else f"{name}@{align}"


def register_resolver() -> None:
    """`${sig:<kind>}` in conf/*.yaml (train, paths, probe): the task config's dir_signature;
    `${source:}`: its `source_name`."""
    if not OmegaConf.has_resolver("sig"):
        OmegaConf.register_new_resolver(
            "sig", lambda kind, *, _root_: dir_signature(_root_, kind), use_cache=False
        )
    if not OmegaConf.has_resolver("source"):
        OmegaConf.register_new_resolver(
            "source", lambda *, _root_: source_name(_root_), use_cache=False
        )
