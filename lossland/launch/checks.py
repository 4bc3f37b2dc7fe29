"""Every value checked before anything is submitted or run: one line that names the problem.

The schema (lossland.core.config) checks types and enum choices as a config is composed; these
checks add the ranges and the choices that are not enums, that the data is present and the
official bytes, and that out_dir can be written. They run in the submitting process (the
sweep's SkipFinished callback, before any launcher) and again at the start of a single run.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

from hydra.utils import get_class, to_absolute_path
from omegaconf import DictConfig, OmegaConf

from lossland import data
from lossland.core import registry
from lossland.core.errors import LosslandError
from lossland.study.design import study_of

Rule = tuple[Callable[[Any], bool], str]


def _int(low: int, high: int | None = None, null: bool = False) -> Rule:
    def ok(v: Any) -> bool:
        if v is None:
            return null
        return isinstance(v, int) and not isinstance(v, bool) and low <= v <= (high or v)

    text = f"an integer >= {low}" + (f" and <= {high:,}" if high else "")
    return ok, text + (" (or null)" if null else "")


def _float(low: float, strict: bool = True) -> Rule:
    def ok(v: Any) -> bool:
        return isinstance(v, int | float) and (v > low if strict else v >= low) and v == v

    return ok, f"a number {'>' if strict else '>='} {low:g}"


def _choice(*choices: str) -> Rule:
    return (lambda v: v in choices), f"one of {', '.join(choices)}"


DEVICE: Rule = (
    lambda v: isinstance(v, str) and re.fullmatch(r"auto|cpu|cuda(:\d+)?", v) is not None,
    "auto, cpu, cuda or cuda:<index>",
)
NON_EMPTY: Rule = (lambda v: isinstance(v, str) and v.strip() != "", "a non-empty path")

COMMON = {
    "device": DEVICE,
    "out_dir": NON_EMPTY,
    "dataset.root": NON_EMPTY,
    "dataset.n_train": _int(1, data.N_TRAIN, null=True),
    "dataset.n_eval": _int(1, 10_000, null=True),
}
# A registry entry's own settings (cfg.opt, cfg.finder, cfg.probe) are not listed here: each
# entry's class declares their ranges (SETTINGS, JOB_SETTINGS; lossland.core.registry), and
# `entry_settings` checks the node against the class its `_target_` names.
TRAIN = COMMON | {
    "checkpoint_every": _int(1),
    "log_every": _int(1),
    "seeds_per_task": _int(1),
}
PATHS = COMMON | {
    "landscape": _choice("train", "test"),
    "align": _choice("none", "weight"),  # lossland.nets.matching.METHODS
    "shard": _int(0),
    "shard_size": _int(1),
    "n_pairs": _int(1),
    "pair_seed": _int(0),
    "n_select": _int(1),
    "n_runs": _int(1),
}
# The landscapes' sizes when dataset.n_train / n_eval are null (all of MNIST's).
LANDSCAPE_SIZE = {"train": ("dataset.n_train", data.N_TRAIN), "test": ("dataset.n_eval", 10_000)}
PROBE = COMMON | {
    "landscape": PATHS["landscape"],
    "shard": _int(0),
    "shard_size": _int(1),
    "n_select": _int(1),
    "n_runs": _int(1),
    "image_chunk": _int(1, null=True),
}  # the probe's own settings: its class's SETTINGS (probe_settings)
RULES = {"train": TRAIN, "paths": PATHS, "probe": PROBE, "evaluate": COMMON}
ENTRY = {"train": "opt", "paths": "finder"}  # the registry group each kind of task takes


def check_values(cfg: DictConfig, kind: str) -> None:
    """Every value of `cfg` within its range / among its choices, else one LosslandError."""
    bad = []
    for key, (ok, text) in RULES[kind].items():
        if OmegaConf.select(cfg, key, default="<absent>") == "<absent>":
            continue  # e.g. opt.lr under opt=lbfgs
        value = OmegaConf.select(cfg, key)
        if not ok(value):
            bad.append(f"{key}={value} (must be {text})")
    if kind in ENTRY:
        bad += entry_settings(cfg, ENTRY[kind])
    if kind == "probe":
        bad += probe_settings(cfg)
    if kind == "paths":
        bad += finder_limits(cfg)
    if kind in ("paths", "probe") and not cfg.get("weights"):
        study = study_of(cfg)
        if cfg.get("set") not in study.sets:
            bad.append(
                f"set={cfg.get('set')} (must be one of study {study.name}'s sets: "
                f"{', '.join(study.sets)})"
            )
    if bad:
        raise LosslandError(f"bad value{'s' * (len(bad) > 1)}: {'; '.join(bad)}")


def finder_limits(cfg: DictConfig) -> list[str]:
    """The finder's samples within what there is: images per step at most the landscape's
    images, points per step at most the grid's M."""
    bad = []
    per_step = OmegaConf.select(cfg, "finder.images_per_step")
    key, full = LANDSCAPE_SIZE.get(cfg.get("landscape"), ("", None))
    size = OmegaConf.select(cfg, key) if key else None
    size = size if isinstance(size, int) else full
    if isinstance(per_step, int) and size is not None and per_step > size:
        bad.append(
            f"finder.images_per_step={per_step} (must be <= the {cfg.landscape} landscape's "
            f"{size:,} images, or null)"
        )
    points, grid = OmegaConf.select(cfg, "finder.points_per_step"), cfg.finder.get("n_points")
    if isinstance(points, int) and isinstance(grid, int) and points > grid:
        bad.append(f"finder.points_per_step={points} (must be <= finder.n_points={grid}, or null)")
    return bad


