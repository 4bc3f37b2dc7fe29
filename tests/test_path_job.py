"""Path jobs on a real sweep: one record per pair, the same pairs on a rerun, nothing redone."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from lossland.core.config import compose
from lossland.core.errors import LosslandError
from lossland.launch.cli import absolute_paths
from lossland.paths.job import run_paths, set_dir_of
from tests.conftest import run_module

FAST = [
    "n_select=3",
    "n_runs=4",
    "finder.steps=3",
    "finder.n_points=6",
    "finder.n_fourier=3",
    "dataset.n_train=300",
    "dataset.n_eval=200",
]


def paths_cfg(mnist_root, out, *overrides):
    return absolute_paths(
        compose("paths", [f"dataset.root={mnist_root}", f"out_dir={out}", *FAST, *overrides])
    )


def test_sweep_over_sets_writes_one_record_per_pair(mnist_root, tiny_sweep):
    run_module(
        "lossland.paths",
        "-m",
        "arch=fcp",
        "set=bfgs-train,sgd-test",
        "landscape=train,test",
        f"dataset.root={mnist_root}",
        f"out_dir={tiny_sweep}",
        "n_pairs=2",
        *FAST,
    )
    for set_name in ("bfgs-train", "sgd-test"):
        for landscape in ("train", "test"):
            set_dir = set_dir_of(
                paths_cfg(
                    mnist_root, tiny_sweep, f"set={set_name}", f"landscape={landscape}", "n_pairs=2"
                )
            )
            pairs = json.loads((set_dir / "pairs.json").read_text())["pairs"]
            assert len(pairs) == 2
            for i, j in pairs:
                record = json.loads((set_dir / f"pair={i}-{j}.json").read_text())
                assert (record["set"], record["landscape"], record["i"], record["j"]) == (
                    set_name,
                    landscape,
                    i,
                    j,
                )
                assert record["height"] == pytest.approx(max(record["profile"]))
                assert record["straight_height"] == pytest.approx(max(record["straight_profile"]))
                assert len(record["profile"]) == 6 and record["steps"] == 3
                assert record["length"] >= record["straight_length"] * (1 - 1e-5)
            assert (set_dir / "shard=0" / "paths.log").exists()


def test_rerun_skips_done_pairs_and_redoes_only_missing(mnist_root, tiny_sweep):
    cfg = paths_cfg(mnist_root, tiny_sweep, "set=sgd-train", "n_pairs=3")
    assert run_paths(cfg) == {"pairs": 3, "skipped": 0, "found": 3}
    set_dir = set_dir_of(cfg)
    records = sorted(set_dir.glob("pair=*.json"))
    mtimes = {p: p.stat().st_mtime_ns for p in records}
    records[0].unlink()  # as if the job was killed while this pair was in flight
    assert run_paths(cfg) == {"pairs": 3, "skipped": 2, "found": 1}
    assert all(p.stat().st_mtime_ns == mtimes[p] for p in records[1:])
    assert run_paths(cfg) == {"pairs": 3, "skipped": 3, "found": 0}


def test_chunks_split_the_pairs(mnist_root, tiny_sweep):
    first = run_paths(
        paths_cfg(
            mnist_root, tiny_sweep, "set=bfgs-test", "landscape=test", "n_pairs=3", "shard_size=2"
        )
    )
    second = run_paths(
        paths_cfg(
            mnist_root,
            tiny_sweep,
            "set=bfgs-test",
            "landscape=test",
            "n_pairs=3",
            "shard_size=2",
            "shard=1",
        )
    )
    assert (first["pairs"], second["pairs"]) == (2, 1)


def test_batched_pairs_match_one_at_a_time(mnist_root, tiny_sweep, tmp_path):
    one = paths_cfg(
        mnist_root, tiny_sweep, "set=bfgs-test", "n_pairs=2", "finder.pairs_per_batch=1"
    )
    run_paths(one)
    set_dir = set_dir_of(one)
    alone = {p.name: json.loads(p.read_text())["profile"] for p in set_dir.glob("pair=*.json")}
    for p in set_dir.glob("pair=*.json"):
        p.unlink()
    run_paths(
        paths_cfg(mnist_root, tiny_sweep, "set=bfgs-test", "n_pairs=2", "finder.pairs_per_batch=2")
    )
    together = {p.name: json.loads(p.read_text())["profile"] for p in set_dir.glob("pair=*.json")}
    assert alone.keys() == together.keys()
    for name in alone:
        np.testing.assert_allclose(together[name], alone[name], rtol=1e-4, atol=1e-5)


def test_changed_pair_settings_get_their_own_directory(mnist_root, tiny_sweep):
    two = paths_cfg(mnist_root, tiny_sweep, "set=sgd-train", "landscape=test", "n_pairs=2")
    run_paths(two)
    three = paths_cfg(mnist_root, tiny_sweep, "set=sgd-train", "landscape=test", "n_pairs=3")
    assert set_dir_of(three) != set_dir_of(two)
    assert run_paths(three)["found"] == 3
    assert len(list(set_dir_of(two).glob("pair=*.json"))) == 2


def test_pairs_drawn_for_other_runs_are_refused(mnist_root, tiny_sweep):
    cfg = paths_cfg(mnist_root, tiny_sweep, "set=sgd-train", "landscape=test", "n_pairs=1")
    run_paths(cfg)
    pairs = set_dir_of(cfg) / "pairs.json"
    saved = json.loads(pairs.read_text())
    pairs.write_text(json.dumps(saved | {"seeds": saved["seeds"][::-1]}))
    with pytest.raises(LosslandError, match="drawn for other runs or settings"):
        run_paths(cfg)


def test_bad_set_and_landscape_names(mnist_root, tiny_sweep):
    with pytest.raises(LosslandError, match="bfgs-train, bfgs-test, sgd-train, sgd-test"):
        run_paths(paths_cfg(mnist_root, tiny_sweep, "set=adam-train"))
    with pytest.raises(LosslandError, match="train or test"):
        run_paths(paths_cfg(mnist_root, tiny_sweep, "landscape=valid"))


# what every finder shares: ++ adds finder.steps where a finder has none (linear ignores it)
SHARED = ["++finder.steps=3" if o == "finder.steps=3" else o for o in FAST if "n_fourier" not in o]


def test_a_sweep_over_finders_keeps_each_finders_records_apart(mnist_root, tiny_sweep):
    finders = ("fourier", "linear", "bezier", "neb")
    run_module(
        "lossland.paths",
        "-m",
        f"finder={','.join(finders)}",
        "set=sgd-train",
        f"dataset.root={mnist_root}",
        f"out_dir={tiny_sweep}",
        "n_pairs=2",
        *SHARED,
    )
    heights = {}
    for name in finders:
        overrides = [f"dataset.root={mnist_root}", f"out_dir={tiny_sweep}", *SHARED]
        cfg = absolute_paths(
            compose("paths", [*overrides, f"finder={name}", "set=sgd-train", "n_pairs=2"])
        )
        set_dir = set_dir_of(cfg)
        assert set_dir.parent.name == name and set_dir.parent.parent.name == "train"
        records = [json.loads(p.read_text()) for p in sorted(set_dir.glob("pair=*.json"))]
        assert len(records) == 2 and {r["finder"] for r in records} == {name}
        assert all(len(r["profile"]) == 6 for r in records)  # the common grid, M = 6
        heights[name] = [r["height"] for r in records]
    # the straight line is every finder's reference, and the linear finder's path
    assert heights["linear"] == [r["straight_height"] for r in records]


def test_paths_between_the_rows_of_a_weights_file(mnist_root, tiny_sweep, tmp_path):
    weights = np.stack(
        [np.load(p) for p in sorted(tiny_sweep.glob("train/fcp/sgd/*/*/w_train.npy"))]
    )
    np.save(tmp_path / "mine.npy", weights.astype(np.float32))
    file = f"weights={tmp_path / 'mine.npy'}"
    run_module(
        "lossland.paths",
        file,
        f"dataset.root={mnist_root}",
        f"out_dir={tiny_sweep}",
        "n_pairs=2",
        *FAST,
    )
    cfg = paths_cfg(mnist_root, tiny_sweep, file, "n_pairs=2")
    set_dir = set_dir_of(cfg)
    parts = set_dir.relative_to(tiny_sweep).parts[:5]
    assert parts[2].startswith("file-mine-")  # and a hash of the file's full path
    assert parts[:2] + parts[3:] == ("paths", "fcp", "train", "fourier")
    for p in set_dir.glob("pair=*.json"):
        record = json.loads(p.read_text())
        assert record["set"] == parts[2] and record["seed_i"] is None
        assert record["inputs"] == {
            "weights": hashlib.sha256((tmp_path / "mine.npy").read_bytes()).hexdigest()
        }
    assert (set_dir / "shard=0" / "paths.log").exists()  # the job's own directory, not the set's
    assert run_paths(cfg) == {"pairs": 2, "skipped": 2, "found": 0}


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (None, "does not exist"),
        (np.zeros((3, 42200), np.float64), "dtype float64, expected float32"),
        (np.zeros((3, 100), np.float32), r"shape \[3, 100\], expected \[n, 42200\]"),
    ],
)
def test_a_bad_weights_file_is_one_line(mnist_root, tiny_sweep, tmp_path, array, message):
    path = tmp_path / "w.npy"
    if array is not None:
        np.save(path, array)
    with pytest.raises(LosslandError, match=message) as info:
        run_paths(paths_cfg(mnist_root, tiny_sweep, f"weights={path}"))
    assert "\n" not in str(info.value)


def test_a_stochastic_record_says_its_mode_and_a_rerun_is_identical(mnist_root, tiny_sweep):
    """images_per_step: its own directory (signature), the same record when found again (the
    draws are seeded from the record's identity), and the full batch's records untouched."""
    mode = ["set=sgd-train", "n_pairs=2", "finder.images_per_step=100", "finder.eval_every=2"]
    cfg = paths_cfg(mnist_root, tiny_sweep, *mode)
    full_dir = set_dir_of(paths_cfg(mnist_root, tiny_sweep, "set=sgd-train", "n_pairs=2"))
    assert set_dir_of(cfg) != full_dir
    run_paths(cfg)
    records = sorted(set_dir_of(cfg).glob("pair=*.json"))
    first = [json.loads(p.read_text()) for p in records]
    assert [r["history_steps"] for r in first] == [[0, 2, 3]] * 2  # evaluations, and the end
    assert all(r["converged"] is False and r["best_step"] in (0, 2, 3) for r in first)
    for p in records:
        p.unlink()
    run_paths(cfg)
    again = [json.loads(p.read_text()) for p in records]
    assert [r["profile"] for r in again] == [r["profile"] for r in first]
