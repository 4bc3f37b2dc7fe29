"""analysis/reproduction.py builds its page from real training records (and path records)."""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import subprocess
import sys

from tests.conftest import REPO


def test_page_from_records(tiny_sweep, tmp_path):
    root = tmp_path / "reproduction"
    shutil.copytree(tiny_sweep / "train", root / "fcp-spec" / "train")
    for set_name, base in (("bfgs-train", 1.0), ("sgd-train", 0.1)):  # 3 solutions, 3 paths
        land = root / "fcp-spec" / "paths" / "fcp" / set_name / "train" / "fourier" / "0123abcd"
        land.mkdir(parents=True)
        for k, (i, j) in enumerate(itertools.combinations(range(3), 2)):
            record = {"height": base + k, "straight_height": 2 * base, "seed_i": i, "seed_j": j,
                      "profile": [0.5 * base, base + k, 0.4 * base]}  # fmt: skip
            (land / f"pair={i}-{j}.json").write_text(json.dumps(record))
    page = tmp_path / "page.md"
    done = subprocess.run(
        [sys.executable, "analysis/reproduction.py", f"root={root}", f"page={page}",
         "full_only=false"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
        env=os.environ | {"PYTHONPATH": str(REPO)},  # this checkout's lossland, not another
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    text = page.read_text()
    assert "SGD runs (n = 4" in text and "L-BFGS-GSS runs (n = 4)" in text
    assert "| paper | 1.26e-08 | 6.21e-04 | 9.69e-02 | 8.25e-02 | 48 of 75 | 48 of 75 |" in text
    assert "| ours |" in text and "3 of 4" in text  # round(48/75 * 4) = 3 selected
    assert "-1.44e-03" in text  # Table S1's paper row
    # the claims (lossland.report.claims), barriers above the higher endpoint (0.5 base):
    # BFGS 0.5, 1.5, 2.5 -> solution means 1, 1.5, 2; SGD 0.05, 1.05, 2.05 -> 0.55, 1.05, 1.55;
    # difference 0.45; 5 of the C(6, 3) = 20 splits reach it (sums >= 4.5): p = 0.25, and the
    # smallest p, 1/20 = 0.05, cannot pass Holm: underpowered
    barrier = ("bfgs-train above sgd-train (train landscape) | consistent, underpowered | "
               "mean barrier above the endpoints, a - b: 0.45 ")  # fmt: skip
    assert barrier in text and "| 3 + 3 solutions (3 + 3 paths) | 0.25 |" in text
    # Fig. 6 as a label-permutation test over 3 + 3 vectors
    assert re.search(r"Fig\. 6: .clear separation of BFGS and SGD vectors.* \| 3 \+ 3 \|", text)
    assert "Runs and paths judged: L-BFGS-GSS: 3 selected of 4 finished runs" in text
    assert "SGD runs (n = 0, shared by every ae variant)" in text  # no autoencoder records
    assert "## Every committed record" in text and "| fcp-spec | runs | fcp/lbfgs/" in text
    assert "No finished full-data run yet." in text  # the authors' variant has no records here
    # whole runs: the median share of iterations before the loss last fell, counted here from
    # each run's own train curve (its last step down) rather than the optimizer's diagnostics
    shares = []
    for result in (root / "fcp-spec" / "train" / "fcp").glob("lbfgs/*/seed=*/result.json"):
        curve = json.loads(result.read_text())["curves"]["train"]
        last = max(k for k in range(1, len(curve)) if curve[k] < curve[k - 1])
        shares.append(last / (len(curve) - 1))
    row = next(line for line in text.splitlines() if line.startswith("| fcp-spec | float32 | 4 |"))
    share = float(row.split("|")[5])
    assert abs(share - sorted(shares)[1:3][0] / 2 - sorted(shares)[1:3][1] / 2) <= 0.005
    assert ("| yes |" in row) == (share < 0.9)


def test_precision_check_continues_a_run_in_both_dtypes(tiny_sweep, mnist_root, tmp_path):
    root = tmp_path / "reproduction"
    shutil.copytree(tiny_sweep / "train", root / "fcp-spec" / "train")
    done = subprocess.run(
        [sys.executable, "analysis/precision_check.py", f"root={root}", "iters=3",
         f"data={mnist_root}", "n_train=300"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
        env=os.environ | {"PYTHONPATH": str(REPO)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads((root / "fcp-spec" / "precision_check.json").read_text())
    f32, f64 = result["continued"]
    assert (f32["dtype"], f64["dtype"]) == ("float32", "float64")
    # the same start in both dtypes: equal to float32's rounding
    assert abs(f32["start_loss"] - f64["start_loss"]) < 1e-5 * f64["start_loss"]
    assert f32["n_iter"] == f64["n_iter"] == 3 and f64["min_loss"] <= f64["start_loss"]
