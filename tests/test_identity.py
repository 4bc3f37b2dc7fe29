"""Issue 9, case by case: a result is reused only under its own config and inputs, never pooled,
never overwritten; bad values, data and sweeps stop in one line before anything is launched.

Real runs throughout: the session's tiny fcp sweep (conftest.tiny_sweep, 300 images, 3 epochs),
copied where a test changes it; sweeps are real `python -m lossland.*` multiruns, on Slurm with
a stub `sbatch` on PATH that records its calls (no live cluster needed).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import stat
from pathlib import Path

import numpy as np
import pytest

from lossland import data
from lossland.core import identity, storage
from lossland.core.config import compose
from lossland.core.errors import LosslandError
from lossland.launch import checks
from lossland.launch.cli import absolute_paths
from lossland.nets import archs
from lossland.paths.job import PAIRS_FILE, pair_file, run_paths, set_dir_of, shard_done
from lossland.report.configs import keep_one_config
from lossland.report.records import load_paths, load_runs
from lossland.report.status import failed_path_jobs
from lossland.study.design import load_study
from lossland.study.sets import build_set
from lossland.train import seed_run, task
from tests.conftest import REPO, TINY, run_module
from tests.test_path_job import FAST, paths_cfg


@pytest.fixture
def study(tiny_sweep, tmp_path) -> Path:
    """A private copy of the tiny sweep's training records (tests here change them)."""
    out = tmp_path / "out"
    shutil.copytree(tiny_sweep / "train", out / "train")
    return out


def train_cfg(mnist_root, out, *overrides):
    return absolute_paths(
        compose("train", [f"dataset.root={mnist_root}", f"out_dir={out}", *TINY, *overrides])
    )


def one_line_error(done) -> str:
    """The run failed with exit 2 and one `error:` line, no traceback; returns that line."""
    text = done.stdout + done.stderr
    assert done.returncode == 2, text
    assert "Traceback" not in text, text
    errors = [ln for ln in text.splitlines() if "error:" in ln]
    assert len(errors) == 1, text
    return errors[0]


# ---- case 1: other finder / data settings are never answered with old records


@pytest.mark.parametrize("change", ["finder.lam=0.01", "finder.steps=4", "dataset.n_train=200"])
def test_path_records_of_other_settings_are_not_reused(mnist_root, study, change):
    base = paths_cfg(mnist_root, study, "set=sgd-train", "n_pairs=3")
    assert run_paths(base)["found"] == 3
    other = paths_cfg(mnist_root, study, "set=sgd-train", "n_pairs=3", change)
    assert set_dir_of(other) != set_dir_of(base)
    assert not shard_done(other)
    assert run_paths(other) == {"pairs": 3, "skipped": 0, "found": 3}
    key, value = change.split("=")
    for record in set_dir_of(other).glob("pair=*.json"):
        config = json.loads(record.read_text())["config"]
        assert str(identity.flat(config)[key]) == value


def test_a_record_of_another_config_in_the_directory_is_recomputed(mnist_root, study):
    """A record copied into the wrong directory by hand: stale, moved aside, found again."""
    cfg = paths_cfg(mnist_root, study, "set=sgd-train", "n_pairs=1")
    run_paths(cfg)
    other = paths_cfg(mnist_root, study, "set=sgd-train", "n_pairs=1", "finder.lam=0.5")
    run_paths(other)
    (pair,) = set_dir_of(cfg).glob("pair=*.json")
    shutil.copy(set_dir_of(other) / pair.name, pair)
    assert not shard_done(cfg)
    assert run_paths(cfg)["found"] == 1
    assert json.loads(pair.read_text())["config"]["finder"]["lam"] == 1e-4
    assert len(list(set_dir_of(cfg).glob(f"{pair.name}.stale-*"))) == 1


# ---- case 2: deleting pairs and rerunning with other settings never mixes two configs