@lru_cache(maxsize=64)
def check_out_dir(out_dir: str | Path) -> None:
    """out_dir can be created and written (a read-only or full disk fails here, in one line);
    once per process and out_dir (a sweep of 600 tasks checks one out_dir)."""
    try:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".write-test.", dir=out_dir)
        try:
            os.write(fd, b"x" * 4096)
            os.fsync(fd)
        finally:
            os.close(fd)
            os.unlink(tmp)
    except OSError as e:
        raise LosslandError(
            f"cannot write into out_dir={out_dir} ({e.strerror or e}): pick a writable out_dir "
            "with free space"
        ) from e


def check_task(cfg: DictConfig, kind: str) -> None:
    """All checks of one task's config as composed, cheapest first."""
    check_values(cfg, kind)  # before relative paths become absolute ('' would become cwd)
    data.check_files(to_absolute_path(cfg.dataset.root))
    check_out_dir(to_absolute_path(cfg.out_dir))


N_TEST = 10_000  # MNIST's official test images (the test landscape's, dataset.n_eval = null)


def entry_settings(cfg: DictConfig, group: str) -> list[str]:
    """The registry entry `cfg.<group>` against its class's declarations (lossland.core.registry):
    `group.key=value (why)` for each key the class does not take and each value out of range."""
    node = cfg.get(group)
    if not isinstance(node, DictConfig) or not node.get("_target_"):
        return [f"{group}={node} (must be an entry of conf/{group}/: {', '.join(names(group))})"]
    settings = registry.plain(node)
    try:
        cls = registry.target(group, settings)
        bad = registry.out_of_range(group, cls, settings)  # first: `accepts` reads the values
        unknown = [] if bad else registry.unknown_keys(cls, settings)
    except LosslandError as e:
        return [str(e)]
    declared = ", ".join(registry.settings_of(cls))
    name = settings.get("name", "?")
    return bad + [
        f"{group}.{k}={settings[k]} (not a setting of {group} {name}: {declared})" for k in unknown
    ]


def probe_settings(cfg: DictConfig) -> list[str]:
    """The probe entry's settings against its class's declared ranges (Probe.SETTINGS), then
    against this net and data (Probe.limits): `probe.key=value (must be ...)` each."""
    bad = entry_settings(cfg, "probe")
    if bad:
        return bad
    cls = get_class(cfg.probe._target_)
    settings = {k: v for k, v in registry.plain(cfg.probe).items() if k not in registry.FIXED}
    n_train, n_eval = cfg.dataset.get("n_train"), cfg.dataset.get("n_eval")
    images = {
        "train": min(n_train or data.N_TRAIN, data.N_TRAIN),
        "test": min(n_eval or N_TEST, N_TEST),
    }
    images["job"] = images.get(cfg.get("landscape"), images["train"])
    return cls.limits(settings, int(cfg.arch.n_prm), images)


def names(group: str) -> list[str]:
    """The shipped entries of a registry group: the stems of conf/<group>/*.yaml."""
    from lossland.core.conf import CONF_DIR

    return sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))
