"""Probe jobs on a real sweep: one record per unit, resumable after a kill, weight files too."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from lossland.core.config import compose
from lossland.core.errors import LosslandError
from lossland.probes.job import flag_non_finite, probe_paths, run_probe
from tests.conftest import REPO, run_module

FAST = ["n_select=3", "n_runs=4", "dataset.n_train=300", "dataset.n_eval=200"]


def probe_cfg(mnist_root, out, *overrides):
    return probe_paths(
        compose("probe", [f"dataset.root={mnist_root}", f"out_dir={out}", *FAST, *overrides])
    )


@pytest.mark.slow
def test_sweep_writes_one_record_per_solution(mnist_root, tiny_sweep):
    run_module(
        "lossland.probes",
        "-m",
        "arch=fcp",
        "set=bfgs-train,sgd-test",
        "probe=hessian",
        "probe.trace_samples=4",
        f"dataset.root={mnist_root}",
        f"out_dir={tiny_sweep}",
        *FAST,
    )
    for set_name in ("bfgs-train", "sgd-test"):
        sets = json.loads(one(tiny_sweep.glob(f"sets/fcp/{set_name}/*.json")).read_text())
        records = sorted(tiny_sweep.glob(f"probes/fcp/{set_name}/hessian/*/*.json"))
        assert [r.name for r in records] == [f"solution={k}.json" for k in range(3)]
        for k, path in enumerate(records):
            rec = json.loads(path.read_text())
            assert (rec["probe"], rec["set"], rec["k"], rec["seed"]) == (
                "hessian",
                set_name,
                k,
                sets["seeds"][k],
            )
            assert rec["status"] == "ok" and len(rec["top"]) == 3
            assert rec["top"][0] >= rec["top"][1] >= rec["top"][2] >= rec["lambda_min"]
            assert rec["config"]["probe"]["k"] == 3 and "hydra" not in rec["config"]
            assert len(rec["input_sha256"]) == 64 and rec["torch"] and rec["device"] == "cpu"
    again = run_module(
        "lossland.probes",
        "-m",
        "arch=fcp",
        "set=bfgs-train,sgd-test",
        "probe=hessian",
        "probe.trace_samples=4",
        f"dataset.root={mnist_root}",
        f"out_dir={tiny_sweep}",
        *FAST,
    )
    assert "nothing to submit" in again.stdout + again.stderr


def test_killed_job_redoes_at_most_the_solution_in_flight(mnist_root, tiny_sweep):
    """SIGKILL a real job after its first record; the rerun probes only what has no record."""
    over = ["set=sgd-train", "n_select=4", "dataset.n_train=1000", "probe.trace_samples=40"]
    args = [f"dataset.root={mnist_root}", f"out_dir={tiny_sweep}", *FAST, *over]
    out = tiny_sweep / "probes/fcp/sgd-train/hessian"  # + /<sig>/
    job = subprocess.Popen(
        [sys.executable, "-m", "lossland.probes", "arch=fcp", "probe=hessian", *args],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 300
    while not list(out.glob("*/solution=*.json")) and time.time() < deadline:
        time.sleep(0.02)
    job.send_signal(signal.SIGKILL)
    job.wait()
    done = {p: p.stat().st_mtime_ns for p in out.glob("*/solution=*.json")}
    assert 1 <= len(done) < 4, "the job was not killed halfway: make each solution slower"
    counts = run_probe(probe_cfg(mnist_root, tiny_sweep, "probe=hessian", *over))
    assert counts == {"units": 4, "skipped": len(done), "probed": 4 - len(done)}
    assert all(p.stat().st_mtime_ns == m for p, m in done.items())
    assert len(list(out.glob("*/solution=*.json"))) == 4


def test_weights_file_and_chunks(mnist_root, tiny_sweep, tmp_path):
    w = np.load(one(tiny_sweep.glob("train/fcp/sgd/*/seed=0/w_train.npy")))[None]
    file = tmp_path / "mine.npy"
    np.save(file, np.concatenate([w, w * 1.1]).astype(np.float32))
    base = ["probe=hessian", "probe.trace_samples=0", f"weights={file}", "shard_size=1"]
    first = run_probe(probe_cfg(mnist_root, tiny_sweep, *base))
    second = run_probe(probe_cfg(mnist_root, tiny_sweep, *base, "shard=1"))
    assert first == second == {"units": 1, "skipped": 0, "probed": 1}
    records = sorted(tiny_sweep.glob("probes/fcp/file-mine-*/hessian/*/*.json"))
    assert [r.name for r in records] == ["solution=0.json", "solution=1.json"]
    rec = json.loads(records[1].read_text())
    import hashlib

    assert rec["input_sha256"] == hashlib.sha256(file.read_bytes()).hexdigest()
    assert rec["seed"] is None


def test_bad_inputs_are_one_line_errors(mnist_root, tiny_sweep, tmp_path):
    with pytest.raises(LosslandError, match="0 of 4 runs finished"):
        run_probe(probe_cfg(mnist_root, tiny_sweep, "arch=lenet"))
    bad = np.zeros((2, 42200), np.float32)
    bad[1, 5] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    with pytest.raises(LosslandError, match=r"\[1\] hold NaN"):
        run_probe(probe_cfg(mnist_root, tiny_sweep, f"weights={tmp_path / 'nan.npy'}"))
    with pytest.raises(LosslandError, match="train or test"):
        run_probe(probe_cfg(mnist_root, tiny_sweep, "landscape=valid"))
    done = run_module("lossland.probes", "arch=lenet", f"out_dir={tmp_path}", check=False)
    assert done.returncode == 2 and "error: lenet/lbfgs: 0 of 75 runs finished" in done.stderr
    assert "Traceback" not in done.stderr
    assert not list(tiny_sweep.glob("probes/lenet/**/*.json"))  # nothing half-written
    assert not list(tiny_sweep.glob("probes/*/file-nan-*/**/*.json"))
    half = tmp_path / "half"  # the BFGS runs without the SGD ones: no partner for interp
    shutil.copytree(tiny_sweep / "train/fcp/lbfgs", half / "train/fcp/lbfgs")
    with pytest.raises(LosslandError, match="interp's cross pairs need the sgd-train set: .*cross"):
        run_probe(probe_cfg(mnist_root, half, "probe=interp"))
    assert not (half / "probes").exists()


def test_lanczos_that_does_not_converge_is_recorded(mnist_root, tiny_sweep):
    """maxiter=1 at tol=1e-12: the Lanczos stops at once; the job finishes and each record
    says not-converged, with what it found and why (docs/probes.md: status)."""
    over = ["probe=hessian", "probe.maxiter=1", "probe.tol=1e-12", "probe.trace_samples=0"]
    start = time.perf_counter()
    assert run_probe(probe_cfg(mnist_root, tiny_sweep, *over))["probed"] == 3
    assert time.perf_counter() - start < 120
    found = tiny_sweep.glob("probes/fcp/bfgs-train/hessian/*/solution=*.json")
    records = [
        r for p in found if (r := json.loads(p.read_text()))["config"]["probe"]["maxiter"] == 1
    ]
    for rec in records:
        assert rec["status"] == "not-converged", rec
        assert "did not converge within maxiter=1" in rec["message"]
    assert len(records) == 3


def test_diverged_intrinsic_training_is_a_non_finite_record(mnist_root, tiny_sweep):
    """SGD at rate 1e8 in the subspace reaches NaN: the record says non-finite and how to fix
    it (NaN never passes for a number), and the report's d_int90 ignores it."""
    cfg = probe_cfg(
        mnist_root,
        tiny_sweep,
        "probe=intrinsic",
        "set=sgd-train",
        "probe.dims=[30]",
        "probe.sgd_lr=1e8",
        "probe.sgd_epochs=3",
    )
    assert run_probe(cfg)["probed"] == 1
    found = tiny_sweep.glob("probes/fcp/sgd-train/intrinsic/*/d=30.json")
    (rec,) = [
        r for p in found if (r := json.loads(p.read_text()))["config"]["probe"]["sgd_lr"] == 1e8
    ]
    assert rec["status"] == "non-finite" and "lower probe.sgd_lr" in rec["message"]
    assert not np.isfinite(rec["train_curve"][-1]) and len(rec["train_curve"]) < 3


