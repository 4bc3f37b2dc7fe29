"""lossland.report.claims on hand-made records: Holm against a hand-computed example, the
equivalence margin, the verdicts, the barrier above the endpoints, the curve readings, and the
committed autoencoder records (two made before numerics were recorded) as sets."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lossland.core import numerics
from lossland.report import claims
from lossland.report.claims import Claim, Evidence
from lossland.report.records import PATH_COLUMNS, load_paths
from lossland.study.sets import build_set, finished_runs

REPO = Path(__file__).resolve().parents[1]


def test_holm_matches_a_hand_computed_example():
    # sorted: 0.01 x 3 = 0.03; 0.03 x 2 = 0.06; 0.04 x 1 = 0.04, raised to the running 0.06
    assert claims.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert claims.holm([0.5, 0.6]) == pytest.approx([1.0, 1.0])  # capped at 1


def claim_at(p: float, min_p: float = 1 / 252, holds: bool = True) -> Claim:
    return Claim("here", "a claim", holds=holds, p=p, min_p=min_p)


def test_verdicts_follow_holm_and_the_smallest_p():
    # three claims at the smallest p of 5 + 5 (1/252): Holm 3/252 = 0.012 < 0.05
    three = claims.apply_holm([claim_at(1 / 252) for _ in range(3)])
    assert [c.verdict for c in three] == ["reproduced"] * 3
    assert three[0].p_holm == pytest.approx(3 / 252)
    # thirteen: 13/252 = 0.0516, no outcome at this n can pass, whatever the data
    many = claims.apply_holm([claim_at(1 / 252) for _ in range(13)])
    assert {c.verdict for c in many} == {"consistent, underpowered"}
    # one claim could have passed (alone in its family 1/252 would) but did not
    two = claims.apply_holm([claim_at(0.2), claim_at(1 / 252, holds=False)])
    assert two[0].verdict == "consistent, not significant"
    assert two[1].verdict == "not reproduced"
    descriptive = claims.apply_holm([Claim("here", "no effect", holds=True)])
    assert descriptive[0].verdict == "consistent (descriptive)" and descriptive[0].p_holm is None
    assert Claim("here", "x", untestable="no paths (n = 0)").verdict.startswith("not testable")


def test_comparable_is_judged_against_the_declared_margin():
    sgd = np.array([0.090, 0.091, 0.092, 0.093, 0.094])
    inside = claims.equivalent(Claim("", ""), sgd * 1.1, sgd)  # ratio 1.1 < 1.25
    # every shifted BFGS log loss lies beyond every SGD one on both sides: the exact one-sided
    # permutation p is 1 / C(10, 5) for both tests
    assert inside.holds and inside.p == pytest.approx(1 / 252) and inside.min_p == 1 / 252
    assert "1.1 " in inside.effect
    outside = claims.equivalent(Claim("", ""), sgd * 1.5, sgd)
    assert not outside.holds and outside.p == pytest.approx(1.0)
    assert claims.COMPARABLE == 1.25  # declared: the paper's widest "comparable" gap is 1.21
    assert 1.55e-1 / 1.28e-1 < claims.COMPARABLE


def write_pair(land: Path, i: int, j: int, seeds: tuple[int, int], profile: list[float]) -> None:
    land.mkdir(parents=True, exist_ok=True)
    record = {"height": max(profile), "straight_height": 9.0, "seed_i": seeds[0],
              "seed_j": seeds[1], "profile": profile}  # fmt: skip
    (land / f"pair={i}-{j}.json").write_text(json.dumps(record))


def hand_paths(tmp_path: Path) -> pd.DataFrame:
    """bfgs-train: barriers 0.5 above the higher endpoint; sgd-train: 0.1; bfgs-test on the test
    landscape: the maximum at an endpoint (no barrier)."""
    base = tmp_path / "paths" / "fcp"
    pairs = [(0, 1), (1, 2), (0, 2)]
    for set_name, seeds, bump in (("bfgs-train", (10, 11, 12), 0.5),
                                  ("sgd-train", (20, 21, 22), 0.1)):  # fmt: skip
        land = base / set_name / "train" / "fourier" / "0123abcd"
        for i, j in pairs:
            write_pair(land, i, j, (seeds[i], seeds[j]), [0.2, 0.3 + bump, 0.3])
    land = base / "bfgs-test" / "test" / "fourier" / "0123abcd"
    for i, j in pairs:
        write_pair(land, i, j, (10 + i, 10 + j), [0.9, 0.5, 0.4])
    return load_paths(tmp_path).table.assign(arch="fcp")


def test_barriers_are_judged_above_the_endpoints(tmp_path):
    paths = hand_paths(tmp_path)
    assert paths.higher_end.tolist() == pytest.approx([0.9] * 3 + [0.3] * 6)
    ev = Evidence("fcp", {}, {}, {}, paths)
    train, _, test = claims.barrier_claims(ev)[:3]
    assert train.holds and train.n == "3 + 3 solutions (3 + 3 paths)"
    # each solution's mean barrier: 0.5 vs 0.1; 1 + 3 solutions per side: p = 1 / C(6, 3)
    assert "a - b: 0.4 " in train.effect and "0 of 6 paths peak at an endpoint" in train.effect
    assert train.p == pytest.approx(1 / 20) and train.min_p == pytest.approx(1 / 20)
    assert test.untestable  # no sgd-test paths on the test landscape
    barrier = claims.barriers(paths, "bfgs-test", "test")
    assert (barrier.barrier == 0).all()  # height = the higher endpoint: no barrier at all
    ae = claims.barrier_claims(Evidence("ae", {}, {}, {}, paths))[0]
    assert "the exception" in ae.words and ae.p is None  # a claim of no effect: descriptive
    # BFGS barriers lie above SGD's, but at 3 + 3 solutions the smallest p is 1/20 = alpha: the
    # exception cannot be contradicted at this n, so it stands (and says its p)
    assert ae.holds and "p = 0.05" in ae.how


def test_runs_read_the_test_curve_at_w_train_and_its_rise():
    runs = pd.DataFrame([{"arch": "fcp", "opt": "lbfgs", "seed": 1, "status": "done",
                          "min_train_loss": 1e-9, "test_loss_at_w_test": 0.1,
                          "w_train_epoch": 3, "sig": "s"}])  # fmt: skip
    test = [0.5, 0.1, 0.2, 0.4, 0.6]  # minimum 0.1, at w_train (epoch 3) 0.4, ends at 0.6
    curves = pd.DataFrame(
        [
            {
                "arch": "fcp",
                "opt": "lbfgs",
                "seed": 1,
                "split": "test",
                "epoch": k,
                "loss": x,
                "sig": "s",
            }
            for k, x in enumerate(test)
        ]
    )
    row = claims.run_rows(runs, curves).iloc[0]
    assert row.test_at_w_train == pytest.approx(0.4) and row.rise == pytest.approx(5.0)


def test_a_net_of_the_paper_gets_every_claim_with_its_exceptions(monkeypatch):
    monkeypatch.setattr(claims, "SEPARATION_PERMUTATIONS", 19)  # fast: 1/20 at best
    rng = np.random.default_rng(0)

    def runs(train: float, test: float, rise: float) -> pd.DataFrame:  # five per optimizer
        return pd.DataFrame({"seed": range(5), "min_train_loss": train + rng.random(5) * 1e-3,
                             "test_loss_at_w_test": test + rng.random(5) * 1e-3,
                             "test_at_w_train": test + rng.random(5) * 1e-3,
                             "rise": rise + rng.random(5) * 1e-3})  # fmt: skip

    sets = {f"{o}-{w}": rng.normal(0, s, (5, 40)) for o, s in (("bfgs", 2.0), ("sgd", 1.0))
            for w in ("train", "test")}  # fmt: skip
    ev = Evidence("ae", {"lbfgs": runs(0.017, 0.017, 0.0), "sgd": runs(0.045, 0.045, 0.0)},
                  {"lbfgs": 8, "sgd": 8}, sets, hand_paths_empty(),
                  separations={("bfgs-test", "sgd-test", "rbf"): (0.9, 0.01)})  # fmt: skip
    got = claims.judge(ev)
    table = claims.table(got)
    assert list(table.columns) == claims.COLUMNS and len(table) == 17
    overfit, rise = got[2], got[3]
    assert "does not exhibit strong BFGS overfitting" in overfit.words and overfit.holds
    assert "do not" in rise.words and rise.holds and rise.min_p == pytest.approx(1 / 32)
    comparable = got[1]
    assert not comparable.holds and comparable.verdict == "not reproduced"  # ratio 0.38
    assert all("n = 0" in c.untestable for c in got[4:9])  # no paths yet: said so
    assert sum(c.p_holm is not None for c in got) == sum(c.p is not None for c in got)
    s4 = got[16]  # the report's own separation test is taken, not run again
    assert "persists" in s4.words and s4.effect == "accuracy 0.90 (p = 0.01)" and s4.holds


def hand_paths_empty() -> pd.DataFrame:
    return pd.DataFrame(columns=PATH_COLUMNS)


AE = REPO / "records" / "ae-authors"


@pytest.mark.skipif(not AE.is_dir(), reason="no committed autoencoder records")
def test_committed_autoencoder_records_make_sets():
    runs = [r for g in finished_runs(AE, "ae", "lbfgs").values() for r in g]
    old = [r for r in runs if "numerics" not in r]
    assert old and all(numerics.of_record(r) == numerics.Numerics() for r in old)
    for name in ("bfgs-train", "bfgs-test", "sgd-train", "sgd-test"):
        s = build_set(AE, "ae", name, n_select=5, n_runs=8, write=False)
        assert s.weights.shape == (5, 52224) and not math.isnan(float(s.weights.sum()))
