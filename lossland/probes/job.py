"""One probe job: a shard of the units (solutions, pairs, dimensions) of one probe on one set.

Each unit's record is written atomically as soon as it is done, so a killed job loses at most
the units in flight and a rerun skips the ones already done. The input is a solution set
(built as the path jobs build it) or any [n, N_prm] float32 .npy file (`weights=FILE`).
"""

from __future__ import annotations

import hashlib
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig

from lossland.core import identity, numerics, registry, storage
from lossland.core.device import resolve_device
from lossland.core.errors import LosslandError
from lossland.core.progress import log, progress
from lossland.core.records import job_config, record_state, shard_of
from lossland.data import cached_split
from lossland.launch import checks
from lossland.launch.cli import absolute_paths
from lossland.probes import Landscape, Probe, Unit
from lossland.study.design import study_of
from lossland.study.sets import SolutionSet, build_set, source_set


def weights_sha256(src: SolutionSet) -> str:
    """The sha256 of the probed weights: the file's for weights=FILE, else of the set's
    float32 bytes."""
    if src.name.startswith("file-"):
        return src.hash
    return hashlib.sha256(np.ascontiguousarray(src.weights).tobytes()).hexdigest()


def build_probe(cfg: DictConfig) -> tuple[str, Probe]:
    """The probe named by the `probe` config group, built by the one registry builder
    (lossland.core.registry) once its settings are in range (lossland.launch.checks)."""
    bad = checks.probe_settings(cfg)
    if bad:
        raise LosslandError(f"bad value{'s' * (len(bad) > 1)}: {'; '.join(bad)}")
    return str(cfg.probe.name), registry.build("probe", cfg.probe)


def landscape_of(cfg: DictConfig, src: SolutionSet, device: torch.device) -> Landscape:
    arch = cfg.arch.name
    limits = {"train": cfg.dataset.n_train, "test": cfg.dataset.n_eval}

    def data(split: str):
        if split not in limits:
            raise LosslandError(f"unknown landscape {split!r}: choose train or test")
        return cached_split(str(cfg.dataset.root), split, str(device), limits[split])

    if cfg.landscape not in limits:
        raise LosslandError(f"unknown landscape {cfg.landscape!r}: choose train or test")

    def partner():
        """interp's other set: the study's contrast for this set's optimizer (paper: the SGD
        set of the same kind, for a BFGS set)."""
        study = study_of(cfg)
        other = None if cfg.get("weights") else study.partner(src.name)
        if other is None:
            return None
        try:
            s = build_set(
                cfg.out_dir, arch, other, cfg.n_select, cfg.n_runs, cfg.allow_partial, study=study
            )
        except LosslandError as e:
            raise LosslandError(
                f"interp's cross pairs need the {other} set: {e} (or probe.cross=false)"
            ) from e
        return other, s.weights, list(s.seeds)

    return Landscape(
        arch=arch,
        act=src.act,
        set_name=src.name,
        weights=torch.from_numpy(src.weights).to(device),
        seeds=src.seeds,
        device=device,
        landscape=cfg.landscape,
        image_chunk=cfg.image_chunk,
        data=data,
        partner=partner,
        opt=None if cfg.get("weights") else study_of(cfg).check_set(src.name).opt,
    )


def plan(cfg: DictConfig):
    """(probe name, probe, source, landscape, this shard's units, record dir)."""
    name, probe = build_probe(cfg)
    src = source_set(cfg)
    device = resolve_device(cfg.device)
    ctx = landscape_of(cfg, src, device)
    every = probe.units(ctx)
    if not every:
        raise LosslandError(
            f"probe {name} has nothing to do on {ctx.arch}/{src.name}: no units in its "
            f"{len(src.weights)} weight vector(s) (interp's pairs need at least 2)"
        )
    units = shard_of(every, cfg.shard, cfg.shard_size)
    sig = identity.dir_signature(cfg, "probe")
    out = storage.probe_task_dir(cfg.out_dir, cfg.arch.name, src.name, name, sig)
    return name, probe, src, ctx, units, out