def test_report_never_pools_path_records_of_two_configs(mnist_root, study):
    cfg = paths_cfg(mnist_root, study, "set=sgd-train", "n_pairs=3")
    run_paths(cfg)
    for record in sorted(set_dir_of(cfg).glob("pair=*.json"))[:2]:
        record.unlink()
    run_paths(paths_cfg(mnist_root, study, "set=sgd-train", "n_pairs=3", "finder.lam=0.01"))
    assert len(list(set_dir_of(cfg).glob("pair=*.json"))) == 1  # the old dir holds one config
    runs, paths = load_runs(study), load_paths(study)
    assert len(paths.table) == 4  # 1 of the first config + 3 of the second
    _, notes = keep_one_config(runs, paths, load_study())
    # the default finder.lam's one record, never the larger group (issue 24)
    assert len(paths.table) == 1 and paths.table.sig.nunique() == 1
    (problem,) = [p for p in paths.problems if p.path.startswith("paths/")]
    assert "left out 3 record(s) with finder.lam=0.01" in problem.reason
    assert any(n.startswith("code versions (git commit) behind these numbers") for n in notes)


# ---- case 3: a swept result-relevant key gives each task its own directory


def test_two_learning_rates_in_one_sweep_get_two_directories(mnist_root, tmp_path):
    run_module(
        "lossland.train",
        "-m",
        "opt.lr=0.01,0.1",
        f"out_dir={tmp_path}",
        f"dataset.root={mnist_root}",
        *TINY,
    )
    records = sorted(tmp_path.glob("train/fcp/sgd/*/seed=0/result.json"))
    assert len(records) == 2
    lrs = {json.loads(r.read_text())["config"]["opt"]["lr"] for r in records}
    assert lrs == {0.01, 0.1}
    for r in records:  # Hydra's job dir (.hydra/) is the record's dir: the resolver agrees
        overrides = (r.parent / ".hydra" / "overrides.yaml").read_text()
        assert f"opt.lr={json.loads(r.read_text())['config']['opt']['lr']}" in overrides


def test_tasks_sharing_a_directory_stop_the_sweep_before_launch(mnist_root, tmp_path):
    done = run_module(
        "lossland.train",
        "-m",
        "seed=0,1",
        "seeds_per_task=2",  # task seed=0 trains seeds 0, 1; task seed=1 trains 1, 2
        f"out_dir={tmp_path}",
        f"dataset.root={mnist_root}",
        *TINY,
        check=False,
    )
    assert "would both write" in one_line_error(done)
    assert not list(tmp_path.glob("train/**/result.json"))


# ---- case 4: a retrained member makes its set new, and every pair of it is found again


def test_changed_member_invalidates_the_sets_pairs(mnist_root, study):
    cfg = paths_cfg(mnist_root, study, "set=bfgs-train", "n_pairs=3")
    run_paths(cfg)
    before = build_set(study, "fcp", "bfgs-train", 3, 4, write=False)
    member = seed_run.run_dir(train_cfg(mnist_root, study, "opt=lbfgs", f"seed={before.seeds[0]}"))
    w = np.load(member / "w_train.npy")
    storage.write_npy(member / "w_train.npy", w * np.float32(1.01))  # same record, same rank
    after = build_set(study, "fcp", "bfgs-train", 3, 4, write=False)
    assert after.seeds == before.seeds and after.hash != before.hash
    assert not shard_done(cfg)
    assert run_paths(cfg) == {"pairs": 3, "skipped": 0, "found": 3}
    for record in set_dir_of(cfg).glob("pair=*.json"):
        assert json.loads(record.read_text())["inputs"] == {"set": after.hash}
    saved = json.loads(storage.set_file(study, "fcp", "bfgs-train", after.train_sig, 3).read_text())
    assert saved["record_hash"] == after.hash
    assert [m["seed"] for m in saved["members"]] == after.seeds


# ---- case 5: runs of different settings are never pooled into a set or Table 1


