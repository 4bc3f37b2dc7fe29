"""A fifth net needs only a config entry and a small module (docs/extending.md).

The test writes both outside the repository, as a user would in their own project: a module
`tinynet.py` (a 784-20-10 MLP) on PYTHONPATH, and `arch/mlp20.yaml` in a config dir that the
command adds with `hydra.searchpath=[file://DIR]`. Then the entry passes the registry's contract
(tests/test_arch_registry.py) and `python -m lossland.train arch=mlp20` trains it to a record.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import numpy as np
from omegaconf import OmegaConf

from lossland.nets import archs
from tests.conftest import REPO
from tests.test_arch_registry import check_batched_losses, check_flat_layout, check_n_prm

MODULE = '''
from torch import nn

from lossland.nets.modules import activation


class TinyMLP(nn.Sequential):
    """784-20-10, no biases."""

    def __init__(self, act: str = "softplus") -> None:
        hidden, out = nn.Linear(784, 20, bias=False), nn.Linear(20, 10, bias=False)
        super().__init__(nn.Flatten(), hidden, activation(act), out)
'''
ENTRY = """
defaults:
  - /schema/arch/arch@_here_
  - _self_

name: mlp20
act: softplus
_target_: tinynet.TinyMLP
loss: cross_entropy
n_prm: 15880   # 784 * 20 + 20 * 10
"""


def test_a_net_from_a_yaml_and_a_module_outside_the_repository_trains(mnist_root, tmp_path):
    (tmp_path / "tinynet.py").write_text(MODULE)
    (tmp_path / "conf" / "arch").mkdir(parents=True)
    (tmp_path / "conf" / "arch" / "mlp20.yaml").write_text(ENTRY)
    env = os.environ | {"PYTHONPATH": f"{tmp_path}{os.pathsep}{REPO}"}
    out = tmp_path / "out"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "lossland.train",
            f"hydra.searchpath=[file://{tmp_path / 'conf'}]",
            "arch=mlp20",
            "opt=sgd",
            "opt.epochs=2",
            "dataset.n_train=256",
            "dataset.n_eval=128",
            f"dataset.root={mnist_root}",
            f"out_dir={out}",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (result,) = out.glob("train/mlp20/sgd/*/seed=0/result.json")
    record = json.loads(result.read_text())
    assert record["status"] == "done" and record["arch"] == "mlp20"
    assert all(math.isfinite(v) for v in record["curves"]["train"])
    assert np.load(result.parent / "w_train.npy").shape == (15880,)

    # the registry's contract holds for the new entry, as for the shipped ones
    sys.path.insert(0, str(tmp_path))
    try:
        archs.register(OmegaConf.load(tmp_path / "conf" / "arch" / "mlp20.yaml"))
        check_n_prm("mlp20")
        check_flat_layout("mlp20")
        from lossland.data import load_split

        split = load_split(mnist_root, "train", limit=30)
        check_batched_losses("mlp20", split.x.double(), split.y)
    finally:
        sys.path.remove(str(tmp_path))
