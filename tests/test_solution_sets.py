"""Solution sets from a real sweep: the lowest-train-loss runs, seeded pairs, clear shortfalls."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from lossland.core.errors import LosslandError
from lossland.core.storage import set_file
from lossland.nets import archs
from lossland.study.sets import build_set, draw_pairs, select_runs


def test_sweep_wrote_every_task_dir(tiny_sweep):
    for opt in ("sgd", "lbfgs"):
        for seed in range(4):
            (path,) = tiny_sweep.glob(f"train/fcp/{opt}/*/seed={seed}/result.json")
            record = json.loads(path.read_text())
            assert (record["opt"], record["seed"], record["status"]) == (opt, seed, "done")


def test_selection_takes_lowest_train_loss(tiny_sweep):
    runs = select_runs(tiny_sweep, "fcp", "sgd", n_select=3, n_runs=4)
    losses = [r["min_train_loss"] for r in runs]
    assert len(runs) == 3 and losses == sorted(losses)
    everyone = select_runs(tiny_sweep, "fcp", "sgd", n_select=4, n_runs=4)
    assert max(losses) <= everyone[-1]["min_train_loss"]


def test_train_and_test_sets_share_runs(tiny_sweep):
    train = build_set(tiny_sweep, "fcp", "bfgs-train", n_select=3, n_runs=4)
    test = build_set(tiny_sweep, "fcp", "bfgs-test", n_select=3, n_runs=4)
    assert train.seeds == test.seeds and train.weights.shape == (3, archs.get("fcp").n_prm)
    seed = train.seeds[0]
    (expect,) = map(np.load, tiny_sweep.glob(f"train/fcp/lbfgs/*/seed={seed}/w_test.npy"))
    assert np.array_equal(test.weights[0], expect)
    saved = np.load(
        set_file(tiny_sweep, "fcp", "bfgs-train", train.train_sig, 3).with_suffix(".npy")
    )
    assert np.array_equal(saved, train.weights) and saved.dtype == np.float32


def test_too_few_runs_says_the_counts_and_the_way_on(tiny_sweep):
    with pytest.raises(LosslandError, match="4 of 75 runs finished.*allow_partial=true"):
        select_runs(tiny_sweep, "fcp", "sgd")
    assert len(select_runs(tiny_sweep, "fcp", "sgd", allow_partial=True)) == 4


def test_pairs_are_distinct_seeded_and_stable():
    pairs = draw_pairs(48, 300, seed=0, set_name="sgd-test")
    assert len(pairs) == len(set(pairs)) == 300
    assert all(0 <= i < j < 48 for i, j in pairs)
    assert pairs == draw_pairs(48, 300, seed=0, set_name="sgd-test")
    assert pairs != draw_pairs(48, 300, seed=0, set_name="sgd-train")
    assert draw_pairs(3, 300, seed=0, set_name="x") == [(0, 1), (0, 2), (1, 2)]


def test_a_diverged_run_ranks_last_instead_of_blocking(tiny_sweep, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(tiny_sweep / "train", out / "train")
    (path,) = out.glob("train/fcp/sgd/*/seed=1/result.json")
    record = json.loads(path.read_text())
    record |= {"status": "diverged", "min_train_loss": 0.0}  # lowest loss, but diverged
    path.write_text(json.dumps(record))
    everyone = select_runs(out, "fcp", "sgd", n_select=4, n_runs=4)  # 4 of 4 ended: no error
    assert [r["seed"] for r in everyone][-1] == 1
    assert 1 not in [r["seed"] for r in select_runs(out, "fcp", "sgd", n_select=3, n_runs=4)]
