"""One training job end to end on real MNIST: records, minima, skips, divergence, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lossland.core.config import compose
from lossland.core.errors import LosslandError
from lossland.launch.cli import absolute_paths
from lossland.nets import archs
from lossland.train.seed_run import run_dir, train_one
from tests.conftest import run_module


def tiny(mnist_root, out_dir, *overrides: str):
    base = [
        f"dataset.root={mnist_root}",
        f"out_dir={out_dir}",
        "dataset.n_train=300",
        "dataset.n_eval=200",
        "opt.epochs=4",
    ]
    cfg = absolute_paths(compose("train", [*base, *overrides]))
    return cfg, run_dir(cfg)


@pytest.mark.parametrize("opt", ["sgd", "lbfgs"])
def test_job_records_curves_minima_and_weights(mnist_root, tmp_path, opt):
    cfg, task_dir = tiny(mnist_root, tmp_path, f"opt={opt}", "arch=lstm")
    record = train_one(cfg, task_dir)
    curves = record["curves"]
    assert len(curves["train"]) == len(curves["test"]) == 5  # epoch 0 + 4 epochs
    assert record["min_train_loss"] == min(curves["train"])
    assert curves["train"][record["w_train_epoch"]] == record["min_train_loss"]
    assert record["test_loss_at_w_test"] == min(curves["test"]) == record["min_test_loss"]
    assert record["min_train_loss"] < curves["train"][0]  # it learned something
    for name in ("w_train.npy", "w_test.npy"):
        w = np.load(task_dir / name)
        assert w.shape == (archs.get("lstm").n_prm,) and w.dtype == np.float32
    on_disk = json.loads((task_dir / "result.json").read_text())
    assert on_disk["status"] == "done" and on_disk["seed"] == 0 and on_disk["opt"] == opt
    assert not (task_dir / "checkpoint.pt").exists()


def test_same_seed_same_result_and_other_seed_differs(mnist_root, tmp_path):
    a = train_one(*tiny(mnist_root, tmp_path / "a"))
    b = train_one(*tiny(mnist_root, tmp_path / "b"))
    c = train_one(*tiny(mnist_root, tmp_path / "c", "seed=1"))
    assert a["curves"] == b["curves"]
    assert a["curves"] != c["curves"]


def test_finished_job_is_skipped_and_a_changed_one_refused(mnist_root, tmp_path):
    cfg, task_dir = tiny(mnist_root, tmp_path)
    train_one(cfg, task_dir)
    before = (task_dir / "result.json").stat().st_mtime_ns
    train_one(cfg, task_dir)
    assert (task_dir / "result.json").stat().st_mtime_ns == before
    changed, _ = tiny(mnist_root, tmp_path, "opt.lr=0.5")
    with pytest.raises(LosslandError, match="another config"):
        train_one(changed, task_dir)
    assert (task_dir / "result.json").stat().st_mtime_ns == before


def test_divergence_is_recorded_not_raised(mnist_root, tmp_path):
    cfg, task_dir = tiny(mnist_root, tmp_path, "opt.lr=1e30")
    record = train_one(cfg, task_dir)
    assert record["status"] == "diverged"
    assert np.isfinite(record["min_train_loss"])
    assert np.isfinite(np.load(task_dir / "w_train.npy")).all()


def test_a_finite_blow_up_is_a_divergence_with_its_reason(mnist_root, tmp_path):
    """SGD at lr 1e4 (issue 24): the loss grows far past LOSS_BOUND x its initial value."""
    cfg, task_dir = tiny(mnist_root, tmp_path, "opt.lr=1e4", "opt.epochs=2")
    record = train_one(cfg, task_dir)
    assert record["status"] == "diverged" and record["epochs_run"] == 1
    assert record["curves"]["train"][1] > 1e3 * record["curves"]["train"][0]
    assert "grew past 1000 x its initial" in record["reason"] and "\n" not in record["reason"]


def test_a_run_that_never_improves_is_stalled_with_its_reason(mnist_root, tmp_path):
    """lr 1e-30 leaves every float32 weight as it was: the loss never falls below epoch 0's."""
    from lossland.report.records import load_runs
    from lossland.study.sets import select_runs

    cfg, task_dir = tiny(mnist_root, tmp_path, "opt.lr=1e-30", "opt.epochs=2", "seed=0")
    record = train_one(cfg, task_dir)
    assert record["status"] == "stalled" and record["w_train_epoch"] == 0
    assert "never fell below its initial" in record["reason"]
    good, good_dir = tiny(mnist_root, tmp_path, "opt.lr=1e-30", "opt.epochs=2", "seed=1")
    train_one(good, good_dir)
    runs = load_runs(tmp_path).table
    assert set(runs.status) == {"stalled"} and (runs.detail.str.contains("never fell")).all()
    assert len(select_runs(tmp_path, "fcp", "sgd", 2, 2)) == 2  # finished: never blocks a set


def test_stopping_on_validation_is_one_value_away(mnist_root, tmp_path):
    cfg, task_dir = tiny(mnist_root, tmp_path, "stop_on=valid")
    record = train_one(cfg, task_dir)
    assert record["min_stop_loss"] == min(record["curves"]["valid"])
    assert record["curves"]["valid"][record["w_test_epoch"]] == record["min_stop_loss"]


def test_typo_in_override_lists_choices():
    done = run_module("lossland.train", "arch=fcq", check=False)
    assert done.returncode != 0 and "Available options in 'arch'" in done.stderr
    done = run_module("lossland.train", "arch.act=relux", check=False)
    assert "expected one of [softplus, relu]" in done.stderr


def test_missing_data_is_one_line(tmp_path):
    done = run_module(
        "lossland.train", f"dataset.root={tmp_path}", f"out_dir={tmp_path}", check=False
    )
    assert done.returncode == 2
    assert "python -m lossland.data download" in done.stderr and "Traceback" not in done.stderr


def test_evaluate_command_reproduces_the_recorded_loss(mnist_root, tmp_path):
    """Train, then check the saved w_test with `lossland.evaluate` like published weights."""
    cfg, task_dir = tiny(mnist_root, tmp_path, "dataset.n_eval=null", "arch=fcp")
    record = train_one(cfg, task_dir)
    w = np.stack([np.load(task_dir / "w_test.npy"), np.load(task_dir / "w_train.npy")])
    np.save(tmp_path / "both.npy", w)
    out = tmp_path / "losses.csv"
    done = run_module(
        "lossland.evaluate",
        "arch=fcp",
        f"weights={tmp_path / 'both.npy'}",
        "split=test",
        f"dataset.root={mnist_root}",
        f"output={out}",
    )
    assert "accuracy" in done.stdout
    rows = out.read_text().splitlines()
    assert rows[0] == "index,loss,accuracy" and len(rows) == 3
    assert float(rows[1].split(",")[1]) == pytest.approx(record["test_loss_at_w_test"], rel=1e-5)


def test_presets_win_over_the_defaults():
    small = compose("train", ["preset=small"])
    assert (small.out_dir, small.dataset.n_train, small.opt.epochs) == ("outputs/small", 1000, 80)
    paths = compose("paths", ["preset=small_paths"])
    assert (paths.out_dir, paths.n_select, paths.finder.steps) == ("outputs/small", 3, 20)
    lenet = compose("paths", ["preset=small_paths", "arch=lenet"])  # sized per net: conf/sized/
    assert (lenet.dataset.n_train, lenet.finder.steps, lenet.n_select) == (50, 8, 3)
    assert compose("train", ["arch=lenet"]).opt.epochs == 100  # no preset, no sizes
