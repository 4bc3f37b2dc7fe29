"""Slurm launching: the presets compose into the sbatch flags a cluster needs; on a live Slurm
(.ci/slurm_e2e.sh starts one) a sweep lands, resubmits as a no-op, and a preempted task is
requeued and resumes from its checkpoint to the uninterrupted result.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from unittest.mock import patch

import pytest
from omegaconf import OmegaConf

from lossland.core.records import job_config
from lossland.core.storage import write_torch
from lossland.launch.cli import absolute_paths
from lossland.train.seed_run import run_dir
from tests.conftest import REPO
from tests.test_resume import same_result

SLURM_PRESETS = ["slurm", "slurm_cpu"]


def sbatch_script(launcher: dict, folder: Path) -> str:
    """The sbatch file hydra-submitit-launcher would submit for this launcher config.

    submitit refuses to build a Slurm executor where no `srun` is on PATH (this test runs
    before CI starts its Slurm); only that probe is bypassed, the script text is submitit's own.
    """
    import submitit
    from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf

    params = {k: v for k, v in launcher.items() if k not in ("_target_", "submitit_folder")}
    init = {"slurm_max_num_timeout": params.pop("max_num_timeout")}
    base = set(OmegaConf.structured(BaseQueueConf).keys())
    with patch.object(submitit.SlurmExecutor, "affinity", return_value=1):
        executor = submitit.AutoExecutor(folder=folder, cluster="slurm", **init)
    executor.update_parameters(**{k if k in base else f"slurm_{k}": v for k, v in params.items()})
    return executor._executor._make_submission_file_text("python -m lossland.train", "uid")


def compose(overrides: list[str]):
    """conf/train.yaml composed with its hydra node, as a command line would."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from lossland.core.config import register_configs

    register_configs()
    with initialize_config_dir(str(REPO / "conf"), version_base="1.3"):
        return hydra_compose("train", overrides=overrides, return_hydra_config=True)


def launcher_config(preset: str, *overrides: str) -> dict:
    cfg = compose([f"hydra/launcher={preset}", *overrides])
    launcher = OmegaConf.to_container(cfg.hydra.launcher, resolve=False)
    launcher["name"] = "train"  # ${hydra.job.name}: set when Hydra runs
    return launcher


def test_gpu_preset_asks_one_gpu_per_task_and_takes_cluster_settings(tmp_path):
    launcher = launcher_config(
        "slurm",
        "hydra.launcher.partition=gpu",
        "hydra.launcher.account=proj42",
        "hydra.launcher.qos=normal",
        "hydra.launcher.constraint=a100",
        "hydra.launcher.timeout_min=90",
        "hydra.launcher.array_parallelism=16",
        "hydra.launcher.setup=['module load cuda']",
    )
    assert launcher["_target_"].endswith("submitit_launcher.SlurmLauncher")
    assert launcher["submitit_folder"] == "${hydra.sweep.dir}/.submitit/%j"
    assert launcher["max_num_timeout"] > 0  # requeue on timeout: training resumes (test_resume)
    script = sbatch_script(launcher, tmp_path)
    for flag in (
        "--gres=gpu:1",
        "--partition=gpu",
        "--account=proj42",
        "--qos=normal",
        "--constraint=a100",
        "--time=90",
        "--cpus-per-task=4",
        "--mem=16GB",
        "--signal=USR2@120",
    ):
        assert f"#SBATCH {flag}\n" in script, flag
    assert "module load cuda\n" in script


def test_gpus_per_node_instead_of_gres(tmp_path):
    launcher = launcher_config(
        "slurm", "hydra.launcher.gres=null", "hydra.launcher.gpus_per_node=1"
    )
    script = sbatch_script(launcher, tmp_path)
    assert "#SBATCH --gpus-per-node=1\n" in script and "--gres" not in script


def test_cpu_preset_asks_no_gpu_and_little_memory(tmp_path):
    script = sbatch_script(launcher_config("slurm_cpu"), tmp_path)
    assert "gres" not in script and "gpus" not in script
    assert "#SBATCH --mem=2GB\n" in script and "#SBATCH --cpus-per-task=1\n" in script
    assert "--partition" not in script  # the cluster's default partition


def test_local_launcher_is_the_default():
    cfg = compose([])
    assert cfg.hydra.launcher._target_.endswith("BasicLauncher")
    assert cfg.hydra.callbacks.skip_finished.task_done == "lossland.train.task.task_done"


# ---------------------------------------------------------------- on a live Slurm


def slurm_answers() -> str | None:
    """None when a Slurm controller answers, else why not."""
    if shutil.which("sbatch") is None:
        return "no sbatch on PATH (start one: bash ../shared/slurm/start-slurm.sh)"
    try:
        ping = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        return "scontrol ping timed out"
    if "UP" not in ping.stdout:
        said = (ping.stdout.strip() or ping.stderr.strip() or "nothing").splitlines()[0]
        return (
            f"no Slurm controller answers ({said}): start one with ../shared/slurm/start-slurm.sh"
        )
    return None


WHY_NO_SLURM = slurm_answers()
needs_slurm = pytest.mark.skipif(WHY_NO_SLURM is not None, reason=str(WHY_NO_SLURM))


