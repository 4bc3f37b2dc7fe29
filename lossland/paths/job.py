"""One path job: a shard of a solution set's (or weights file's) pairs, each joined by the
configured path finder (`finder=`, conf/finder/; FourierPathFinder by default).

Each pair's record is written atomically as soon as its path is found, so a killed job loses at
most the pairs in flight and a rerun skips the pairs already done.
"""

from __future__ import annotations

import time
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig

from lossland.core import identity, numerics, storage
from lossland.core.device import resolve_device
from lossland.core.errors import LosslandError
from lossland.core.progress import log, progress
from lossland.core.records import job_config, record_state, shard_of
from lossland.core.storage import PAIRS_FILE, pair_file
from lossland.data import cached_split
from lossland.launch import checks
from lossland.launch.cli import absolute_paths
from lossland.nets.matching import align_pairs, check_setting
from lossland.paths.basis_loss import basis_loss_fn
from lossland.paths.finders import PathResult, build_finder
from lossland.paths.finders.fourier import t_grid
from lossland.paths.sizing import path_sizes
from lossland.study.design import Study, study_of
from lossland.study.sets import SolutionSet, build_set, draw_pairs, inputs_of, source_set

LANDSCAPES = {"train": "train", "test": "test"}  # landscape -> data split
# Path points per batched call where more are slower than the per-point loop on that device
# (benchmarks/pathfinder.py, docs/speed.md). On the CPU, one point per call goes through the
# net's own module (`functional.params_loss_fn`): for LeNet, whose convolutions vmap makes
# grouped ones, and the LSTM, whose nn.LSTM kernel beats its batched twin there; ae's
# 784-wide output layer, sigmoid and squared error are memory-bound: 2 points stay in cache.
POINT_CHUNK_CAP = {("lenet", "cpu"): 1, ("lstm", "cpu"): 1, ("ae", "cpu"): 2}


def point_chunk_for(arch: str, device: torch.device, configured: int | None) -> int | None:
    """finder.point_chunk, capped per arch and device type where the cap is faster."""
    cap = POINT_CHUNK_CAP.get((arch, device.type))
    return configured if cap is None else min(configured or cap, cap)


def fixed_pairs(
    set_dir: Path, solution: SolutionSet, n_pairs: int, seed: int, write: bool = True
) -> list[tuple[int, int]]:
    """Draw this set's pairs once; later jobs (other shards, reruns) read the same list."""
    path = set_dir / PAIRS_FILE
    if path.exists():
        saved = storage.read_json(path)
        try:
            drawn = (saved["seeds"], saved["n_pairs"], saved["pair_seed"], saved["pairs"])
            pairs = [(int(i), int(j)) for i, j in drawn[3]]
        except (KeyError, TypeError, ValueError) as e:
            raise LosslandError(
                f"{path} is damaged ({e!r}): delete it to draw the pairs anew"
            ) from e
        if drawn[:3] != (solution.seeds, n_pairs, seed):
            raise LosslandError(
                f"{path} was drawn for other runs or settings: delete {set_dir} to start anew"
            )
        return pairs
    pairs = draw_pairs(len(solution.seeds), n_pairs, seed, solution.name)
    if write:
        storage.write_json(
            path, {"seeds": solution.seeds, "n_pairs": n_pairs, "pair_seed": seed, "pairs": pairs}
        )
    return pairs


def set_dir_of(cfg: DictConfig, source: SolutionSet | None = None) -> Path:
    """paths/<arch>/<set or file-<stem>-<hash>>/<landscape>/<finder>/<sig>: `${sig:paths}`
    hashes the other settings."""
    sig = identity.dir_signature(cfg, "paths")
    name = source.name if source is not None else source_name(cfg)
    name = identity.aligned_name(name, str(cfg.get("align", "none")))  # <set>@<method>
    return storage.path_task_dir(
        cfg.out_dir, cfg.arch.name, name, cfg.landscape, cfg.finder.name, sig
    )


def source_name(cfg: DictConfig) -> str:
    """The set's name, or `file-<stem>-<path hash>` for weights=FILE."""
    return identity.input_name(cfg) if cfg.get("weights") else study_of(cfg).check_set(cfg.set).name


