"""`align=` in path jobs and the interp probe: aligned records live apart, carry their alignment,
and the new key leaves every committed record's signature as it was (issue 21)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from lossland.core import identity
from lossland.core.config import compose
from lossland.core.errors import LosslandError
from lossland.nets import symmetry
from lossland.nets.batched import batched_loss_fn
from lossland.paths.job import run_paths, set_dir_of, solution_of
from lossland.probes import interp
from tests.conftest import REPO
from tests.test_path_job import paths_cfg

COMMITTED_ROOTS = [REPO / "records"]
COMMITTED_PAIRS = sorted(  # unaligned: an aligned record (<set>@<method>) is not at the default
    p
    for root in COMMITTED_ROOTS
    for p in root.glob("**/paths/**/pair=*.json")
    if "@" not in p.relative_to(root).as_posix()
)


@pytest.mark.parametrize("path", COMMITTED_PAIRS, ids=lambda p: str(p.relative_to(REPO)))
def test_committed_path_records_keep_their_signature_with_align_at_its_default(path):
    """A committed record's config with today's new keys at their defaults (align=none, the
    arch's symmetry) signs as the record did, to the directory it lies in."""
    record = json.loads(path.read_text())
    config = record["config"]
    today = config | {"align": "none"}
    today["arch"] = config["arch"] | {"symmetry": [{"name": "h", "size": 1, "axes": ["x[0]"]}]}
    assert identity.signature(today) == identity.signature(config) == record["signature"]
    assert identity.dir_signature(today, "paths") == path.parent.name
    assert identity.source_name(today) == path.parents[3].name  # <set>, no @<method>
    assert identity.mismatch(record, today, record["inputs"]) is None
    aligned = today | {"align": "weight"}
    assert identity.mismatch(record, aligned, record["inputs"]).startswith("made under another")


def test_align_is_neutral_at_its_default_and_apart_otherwise():
    plain, aligned = compose("paths"), compose("paths", ["align=weight"])
    assert "align" not in identity.result_config(plain)
    assert identity.signature(aligned) != identity.signature(plain)
    assert identity.dir_signature(aligned, "paths") != identity.dir_signature(plain, "paths")
    assert set_dir_of(aligned).parts[-4] == "bfgs-train@weight"
    assert set_dir_of(plain).parts[-4] == "bfgs-train"
    probe = compose("probe", ["probe=interp"])
    assert "align" not in identity.result_config(probe)["probe"]
    without = identity.plain(probe)
    del without["probe"]["align"]
    assert identity.signature(without) == identity.signature(probe)
    assert identity.signature(compose("probe", ["probe=interp", "probe.align=weight"])) != (
        identity.signature(probe)
    )


def test_aligned_paths_are_found_between_aligned_endpoints(mnist_root, tiny_sweep):
    """The same pairs, both ways: the aligned records lie under <set>@weight, say how they were
    aligned, and their second endpoint is a permutation of the original one (same loss)."""
    plain = paths_cfg(mnist_root, tiny_sweep, "set=bfgs-train", "n_pairs=2")
    aligned = paths_cfg(mnist_root, tiny_sweep, "set=bfgs-train", "n_pairs=2", "align=weight")
    assert run_paths(plain)["pairs"] == 2
    assert run_paths(aligned) == {"pairs": 2, "skipped": 0, "found": 2}
    assert run_paths(aligned) == {"pairs": 2, "skipped": 2, "found": 0}
    assert set_dir_of(aligned).parent.parent.parent.name == "bfgs-train@weight"
    solution = solution_of(aligned, write=False)
    sym = symmetry.of("fcp")
    w = torch.from_numpy(solution.weights)
    for f in sorted(set_dir_of(aligned).glob("pair=*.json")):
        rec = json.loads(f.read_text())
        before = json.loads((set_dir_of(plain) / f.name).read_text())
        how = rec["align"]
        assert how["method"] == "weight" and len(how["permutation_hash"]) == 16
        assert how["distance_after"] <= how["distance_before"]
        wi, wj = w[rec["i"]].double(), w[rec["j"]].double()
        assert how["distance_before"] == pytest.approx(float((wj - wi).norm()), rel=1e-12)
        assert rec["straight_length"] == pytest.approx(how["distance_after"], rel=1e-5)
        assert before["straight_length"] == pytest.approx(how["distance_before"], rel=1e-5)
        # the end points' losses are the same: the aligned endpoint is the same function
        assert rec["straight_profile"][-1] == pytest.approx(
            before["straight_profile"][-1], rel=1e-5
        )
        assert identity.mismatch(rec, plain, before["inputs"]) is not None  # never reused
        assert rec["record_hash"] == identity.record_hash(rec)
        assert sym.n_prm == w.shape[1]


def test_align_on_a_net_without_symmetry_or_a_bad_method_is_one_line(mnist_root, tiny_sweep):
    with pytest.raises(LosslandError, match="align=affine: choose one of none, weight"):
        run_paths(paths_cfg(mnist_root, tiny_sweep, "set=bfgs-train", "align=affine"))


def test_the_interp_probe_aligns_its_second_endpoint(mnist_root):
    """An interp profile of w and a permuted copy of w: flat (barrier 0, distance 0) once
    aligned; unaligned, the profile of the same two vectors is not flat."""
    from lossland.data import load_split
    from lossland.probes import Landscape, Unit

    split = load_split(mnist_root, "train", limit=200)
    torch.manual_seed(0)
    from lossland.nets.modules import build_model, get_flat

    w = 5 * get_flat(build_model("fcp"))  # large enough that the midpoint's loss differs
    sym = symmetry.of("fcp")
    both = torch.stack([w, sym.permute(w, sym.random(torch.Generator().manual_seed(0)))])
    ctx = Landscape(
        arch="fcp",
        act="softplus",
        set_name="bfgs-train",
        weights=both,
        seeds=[0, 1],
        device=torch.device("cpu"),
        landscape="train",
        image_chunk=None,
        data=lambda s: split,
    )
    unit = Unit("pair=0-1", (0, 1))
    kw = {"alpha_min": 0.0, "alpha_max": 1.0, "n_alpha": 11, "cross": False}
    (plain,) = interp.Interp(**kw).run(ctx, [unit])
    (aligned,) = interp.Interp(align="weight", **kw).run(ctx, [unit])
    assert "align" not in plain and plain["distance"] > 1
    assert np.ptp(plain["train"]) > 1e-2 and np.ptp(aligned["train"]) < 1e-5
    assert aligned["set"] == "bfgs-train@weight"
    assert aligned["distance"] == 0 and aligned["align"]["distance_after"] == 0
    assert aligned["barrier_train"] == pytest.approx(0, abs=1e-6)
    loss = batched_loss_fn("fcp", "softplus", split.x, split.y)(both)
    assert np.allclose(plain["train"][-1], float(loss[1]), rtol=1e-5)
