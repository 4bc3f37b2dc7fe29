"""`python -m lossland.align arch=ARCH weights=FILE.npy reference=REF.npy out=OUT.npy`

Each row of FILE with its hidden units renumbered to match REF's row of the same index (or
REF's only row), by weight matching (lossland.nets.matching): the same functions, in the numbering
closest to the reference. OUT is float32 and FILE's shape; a table of the distances before and
after goes to the terminal. Every input is checked before any row is aligned.
"""

from __future__ import annotations

from pathlib import Path

import hydra
import numpy as np
import pandas as pd
import torch
from hydra.utils import to_absolute_path
from omegaconf import DictConfig

from lossland.core import storage
from lossland.core.conf import CONF_DIR
from lossland.core.config import register_configs
from lossland.core.errors import LosslandError
from lossland.core.progress import progress
from lossland.launch.cli import run_reporting_errors
from lossland.nets import archs
from lossland.nets.matching import align, check_setting
from lossland.nets.modules import load_weight_file

register_configs()


def checked_rows(path: str, arch: str, what: str) -> np.ndarray:
    """An [n, N_prm] float32 file (models.load_weight_file) whose rows are all finite."""
    w = load_weight_file(path, arch)
    bad = np.flatnonzero(~np.isfinite(w).all(1))
    if len(bad):
        raise LosslandError(
            f"{what} {path}: rows {bad.tolist()[:10]} hold NaN or inf: drop them from the file"
        )
    return w


def align_file(
    arch: str,
    weights: str,
    reference: str,
    out: str,
    method: str = "weight",
    seed: int = 0,
    overwrite: bool = False,
) -> pd.DataFrame:
    """Align the rows of `weights` to those of `reference` and write them to `out`; one row of
    the returned table per vector (distances before and after, sweeps, permutation hash)."""
    check_setting(arch, method)
    if method == "none":
        raise LosslandError("method=none aligns nothing: choose method=weight")
    w, ref = checked_rows(weights, arch, "weights"), checked_rows(reference, arch, "reference")
    if len(ref) not in (1, len(w)):
        raise LosslandError(
            f"reference {reference} has {len(ref)} rows and weights {weights} {len(w)}: give "
            "the reference one row, or as many rows as the weights"
        )
    if Path(out).exists() and not overwrite:
        raise LosslandError(f"{out} exists: choose another out=, or add overwrite=true")
    shape = np.load(weights, mmap_mode="r").shape  # [N_prm] stays [N_prm]
    aligned, rows = np.empty_like(w), []
    for k in progress(range(len(w)), total=len(w), desc=f"aligning {weights}"):
        r = ref[k if len(ref) > 1 else 0]
        match = align(arch, method, torch.from_numpy(r), torch.from_numpy(w[k]), seed)
        aligned[k] = match.aligned.numpy()
        rows.append({"row": k, **match.info(method)})
    storage.write_npy(out, aligned.reshape(shape).astype(np.float32))
    return pd.DataFrame(rows)


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="align")
def main(cfg: DictConfig) -> None:
    def job() -> None:
        archs.register(cfg.arch)  # also an entry on a Hydra search path
        table = align_file(
            cfg.arch.name,
            to_absolute_path(cfg.weights),
            to_absolute_path(cfg.reference),
            to_absolute_path(cfg.out),
            str(cfg.method),
            int(cfg.seed),
            bool(cfg.overwrite),
        )
        print(f"{cfg.arch.name}: {cfg.weights} aligned to {cfg.reference} ({cfg.method} matching):")
        print(table.drop(columns="method").to_string(index=False, float_format="%.6g"))
        print(f"wrote {cfg.out}")

    run_reporting_errors(job)


if __name__ == "__main__":
    main()
