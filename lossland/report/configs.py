"""One config per number: the report never pools records of different result-relevant settings.

Per arch x optimizer the report keeps the training config (train/<arch>/<opt>/<sig>/) with the
most finished runs, and per arch x set x landscape the path config
(paths/.../<finder>/<sig>/) with the most records that were made from a set of that training
config. Everything else is left out
of the tables and figures, and each left-out group is named with the reason (the keys in
which its config differs). The code versions behind the kept records are listed too.
"""

from __future__ import annotations

import pandas as pd

from lossland.identity import differences
from lossland.report.records import Records
from lossland.study import Study


def keep_one_config(
    runs: Records, paths: Records, study: Study
) -> tuple[dict[tuple[str, str], str], list[str]]:
    """Filter `runs` and `paths` in place; returns the kept training sig per (arch, opt), notes."""
    notes: list[str] = []
    kept_train: dict[tuple[str, str], str] = {}
    t = runs.table
    keep = pd.Series(True, index=t.index)
    for (arch, opt), g in t.groupby(["arch", "opt"], sort=True):
        if g.sig.nunique() < 2:
            kept_train[(arch, opt)] = g.sig.iloc[0]
            continue
        done = g[g.status == "done"].sig.value_counts()
        order = sorted(g.sig.unique(), key=lambda s: (-int(done.get(s, 0)), s))
        best = kept_train[(arch, opt)] = order[0]
        for sig in order[1:]:
            keep &= ~((t.arch == arch) & (t.opt == opt) & (t.sig == sig))
            why = differences(
                runs.configs.get((arch, opt, best), {}), runs.configs.get((arch, opt, sig), {})
            )
            notes.append(
                f"left out train/{arch}/{opt}/{sig} ({int((g.sig == sig).sum())} runs): another "
                f"training config than the reported {best} ({why})"
            )
    runs.table = t[keep].reset_index(drop=True)
    if runs.curves is not None and len(runs.curves):
        c = runs.curves
        kept = c.apply(lambda r: kept_train.get((r.arch, r.opt)) == r.sig, axis=1)
        runs.curves = c[kept.astype(bool)].reset_index(drop=True)

    p = paths.table
    keep = pd.Series(True, index=p.index)
    kept_path: dict[tuple[str, str, str], str] = {}
    for (arch, name, landscape), g in p.groupby(["arch", "set", "landscape"], sort=True):
        spec = study.sets.get(name)
        train_sig = kept_train.get((arch, spec.opt)) if spec else None
        wrong = g.train_sig.notna() & (g.train_sig != train_sig) & (train_sig is not None)
        if wrong.any():
            keep &= ~p.index.isin(g[wrong].index)
            notes.append(
                f"left out {int(wrong.sum())} path records of {arch}/{name}/{landscape}: made from "
                f"a set of training config {', '.join(sorted(set(g[wrong].train_sig)))}, "
                f"not the reported {train_sig}"
            )
        g = g[~wrong]
        if g.empty:
            continue
        order = sorted(g.sig.unique(), key=lambda s: (-int((g.sig == s).sum()), s))
        finder = g.finder.iloc[0] if "finder" in g else "fourier"
        kept_path[(arch, name, landscape)] = order[0]
        for sig in order[1:]:
            keep &= ~(
                (p.arch == arch) & (p.set == name) & (p.landscape == landscape) & (p.sig == sig)
            )
            why = differences(
                paths.configs.get((arch, name, order[0]), {}),
                paths.configs.get((arch, name, sig), {}),
            )
            notes.append(
                f"left out paths/{arch}/{name}/{landscape}/{finder}/{sig} "
                f"({int((g.sig == sig).sum())} "
                f"records): another path config than the reported {order[0]} ({why})"
            )
    paths.table = p[keep].reset_index(drop=True)
    if paths.expected is not None and len(paths.expected):
        e = paths.expected
        mask = [
            kept_path.get((a, n, land), sig) == sig
            for a, n, land, sig in zip(e.arch, e.set, e.landscape, e.sig, strict=True)
        ]
        paths.expected = e[mask].reset_index(drop=True)
    notes.append(code_versions(runs.table, paths.table))
    return kept_train, notes


def code_versions(runs: pd.DataFrame, paths: pd.DataFrame) -> str:
    """`code versions behind these numbers: 1a2b3c4d (8 runs, 12 pairs), unknown (2 runs)`."""
    counts: dict[str, list[int]] = {}
    for label in runs.code.dropna():
        counts.setdefault(label, [0, 0])[0] += 1
    for label in paths.code.dropna():
        counts.setdefault(label, [0, 0])[1] += 1
    parts = [f"{label} ({n} runs, {m} pairs)" for label, (n, m) in sorted(counts.items())]
    return "code versions (git commit) behind these numbers: " + (", ".join(parts) or "none")
