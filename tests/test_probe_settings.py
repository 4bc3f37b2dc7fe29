"""Issue 24, case 2: every probe setting is declared with its range, once (Probe.SETTINGS), and
checked before anything runs or is submitted, including the limits set by the net and data.
The out-of-range values are generated from each registry entry's declarations."""

from __future__ import annotations

import copy
from functools import cache

import pytest
from hydra.utils import get_class
from omegaconf import OmegaConf, open_dict

from lossland.core.conf import CONF_DIR
from lossland.core.config import compose
from lossland.core.errors import LosslandError
from lossland.launch import checks
from lossland.probes.job import build_probe
from tests.conftest import run_module

PROBES = sorted(p.stem for p in (CONF_DIR / "probe").glob("*.yaml"))


@cache
def composed(probe: str, *more: str):
    return compose("probe", [f"probe={probe}", *more])


def entry(probe: str) -> dict:
    cfg = OmegaConf.to_container(OmegaConf.load(CONF_DIR / "probe" / f"{probe}.yaml"))
    return {k: v for k, v in cfg.items() if k not in ("name", "_target_")}


def with_setting(probe: str, key: str, value, *more: str):
    cfg = copy.deepcopy(composed(probe, *more))
    with open_dict(cfg):
        cfg.probe[key] = value
    return cfg


def refusal(cfg) -> str:
    with pytest.raises(LosslandError) as e:
        checks.check_values(cfg, "probe")
    line = str(e.value)
    assert "\n" not in line
    return line


@pytest.mark.parametrize("probe", PROBES)
def test_every_setting_of_the_entry_is_declared_once_and_the_defaults_pass(probe):
    cls = get_class(composed(probe).probe._target_)
    assert set(entry(probe)) == set(cls.SETTINGS)
    checks.check_values(composed(probe), "probe")


CASES = [
    (probe, key, bad)
    for probe in PROBES
    for key, spec in get_class(
        OmegaConf.load(CONF_DIR / "probe" / f"{probe}.yaml")._target_
    ).SETTINGS.items()
    for bad in spec.bad()
]


@pytest.mark.parametrize(("probe", "key", "bad"), CASES, ids=[f"{p}-{k}={b}" for p, k, b in CASES])
def test_every_out_of_range_value_is_refused_in_one_line(probe, key, bad):
    assert f"probe.{key}=" in refusal(with_setting(probe, key, bad))


def test_an_unknown_setting_is_refused():
    assert "not a setting of probe hessian" in refusal(with_setting("hessian", "kk", 3))


def test_limits_of_the_net_and_data():
    """fcp has N_prm = 42,200 (paper Table 1): d = 50,000 is refused before the 8 GB projection;
    a mini-batch of all 300 images has no noise; 5 points over [-1, 1] put 1 within 0.15."""
    line = refusal(with_setting("intrinsic", "dims", [10, 50_000]))
    assert "probe.dims=[10, 50000]" in line and "42,200" in line
    assert "42,200" in refusal(with_setting("hessian", "k", 42_200))
    line = refusal(with_setting("noise", "batch_size", 300, "dataset.n_train=300"))
    assert "probe.batch_size=300" in line and "300 images" in line
    checks.check_values(with_setting("noise", "batch_size", 299, "dataset.n_train=300"), "probe")
    line = refusal(with_setting("noise", "batch_size", 200, "landscape=test", "dataset.n_eval=200"))
    assert "200 images" in line
    assert "1 point(s) within fit_radius=0.15" in refusal(with_setting("perturb", "n_eps", 5))
    assert "misses a = 0 or a = 1" in refusal(with_setting("interp", "n_alpha", 5))
    line = refusal(with_setting("intrinsic", "batch_size", 301, "dataset.n_train=300"))
    assert "probe.batch_size=301" in line


def test_the_job_refuses_them_too():
    with pytest.raises(LosslandError, match=r"probe\.n_alpha=1 "):
        build_probe(with_setting("interp", "n_alpha", 1))


def test_a_bad_probe_setting_stops_the_sweep_before_submission(mnist_root, tmp_path):
    done = run_module(
        "lossland.probes",
        "-m",
        "probe=hessian",
        "probe.maxiter=0,300",
        "set=bfgs-train",
        f"dataset.root={mnist_root}",
        f"out_dir={tmp_path}",
        check=False,
    )
    errors = [ln for ln in (done.stdout + done.stderr).splitlines() if "error:" in ln]
    assert done.returncode == 2 and len(errors) == 1, done.stderr
    assert "probe.maxiter=0 (must be an integer >= 1)" in errors[0]
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "probes").exists()
