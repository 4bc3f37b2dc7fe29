"""Solution sets and their pairs (docs/decisions.md#sets).

Per arch and optimizer, the finished runs with the lowest minimum train loss (48 of 75 in the
paper) form the "train" set (their w_train) and the "test" set (the same runs' w_test); the
study (lossland.study.design) names the sets and says which optimizer and vector each takes. Pairs
are drawn once per set from a seeded generator, so a rerun finds the same pairs.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from omegaconf import DictConfig

from lossland.core import identity, numerics, storage
from lossland.core.errors import LosslandError
from lossland.nets.modules import load_weight_file
from lossland.study.design import Study, load_study, study_of

log = logging.getLogger("lossland")


@dataclass(frozen=True)
class SolutionSet:
    """The weight vectors of one set, [n, N_prm] float32, and the seeds they came from."""

    arch: str
    name: str
    weights: np.ndarray
    seeds: list[int]
    act: str
    train_sig: str = ""  # the training config's directory signature
    hash: str = ""  # the set record's hash: what its pair records name as their input


FINISHED = ("done", "diverged", "stalled")  # a run that ended; only `done` ranks first


def finished_runs(out_dir: str | Path, arch: str, opt: str) -> dict[str, list[dict]]:
    """Records of the runs that ended (FINISHED), by training config (dir signature).

    Corrupt records are named and skipped; a record whose config does not hash to its
    directory's signature (moved by hand, an older layout) is named and left out.
    """
    groups: dict[str, list[dict]] = {}
    for a, o, sig, _, task in storage.train_task_dirs(out_dir):
        path = task / storage.RESULT_FILE
        if (a, o) != (arch, opt) or not path.exists():
            continue
        try:
            record = storage.read_json(path)
        except LosslandError as e:
            log.warning("skipping: %s", e)
            continue
        if identity.dir_signature(record.get("config", {}), "train") != sig:
            log.warning("skipping %s: its config does not belong in %s", path, task.parent)
            continue
        if record.get("status") in FINISHED:
            record_hash = record.get("record_hash") or identity.record_hash(record)
            groups.setdefault(sig, []).append(
                record | {"task_dir": str(task), "record_hash": record_hash}
            )
    return groups


def pick_config(
    groups: dict[str, list[dict]], arch: str, opt: str, train_sig: str | None
) -> tuple[str, list[dict]]:
    """The runs of ONE training config: `train_sig` if given, else the only one there is."""
    if train_sig is not None:
        if train_sig not in groups:
            have = ", ".join(sorted(groups)) or "none"
            raise LosslandError(
                f"{arch}/{opt}: no finished runs with train_sig={train_sig} (there are: {have})"
            )
        return train_sig, groups[train_sig]
    if len(groups) > 1:
        first, *others = sorted(groups, key=lambda g: (-len(groups[g]), g))
        ref = groups[first][0]["config"]
        described = [f"{first} ({len(groups[first])} runs)"] + [
            f"{g} ({len(groups[g])} runs; {identity.differences(ref, groups[g][0]['config'])})"
            for g in others
        ]
        raise LosslandError(
            f"{arch}/{opt}: finished runs of {len(groups)} training configs, never pooled: "
            f"{'; '.join(described)}: pick one with train_sig=<sig>"
        )
    if not groups:
        return "", []
    return next(iter(groups.items()))


def select_runs(
    out_dir: str | Path,
    arch: str,
    opt: str,
    n_select: int = 48,
    n_runs: int = 75,
    allow_partial: bool = False,
    train_sig: str | None = None,
) -> list[dict]:
    """The `n_select` finished runs of one training config, lowest min train loss first; a
    diverged or stalled run counts as finished but ranks after every run that converged."""
    _, runs = pick_config(finished_runs(out_dir, arch, opt), arch, opt, train_sig)
    one_numerics(runs, arch, opt)
    if len(runs) < n_runs and not allow_partial:
        raise LosslandError(
            f"{arch}/{opt}: {len(runs)} of {n_runs} runs finished under {out_dir}: "
            "wait for the training sweep, or set allow_partial=true to use what exists"
        )
    if not runs:
        raise LosslandError(
            f"{arch}/{opt}: no finished runs under {out_dir}: run the training first"
        )
    runs.sort(key=lambda r: (r["status"] != "done", r["min_train_loss"], r["seed"]))
    return runs[:n_select]


def one_numerics(runs: list[dict], arch: str, opt: str) -> None:
    """Refuse runs of one config made under different numerics (device type, dtype, TF32:
    docs/decisions.md#numerics). They are not in the signature, so that every record made
    before numerics were recorded (all CPU float32) keeps its identity; a set checks them."""
    kinds: dict[str, int] = {}
    for run in runs:
        label = numerics.of_record(run).label()
        kinds[label] = kinds.get(label, 0) + 1
    if len(kinds) > 1:
        counts = ", ".join(f"{n} on {label}" for label, n in sorted(kinds.items()))
        raise LosslandError(
            f"{arch}/{opt}: finished runs were made under different numerics ({counts}), never "
            "pooled: move one kind's run directories to another out_dir"
        )


def build_set(
    out_dir: str | Path,
    arch: str,
    name: str,
    n_select: int = 48,
    n_runs: int = 75,
    allow_partial: bool = False,
    train_sig: str | None = None,
    write: bool = True,
    study: Study | None = None,
) -> SolutionSet:
    """Stack the chosen runs' vectors; saved (write=True) as sets/<arch>/<name>/<sig>-n<k>.npy
    with a .json record of its members' record hashes, whose hash identifies the set.
    The study (default: the paper's) says which optimizer and weight vector `name` takes."""
    spec = (study or load_study()).check_set(name)
    opt, which = spec.opt, spec.which
    runs = select_runs(out_dir, arch, opt, n_select, n_runs, allow_partial, train_sig)
    weights = np.stack(
        [load_weight_file(Path(r["task_dir"]) / r["files"][which], arch)[0] for r in runs]
    )
    acts = {r["config"]["arch"]["act"] for r in runs}
    if len(acts) != 1:
        raise LosslandError(
            f"{arch}/{opt}: runs mix activations {sorted(acts)}: use one out_dir each"
        )
    sig = identity.dir_signature(runs[0]["config"], "train")
    members = [{"seed": int(r["seed"]), "record_hash": r["record_hash"]} for r in runs]
    record = {
        "arch": arch,
        "set": name,
        "seeds": [m["seed"] for m in members],
        "act": next(iter(acts)),
        "which": which,
        "train_sig": sig,
        "n_select": n_select,
        "weights_sha256": hashlib.sha256(weights.tobytes()).hexdigest(),
    }
    set_config = {"arch": arch, "set": name, "train": identity.result_config(runs[0]["config"])}
    set_config |= {"n_select": n_select}
    identity.stamp(record, set_config, inputs={"members": identity.digest(members, 16)})
    record["members"] = members
    solution = SolutionSet(
        arch, name, weights, record["seeds"], record["act"], sig, record["record_hash"]
    )
    if write:
        path = storage.set_file(out_dir, arch, name, sig, n_select)
        storage.write_npy(path.with_suffix(".npy"), weights)
        storage.write_json(path, record)
    return solution


def draw_pairs(n_members: int, n_pairs: int, seed: int, set_name: str) -> list[tuple[int, int]]:
    """`n_pairs` distinct unordered pairs (i < j) of set members; all pairs if fewer exist."""
    every = list(itertools.combinations(range(n_members), 2))
    rng = np.random.default_rng([seed, zlib.crc32(set_name.encode())])
    if n_pairs >= len(every):
        return every
    chosen = rng.choice(len(every), size=n_pairs, replace=False)
    return [every[k] for k in chosen]


def weight_file_set(path: str | Path, arch: str, act: str) -> SolutionSet:
    """An [n, N_prm] float32 .npy file as a set (`load_weight_file` checks it); its identity
    (`hash`) is the file's sha256, its name `file-<stem>-<path hash>`."""
    weights = load_weight_file(path, arch)
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    name = identity.input_name({"weights": str(path)})
    return SolutionSet(arch, name, weights, [None] * len(weights), act, hash=digest)


def source_set(cfg: DictConfig, write: bool = True) -> SolutionSet:
    """A path or probe job's input (lossland.core.config.SetJobConfig): the set named by `set`,
    built from the training records, or the rows of the file `weights`; every row finite."""
    arch = cfg.arch.name
    if cfg.get("weights"):
        source = weight_file_set(str(cfg.weights), arch, str(cfg.arch.act))
        fix = "drop them from the file"
    else:
        args = (cfg.n_select, cfg.n_runs, cfg.allow_partial, cfg.get("train_sig"))
        source = build_set(str(cfg.out_dir), arch, cfg.set, *args, write, study_of(cfg))
        fix = "retrain those runs"
    bad = np.flatnonzero(~np.isfinite(source.weights).all(1))
    if len(bad):
        raise LosslandError(
            f"{arch}/{source.name}: weight vector(s) {bad.tolist()} hold NaN or inf: {fix}"
        )
    return source


def inputs_of(source: SolutionSet) -> dict[str, str]:
    """What a path record was made from: its set's record hash, or its weights file's sha256."""
    return {"weights" if source.name.startswith("file-") else "set": source.hash}