def solution_of(cfg: DictConfig, write: bool = True) -> SolutionSet:
    """The pairs' endpoints: the set named by `set`, or the rows of the file `weights`; at
    least two of them (a path has two ends)."""
    solution = source_set(cfg, write)
    if len(solution.seeds) < 2:
        where = cfg.weights if cfg.get("weights") else f"set {solution.name} (n_select)"
        raise LosslandError(
            f"{cfg.arch.name}: {where} holds {len(solution.seeds)} weight vector(s), and a path "
            "needs two: give at least 2 rows (or n_select >= 2)"
        )
    return solution


def set_args(cfg: DictConfig) -> tuple[str, str, str, int, int, bool, str | None]:
    """`solution_sets.build_set`'s first arguments as a path job's config gives them."""
    return (
        str(cfg.out_dir),
        cfg.arch.name,
        cfg.set,
        cfg.n_select,
        cfg.n_runs,
        cfg.allow_partial,
        cfg.get("train_sig"),
    )


@lru_cache(maxsize=32)
def checked_set(
    out_dir: str,
    arch: str,
    name: str,
    n_select: int,
    n_runs: int,
    partial: bool,
    sig: str | None,
    study: Study,
) -> SolutionSet:
    """The set as the pre-submission check sees it: built once for all shards of a sweep."""
    return build_set(out_dir, arch, name, n_select, n_runs, partial, sig, False, study)


def shard_done(cfg: DictConfig) -> bool:
    """Whether every pair of this job's shard has a reusable record (asked before a sweep is
    sent): same settings and made from today's set; an unreadable record is not done."""
    build_finder(cfg.finder)  # a setting the finder does not take stops the sweep here
    check_setting(cfg.arch.name, str(cfg.get("align", "none")))
    set_dir = set_dir_of(cfg)
    if not (set_dir / PAIRS_FILE).exists():
        return False
    if cfg.get("weights"):
        solution = solution_of(cfg, write=False)
    else:
        solution = checked_set(*set_args(cfg), study_of(cfg))
    mine = shard_of(
        fixed_pairs(set_dir, solution, cfg.n_pairs, cfg.pair_seed, write=False),
        cfg.shard,
        cfg.shard_size,
    )
    config = job_config(cfg)
    return all(
        record_state(pair_file(set_dir, *p), config, inputs_of(solution)) == "done" for p in mine
    )


def task_done(cfg: DictConfig) -> bool:
    """Check the task (values, data, out_dir); whether its pairs all have reusable records (the
    sweep's SkipFinished asks before anything is submitted)."""
    checks.check_task(cfg, "paths")
    return shard_done(absolute_paths(cfg))


