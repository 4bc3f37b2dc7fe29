"""A training job interrupted mid-way and resumed ends bit for bit as an uninterrupted one (CPU).

Compared: the whole record (curves of every epoch, minima, their epochs, status) except the
timings, and the bytes of w_train.npy / w_test.npy. Both optimizers: L-BFGS-GSS carries its
history in optimizer.state, SGD its shuffling generator.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from lossland.core.config import compose
from lossland.core.errors import LosslandError
from lossland.core.storage import CHECKPOINT_FILE, RESULT_FILE
from lossland.launch.cli import absolute_paths
from lossland.train import seed_run, task
from lossland.train.seed_run import W_TEST_FILE, W_TRAIN_FILE, train_one
from lossland.train.task import train_task
from tests.conftest import REPO, run_module

TIMINGS = ("train_seconds", "seconds_per_epoch")


@pytest.fixture(autouse=True)
def one_thread():
    """As the subprocesses below: OMP_NUM_THREADS=1 (2 threads on 2 busy cores crawl)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


class Killed(Exception):
    """Stands for a kill between two checkpoints."""


def tiny(mnist_root, out_dir, *overrides: str):
    base = [
        f"dataset.root={mnist_root}",
        f"out_dir={out_dir}",
        "dataset.n_train=256",
        "dataset.n_eval=128",
        "opt.epochs=7",
        "checkpoint_every=3",
    ]
    return absolute_paths(compose("train", [*base, *overrides]))


def same_result(a: Path, b: Path, ignore_config: tuple[str, ...] = ()) -> None:
    """Records equal but for timings (and the named config keys); weight files byte-equal."""
    ra, rb = (json.loads((d / RESULT_FILE).read_text()) for d in (a, b))
    for r in (ra, rb):
        for key in TIMINGS:
            r.pop(key)
        for key in ignore_config:
            r["config"].pop(key)
    assert ra == rb
    for name in (W_TRAIN_FILE, W_TEST_FILE):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


@pytest.mark.parametrize("arch", ["fcp", "lstm"])
@pytest.mark.parametrize("opt", ["sgd", "lbfgs"])
def test_killed_between_checkpoints_resumes_to_the_same_result(
    mnist_root, tmp_path, monkeypatch, caplog, opt, arch
):
    cfg = tiny(mnist_root, tmp_path, f"opt={opt}", f"arch={arch}")
    whole, broken = tmp_path / "whole", tmp_path / "broken"
    train_one(cfg, whole)

    # Die while recording epoch 5: epochs 4-5 are lost, the checkpoint after epoch 3 is left.
    record_epoch = seed_run.record_epoch

    def dying(state, *args):
        if state.epoch == 5:
            raise Killed
        record_epoch(state, *args)

    monkeypatch.setattr(seed_run, "record_epoch", dying)
    with pytest.raises(Killed):
        train_one(cfg, broken)
    assert (broken / CHECKPOINT_FILE).exists() and not (broken / RESULT_FILE).exists()
    monkeypatch.setattr(seed_run, "record_epoch", record_epoch)

    with caplog.at_level(logging.INFO, logger="lossland"):
        train_one(cfg, broken)
    assert "from its checkpoint after epoch 3" in caplog.text
    assert not (broken / CHECKPOINT_FILE).exists()
    same_result(whole, broken)


def test_checkpoint_of_another_config_is_refused(mnist_root, tmp_path, monkeypatch):
    cfg = tiny(mnist_root, tmp_path)
    record_epoch = seed_run.record_epoch

    def dying(state, *args):
        if state.epoch == 4:
            raise Killed
        record_epoch(state, *args)

    monkeypatch.setattr(seed_run, "record_epoch", dying)
    with pytest.raises(Killed):
        train_one(cfg, tmp_path / "job")
    monkeypatch.setattr(seed_run, "record_epoch", record_epoch)
    with pytest.raises(LosslandError, match="another config: delete it"):
        train_one(tiny(mnist_root, tmp_path, "opt.lr=0.05"), tmp_path / "job")
    train_one(tiny(mnist_root, tmp_path, "checkpoint_every=2", "log_every=1"), tmp_path / "job")


def test_packed_seeds_each_get_their_own_directory_and_result(mnist_root, tmp_path, monkeypatch):
    # seeds one after another, bit for bit as alone (tests/test_packs.py: batched packs)
    from lossland.train import packs

    monkeypatch.setattr(packs, "why_sequential", lambda cfg, device: "one by one in this test")
    single = tiny(mnist_root, tmp_path / "single", "opt.epochs=3", "seed=5")
    train_task(single)
    packed = tiny(mnist_root, tmp_path / "packed", "opt.epochs=3", "seed=4", "seeds_per_task=3")
    assert not task.task_done(packed)
    records = train_task(packed)
    assert [r["seed"] for r in records] == [4, 5, 6]
    assert task.task_done(packed)
    dirs = [seed_run.run_dir(run) for run in seed_run.seed_runs(packed)]
    assert all((d / RESULT_FILE).exists() for d in dirs)
    assert (dirs[1] / "train.log").exists()  # a further seed logs into its own directory too
    same_result(seed_run.run_dir(single), dirs[1], ("out_dir", "seeds_per_task"))


