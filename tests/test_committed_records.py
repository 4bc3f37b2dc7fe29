"""The committed study records (records/<variant>/, written by jobs/*.sh) are found where the
report and analysis/reproduction.py look for them: every file that git would commit there is
loaded by the normal loading code (lossland.report.records), readable, and lies in the
directory of its own signature (lossland.core.identity). The enumeration of files is os.walk's,
independent of the storage layout code; symlinked trees (fcp-authors -> fcp-spec's SGD) count
under each variant that links them."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from lossland.core import identity
from lossland.report.records import load_paths, load_runs
from tests.conftest import REPO

RECORDS = REPO / "records"


def variants() -> list[Path]:
    """Every out_dir under records/: a folder with train/ or paths/ (sgd-lr has one per rate)."""
    stages = ("*/train", "*/paths", "*/*/train")
    return sorted({p.parent for stage in stages for p in RECORDS.glob(stage)})


def files_named(root: Path, pattern: str) -> set[str]:
    """Paths (as strings, as the loaders spell them) of files whose name matches, symlinks
    followed, without the storage module."""
    out = set()
    for d, _, names in os.walk(root, followlinks=True):
        out |= {str(Path(d) / n) for n in names if Path(n).match(pattern)}
    return out


def test_the_records_left_docs():
    assert not (REPO / "docs" / "reproduction").exists()
    assert {"fcp-authors", "fcp-spec", "fcp-spec-float64", "sgd-lr"} <= {
        p.name for p in RECORDS.iterdir()
    }
    assert (RECORDS / "fcp-authors" / "train" / "fcp" / "sgd").resolve() == (
        RECORDS / "fcp-spec" / "train" / "fcp" / "sgd"
    )  # the authors' variant still links fcp-spec's SGD runs


@pytest.mark.parametrize("out_dir", variants(), ids=lambda p: str(p.relative_to(RECORDS)))
def test_every_committed_record_loads_under_its_signature(out_dir):
    runs = load_runs(out_dir)
    assert runs.problems == []
    done = runs.table[runs.table.status == "done"]
    results = {str(Path(d) / "result.json") for d in done.dir}
    assert results == files_named(out_dir / "train", "result.json")
    for row in done.itertuples():
        config = json.loads((Path(row.dir) / "result.json").read_text())["config"]
        assert identity.dir_signature(config, "train") == row.sig, row.dir

    paths = load_paths(out_dir, finder=None)
    assert paths.problems == []
    assert set(paths.table.file) == files_named(out_dir / "paths", "pair=*.json")
    assert (paths.table.status == "done").all()
    for row in paths.table.itertuples():
        config = json.loads(Path(row.file).read_text())["config"]
        assert identity.dir_signature(config, "paths") == row.sig, row.file


def test_the_study_has_its_records():
    """What docs/reproduction.md is built from (n = 8 per optimizer, 6 pairs per set today)."""
    spec, authors = RECORDS / "fcp-spec", RECORDS / "fcp-authors"
    for out_dir in (spec, authors):
        t = load_runs(out_dir).table
        assert (t.groupby("opt").size() >= 8).all() and set(t.opt) == {"sgd", "lbfgs"}
        pairs = load_paths(out_dir).table
        assert (pairs.groupby(["set", "landscape"]).size() >= 6).all()
