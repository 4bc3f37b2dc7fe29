"""The report's unaligned-vs-aligned section from real path records (issue 21): its medians are
those of the records, its barrier is recomputed here from each record's straight-line profile,
and the BFGS-vs-SGD test is run both ways on the same pairs."""

from __future__ import annotations

import json
import shutil
from types import SimpleNamespace

import numpy as np
import pytest

from lossland.paths.job import run_paths, set_dir_of
from lossland.report import aligned
from lossland.report.records import load_paths
from lossland.study.design import load_study
from tests.test_path_job import paths_cfg


def hand_barrier(rec: dict) -> float:
    t, p = np.array(rec["t"]), np.array(rec["straight_profile"])
    return float(np.max(p - (p[0] + t * (p[-1] - p[0]))))


def test_the_aligned_tables_from_real_records(mnist_root, tiny_sweep, tmp_path):
    out = tmp_path / "sweep"  # its own copy of the runs: other tests add path records to tiny_sweep
    shutil.copytree(tiny_sweep / "train", out / "train")
    dirs = {}
    for name in ("bfgs-train", "sgd-train"):
        for align in ("none", "weight"):
            cfg = paths_cfg(mnist_root, out, f"set={name}", "n_pairs=3", f"align={align}")
            run_paths(cfg)
            dirs[name, align] = set_dir_of(cfg)
    report = SimpleNamespace(
        paths=load_paths(out), study=load_study("paper"), tables={}, report_dir=tmp_path
    )
    aligned.build(report)
    med = report.tables["aligned_medians"].set_index("set")
    assert set(med.index) == {"bfgs-train", "sgd-train"} and (med.n_pairs == 3).all()
    for name in ("bfgs-train", "sgd-train"):
        plain = [json.loads(f.read_text()) for f in sorted(dirs[name, "none"].glob("pair=*"))]
        ours = [json.loads(f.read_text()) for f in sorted(dirs[name, "weight"].glob("pair=*"))]
        row = med.loc[name]
        assert row.height == pytest.approx(np.median([r["height"] for r in plain]))
        assert row.height_aligned == pytest.approx(np.median([r["height"] for r in ours]))
        assert row.distance_aligned == pytest.approx(
            np.median([r["align"]["distance_after"] for r in ours]), rel=1e-5
        )
        assert row.distance == pytest.approx(
            np.median([r["align"]["distance_before"] for r in ours]), rel=1e-5
        )
        assert row.distance_aligned <= row.distance
        assert row.barrier == pytest.approx(np.median([hand_barrier(r) for r in plain]))
        assert row.barrier_aligned == pytest.approx(np.median([hand_barrier(r) for r in ours]))
    tests = report.tables["aligned_tests"]
    assert list(tests.aligned) == ["none", "weight"]
    assert (tests.a_set == "bfgs-train").all() and (tests.n_solutions_a == 3).all()
    assert (tmp_path / "aligned_medians.csv").exists() and (tmp_path / "aligned_tests.csv").exists()
    html = aligned.section(report).parts
    assert any("Does the comparison survive alignment?" in p for p in html)