def shard_done(cfg: DictConfig) -> bool:
    """Whether every unit of this job's shard has a reusable record (asked before a sweep is
    sent): same settings, same input; an unreadable record is not done."""
    try:
        _, _, src, _, units, out = plan(cfg)
    except LosslandError:
        return False  # the job itself will say what is wrong
    config = job_config(cfg)
    return all(
        record_state(storage.unit_file(out, u.key), config, {"set": src.hash}) == "done"
        for u in units
    )


def probe_paths(cfg: DictConfig) -> DictConfig:
    """absolute_paths, plus the weights file (relative to the launch directory)."""
    from hydra.utils import to_absolute_path

    cfg = absolute_paths(cfg)
    if cfg.get("weights"):
        cfg.weights = to_absolute_path(cfg.weights)
    return cfg


def task_done(cfg: DictConfig) -> bool:
    """Check the task (values, data, out_dir); whether its units all have reusable records (the
    sweep's SkipFinished asks before anything is submitted)."""
    checks.check_task(cfg, "probe")
    return shard_done(probe_paths(cfg))


def run_probe(cfg: DictConfig) -> dict[str, int]:
    """Probe the units of this job's shard that have no record yet; returns counts."""
    name, probe, src, ctx, units, out = plan(cfg)
    config = job_config(cfg)
    todo = []
    for u in units:
        state = record_state(storage.unit_file(out, u.key), config, {"set": src.hash})
        if state not in ("done", "missing"):
            log.warning("%s was %s: probing it again", storage.unit_file(out, u.key), state)
            storage.set_aside(storage.unit_file(out, u.key), "stale")
        if state != "done":
            todo.append(u)
    log.info(
        "%s/%s/%s shard %d: %d units, %d done before, %d to probe",
        ctx.arch,
        src.name,
        name,
        cfg.shard,
        len(units),
        len(units) - len(todo),
        len(todo),
    )
    batch = max(1, probe.batch)
    batches = [todo[k : k + batch] for k in range(0, len(todo), batch)]
    for group in progress(batches, total=len(batches), desc=f"{ctx.arch}/{src.name}/{name}"):
        start = time.perf_counter()
        results = probe.run(ctx, group)
        seconds = (time.perf_counter() - start) / len(group)
        for unit, result in zip(group, results, strict=True):
            result = flag_non_finite(result)
            write_record(
                storage.unit_file(out, unit.key), name, unit, result, src, ctx, config, seconds
            )
            if result.get("status", "ok") != "ok":
                log.warning("%s %s: %s", name, unit.key, result.get("message", result["status"]))
    return {"units": len(units), "skipped": len(units) - len(todo), "probed": len(todo)}


def non_finite_keys(result: dict[str, Any]) -> list[str]:
    """The keys of a result holding NaN or inf anywhere (numbers, lists, nested lists)."""

    def bad(v: Any) -> bool:
        if isinstance(v, float):
            return not np.isfinite(v)
        if isinstance(v, list | tuple):
            return any(bad(x) for x in v)
        if isinstance(v, dict):
            return any(bad(x) for x in v.values())
        return False

    return [k for k, v in result.items() if bad(v)]


def flag_non_finite(result: dict[str, Any]) -> dict[str, Any]:
    """A result with NaN or inf in it is recorded as such (`status: non-finite`, the keys
    named), whatever the probe said, so that the report never averages a NaN as a number."""
    keys = non_finite_keys(result)
    if not keys or result.get("status") == "non-finite":
        return result
    return result | {
        "status": "non-finite",
        "message": f"NaN or inf in {', '.join(keys)}"
        + (f" ({result['message']})" if result.get("message") else ""),
    }


def write_record(
    path: Path,
    probe: str,
    unit: Unit,
    result: dict[str, Any],
    src: SolutionSet,
    ctx: Landscape,
    config: dict[str, Any],
    seconds: float,
) -> None:
    """The one place probe records are written, stamped with their identity (config
    signature, the input set's hash, code version)."""
    record = {
        "probe": probe,
        "arch": ctx.arch,
        "set": src.name,
        "unit": unit.key,
        **unit.info,
        "status": "ok",
        **result,
        "input_sha256": weights_sha256(src),
        "wall_seconds": seconds,
        "device": ctx.device.type,
        "numerics": numerics.in_force(ctx.device).record(),
        "torch": torch.__version__,
        "host": platform.node(),
        "config": config,
    }
    storage.write_json(path, identity.stamp(record, config, inputs={"set": src.hash}))