def task_cfg(out_dir: Path, mnist_root: Path, *overrides: str):
    """The config of the single task these overrides make (as the sweep composes it)."""
    from lossland.core.config import compose as compose_task

    return absolute_paths(
        compose_task("train", [f"out_dir={out_dir}", f"dataset.root={mnist_root}", *overrides])
    )


def task_dir(out_dir: Path, mnist_root: Path, *overrides: str) -> Path:
    """train/fcp/<opt>/<sig>/seed=0 of that task."""
    return run_dir(task_cfg(out_dir, mnist_root, *overrides))


def sweep(out_dir: Path, mnist_root: Path, *overrides: str, check: bool = True):
    cmd = [
        sys.executable,
        "-m",
        "lossland.train",
        "-m",
        "hydra/launcher=slurm_cpu",
        f"out_dir={out_dir}",
        f"dataset.root={mnist_root}",
        "dataset.n_train=300",
        "dataset.n_eval=200",
        *overrides,
    ]
    done = subprocess.run(
        cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600
    )  # Hydra logs to stdout, the tasks to stderr
    if check and done.returncode != 0:
        raise AssertionError(f"{cmd} failed ({done.returncode}):\n{done.stdout}")
    return done


@pytest.mark.slurm
@pytest.mark.slow
@needs_slurm
def test_slurm_sweep_lands_and_a_resubmission_runs_nothing(mnist_root, tmp_path):
    first = sweep(tmp_path, mnist_root, "opt=sgd,lbfgs", "seed=range(2)", "opt.epochs=3")
    assert "sweep of 4 tasks: 0 finished before (skipped), 4 to run" in first.stdout
    records = sorted(tmp_path.glob("train/fcp/*/*/seed=*/result.json"))
    assert len(records) == 4
    for record in records:
        task = record.parent
        assert json.loads(record.read_text())["status"] == "done"
        assert "train" in (task / "slurm.err").read_text()  # the link resolves to the job's log
        assert (task / "slurm.out").resolve().is_file()
    again = sweep(tmp_path, mnist_root, "opt=sgd,lbfgs", "seed=range(2)", "opt.epochs=3")
    assert "all 4 tasks are finished: nothing to submit" in again.stdout
    (failed,) = tmp_path.glob("train/fcp/sgd/*/seed=1/result.json")
    failed.unlink()  # as if that task had failed
    mtimes = {r: r.stat().st_mtime_ns for r in records if r.exists()}
    third = sweep(tmp_path, mnist_root, "opt=sgd,lbfgs", "seed=range(2)", "opt.epochs=3")
    assert "sweep of 4 tasks: 3 finished before (skipped), 1 to run" in third.stdout
    assert all(r.stat().st_mtime_ns == t for r, t in mtimes.items())
    assert failed.exists()


@pytest.mark.slurm
@pytest.mark.slow
@needs_slurm
def test_failed_task_names_its_logs(mnist_root, tmp_path):
    # Bad values never reach Slurm (tests/test_identity.py): break the task itself instead, with
    # a checkpoint of its own config that lacks the model (a KeyError and its traceback).
    cfg = task_cfg(
        tmp_path, mnist_root, "dataset.n_train=300", "dataset.n_eval=200", "opt.epochs=2"
    )
    task = run_dir(cfg)
    write_torch(task / "checkpoint.pt", {"config": job_config(cfg)})
    done = sweep(tmp_path, mnist_root, "opt.epochs=2", check=False)
    assert done.returncode != 0
    assert f"task {task} failed" in done.stdout and f"{task}/slurm.err" in done.stdout
    assert "Traceback" in (task / "train.log").read_text()
    assert "Traceback" in (task / "slurm.err").read_text()


@pytest.mark.slurm
@pytest.mark.slow
@needs_slurm
def test_preempted_task_is_requeued_and_resumes_to_the_same_result(mnist_root, tmp_path):
    overrides = ["opt=lbfgs", "opt.epochs=60", "checkpoint_every=5", "dataset.n_train=1000"]
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    whole = tmp_path / "whole"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "lossland.train",
            f"out_dir={whole}",
            f"dataset.root={mnist_root}",
            "dataset.n_eval=200",
            *overrides,
        ],
        cwd=REPO,
        env=env,
        check=True,
        capture_output=True,
        timeout=600,
    )
    out = tmp_path / "slurm"
    cmd = [
        sys.executable,
        "-m",
        "lossland.train",
        "-m",
        "hydra/launcher=slurm_cpu",
        f"out_dir={out}",
        f"dataset.root={mnist_root}",
        "dataset.n_eval=200",
        *overrides,
    ]
    proc = subprocess.Popen(
        cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    task = task_dir(out, mnist_root, "dataset.n_eval=200", *overrides)
    try:
        deadline = time.monotonic() + 300
        while not (task / "checkpoint.pt").exists():
            assert proc.poll() is None and time.monotonic() < deadline, "no checkpoint appeared"
            time.sleep(0.1)
        job = os.readlink(task / "slurm.out").split("/")[-2]  # <array id>_<index>
        # what Slurm sends before a time limit or a preemption (signal_delay_s): submitit requeues
        subprocess.run(["scancel", "--signal=USR2", job], check=True)
        output, _ = proc.communicate(timeout=400)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, output
    log = (task / "train.log").read_text()
    assert "from its checkpoint after epoch" in log, log
    same_result(task_dir(whole, mnist_root, "dataset.n_eval=200", *overrides), task, ("out_dir",))