def test_sets_and_tables_never_pool_training_configs(mnist_root, study):
    for seed in (0, 1):
        cfg = train_cfg(mnist_root, study, f"seed={seed}", "opt.epochs=2")
        seed_run.train_one(cfg, seed_run.run_dir(cfg))
    with pytest.raises(LosslandError) as refused:
        build_set(study, "fcp", "sgd-train", 2, 2)
    line = str(refused.value)
    assert "2 training configs, never pooled" in line and "opt.epochs 3 -> 2" in line
    assert "train_sig=" in line and "\n" not in line
    short = identity.dir_signature(cfg, "train")
    two = build_set(study, "fcp", "sgd-train", 2, 2, train_sig=short)
    assert two.train_sig == short and sorted(two.seeds) == [0, 1]
    runs, paths = load_runs(study), load_paths(study)
    kept, _ = keep_one_config(runs, paths, load_study())  # epochs 3 and 2: neither the default
    assert ("fcp", "sgd") not in kept and runs.table.query("opt == 'sgd'").empty
    reasons = [p.reason for p in runs.problems if p.path == f"train/fcp/sgd/{short}"]
    assert len(reasons) == 1 and "left out 2 record(s) with opt.epochs=2" in reasons[0]
    assert "prefer=" in reasons[0]
    kept, _ = keep_one_config(load_runs(study), paths, load_study(), ["opt.epochs=2"])
    assert kept[("fcp", "sgd")] == short


# ---- case 6: an unreadable record is never "done": moved aside, named, recomputed


def test_corrupt_pair_record_is_recomputed_and_kept_aside(mnist_root, study, caplog):
    cfg = paths_cfg(mnist_root, study, "set=sgd-test", "n_pairs=2")
    run_paths(cfg)
    assert shard_done(cfg)
    pairs = json.loads((set_dir_of(cfg) / PAIRS_FILE).read_text())["pairs"]
    bad = pair_file(set_dir_of(cfg), *pairs[0])
    bad.write_text(bad.read_text()[:100])
    with caplog.at_level(logging.WARNING, logger="lossland"):
        assert not shard_done(cfg)  # counted as not done before the sweep is sent
        assert run_paths(cfg) == {"pairs": 2, "skipped": 1, "found": 1}
    (aside,) = set_dir_of(cfg).glob(f"{bad.name}.corrupt-*")
    assert aside.name in caplog.text and json.loads(bad.read_text())["i"] == pairs[0][0]


def test_corrupt_training_record_is_retrained_and_kept_aside(mnist_root, study):
    cfg = train_cfg(mnist_root, study, "seed=2")
    record = seed_run.run_dir(cfg) / storage.RESULT_FILE
    good = json.loads(record.read_text())
    record.write_bytes(record.read_bytes()[:300])
    assert not task.task_done(cfg)
    again = task.train_task(cfg)[0]
    assert again["curves"] == good["curves"]
    assert len(list(record.parent.glob("result.json.corrupt-*"))) == 1


# ---- case 7 + 8: every value checked, before anything is launched


BAD_TRAIN = [
    "opt.epochs=0",
    "dataset.n_train=-5",
    "dataset.n_train=0",
    "dataset.n_train=60000",
    "checkpoint_every=0",
    "opt.batch_size=0",
    "opt.lr=-1",
    "device=tpu",
    "dataset.root=''",
]
BAD_PATHS = [
    "n_select=-1",
    "n_select=0",
    "n_pairs=-3",
    "finder.point_chunk=0",
    "finder.lr=0",
    "set=bfgs-trian",
    "landscape=valid",
]


@pytest.mark.parametrize("override", BAD_TRAIN)
def test_bad_training_values_are_refused(override):
    cfg = compose("train", [override])
    with pytest.raises(LosslandError, match=f"bad value: {override.split('=')[0]}="):
        checks.check_values(cfg, "train")


@pytest.mark.parametrize("override", BAD_PATHS)
def test_bad_path_values_are_refused(override):
    cfg = compose("paths", [override])
    with pytest.raises(LosslandError, match=f"bad value: {override.split('=')[0]}="):
        checks.check_values(cfg, "paths")


