"""The report's finder comparison: same pairs, straight line vs each finder, paired tests."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from lossland.report import build_report
from lossland.report.path_tables import (
    convergence,
    height_by_finder,
    lower_than_straight,
    one_config_per_finder,
    paired_heights,
)
from tests.conftest import run_module
from tests.test_path_job import SHARED


def rows(finder: str, heights: dict[tuple[int, int], float], straight: float = 5.0, sig="s"):
    return [
        {"arch": "fcp", "set": "sgd-train", "landscape": "train", "finder": finder, "sig": sig}
        | {"i": i, "j": j, "status": "done", "height": h, "straight_height": straight}
        for (i, j), h in heights.items()
    ]


def test_only_the_pairs_every_finder_found_are_compared_and_tested_paired():
    """Hand-derived: fourier lowers pairs (0,1), (0,2), (1,2) by 1, 2, 3 below the linear
    finder's 5; bezier found only two of them, so n = 2 for everyone; the sign test of 2 of 2
    lower is 1/4 and the exact one-sided Wilcoxon of two positive differences also 1/4."""
    table = pd.DataFrame(
        rows("linear", {(0, 1): 5.0, (0, 2): 5.0, (1, 2): 5.0})
        + rows("fourier", {(0, 1): 4.0, (0, 2): 3.0, (1, 2): 2.0})
        + rows("bezier", {(0, 1): 4.5, (1, 2): 5.5})
        + rows("bezier", {(0, 1): 0.0}, sig="other")  # another config: never pooled
    )
    configs = {  # bezier's "other" group is off the default grid: left out, though never pooled
        ("fcp", "sgd-train", "s"): {"finder": {"n_points": 50}},
        ("fcp", "sgd-train", "other"): {"finder": {"n_points": 7}},
    }
    kept, notes = one_config_per_finder(table, configs)
    ((where, why),) = notes
    assert where == "paths/fcp/sgd-train/*/bezier/other"  # no study: each set on its own
    assert why.startswith("left out 1 record(s) with finder.n_points=7")
    paired = paired_heights(kept)
    heights = height_by_finder(paired).set_index("finder")
    assert list(heights.index) == ["straight", "bezier", "fourier"]
    assert (heights.n == 2).all()
    assert heights.median_height.to_dict() == {"straight": 5.0, "bezier": 5.0, "fourier": 3.0}
    tests = lower_than_straight(paired).set_index("finder")
    assert tests.loc["fourier", "lower_in"] == "2 of 2"
    assert tests.loc["fourier", "sign_p"] == pytest.approx(0.25)
    assert tests.loc["fourier", "wilcoxon_p"] == pytest.approx(0.25)
    assert tests.loc["bezier", "lower_in"] == "1 of 2"
    assert tests.loc["bezier", "sign_p"] == pytest.approx(0.75)


def test_the_report_shows_the_finder_table_and_keeps_the_paper_sections_fourier(
    mnist_root, tiny_sweep, tmp_path
):
    out = tmp_path / "out"
    shutil.copytree(tiny_sweep / "train", out / "train")
    run_module(
        "lossland.paths",
        "-m",
        "finder=fourier,linear,bezier",
        "set=bfgs-train",
        f"dataset.root={mnist_root}",
        f"out_dir={out}",
        "n_pairs=3",
        *SHARED,
    )
    report = build_report(out)
    heights = report.tables["finder_heights"]
    assert set(heights.finder) == {"straight", "fourier", "bezier"} and (heights.n == 3).all()
    assert set(report.tables["paths"].finder) == {"fourier"}  # the paper's sections
    assert len(report.tables["finder_tests"]) == 2
    page = report.index.read_text()
    assert "Barrier height by path finder" in page and "Wilcoxon" in page
    assert (report.report_dir / "finder_heights.csv").exists()
    conv = report.tables["finder_convergence"]  # the paper's fixed steps: nothing converged
    assert set(conv.finder) == {"fourier", "bezier"} and (conv.converged == 0).all()
    assert "Converged paths" in page


def test_the_share_of_converged_paths_per_set_and_finder():
    """Hand-counted: 1 of 4 fourier paths converged (a record from before the rule counts as
    not converged), 2 of 2 bezier paths."""
    table = pd.DataFrame(
        rows("fourier", {(0, 1): 1.0, (0, 2): 1.0, (1, 2): 1.0, (1, 3): 1.0})
        + rows("bezier", {(0, 1): 1.0, (0, 2): 1.0})
    ).assign(
        converged=[True, False, None, False, True, True],
        steps=[40, 100, 100, 100, 60, 80],
        best_step=[30, 100, 100, 90, 60, 80],
    )
    out = convergence(table).set_index("finder")
    assert out.loc["fourier", "converged"] == 0.25 and out.loc["bezier", "converged"] == 1.0
    assert out.loc["fourier", "median_steps"] == 100 and out.loc["bezier", "median_steps"] == 70
    assert out.loc["fourier", "median_best_step"] == 95 and out.loc["fourier", "n"] == 4
