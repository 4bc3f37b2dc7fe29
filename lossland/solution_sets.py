"""Solution sets and their pairs (SPEC.md, Solution sets).

Per arch and optimizer, the finished runs with the lowest minimum train loss (48 of 75 in the
paper) form the "train" set (their w_train) and the "test" set (the same runs' w_test). Pairs
are drawn once per set from a seeded generator, so a rerun finds the same pairs.
"""

from __future__ import annotations

import itertools
import logging
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lossland import storage
from lossland.errors import LosslandError
from lossland.models import load_weight_file

SETS = {  # set name -> (optimizer, which weight vector)
    "bfgs-train": ("lbfgs", "w_train"),
    "bfgs-test": ("lbfgs", "w_test"),
    "sgd-train": ("sgd", "w_train"),
    "sgd-test": ("sgd", "w_test"),
}
log = logging.getLogger("lossland")


@dataclass(frozen=True)
class SolutionSet:
    """The weight vectors of one set, [n, N_prm] float32, and the seeds they came from."""

    arch: str
    name: str
    weights: np.ndarray
    seeds: list[int]
    act: str


def check_set(name: str) -> str:
    if name not in SETS:
        raise LosslandError(f"unknown set {name!r}: choose one of {', '.join(SETS)}")
    return name


def finished_runs(out_dir: str | Path, arch: str, opt: str) -> list[dict]:
    """Records of the runs that ended (done or diverged); corrupt records are named and skipped."""
    runs = []
    for path in sorted(
        (Path(out_dir) / "train" / arch / opt).glob(f"seed=*/{storage.RESULT_FILE}")
    ):
        try:
            record = storage.read_json(path)
        except LosslandError as e:
            log.warning("skipping: %s", e)
            continue
        if record.get("status") in ("done", "diverged"):
            runs.append(record | {"task_dir": str(path.parent)})
    return runs


def select_runs(
    out_dir: str | Path,
    arch: str,
    opt: str,
    n_select: int = 48,
    n_runs: int = 75,
    allow_partial: bool = False,
) -> list[dict]:
    """The `n_select` finished runs of lowest minimum train loss, best first; a diverged run
    counts as finished but ranks after every run that converged."""
    runs = finished_runs(out_dir, arch, opt)
    if len(runs) < n_runs and not allow_partial:
        raise LosslandError(
            f"{arch}/{opt}: {len(runs)} of {n_runs} runs finished under {out_dir}: "
            "wait for the training sweep, or set allow_partial=true to use what exists"
        )
    if not runs:
        raise LosslandError(
            f"{arch}/{opt}: no finished runs under {out_dir}: run the training first"
        )
    runs.sort(key=lambda r: (r["status"] != "done", r["min_train_loss"], r["seed"]))
    return runs[:n_select]


def build_set(
    out_dir: str | Path,
    arch: str,
    name: str,
    n_select: int = 48,
    n_runs: int = 75,
    allow_partial: bool = False,
) -> SolutionSet:
    """Stack the chosen runs' vectors; also saved as sets/<arch>/<name>.npy (+ .json seeds)."""
    opt, which = SETS[check_set(name)]
    runs = select_runs(out_dir, arch, opt, n_select, n_runs, allow_partial)
    weights = np.stack(
        [load_weight_file(Path(r["task_dir"]) / r["files"][which], arch)[0] for r in runs]
    )
    acts = {r["config"]["arch"]["act"] for r in runs}
    if len(acts) != 1:
        raise LosslandError(
            f"{arch}/{opt}: runs mix activations {sorted(acts)}: use one out_dir each"
        )
    solution = SolutionSet(arch, name, weights, [int(r["seed"]) for r in runs], acts.pop())
    set_dir = Path(out_dir) / "sets" / arch
    storage.write_npy(set_dir / f"{name}.npy", weights)
    storage.write_json(set_dir / f"{name}.json", {"seeds": solution.seeds, "act": solution.act})
    return solution


def draw_pairs(n_members: int, n_pairs: int, seed: int, set_name: str) -> list[tuple[int, int]]:
    """`n_pairs` distinct unordered pairs (i < j) of set members; all pairs if fewer exist."""
    every = list(itertools.combinations(range(n_members), 2))
    rng = np.random.default_rng([seed, zlib.crc32(set_name.encode())])
    if n_pairs >= len(every):
        return every
    chosen = rng.choice(len(every), size=n_pairs, replace=False)
    return [every[k] for k in chosen]