def test_bad_evaluate_values_are_refused():
    with pytest.raises(LosslandError, match="bad value: device=tpu"):
        checks.check_values(compose("evaluate", ["device=tpu", "weights=w.npy"]), "evaluate")


def test_good_defaults_pass():
    checks.check_values(compose("train", ["opt=lbfgs"]), "train")
    checks.check_values(compose("paths", ["finder.point_chunk=null"]), "paths")


def test_a_bad_value_on_the_command_line_is_one_line(mnist_root, tmp_path):
    done = run_module(
        "lossland.train",
        "opt.epochs=0",
        f"out_dir={tmp_path}",
        f"dataset.root={mnist_root}",
        check=False,
    )
    assert "opt.epochs=0 (must be an integer >= 1)" in one_line_error(done)
    assert not (tmp_path / "train").exists()


@pytest.fixture
def stub_slurm(tmp_path) -> tuple[dict[str, str], Path]:
    """PATH with an `sbatch` that records its calls (and fails: nothing is queued) and an
    `srun` (submitit looks for one before it builds a Slurm executor)."""
    bin_dir, calls = tmp_path / "bin", tmp_path / "sbatch-calls.txt"
    bin_dir.mkdir()
    for name, body in (("sbatch", f'echo "$@" >> {calls}\nexit 1'), ("srun", "exit 0")):
        script = bin_dir / name
        script.write_text(f"#!/bin/sh\n{body}\n")
        script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return {"PATH": f"{bin_dir}:{os.environ['PATH']}"}, calls


