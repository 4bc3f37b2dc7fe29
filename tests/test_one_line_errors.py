"""Issue 24, case 5: every error one line naming the problem, the task and the fix; the CLI's
small gaps (python -m lossland, train --help, evaluate's dataset.n_eval)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from lossland.core import identity
from lossland.core.config import compose
from lossland.core.errors import LosslandError
from lossland.paths.job import run_paths
from lossland.probes.job import run_probe
from tests.conftest import run_module
from tests.test_path_job import paths_cfg
from tests.test_probe_job import probe_cfg

N_PRM = 42_200  # fcp (paper Table 1)


def error_lines(done) -> list[str]:
    return [ln for ln in (done.stdout + done.stderr).splitlines() if "error:" in ln]


def test_python_m_lossland_lists_the_commands():
    out = run_module("lossland").stdout
    for command in ("lossland.train", "lossland.paths", "lossland.probes", "lossland.evaluate"):
        assert f"python -m {command}" in out
    assert "aggregate.py" in out


def test_train_help_lists_only_the_groups_train_takes():
    out = run_module("lossland.train", "--help").stdout
    assert "opt: adamw, lbfgs" in out and "arch: ae, fcp, lenet, lstm" in out
    assert "finder:" not in out and "probe:" not in out


def test_the_old_probe_command_name_still_runs():
    """`python -m lossland.probe` (before the stage folders) is `python -m lossland.probes`."""
    old, new = (run_module(m, "--help").stdout for m in ("lossland.probe", "lossland.probes"))
    assert "probe: hessian" in new and old == new


@pytest.mark.skipif(shutil.which("sbatch") is not None, reason="this machine has Slurm")
def test_slurm_launcher_without_slurm_is_one_line(tmp_path):
    done = run_module(
        "lossland.train", "-m", "hydra/launcher=slurm_cpu", f"out_dir={tmp_path}", check=False
    )
    (line,) = error_lines(done)
    assert done.returncode == 2 and "no sbatch on PATH" in line
    assert "Traceback" not in done.stdout + done.stderr
    assert not (tmp_path / "train").exists()


def test_a_composition_error_names_its_task(tmp_path):
    done = run_module("lossland.train", "-m", "opt=sgd,nosuch", f"out_dir={tmp_path}", check=False)
    (line,) = error_lines(done)
    assert done.returncode == 2 and "(task: opt=nosuch " in line and "opt/nosuch" in line


def test_evaluate_takes_dataset_n_eval(mnist_root, tmp_path):
    np.save(tmp_path / "w.npy", np.zeros((1, N_PRM), np.float32))
    done = run_module(
        "lossland.evaluate",
        f"weights={tmp_path / 'w.npy'}",
        f"dataset.root={mnist_root}",
        "dataset.n_eval=100",
    )
    assert "fcp on test (100 images)" in done.stdout


@pytest.mark.parametrize("shape", [(1, N_PRM), (N_PRM,)])
def test_a_source_with_fewer_than_two_vectors_is_refused(mnist_root, tmp_path, shape):
    file = tmp_path / "one.npy"
    np.save(file, np.zeros(shape, np.float32))
    with pytest.raises(LosslandError, match=r"holds 1 weight vector\(s\), and a path needs two"):
        run_paths(paths_cfg(mnist_root, tmp_path, f"weights={file}"))
    with pytest.raises(LosslandError, match="probe interp has nothing to do"):
        run_probe(probe_cfg(mnist_root, tmp_path, "probe=interp", f"weights={file}"))
    assert not list(tmp_path.glob("paths/**/*.json")) and not list(tmp_path.glob("probes/**/*"))


def test_linear_keeps_its_signature_when_given_settings_it_ignores():
    def sig(*overrides):
        return identity.dir_signature(compose("paths", list(overrides)), "paths")

    assert sig("finder=linear", "++finder.steps=3", "++finder.lr=0.5") == sig("finder=linear")
    assert sig("finder=fourier", "finder.steps=3") != sig("finder=fourier")  # fourier takes it


@pytest.mark.parametrize(
    ("n_alpha", "reason"), [(1, "must be an integer >= 2"), (5, "misses a = 0 or a = 1")]
)
def test_interp_grid_refusal_keeps_its_reason(mnist_root, tmp_path, n_alpha, reason):
    done = run_module(
        "lossland.probes",
        "probe=interp",
        f"probe.n_alpha={n_alpha}",
        f"dataset.root={mnist_root}",
        f"out_dir={tmp_path}",
        check=False,
    )
    (line,) = error_lines(done)
    assert done.returncode == 2 and reason in line
    assert "InstantiationException" not in done.stdout + done.stderr
