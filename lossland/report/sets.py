"""The four solution sets of each arch, as the report uses them (selection: lossland.solution_sets).

The selection rule is the one the path jobs use (`select_runs`: the finished runs of lowest
minimum train loss, best first). The report never writes sets/ (the path jobs own it), and a
partial sweep is normal here: a set holds min(n_select, finished runs) vectors and says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lossland.errors import LosslandError
from lossland.models import load_weight_file
from lossland.report.records import Problem
from lossland.solution_sets import SETS, select_runs

ARCHS = ("fcp", "lenet", "ae", "lstm")  # the paper's order (Table 1, Figs. 4-6)
ARCH_LABEL = {"fcp": "FCP", "lenet": "LeNet", "ae": "Autoencoder", "lstm": "LSTM"}
SET_NAMES = tuple(SETS)  # bfgs-train, bfgs-test, sgd-train, sgd-test
SET_LABEL = {
    "bfgs-train": "BFGS train",
    "bfgs-test": "BFGS test",
    "sgd-train": "SGD train",
    "sgd-test": "SGD test",
}
SET_COLOR = {  # the paper's Fig. 4 colours
    "bfgs-train": "navy",
    "bfgs-test": "#7fb3e6",  # light blue
    "sgd-train": "#f08080",  # light red
    "sgd-test": "gold",
}
OPT_LABEL = {"lbfgs": "L-BFGS", "sgd": "SGD"}


@dataclass
class LoadedSet:
    """One set's weight vectors [n, N_prm] and the seeds they came from (best first)."""

    arch: str
    name: str
    weights: np.ndarray
    seeds: list[int]

    @property
    def n_prm(self) -> int:
        return int(self.weights.shape[1])


def load_sets(
    out_dir: str | Path,
    archs: list[str],
    n_select: int = 48,
    train_sigs: dict[tuple[str, str], str] | None = None,
) -> tuple[dict[tuple[str, str], LoadedSet], list[Problem]]:
    """Every set that can be built now, keyed by (arch, set name); unreadable files are named.

    `train_sigs[(arch, opt)]` picks the training config (never pooled; report.configs)."""
    sets: dict[tuple[str, str], LoadedSet] = {}
    problems: list[Problem] = []
    for arch in archs:
        for name, (opt, which) in SETS.items():
            try:
                sig = (train_sigs or {}).get((arch, opt))
                runs = select_runs(out_dir, arch, opt, n_select, 0, True, sig)
            except LosslandError:
                continue  # no finished run of this arch x optimizer yet: the status table says so
            vectors, seeds = [], []
            for run in runs:
                path = Path(run["task_dir"]) / run.get("files", {}).get(which, f"{which}.npy")
                try:
                    vectors.append(load_weight_file(path, arch)[0])
                    seeds.append(int(run["seed"]))
                except (LosslandError, KeyError, ValueError, OSError) as e:
                    problems.append(Problem(str(path), str(e).splitlines()[0]))
            if vectors:
                sets[(arch, name)] = LoadedSet(arch, name, np.stack(vectors), seeds)
    return sets, problems