def slurm_sweep(module: str, env: dict[str, str], *overrides: str):
    import subprocess
    import sys

    from tests.conftest import REPO

    return subprocess.run(
        [sys.executable, "-m", module, "-m", "hydra/launcher=slurm_cpu", *overrides],
        cwd=REPO,
        env=os.environ | env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize(
    "override", ["set=bfgs-trian", "landscape=valid", "device=tpu", "n_pairs=-3"]
)
def test_bad_path_sweeps_never_reach_sbatch(mnist_root, study, stub_slurm, override):
    env, calls = stub_slurm
    common = [f"out_dir={study}", f"dataset.root={mnist_root}", "n_runs=4", "n_select=3"]
    done = slurm_sweep("lossland.paths", env, *common, override)
    assert override.split("=")[0] in one_line_error(done)
    assert not calls.exists()


@pytest.mark.parametrize("override", ["opt.lr=-1", "dataset.root=''", "device=tpu"])
def test_bad_training_sweeps_never_reach_sbatch(mnist_root, tmp_path, stub_slurm, override):
    env, calls = stub_slurm
    done = slurm_sweep(
        "lossland.train", env, f"out_dir={tmp_path}", f"dataset.root={mnist_root}", override
    )
    one_line_error(done)
    assert not calls.exists()


def test_a_damaged_pairs_file_stops_the_sweep_before_sbatch(mnist_root, study, stub_slurm):
    env, calls = stub_slurm
    run_paths(paths_cfg(mnist_root, study, "n_pairs=2"))
    (set_dir_of(paths_cfg(mnist_root, study, "n_pairs=2")) / PAIRS_FILE).write_text('{"pairs": 1}')
    done = slurm_sweep(
        "lossland.paths", env, f"out_dir={study}", f"dataset.root={mnist_root}", *FAST, "n_pairs=2"
    )
    assert "pairs.json is damaged" in one_line_error(done)
    assert not calls.exists()


def test_a_good_sweep_does_reach_the_stub_sbatch(mnist_root, tmp_path, stub_slurm):
    """The control: the stub is on the path the launcher takes (so the tests above can fail)."""
    env, calls = stub_slurm
    slurm_sweep("lossland.train", env, f"out_dir={tmp_path}", f"dataset.root={mnist_root}", *TINY)
    assert calls.exists()


# ---- also: refused reruns write nothing; altered data; NaN weights; unwritable out_dir


def test_refused_rerun_leaves_the_task_config_alone(mnist_root, tmp_path):
    args = ["lossland.train", f"out_dir={tmp_path}", f"dataset.root={mnist_root}", *TINY]
    run_module(*args)
    (task,) = tmp_path.glob("train/fcp/sgd/*/seed=0")
    record = task / storage.RESULT_FILE
    saved = json.loads(record.read_text())
    saved["config"]["opt"]["lr"] = 0.5  # a record made under another config, moved in by hand
    record.write_text(json.dumps(saved))
    config_yaml = (task / ".hydra" / "config.yaml").read_bytes()
    before = (task / ".hydra" / "config.yaml").stat().st_mtime_ns
    line = one_line_error(run_module(*args, check=False))
    assert "made under another config (opt.lr 0.5 -> 0.1)" in line
    assert (task / ".hydra" / "config.yaml").stat().st_mtime_ns == before
    assert (task / ".hydra" / "config.yaml").read_bytes() == config_yaml


def test_altered_pixels_are_noticed(mnist_root, tmp_path):
    raw = data.raw_dir(tmp_path)
    shutil.copytree(data.raw_dir(mnist_root), raw)
    images = raw / data.IDX_FILES["train_images"]
    blob = bytearray(images.read_bytes())
    blob[1000] ^= 0xFF
    images.write_bytes(bytes(blob))
    with pytest.raises(LosslandError, match="not the official MNIST file"):
        data.download(tmp_path)
    done = run_module("lossland.data", "download", f"root={tmp_path}", check=False)
    assert done.returncode != 0 and "not the official MNIST file" in done.stderr
    done = run_module(
        "lossland.train", f"dataset.root={tmp_path}", f"out_dir={tmp_path}", check=False
    )
    assert "not the official MNIST file" in one_line_error(done)


def test_evaluate_warns_on_nan_weights(mnist_root, tmp_path):
    np.save(tmp_path / "w.npy", np.full((2, archs.get("fcp").n_prm), np.nan, dtype=np.float32))
    done = run_module(
        "lossland.evaluate",
        "arch=fcp",
        f"weights={tmp_path / 'w.npy'}",
        f"dataset.root={mnist_root}",
    )
    assert "2 of 2 weight vectors give a non-finite loss" in done.stderr + done.stdout


def test_unwritable_out_dir_is_one_line(mnist_root):
    done = run_module(
        "lossland.train", "out_dir=/proc/lossland", f"dataset.root={mnist_root}", check=False
    )
    assert "cannot write into out_dir=/proc/lossland" in one_line_error(done)
    with pytest.raises(LosslandError, match="cannot write /proc/lossland/x.json"):
        storage.write_json("/proc/lossland/x.json", {})


def test_old_failure_in_a_chunk_log_is_cleared_by_a_good_rerun(tmp_path):
    log = tmp_path / "paths/fcp/sgd-train/train/fourier/abcd1234/shard=0/paths.log"
    log.parent.mkdir(parents=True)
    failed = "[t][INFO] fcp/sgd-train/train shard 0: 3 pairs, 0 done before, 3 to find (0 stale)\n"
    failed += "[t][ERROR] error: killed\n"
    log.write_text(failed)
    assert len(failed_path_jobs(tmp_path)) == 1
    log.write_text(failed + failed.splitlines()[0].replace("0 done", "3 done") + "\n")
    assert failed_path_jobs(tmp_path).empty


# ---- the identity itself


def test_signature_ignores_where_and_how_a_job_runs_only():
    base = compose("train", [])
    same = ["device=cpu", "out_dir=elsewhere", "dataset.root=/data", "checkpoint_every=3"]
    same += ["log_every=1", "seeds_per_task=5"]
    for override in same:
        assert identity.signature(compose("train", [override])) == identity.signature(base)
    for override in ["opt.lr=0.05", "opt.epochs=7", "dataset.n_train=10", "arch.act=relu"]:
        assert identity.signature(compose("train", [override])) != identity.signature(base)
    assert identity.dir_signature(compose("train", ["seed=3"]), "train") == identity.dir_signature(
        base, "train"
    )


def test_code_version_is_this_checkouts_commit():
    import subprocess

    from tests.conftest import REPO

    head = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    assert identity.code_version()["commit"] == (head or "unknown")
    assert identity.code_label({"commit": head, "dirty": True}) == head[:8] + "+dirty"


COMMITTED = sorted((REPO / "records").glob("**/train/*/*/*/seed=*/result.json"))


@pytest.mark.parametrize("path", COMMITTED, ids=lambda p: str(p.relative_to(REPO / "records")))
def test_committed_records_keep_their_directories(path):
    """Each committed record's settings, composed today (registry keys such as opt._target_,
    opt.optimizer, arch.n_prm included), still sign to the directory the record lies in."""
    config = json.loads(path.read_text())["config"]
    sig = path.parent.parent.name
    assert identity.dir_signature(config, "train") == sig
    opt, dataset = config["opt"], config["dataset"]
    overrides = [
        f"arch={config['arch']['name']}",
        f"arch.act={config['arch']['act']}",
        f"opt={opt['name']}",
        *(f"opt.{k}={v}" for k, v in opt.items() if k != "name"),
        *(f"dataset.{k}={'null' if v is None else v}" for k, v in dataset.items() if k != "root"),
        *(f"{k}={config[k]}" for k in ("seed", "stop_on", "precision") if k in config),
    ]
    assert identity.dir_signature(compose("train", overrides), "train") == sig


def test_a_key_omitted_at_its_default_still_counts_elsewhere():
    """opt.optimizer is left out of the signature only at torch.optim.SGD (older records)."""
    sgd = compose("train", ["opt=sgd"])
    assert "optimizer" not in identity.result_config(sgd)["opt"]
    other = compose("train", ["opt=sgd", "opt.optimizer=torch.optim.Adam"])
    assert identity.result_config(other)["opt"]["optimizer"] == "torch.optim.Adam"
    assert identity.dir_signature(other, "train") != identity.dir_signature(sgd, "train")
    assert identity.signature(compose("train", ["opt=sgd", "opt._target_=x.Y"])) == (
        identity.signature(sgd)
    )


def test_the_fourier_finders_path_signatures_are_those_before_the_finder_registry():
    """Signatures of the default path config and the small preset's as the code before the
    finder registry (b1800c8) computed them: `finder.name` (in the directory name and left
    out of the signature at `fourier`) and `finder._target_` leave Fourier records where they
    were, one directory down (paths/<arch>/<set>/<landscape>/fourier/<sig>/)."""
    before = {(): ("9397d6d8", "90ce89ef"), ("preset=small_paths",): ("98cbdcd0", "a246c5b1")}
    for overrides, (dir_sig, sig) in before.items():
        cfg = compose("paths", list(overrides))
        assert (identity.dir_signature(cfg, "paths"), identity.signature(cfg)) == (dir_sig, sig)
    bezier = compose("paths", ["finder=bezier"])
    assert identity.signature(bezier) != "90ce89ef"
    assert set_dir_of(bezier).parent.name == "bezier"


def test_weights_files_of_one_name_in_two_folders_get_two_directories(tmp_path, monkeypatch):
    """Issue 24: paths/<arch>/file-<stem>/ was shared by a/w.npy and b/w.npy."""
    monkeypatch.chdir(tmp_path)
    a, b = identity.input_name({"weights": "a/w.npy"}), identity.input_name({"weights": "b/w.npy"})
    assert a.startswith("file-w-") and b.startswith("file-w-") and a != b
    assert identity.input_name({"weights": str(tmp_path / "a/w.npy")}) == a  # the same file
    cfg = {"weights": "a/w.npy", "align": "none"}
    assert (
        identity.source_name(cfg) == a and identity.input_name({"set": "sgd-train"}) == "sgd-train"
    )