# ---- the real thing: a `python -m lossland.train` process killed with SIGKILL, then rerun ----


def train_cli(mnist_root, out_dir: Path, opt: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "lossland.train",
        f"opt={opt}",
        f"out_dir={out_dir}",
        f"dataset.root={mnist_root}",
        "dataset.n_train=2000",
        "dataset.n_eval=500",
        "opt.epochs=40",
        "checkpoint_every=5",
    ]


def one_task_dir(out_dir: Path, opt: str) -> Path:
    """The task dir of train_cli's config (the same settings, composed)."""
    return seed_run.run_dir(absolute_paths(compose("train", train_cli("x", out_dir, opt)[3:])))


def env_one_thread() -> dict[str, str]:
    return os.environ | {"OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


@pytest.mark.slow
@pytest.mark.parametrize("opt", ["sgd", "lbfgs"])
def test_sigkilled_process_resumes_to_the_same_result(mnist_root, tmp_path, opt):
    whole, broken = tmp_path / "whole", tmp_path / "broken"
    subprocess.run(
        train_cli(mnist_root, whole, opt),
        cwd=REPO,
        env=env_one_thread(),
        check=True,
        capture_output=True,
        timeout=600,
    )
    task = one_task_dir(broken, opt)
    proc = subprocess.Popen(
        train_cli(mnist_root, broken, opt),
        cwd=REPO,
        env=env_one_thread(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 300
        while not (task / CHECKPOINT_FILE).exists():
            assert proc.poll() is None and time.monotonic() < deadline, "no checkpoint appeared"
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert not (task / RESULT_FILE).exists(), "the job finished before it was killed"
    resumed = subprocess.run(
        train_cli(mnist_root, broken, opt),
        cwd=REPO,
        env=env_one_thread(),
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert "from its checkpoint after epoch" in resumed.stderr
    same_result(one_task_dir(whole, opt), task, ("out_dir",))


# ---- a resubmitted sweep (the default, local launcher; tests/test_slurm.py does it on Slurm) ----


@pytest.mark.slow
def test_resubmitted_sweep_runs_only_the_missing_tasks(mnist_root, tmp_path):
    def sweep(*overrides: str) -> str:
        done = run_module(
            "lossland.train",
            "-m",
            f"out_dir={tmp_path}",
            f"dataset.root={mnist_root}",
            "dataset.n_train=256",
            "dataset.n_eval=128",
            "opt.epochs=2",
            *overrides,
        )
        return done.stdout + done.stderr

    assert "4 to run" in sweep("opt=sgd,lbfgs", "seed=range(2)")
    records = sorted(tmp_path.glob("train/fcp/*/*/seed=*/result.json"))
    assert len(records) == 4
    assert "all 4 tasks are finished: nothing to submit" in sweep("opt=sgd,lbfgs", "seed=range(2)")
    # the same seeds packed two per task are the same records
    assert "all 2 tasks are finished" in sweep("opt=sgd,lbfgs", "seed=0", "seeds_per_task=2")
    (missing,) = tmp_path.glob("train/fcp/lbfgs/*/seed=1/result.json")
    missing.unlink()  # as if that task had failed
    mtimes = {r: r.stat().st_mtime_ns for r in records if r != missing}
    out = sweep("opt=sgd,lbfgs", "seed=range(2)")
    assert "sweep of 4 tasks: 3 finished before (skipped), 1 to run" in out
    assert out.count("result exists") == 3 and missing.exists()
    assert all(r.stat().st_mtime_ns == t for r, t in mtimes.items())


def test_a_checkpoint_from_a_many_gpu_machine_resumes_here(mnist_root, tmp_path, monkeypatch):
    """Checkpoints hold no CUDA RNG state (training draws none): an older one that saved
    eight GPUs' states resumes on a machine with fewer (here none), to the same result."""
    cfg = tiny(mnist_root, tmp_path)
    train_one(cfg, tmp_path / "whole")
    record_epoch = seed_run.record_epoch

    def dying(state, *args):
        if state.epoch == 4:
            raise Killed
        record_epoch(state, *args)

    monkeypatch.setattr(seed_run, "record_epoch", dying)
    with pytest.raises(Killed):
        train_one(cfg, tmp_path / "job")
    monkeypatch.setattr(seed_run, "record_epoch", record_epoch)
    checkpoint = tmp_path / "job" / CHECKPOINT_FILE
    saved = torch.load(checkpoint, weights_only=True)
    assert "cuda_rng" not in saved
    saved["cuda_rng"] = [torch.zeros(16, dtype=torch.uint8)] * 8  # as an older checkpoint
    torch.save(saved, checkpoint)
    train_one(cfg, tmp_path / "job")
    same_result(tmp_path / "whole", tmp_path / "job")
