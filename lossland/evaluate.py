"""`python -m lossland.evaluate`: the loss of every weight vector in a .npy file, as a table.

This is how published weights (the authors released [48, N_prm] float32 .npy files) are
checked against one's own data: `arch=lstm weights=w.npy split=test output=losses.csv`.
"""

from __future__ import annotations

import io

import hydra
import numpy as np
import pandas as pd
import torch
from hydra.utils import to_absolute_path
from omegaconf import DictConfig

from lossland import data
from lossland.core import storage
from lossland.core.conf import CONF_DIR
from lossland.core.config import register_configs
from lossland.core.device import resolve_device
from lossland.core.progress import log, progress
from lossland.launch import checks
from lossland.launch.cli import run_reporting_errors
from lossland.nets import archs
from lossland.nets.modules import build_model, evaluate, load_weight_file, set_flat

register_configs()


def evaluate_file(
    arch: str, weights: str, split: data.Split, act: str = "softplus"
) -> pd.DataFrame:
    """One row per vector: its index, loss and (for classifiers) accuracy on `split`."""
    w = torch.from_numpy(load_weight_file(weights, arch))
    model = build_model(arch, act).to(split.x.device)
    rows = []
    for i in progress(range(len(w)), total=len(w), desc=f"evaluating {weights}"):
        set_flat(model, w[i])
        rows.append({"index": i, **evaluate(model, arch, split.x, split.y)})
    return pd.DataFrame(rows)


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="evaluate")
def main(cfg: DictConfig) -> None:
    def job() -> None:
        checks.check_values(cfg, "evaluate")
        archs.register(cfg.arch)  # also an entry on a Hydra search path
        device = resolve_device(cfg.device)
        split_name = cfg.split.value
        limit = cfg.dataset.n_train if split_name == "train" else cfg.dataset.n_eval
        split = data.load_split(to_absolute_path(cfg.dataset.root), split_name, device, limit)
        table = evaluate_file(
            cfg.arch.name, to_absolute_path(cfg.weights), split, cfg.arch.act.value
        )
        bad = table.index[~np.isfinite(table["loss"].to_numpy(dtype=float))].tolist()
        if bad:  # NaN weights give NaN logits, and argmax of NaN still "predicts" a class
            table.loc[bad, "accuracy" if "accuracy" in table else "loss"] = np.nan
            log.warning(
                "warning: %d of %d weight vectors give a non-finite loss (rows %s): "
                "their weights are not finite or blow up; no accuracy for them",
                len(bad),
                len(table),
                ", ".join(map(str, bad[:10])) + (", ..." if len(bad) > 10 else ""),
            )
        print(f"{cfg.arch.name} on {split_name} ({len(split)} images), {cfg.weights}:")
        print(table.to_string(index=False, float_format="%.6g"))
        if cfg.output:
            buf = io.StringIO()
            table.to_csv(buf, index=False)
            storage.write_bytes(to_absolute_path(cfg.output), buf.getvalue().encode())
            print(f"wrote {cfg.output}")

    run_reporting_errors(job)


if __name__ == "__main__":
    main()