def test_non_finite_results_are_flagged():
    ok = {"status": "ok", "profile": [0.1, 0.2], "grid": [[1.0, 2.0]], "n": 3}
    assert flag_non_finite(ok) == ok
    bad = flag_non_finite(ok | {"grid": [[1.0, float("inf")]], "lambda_c": float("nan")})
    assert bad["status"] == "non-finite" and bad["message"] == "NaN or inf in grid, lambda_c"
    hessian = {"status": "non-finite", "message": "loss is nan", "loss": float("nan")}
    assert flag_non_finite(hessian) == hessian  # the probe's own message is kept


SMALL = {  # each probe on the tiny sweep, with short settings
    "perturb": ["probe.n_eps=5", "probe.fit_radius=0.5"],  # 3 points in the fit
    "interp": ["probe.n_alpha=4", "probe.alpha_min=0", "probe.alpha_max=1"],
    "slice": ["probe.n_1d=3", "probe.n_2d=3"],
    "noise": ["probe.n_batches=4"],
    "intrinsic": ["probe.dims=[3,30]", "probe.lbfgs_iterations=3"],
}


@pytest.mark.parametrize("probe", sorted(SMALL))
def test_every_probe_writes_its_units(probe, mnist_root, tiny_sweep):
    cfg = probe_cfg(mnist_root, tiny_sweep, f"probe={probe}", *SMALL[probe])
    counts = run_probe(cfg)
    expected = {"interp": 3 + 3, "intrinsic": 2}.get(probe, 3)  # 3 pairs + 3 cross; 2 dims
    assert counts == {"units": expected, "skipped": 0, "probed": expected}
    records = list(tiny_sweep.glob(f"probes/fcp/bfgs-train/{probe}/*/*.json"))
    assert len(records) == expected
    assert run_probe(cfg)["skipped"] == expected


