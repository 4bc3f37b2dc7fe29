"""Issue 24, case 1: the report takes the records of the study's default settings (or those the
user names), never the larger group or the hash order, and names everything it leaves out."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from lossland.core import storage
from lossland.core.config import compose
from lossland.launch.cli import absolute_paths
from lossland.paths.job import run_paths
from lossland.probes.job import probe_paths, run_probe
from lossland.report import build_report
from lossland.report.choice import Group, choose, reference
from lossland.study.sets import build_set

# every group below shares these; they differ only where a test says
PATHS = ["set=bfgs-train", "n_pairs=2", "finder.steps=2", "finder.n_fourier=2"]
HESSIAN = ["probe=hessian", "probe.k=1", "probe.negative=false", "probe.trace_samples=0"]
PROBE = ["n_select=3", "n_runs=4", "dataset.n_train=300", "dataset.n_eval=200", *HESSIAN]


@pytest.fixture(scope="module")
def groups(mnist_root, tiny_sweep, tmp_path_factory):
    """Path and probe records of equal or larger non-default groups beside default ones."""
    out = tmp_path_factory.mktemp("choice")
    shutil.copytree(tiny_sweep / "train", out / "train")
    for n_points in ("50", "2"):  # 50 = the default grid; the 2-point group has as many records
        run_paths(compose_paths(mnist_root, out, f"finder.n_points={n_points}"))
    run_paths(compose_paths(mnist_root, out, "finder=linear", "finder.n_points=50"))
    for set_name in ("bfgs-train", "sgd-train"):
        run_probe(probe_cfg(mnist_root, out, f"set={set_name}", "shard_size=2"))  # 2 + 2 default
        run_probe(probe_cfg(mnist_root, out, f"set={set_name}", "landscape=test"))  # 3 + 3
    return out


def compose_paths(mnist_root, out, *more):
    keys = {m.split("=")[0] for m in more}
    shared = ["n_select=3", "n_runs=4", "dataset.n_train=300", "dataset.n_eval=200"]
    extra = [o for o in PATHS if o.split("=")[0] not in keys]
    if "finder=linear" in more:
        extra = [o for o in extra if not o.startswith("finder.")]
    overrides = [f"dataset.root={mnist_root}", f"out_dir={out}", *shared, *extra, *more]
    return absolute_paths(compose("paths", overrides))


def probe_cfg(mnist_root, out, *more):
    return probe_paths(
        compose("probe", [f"dataset.root={mnist_root}", f"out_dir={out}", *PROBE, *more])
    )


def config_of(record_file) -> dict:
    with open(record_file) as f:
        return json.load(f)["config"]


@pytest.mark.slow
def test_default_group_is_reported_and_the_other_named(groups, tmp_path):
    report = build_report(groups, report_dir=tmp_path / "r")
    kept = report.tables["paths"]
    assert len(kept) == 2
    assert {config_of(f)["finder"]["n_points"] for f in kept.file} == {50}
    problems = pd.read_csv(tmp_path / "r/problems.csv")
    two = problems[problems.reason.str.contains("finder.n_points=2")]
    assert len(two) == 1  # named once (the paper's tables and the finder comparison)
    assert two.reason.str.contains("left out 2 record").all()
    # the finder comparison: fourier vs the straight line on the default grid only
    tests = report.tables["finder_tests"]
    assert list(tests.finder) == ["fourier"] and list(tests.n_points) == [50]
    # the probes: the default landscape (4 records), not the larger landscape=test group (6)
    hessian = pd.read_csv(tmp_path / "r/probes_hessian.csv")
    assert len(hessian) == 4 and hessian.sig.nunique() == 1
    assert problems.reason.str.contains("left out 6 record").sum() == 1
    assert problems.reason.str.contains("landscape=test").sum() == 1
    # the page names them: the list under the status line is not empty
    page = report.index.read_text()
    assert f"0 record(s) could not be read and were skipped; {len(problems)} group(s)" in page
    assert len(problems) == 2  # the 2-point paths, the landscape=test hessian records
    assert "finder.n_points=2" in page


@pytest.mark.slow
def test_the_settings_the_user_names_are_reported(groups, tmp_path):
    report = build_report(groups, report_dir=tmp_path / "r", prefer=["finder.n_points=2"])
    assert {config_of(f)["finder"]["n_points"] for f in report.tables["paths"].file} == {2}
    tests = report.tables["finder_tests"]  # no straight line on the 2-point grid but its own
    assert list(tests.n_points) == [2] and (tests.median_straight == tests.median_finder).all()


@pytest.mark.slow
def test_records_of_an_older_version_of_a_set_are_left_out_and_named(groups, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(groups, out)
    before = build_set(out, "fcp", "bfgs-train", 3, 4, write=False)
    member = next(out.glob(f"train/fcp/lbfgs/*/seed={before.seeds[0]}"))
    w = np.load(member / "w_train.npy")
    storage.write_npy(member / "w_train.npy", w * np.float32(1.01))
    report = build_report(out, report_dir=tmp_path / "r")
    assert report.tables["paths"].empty
    problems = pd.read_csv(tmp_path / "r/problems.csv")
    old = problems[problems.reason.str.contains("older version of set bfgs-train")]
    assert {p.split("/")[-2] for p in old.path} == {"fourier", "linear", "hessian"}
    assert old.reason.str.contains("left out 2 record").all()  # hessian: shard_size=2


def test_equally_close_groups_are_both_left_out_with_the_fix():
    ref = reference("paths", {"finder": "fourier"})
    assert ref["finder.n_points"] == 50  # conf/paths.yaml
    assert reference("train", {"opt": "sgd", "arch": "lstm"})["opt.lr"] == 1.0  # conf/tuned/
    assert reference("train", {"opt": "sgd", "arch": "fcp"})["opt.lr"] == 0.1  # conf/opt/sgd
    a = Group("a", "paths/fcp/*/*/fourier/a", {"finder": {"n_points": 6}}, 3)
    b = Group("b", "paths/fcp/*/*/fourier/b", {"finder": {"n_points": 2}}, 3)
    kept, left = choose([a, b], ref, "paths")
    assert kept is None and len(left) == 2
    assert "prefer=finder.n_points=" in left[0][1] and "finder.n_points=6" in left[0][1]
    kept, left = choose(
        [a, b], reference("paths", {"finder": "fourier"}, ["finder.n_points=2"]), "paths"
    )
    assert kept is b and "finder.n_points=6" in left[0][1]
