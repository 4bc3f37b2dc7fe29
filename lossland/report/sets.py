"""The study's solution sets of each arch, as the report uses them (lossland.study.sets).

The selection rule is the one the path jobs use (`select_runs`: the finished runs of lowest
minimum train loss, best first). The report never writes sets/ (the path jobs own it), and a
partial sweep is normal here: a set holds min(n_select, finished runs) vectors and says so.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lossland.core.errors import LosslandError
from lossland.report.types import LoadedSet, Problem
from lossland.study.design import Study
from lossland.study.sets import build_set, select_runs


def load_sets(
    out_dir: str | Path,
    archs: list[str],
    study: Study,
    n_select: int = 48,
    train_sigs: dict[tuple[str, str], str] | None = None,
) -> tuple[dict[tuple[str, str], LoadedSet], list[Problem]]:
    """Every set of the study that can be built now, keyed by (arch, set name); unreadable
    files are named. `train_sigs[(arch, opt)]` picks the training config (never pooled;
    report.configs)."""
    sets: dict[tuple[str, str], LoadedSet] = {}
    problems: list[Problem] = []
    for arch in archs:
        for name, spec in study.sets.items():
            opt, which = spec.opt, spec.which
            try:
                sig = (train_sigs or {}).get((arch, opt))
                runs = select_runs(out_dir, arch, opt, n_select, 0, True, sig)
            except LosslandError:
                continue  # no finished run of this arch x optimizer yet: the status table says so
            vectors, seeds = [], []
            for run in runs:
                path = Path(run["task_dir"]) / run.get("files", {}).get(which, f"{which}.npy")
                try:
                    vectors.append(read_vector(path, vectors[0].shape if vectors else None))
                    seeds.append(int(run["seed"]))
                except (LosslandError, KeyError, ValueError, OSError) as e:
                    problems.append(Problem(str(path), str(e).splitlines()[0]))
            if vectors:
                digest = set_hash(out_dir, arch, name, n_select, sig, study)
                sets[(arch, name)] = LoadedSet(arch, name, np.stack(vectors), seeds, digest)
    return sets, problems


def set_hash(
    out_dir: str | Path, arch: str, name: str, n_select: int, sig: str | None, study: Study
) -> str:
    """The hash the jobs give this set now (its records name it as their input), or ""."""
    try:
        return build_set(out_dir, arch, name, n_select, 0, True, sig, write=False, study=study).hash
    except (LosslandError, KeyError, ValueError, OSError):
        return ""


def read_vector(path: Path, shape: tuple[int, ...] | None) -> np.ndarray:
    """One run's float32 [N_prm] vector, shaped like the set's others. The report reads nets
    it has no model of (records of any arch), so the set's members check each other."""
    w = np.load(path, allow_pickle=False)
    if w.dtype != np.float32 or w.ndim != 1 or (shape is not None and w.shape != shape):
        raise LosslandError(
            f"{path}: {w.dtype} {list(w.shape)}, expected float32 "
            f"{list(shape) if shape else '[N_prm]'}: retrain that run"
        )
    return w
