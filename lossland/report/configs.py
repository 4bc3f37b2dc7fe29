"""One config per number: the report never pools records of different result-relevant settings.

Per arch x optimizer the report keeps one training config (train/<arch>/<opt>/<sig>/), and per
arch x finder one path config (paths/<arch>/*/*/<finder>/<sig>/, the same for every set and
landscape, so that comparisons are on one grid), of the records made from the current version
of a set of that training config: the config of the study's defaults or of the user's `prefer`
(lossland.report.choice), never the larger group. Everything else is left out of the tables and
figures, and each left-out group is named in `problems` (where, its distinguishing settings,
its record count, why). The code versions behind the kept records are listed too.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from lossland.report.choice import Group, choose, reference, scope
from lossland.report.records import Problem, Records
from lossland.study.design import Study


def keep_one_config(
    runs: Records, paths: Records, study: Study, prefer: Sequence[str] = ()
) -> tuple[dict[tuple[str, str], str], list[str]]:
    """Filter `runs` and `paths` in place; returns the kept training sig per (arch, opt), notes.
    Each group left out is added to the records' `problems` (choice.choose says which and why)."""
    kept_train: dict[tuple[str, str], str] = {}
    t = runs.table
    keep = pd.Series(True, index=t.index)
    for (arch, opt), g in t.groupby(["arch", "opt"], sort=True):
        groups = [
            Group(sig, f"train/{arch}/{opt}/{sig}", runs.configs.get((arch, opt, sig), {}), n)
            for sig, n in g.sig.value_counts().sort_index().items()
        ]
        kept, left_out = choose(
            groups, reference("train", {"opt": opt, "arch": arch}, prefer), "train"
        )
        if kept is not None:
            kept_train[(arch, opt)] = kept.sig
        for group, why in left_out:
            keep &= ~((t.arch == arch) & (t.opt == opt) & (t.sig == group.sig))
            runs.problems.append(Problem(group.where, why))
    runs.table = t[keep].reset_index(drop=True)
    if runs.curves is not None and len(runs.curves):
        c = runs.curves
        kept_curves = c.apply(lambda r: kept_train.get((r.arch, r.opt)) == r.sig, axis=1)
        runs.curves = c[kept_curves.astype(bool)].reset_index(drop=True)

    p = paths.table
    keep = pd.Series(True, index=p.index)
    for (arch, name, landscape), g in p.groupby(["arch", "set", "landscape"], sort=True):
        spec = study.sets.get(name)
        trained = spec is not None and ((t.arch == arch) & (t.opt == spec.opt)).any()
        train_sig = kept_train.get((arch, spec.opt)) if spec else None
        wrong = g.train_sig.notna() & (g.train_sig != train_sig) & trained
        if wrong.any():
            keep &= ~p.index.isin(g[wrong].index)
            paths.problems.append(
                Problem(
                    f"paths/{arch}/{name}/{landscape}",
                    f"left out {int(wrong.sum())} record(s): made from a set of training config "
                    f"{', '.join(sorted(set(g[wrong].train_sig)))}, not the reported "
                    f"{train_sig or '(none: see the train/ lines)'}",
                )
            )
    kept_path: dict[tuple[str, str, str], str | None] = {}  # (arch, scope, finder) -> sig
    scopes = pd.Series([scope(n, study.sets) for n in p.set], index=p.index, dtype=object)
    for (arch, where, finder), g in p[keep].groupby([p.arch, scopes, p.finder], sort=True):
        groups = [
            Group(sig, f"paths/{arch}/{where}/*/{finder}/{sig}", config_of(paths, arch, g, sig), n)
            for sig, n in g.sig.value_counts().sort_index().items()
        ]
        kept, left_out = choose(groups, reference("paths", {"finder": finder}, prefer), "paths")
        kept_path[(arch, where, finder)] = kept.sig if kept else None
        for group, why in left_out:
            keep &= ~(
                (p.arch == arch) & (scopes == where) & (p.finder == finder) & (p.sig == group.sig)
            )
            paths.problems.append(Problem(group.where, why))
    paths.table = p[keep].reset_index(drop=True)
    if paths.expected is not None and len(paths.expected):
        e = paths.expected
        mask = [
            kept_path.get((a, scope(n, study.sets), f), sig) == sig
            for a, n, f, sig in zip(e.arch, e.set, e.finder, e.sig, strict=True)
        ]
        paths.expected = e[mask].reset_index(drop=True)
    return kept_train, [code_versions(runs.table, paths.table)]


def config_of(paths: Records, arch: str, g: pd.DataFrame, sig: str) -> dict:
    """The config of a path group (records of one sig share it, whatever their set)."""
    name = g[g.sig == sig].set.iloc[0]
    return paths.configs.get((arch, name, sig), {})


def leave_out_old_sets(paths: Records, set_hashes: dict[tuple[str, str], str]) -> None:
    """Path records made from another version of their set than the current one (more runs
    finished, a member retrained) are left out and named: the path jobs redo them."""
    p = paths.table
    current = [set_hashes.get((a, n)) for a, n in zip(p.arch, p.set, strict=True)]
    old = pd.Series(
        [
            bool(c) and isinstance(h, str) and h != c
            for h, c in zip(p.set_hash, current, strict=True)
        ],
        index=p.index,
        dtype=bool,
    )
    for (arch, name, landscape, finder, sig), g in p[old].groupby(
        ["arch", "set", "landscape", "finder", "sig"], sort=True
    ):
        paths.problems.append(
            Problem(
                f"paths/{arch}/{name}/{landscape}/{finder}/{sig}",
                f"left out {len(g)} record(s): made from an older version of set {name} "
                f"({', '.join(sorted(set(g.set_hash)))}; now {set_hashes[(arch, name)]}): "
                "rerun the path jobs to redo them",
            )
        )
    paths.table = p[~old].reset_index(drop=True)
    if paths.expected is not None and len(paths.expected) and old.any():
        gone = set(zip(p[old].arch, p[old].set, p[old].landscape, p[old].i, p[old].j, strict=True))
        e = paths.expected
        keys = zip(e.arch, e.set, e.landscape, e.i, e.j, strict=True)
        e = e.assign(
            present=[bool(pr) and k not in gone for pr, k in zip(e.present, keys, strict=True)]
        )
        paths.expected = e


def code_versions(runs: pd.DataFrame, paths: pd.DataFrame) -> str:
    """`code versions behind these numbers: 1a2b3c4d (8 runs, 12 pairs), unknown (2 runs)`."""
    counts: dict[str, list[int]] = {}
    for label in runs.code.dropna():
        counts.setdefault(label, [0, 0])[0] += 1
    for label in paths.code.dropna():
        counts.setdefault(label, [0, 0])[1] += 1
    parts = [f"{label} ({n} runs, {m} pairs)" for label, (n, m) in sorted(counts.items())]
    return "code versions (git commit) behind these numbers: " + (", ".join(parts) or "none")