def one(paths):
    """The single path a glob finds (the <sig> level of the layout is not spelled out here)."""
    found = sorted(paths)
    assert len(found) == 1, found
    return found[0]


def test_probe_records_know_their_settings_and_input(mnist_root, tiny_sweep, tmp_path):
    """Other probe settings go to their own directory (never pooled, nothing reused); a record
    made from another input (a retrained member changes the set's hash) is set aside and redone."""
    w = np.load(one(tiny_sweep.glob("train/fcp/sgd/*/seed=0/w_train.npy")))[None]
    file = tmp_path / "ident.npy"
    np.save(file, np.concatenate([w, w * 1.1]).astype(np.float32))
    base = ["probe=perturb", f"weights={file}"]
    first = run_probe(probe_cfg(mnist_root, tiny_sweep, *base))
    assert first == {"units": 2, "skipped": 0, "probed": 2}
    other = run_probe(probe_cfg(mnist_root, tiny_sweep, *base, "probe.seed=1"))
    assert other == {"units": 2, "skipped": 0, "probed": 2}
    dirs = sorted(tiny_sweep.glob("probes/fcp/file-ident-*/perturb/*"))
    assert len(dirs) == 2  # one <sig> directory per setting
    rec = json.loads((dirs[0] / "solution=0.json").read_text())
    assert rec["signature"] and rec["code"]["commit"] and rec["record_hash"]
    assert rec["inputs"] == {"set": rec["input_sha256"]}

    np.save(file, np.concatenate([w, w * 1.2]).astype(np.float32))  # the input changed
    again = run_probe(probe_cfg(mnist_root, tiny_sweep, *base))
    assert again == {"units": 2, "skipped": 0, "probed": 2}
    assert len(list(tiny_sweep.glob("probes/fcp/file-ident-*/perturb/*/solution=*.json.stale-*")))
