"""python -m lossland.report (and analysis/aggregate.py over it): --help, one-line errors, and
Fig. 3 taken from the toy's records only (the report never runs the toy)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pandas as pd
import pytest

from lossland.core.errors import LosslandError
from lossland.report import build_report
from lossland.report.__main__ import parse, prefers
from tests.conftest import REPO, run_module

# a valid 1x1 PNG, written by hand: the report copies the toy's figure byte for byte
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


def test_help_lists_every_setting():
    for command in (["-m", "lossland.report"], ["analysis/aggregate.py"]):
        done = subprocess.run(
            [sys.executable, *command, "--help"], cwd=REPO, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        for key in ("out_dir=", "report_dir=", "n_select=", "study=", "prefer="):
            assert key in done.stdout


def test_settings_are_key_value_and_bad_ones_one_line(tmp_path):
    argv = ["out_dir=a", "n_select=3", "prefer=finder.n_points=2", "prefer=opt.lr=0.1"]
    assert parse(argv) == {"out_dir": "a", "n_select": "3"}
    assert prefers(argv) == ["finder.n_points=2", "opt.lr=0.1"]
    for bad, words in ((["outdir=x"], "unknown argument"), (["--outdir"], "unrecognized")):
        with pytest.raises(LosslandError, match=words):
            parse(bad)
        done = run_module("lossland.report", *bad, f"report_dir={tmp_path}", check=False)
        lines = [ln for ln in (done.stdout + done.stderr).splitlines() if ln.strip()]
        assert done.returncode == 2 and len(lines) == 1 and words in lines[0], lines


def test_fig3_from_the_toy_records_or_the_command_that_makes_them(tiny_sweep, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(tiny_sweep / "train", out / "train")
    bare = build_report(out, tmp_path / "bare")
    assert "fig3" not in bare.figures and "toy_heights" not in bare.tables
    assert not (out / "toy").exists()  # not run by the report
    page = bare.index.read_text()
    assert f"python -m lossland.paths.toy out={out / 'toy'}" in page

    heights = [["straight", 1.1, 1.102], ["10", 0.5, 0.52]]  # a hand-made record
    (out / "toy").mkdir()
    (out / "toy" / "fig3_toy.png").write_bytes(PNG)
    (out / "toy" / "toy_heights.json").write_text(json.dumps({"heights": heights}))
    report = build_report(out, tmp_path / "full")
    assert report.figures["fig3"].read_bytes() == PNG
    want = pd.DataFrame(heights, columns=["path", "height", "paper"])
    pd.testing.assert_frame_equal(report.tables["toy_heights"], want)
    page = report.index.read_text()
    assert 'src="fig3_toy.png"' in page and "python -m lossland.paths.toy out=" not in page