def run_paths(cfg: DictConfig) -> dict[str, int]:
    """Find the paths of this job's shard that have no reusable record yet; returns counts.

    A record made under other settings or from another set (a member was retrained) is moved
    aside (`<name>.stale-<time>`) and found again; an unreadable one likewise (`.corrupt-`).
    """
    landscape = cfg.landscape
    if landscape not in LANDSCAPES:
        raise LosslandError(f"unknown landscape {landscape!r}: choose train or test")
    arch = cfg.arch.name
    finder_name, finder = build_finder(cfg.finder)
    align = str(cfg.get("align", "none"))
    check_setting(arch, align)
    solution = solution_of(cfg)
    set_name = solution.name
    set_dir = set_dir_of(cfg, solution)
    mine = shard_of(
        fixed_pairs(set_dir, solution, cfg.n_pairs, cfg.pair_seed), cfg.shard, cfg.shard_size
    )
    config = job_config(cfg)
    todo, stale = [], 0
    for p in mine:
        state = record_state(pair_file(set_dir, *p), config, inputs_of(solution))
        if state not in ("done", "missing"):
            log.warning("%s was %s: finding it again", pair_file(set_dir, *p), state)
            storage.set_aside(pair_file(set_dir, *p), "stale")
            stale += 1
        if state != "done":
            todo.append(p)
    log.info(
        "%s/%s/%s/%s shard %d: %d pairs, %d done before, %d to find (%d stale)",
        arch,
        set_name,
        landscape,
        finder_name,
        cfg.shard,
        len(mine),
        len(mine) - len(todo),
        len(todo),
        stale,
    )
    if not todo:
        return {"pairs": len(mine), "skipped": len(mine), "found": 0}

    device = resolve_device(cfg.device, tf32=bool(cfg.get("tf32", False)))
    limit = cfg.dataset.n_train if landscape == "train" else cfg.dataset.n_eval
    split = cached_split(str(cfg.dataset.root), LANDSCAPES[landscape], str(device), limit)
    batch, point_chunk, image_chunk = path_sizes(
        arch, solution.act, split.x, split.y, cfg.finder.n_points, cfg.finder, device
    )
    point_chunk = point_chunk_for(arch, device, point_chunk)
    log.info(
        "%d pairs per batch, %s points and %s images per call", batch, point_chunk, image_chunk
    )
    loss = basis_loss_fn(arch, solution.act, split.x, split.y, image_chunk, point_chunk)
    weights = torch.from_numpy(solution.weights).to(device)
    batches = [todo[k : k + batch] for k in range(0, len(todo), batch)]
    t = t_grid(cfg.finder.n_points, weights.dtype, device)
    desc = f"{arch}/{set_name}/{landscape}/{finder_name}"
    for pairs in progress(batches, total=len(batches), desc=desc):
        start = time.perf_counter()
        i, j = (torch.tensor(side, device=device) for side in zip(*pairs, strict=True))
        second, aligned = align_pairs(arch, align, weights[i], weights[j])  # align=none: as is
        results = finder(loss, weights[i], second, t, seed=draw_seed(config, solution, pairs))
        seconds = (time.perf_counter() - start) / len(pairs)
        for (a, b), result, w_b, how in zip(pairs, results, second, aligned, strict=True):
            straight = float(torch.linalg.vector_norm(w_b - weights[a]))
            record = path_record(
                solution, landscape, finder_name, a, b, result, straight, seconds, device, config
            )
            if how is not None:  # the alignment, before the stamp (record_hash covers it)
                record = identity.stamp(record | {"align": how}, config, inputs_of(solution))
            storage.write_json(pair_file(set_dir, a, b), record)
            log.info(
                "pair %d-%d: height %.4g (straight %.4g)",
                a,
                b,
                record["height"],
                record["straight_height"],
            )
    return {"pairs": len(mine), "skipped": len(mine) - len(todo), "found": len(todo)}


def draw_seed(config: dict, solution: SolutionSet, pairs: list[tuple[int, int]]) -> int:
    """The seed of a finder's own draws (images per step): from the record's identity (its
    settings' signature, its set's hash, its pairs), so a rerun draws the same images."""
    return int(identity.digest([identity.signature(config), solution.hash, pairs], 15), 16)


def path_record(
    solution: SolutionSet,
    landscape: str,
    finder: str,
    i: int,
    j: int,
    result: PathResult,
    straight_length: float,
    seconds: float,
    device: torch.device,
    config: dict,
) -> dict[str, Any]:
    record = {
        "arch": solution.arch,
        "set": solution.name,
        "landscape": landscape,
        "finder": finder,
        "i": i,
        "j": j,
        "seed_i": solution.seeds[i],
        "seed_j": solution.seeds[j],
        "height": result.height,
        "straight_height": result.straight_height,
        "length": result.length,
        "straight_length": straight_length,
        "t": result.t.tolist(),
        "profile": result.profile.tolist(),
        "straight_profile": result.straight_profile.tolist(),
        "steps": result.steps,
        "best_step": result.best_step,
        "best_objective": result.objective,
        "converged": result.converged,
        "history": result.history,
        "history_steps": result.history_steps,
        "wall_seconds": seconds,
        "device": device.type,
        "numerics": numerics.in_force(device).record(),
        "train_sig": solution.train_sig,
        "config": config,
    }
    return identity.stamp(record, config, inputs=inputs_of(solution))
