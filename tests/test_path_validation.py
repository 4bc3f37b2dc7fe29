"""analysis/path_validation.py: the fast and converged modes against the committed full batch,
on hand-made records whose differences are known."""

from __future__ import annotations

import json
import sys
from itertools import combinations
from pathlib import Path

from tests.conftest import REPO

sys.path.insert(0, str(REPO / "analysis"))
from path_validation import section  # noqa: E402

PAIRS = list(combinations(range(3), 2))  # 3 solutions, 3 pairs per set


def write(out_dir: Path, set_name: str, heights: list[float], **extra: list) -> None:
    land = out_dir / "paths" / "fcp" / set_name / "train" / "fourier" / "0123abcd"
    land.mkdir(parents=True)
    for k, (i, j) in enumerate(PAIRS[: len(heights)]):
        rec = {"height": heights[k], "straight_height": 9.0, "seed_i": i, "seed_j": j}
        rec |= {key: values[k] for key, values in extra.items()}
        (land / f"pair={i}-{j}.json").write_text(json.dumps(rec))


def test_relative_differences_verdicts_and_convergence(tmp_path):
    full, modes = tmp_path / "fcp-authors", tmp_path / "modes"
    write(full, "bfgs-train", [1.0, 2.0, 3.0])
    write(full, "sgd-train", [0.1, 0.2, 0.3])
    write(modes / "fast", "bfgs-train", [1.02, 2.0, 3.3])  # +2%, 0%, +10%
    write(modes / "fast", "sgd-train", [0.1, 0.202, 0.3])  # 0%, +1%, 0%
    write(modes / "converged", "bfgs-train", [0.5, 1.0], converged=[True, False],
          steps=[800, 3000])  # fmt: skip
    text = "\n".join(section(tmp_path, modes))
    assert "| bfgs-train | train | 3 | 2 | 2 | 2.00% | 10.00% |" in text  # medians 2, 2
    assert "| sgd-train | train | 3 | 0.2 | 0.202 | 0.00% | 1.00% |" in text
    # all six: 0, 0, 0, 1%, 2%, 10%: the median is 0.5%
    assert "| all | | 6 | | | 0.50% | 10.00% |" in text
    # BFGS higher in both; 3 + 3 solutions cannot reach p < 0.05: the same verdict
    assert "| train: bfgs-train vs sgd-train | 6 | BFGS higher, not significant" in text
    assert text.count("| yes | yes |") == 1
    # converged: 1 of 2, median 1,900 steps, heights 1.5 -> 0.75 (each halved)
    assert "| bfgs-train | train | 2 | 1 of 2 | 1900 | 1.5 | 0.75 | 0.5 |" in text


def test_nothing_yet_is_said(tmp_path):
    assert "Not measured yet" in "\n".join(section(tmp_path, tmp_path / "modes"))
