"""Paper Fig. 3: the toy landscape's path heights match the published ones."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lossland.paths.toy import PAPER_HEIGHTS, landscape, toy_paths

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def paths():
    return toy_paths()


def test_heights_match_the_paper(paths):
    heights = {p.name: p.height for p in paths}
    assert heights.keys() == PAPER_HEIGHTS.keys()
    for name, published in PAPER_HEIGHTS.items():
        assert heights[name] == pytest.approx(published, abs=0.01), name


def test_paths_join_the_two_minima(paths):
    for path in paths:
        torch.testing.assert_close(
            path.points[0], torch.tensor([-0.62, -0.54], dtype=torch.float64)
        )
        torch.testing.assert_close(
            path.points[-1], torch.tensor([0.49, -0.02], dtype=torch.float64)
        )
        assert len(path.points) == 100
        torch.testing.assert_close(path.profile, landscape(path.points))


def test_landscape_values():
    # C puts the deeper minimum near 0; the straight line crosses the bump at (-0.2, -0.4)
    assert float(landscape(torch.tensor([0.49, -0.02]))) == pytest.approx(0.0, abs=1e-4)
    assert float(landscape(torch.tensor([-0.2, -0.4]))) > 1.0


def test_command_writes_figure_and_numbers(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "lossland.paths.toy", f"out={tmp_path}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert "lambda=100" in done.stdout and "straight" in done.stdout
    png = (tmp_path / "fig3_toy.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    record = json.loads((tmp_path / "toy_heights.json").read_text())
    assert [row["path"] for row in record["heights"]] == ["straight", "10", "100", "1000"]
    assert (tmp_path / "toy_heights.csv").read_text().startswith("path,height,paper\n")
    assert not list(tmp_path.glob(".*.tmp"))  # atomic writes leave no temporaries


def test_command_rejects_unknown_settings():
    done = subprocess.run(
        [sys.executable, "-m", "lossland.paths.toy", "outdir=x"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0 and "unknown setting" in done.stderr
