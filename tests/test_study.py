"""The study, declared once (conf/study/, lossland.study.design): what it derives, that every
stage and the report follow it, and that a study with more optimizers or a net it does not list is a
config edit, not a code change. Also: the outputs layout Hydra's directories spell agrees with
lossland.core.storage, and the configs ship in a non-editable install."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from lossland.core import identity, storage
from lossland.core.config import compose
from lossland.core.errors import LosslandError
from lossland.launch import checks
from lossland.paths.job import run_paths
from lossland.report import build_report
from lossland.report.figures import grid_shape
from lossland.study.design import load_study, study_of
from tests.conftest import REPO

# The paper's design, written out by hand from the paper (Sec. III, Figs. 4-6, Table S1).
PAPER_SETS = {
    "bfgs-train": ("lbfgs", "w_train"),
    "bfgs-test": ("lbfgs", "w_test"),
    "sgd-train": ("sgd", "w_train"),
    "sgd-test": ("sgd", "w_test"),
}
PAPER_HEIGHT_TESTS = [
    ("train", "bfgs-train", "sgd-train"),
    ("train", "bfgs-test", "sgd-test"),
    ("test", "bfgs-test", "sgd-test"),
]


def test_the_paper_study_is_the_papers_design():
    s = load_study("paper")
    assert {n: (x.opt, x.which) for n, x in s.sets.items()} == PAPER_SETS
    assert list(s.sets) == list(PAPER_SETS)  # the report's order
    assert s.landscapes == {"train": tuple(PAPER_SETS), "test": ("bfgs-test", "sgd-test")}
    assert [(c.name, c.a, c.b) for c in s.height_tests] == PAPER_HEIGHT_TESTS
    assert [(c.name, c.a, c.b) for c in s.weight_comparisons] == [
        ("main", "bfgs-train", "sgd-test"),  # Fig. 5 / 6
        ("supp", "bfgs-test", "sgd-test"),  # Fig. S3 / S4
    ]
    assert s.table_s1 == ("sgd-train", "bfgs-train", "sgd-test", "bfgs-test")
    assert s.nets == ("fcp", "lenet", "ae", "lstm") and s.n_select == 48
    assert s.partner("bfgs-test") == "sgd-test" and s.partner("sgd-test") is None


def test_a_study_of_four_optimizers_is_a_config_edit():
    s = load_study("optimizers")
    labels = {"sgd": "sgd", "momentum": "momentum", "adamw": "adamw", "lbfgs": "bfgs"}
    want = {
        f"{label}-{kind}": (opt, f"w_{kind}")
        for opt, label in labels.items()
        for kind in ("train", "test")
    }
    assert {n: (x.opt, x.which) for n, x in s.sets.items()} == want
    assert s.landscapes["test"] == ("sgd-test", "momentum-test", "adamw-test", "bfgs-test")
    assert len(s.landscapes["train"]) == 8
    # each first-order optimizer against L-BFGS: 3 contrasts x (2 + 1) landscape-kinds
    want_tests = [
        (land, f"bfgs-{kind}", f"{other}-{kind}")
        for land, kinds in (("train", ("train", "test")), ("test", ("test",)))
        for kind in kinds
        for other in ("sgd", "momentum", "adamw")
    ]
    assert [(c.name, c.a, c.b) for c in s.height_tests] == want_tests
    assert [(c.name, c.a, c.b) for c in s.weight_comparisons] == [
        (name, f"bfgs-{a}", f"{other}-test")
        for name, a in (("main", "train"), ("supp", "test"))
        for other in ("sgd", "momentum", "adamw")
    ]
    assert s.table_s1 == tuple(want)  # [] in the file: every set


def test_set_names_are_checked_against_the_study():
    paper = compose("paths", ["set=momentum-train"])
    with pytest.raises(LosslandError, match="bad value: set=momentum-train .*bfgs-train"):
        checks.check_values(paper, "paths")
    ok = compose("paths", ["study=optimizers", "set=momentum-train"])
    checks.check_values(ok, "paths")
    assert study_of(ok).check_set("momentum-train").opt == "momentum"
    probe = compose("probe", ["study=optimizers", "set=adamw-test"])
    checks.check_values(probe, "probe")
    with pytest.raises(LosslandError, match="bad value: set=adamw-test"):
        checks.check_values(compose("probe", ["set=adamw-test"]), "probe")


def test_the_study_keeps_every_signature():
    """`study` is not result-relevant (a record names its set by the set's hash), and n_select
    still comes out as the number it was, so directory signatures do not move."""
    cfg = compose("paths", ["set=sgd-train"])
    plain = OmegaConf.to_container(cfg, resolve=True)
    assert plain["n_select"] == 48
    without = {k: v for k, v in plain.items() if k != "study"}
    assert identity.dir_signature(plain, "paths") == identity.dir_signature(without, "paths")
    other = compose("paths", ["set=sgd-train", "study=optimizers"])
    assert identity.dir_signature(other, "paths") == identity.dir_signature(cfg, "paths")
    committed = sorted((REPO / "records").glob("*/train/*/*/*/seed=*/result.json"))
    assert committed, "no committed records to check"
    for path in committed:
        record = json.loads(path.read_text())
        assert identity.dir_signature(record["config"], "train") == path.parent.parent.name


@pytest.mark.parametrize(
    ("config", "overrides", "place"),
    [
        ("train", ["arch=lstm", "opt=lbfgs", "seed=7"], "train"),
        ("paths", ["arch=ae", "set=sgd-test", "landscape=test", "shard=3"], "paths"),
        ("probe", ["arch=lenet", "set=bfgs-train", "probe=noise", "shard=2"], "probe"),
    ],
)
def test_hydra_task_dirs_are_where_storage_puts_them(config, overrides, place):
    cfg = compose(config, [*overrides, "out_dir=/data/out"], hydra=True)
    run, sweep = cfg.hydra.run.dir, f"{cfg.hydra.sweep.dir}/{cfg.hydra.sweep.subdir}"
    task = OmegaConf.to_container(cfg)
    task.pop("hydra")
    task = OmegaConf.to_container(OmegaConf.create(task), resolve=True)
    sig = identity.dir_signature(task, place)
    if place == "train":
        want = storage.train_task_dir("/data/out", "lstm", "lbfgs", 7, sig)
    elif place == "paths":
        task_dir = storage.path_task_dir("/data/out", "ae", "sgd-test", "test", "fourier", sig)
        want = task_dir / "shard=3"  # a job's own folder in its task's (docs/outputs.md)
    else:
        want = storage.probe_task_dir("/data/out", "lenet", "bfgs-train", "noise", sig) / "shard=2"
    assert Path(run) == want and Path(sweep) == want


# ------------------------------------------------------ the report: a fifth net, four optimizers


def copy_runs(src: Path, out: Path, arch: str, opt: str, as_arch: str, as_opt: str) -> None:
    """Real training records of arch/opt, filed (and relabelled) as as_arch/as_opt."""
    for task in sorted((src / "train" / arch / opt).glob("*/seed=*")):
        dest = out / "train" / as_arch / as_opt / task.parent.name / task.name
        shutil.copytree(task, dest)
        rec = json.loads((dest / storage.RESULT_FILE).read_text())
        rec["arch"], rec["opt"] = as_arch, as_opt
        rec["config"]["arch"]["name"], rec["config"]["opt"]["name"] = as_arch, as_opt
        storage.write_json(dest / storage.RESULT_FILE, rec)


@pytest.fixture(scope="module")
def five_nets_four_opts(tiny_sweep, mnist_root, tmp_path_factory) -> Path:
    """fcp's real sgd and lbfgs runs (conftest's tiny sweep), sgd's also filed as momentum and
    adamw, everything also as a fifth net `toy5` the study does not list; then real path jobs
    under study=optimizers for three sets of fcp."""
    out = tmp_path_factory.mktemp("five")
    for arch in ("fcp", "toy5"):
        for opt, as_opt in (("sgd", "sgd"), ("lbfgs", "lbfgs"), ("sgd", "momentum")):
            copy_runs(tiny_sweep, out, "fcp", opt, arch, as_opt)
        copy_runs(tiny_sweep, out, "fcp", "sgd", arch, "adamw")
    common = [f"dataset.root={mnist_root}", f"out_dir={out}", "study=optimizers"]
    common += ["n_select=3", "n_runs=4", "n_pairs=2", "finder.n_points=6", "finder.steps=2"]
    common += ["dataset.n_train=200", "dataset.n_eval=200"]
    for set_name in ("bfgs-train", "momentum-train", "adamw-train"):
        run_paths(compose("paths", [*common, f"set={set_name}"]))
    return out


def test_report_renders_five_nets_and_four_optimizers(five_nets_four_opts, tmp_path):
    out = five_nets_four_opts
    rep = build_report(out, tmp_path, study="optimizers")
    assert rep.archs == ["fcp", "lenet", "ae", "lstm", "toy5"]

    t1 = rep.tables["table1"].set_index(["NN", "source"])
    assert len(t1) == 10  # ours + paper per net
    titles = ("SGD", "Momentum", "AdamW", "L-BFGS")
    assert [c for c in t1.columns if c.startswith("train ")] == [f"train {t}" for t in titles]
    # the fifth net's numbers are its records' (independent: read from the files)
    sel = sorted(
        (json.loads(p.read_text()) for p in out.glob("train/toy5/momentum/*/*/result.json")),
        key=lambda r: (r["min_train_loss"], r["seed"]),
    )[:3]
    want = np.mean([r["min_train_loss"] for r in sel])
    assert t1.loc[("toy5", "ours"), "train Momentum"] == pytest.approx(want)
    assert t1.loc[("toy5", "ours"), "N_prm"] == 42200  # read off its vectors
    paper_toy5 = t1.loc[("toy5", "paper")]
    assert paper_toy5[[f"train {t}" for t in titles]].isna().all()
    assert t1.loc[("FCP", "paper"), "train SGD"] == 6.21e-04  # the paper's value stays
    assert np.isnan(t1.loc[("FCP", "paper"), "train Momentum"])  # the paper has none
    assert "| toy5 | paper | – |" in (tmp_path / "table1.md").read_text()

    s1 = rep.tables["table_s1"]
    assert len(s1) == 10 and len([c for c in s1.columns if c.endswith(" mu")]) == 8

    tests = rep.tables["height_tests"]
    row = tests[(tests.a_set == "bfgs-train") & (tests.b_set == "momentum-train")].iloc[0]
    assert (row.arch, row.landscape, row.n_a, row.n_b) == ("fcp", "train", 2, 2)
    assert {"bfgs-train vs adamw-test", "bfgs-test vs momentum-test"} <= set(
        rep.tables["separation"].comparison
    )

    assert grid_shape(5) == (2, 3) and grid_shape(4) == (2, 2)
    specs = {s.key: s for s in rep.specs}
    fig4 = specs["fig4"].draw()
    panels = [ax.get_title(loc="left") for ax in fig4.axes if ax.get_visible()]
    assert len(panels) == 5 and panels[-1] == "(e) toy5"
    legend = [t.get_text() for ax in fig4.axes if ax.get_legend() for t in ax.get_legend().texts]
    assert any(t.startswith("momentum train") for t in legend)
    curves = specs["figS1"].draw()  # fcp and toy5 (fig2: the lstm, no records here)
    labels = {line.get_label() for ax in curves.axes for line in ax.get_lines()}
    assert {"SGD + momentum 0.9", "AdamW", "L-BFGS-GSS"} <= {lab.split(" (")[0] for lab in labels}
    kpca = specs["fig6_bfgs-train_vs_momentum-test"].draw()
    assert len([ax for ax in kpca.axes if ax.get_visible()]) == 10  # kPCA + PCA per net
    assert "fig6_bfgs-train_vs_momentum-test" in rep.figures
    page = rep.index.read_text()
    assert "toy5" in page and "study optimizers" in page


def test_aggregate_takes_the_study(five_nets_four_opts, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "analysis/aggregate.py", f"out_dir={five_nets_four_opts}"]
        + [f"report_dir={tmp_path}", "study=optimizers"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "train Momentum" in done.stdout and "toy5" in done.stdout
    bad = subprocess.run(
        [sys.executable, "analysis/aggregate.py", f"out_dir={five_nets_four_opts}", "study=nope"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert bad.returncode == 2 and "unknown study 'nope': choose one of" in bad.stderr


# ------------------------------------------------------------- configs in a non-editable install


@pytest.mark.slow
def test_entry_points_run_from_a_non_editable_install(tmp_path):
    target = tmp_path / "site"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation"]
        + ["--target", str(target), str(REPO)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert build.returncode == 0, build.stderr[-2000:]
    assert (target / "lossland" / "conf" / "study" / "paper.yaml").exists()
    env = {**os.environ, "PYTHONPATH": str(target)}
    for module, key in (("lossland.train", "seeds_per_task"), ("lossland.paths", "study")):
        done = subprocess.run(
            [sys.executable, "-m", module, "--cfg", "job"],
            cwd=tmp_path,  # outside the repository
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        assert f"\n{key}:" in done.stdout
        probe = subprocess.run(
            [sys.executable, "-c", "import lossland.core.conf as c; print(c.CONF_DIR)"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
        )
        assert probe.stdout.strip() == str(target / "lossland" / "conf")
    registry = subprocess.run(  # the net registry reads the same conf (Table 1's N_prm column)
        [sys.executable, "-c", "from lossland.nets import archs; print(*archs.names())"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    shipped = sorted(p.stem for p in (REPO / "conf" / "arch").glob("*.yaml"))
    assert registry.stdout.split() == shipped, registry.stderr[-2000:]


@pytest.mark.slow
def test_a_non_editable_install_trains_and_reports_with_n_prm(tmp_path, mnist_root):
    """From a wheel, outside the repository: a tiny sweep trains, and its report's Table 1
    carries N_prm from the shipped registry (paper Table 1: fcp 42,200)."""
    wheel_dir, target = tmp_path / "wheel", tmp_path / "site"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
        + ["-w", str(wheel_dir), str(REPO)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert build.returncode == 0, build.stderr[-2000:]
    (wheel,) = wheel_dir.glob("lossland-*.whl")
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--target", str(target), str(wheel)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert install.returncode == 0, install.stderr[-2000:]
    env = {**os.environ, "PYTHONPATH": str(target)}
    work = tmp_path / "elsewhere"
    work.mkdir()

    def run(*args: str) -> subprocess.CompletedProcess:
        done = subprocess.run(
            [sys.executable, "-m", *args],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return done

    run(
        "lossland.train",
        "-m",
        "arch=fcp",
        "opt=sgd,lbfgs",
        "seed=0,1",
        "out_dir=out",
        f"dataset.root={mnist_root}",
        "dataset.n_train=200",
        "dataset.n_eval=100",
        "opt.epochs=1",
    )
    run("lossland.report", "out_dir=out", "n_select=2")
    table1 = (work / "out" / "report" / "table1.csv").read_text()
    header, *rows = (line.split(",") for line in table1.splitlines())
    col = header.index("N_prm")
    n_prm = {(r[0], r[1]): r[col] for r in rows}
    assert n_prm[("FCP", "ours")] == "42200", table1  # the trained net, from its set
    for net, _ in n_prm:  # every shipped net's N_prm, from the registry, as the paper's
        assert n_prm[(net, "ours")] == n_prm[(net, "paper")] != "", table1
