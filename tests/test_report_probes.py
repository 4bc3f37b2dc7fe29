"""The probes' report section: it builds with and without probe records, and its test agrees
with scipy's permutation test."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from scipy import stats

from lossland.core.config import compose
from lossland.probes.job import probe_paths, run_probe
from lossland.report import build_report
from lossland.report.probe_tables import permutation_test, sharpness_verdicts
from lossland.study.design import load_study

FAST = ["n_select=3", "n_runs=4", "dataset.n_train=300", "dataset.n_eval=200"]


def test_permutation_test_matches_scipy():
    rng = np.random.default_rng(0)
    a, b = rng.normal(1.0, 1, 5), rng.normal(0.0, 1, 6)  # 462 splits: both exact
    p, n, exact = permutation_test(a, b)
    ref = stats.permutation_test(
        (a, b),
        lambda x, y: abs(np.mean(x) - np.mean(y)),  # two-sided as |difference| >= observed
        permutation_type="independent",
        alternative="greater",
        n_resamples=np.inf,
    )
    assert exact and n == 462
    assert p == pytest.approx(ref.pvalue, rel=1e-9)
    a, b = rng.normal(1.0, 1, 20), rng.normal(0.0, 1, 20)  # random splits
    p, n, exact = permutation_test(a, b, n_perm=4000)
    ref = stats.permutation_test(
        (a, b),
        lambda x, y: abs(np.mean(x) - np.mean(y)),
        alternative="greater",
        n_resamples=20000,
        random_state=1,
    )
    assert not exact and p == pytest.approx(ref.pvalue, abs=0.01)


def test_verdict_is_honest_about_small_n():
    import pandas as pd

    rows = [
        {"arch": "fcp", "set": s, "status": "ok", "lambda_max": v}
        for s, vals in (("bfgs-train", [10, 11, 12]), ("sgd-train", [1, 2, 3]))
        for v in vals
    ]
    table, lines = sharpness_verdicts(
        pd.DataFrame(rows), load_study("paper"), ["fcp", "lenet", "ae", "lstm"]
    )
    assert table.iloc[0].p_value == pytest.approx(0.1)  # 3 vs 3: 20 splits, 2 as extreme
    assert "no verdict possible" in lines[0] and "n = 3 vs 3" in lines[0]
    rows += [
        {"arch": "fcp", "set": s, "status": "ok", "lambda_max": v}
        for s, vals in (("bfgs-train", [13, 14, 15]), ("sgd-train", [4, 5, 6]))
        for v in vals
    ]
    table, lines = sharpness_verdicts(
        pd.DataFrame(rows), load_study("paper"), ["fcp", "lenet", "ae", "lstm"]
    )
    assert table.iloc[0].p_value == pytest.approx(2 / 924)
    assert "L-BFGS train solutions are sharper than SGD's" in lines[0]


def test_report_with_and_without_probes(mnist_root, tiny_sweep, tmp_path):
    out = tmp_path / "sweep"  # its own copy of the runs: other tests add path records (and with
    shutil.copytree(tiny_sweep / "train", out / "train")  # them other versions of the sets)
    bare = build_report(out, report_dir=tmp_path / "bare")
    assert "No probe records" in bare.index.read_text()
    for probe, more in (("hessian", ["probe.trace_samples=2"]), ("slice", ["probe.n_2d=3"])):
        for set_name in ("bfgs-train", "sgd-train"):
            over = [f"dataset.root={mnist_root}", f"out_dir={out}", *FAST]
            cfg = compose("probe", [*over, f"probe={probe}", f"set={set_name}", *more])
            run_probe(probe_paths(cfg))
    report = build_report(out, report_dir=tmp_path / "full")
    page = report.index.read_text()
    assert "Landscape probes" in page and "permutation test" in page
    assert (tmp_path / "full/fig_probe_hessian.png").exists()
    assert (tmp_path / "full/fig_probe_slice.png").exists()
    assert {"bfgs-train", "sgd-train"} <= set(report.tables["probe_hessian"].set)
    assert (tmp_path / "full/probes_hessian.csv").exists()
