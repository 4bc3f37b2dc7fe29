"""Barrier height by path finder, for the same pairs: straight line, fourier, bezier, neb, ...

Every finder's pair record holds its height on the common grid (the max of its profile at the
finder.n_points values t_m) and the straight line's height on that grid, so finders compare
pair by pair. Per arch x set x landscape, only the pairs that every finder found there are
compared (n says how many). The straight line is the `linear` finder's record where there is
one, else the `straight_height` the other records carry (the same line on the same grid).

The paper's claim "Fourier paths are lower than straight lines" (and the same for any other
finder) is tested paired over those pairs: the one-sided Wilcoxon signed-rank test and the
sign test of straight - finder heights. The pairs of a set share endpoints (300 pairs on 48
solutions in the paper), so they are not independent and both p-values overstate the evidence:
read them as descriptive; the direction (lower in k of n pairs) is the finding.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np
import pandas as pd
from scipy.stats import binomtest, wilcoxon

from lossland.core.identity import flat
from lossland.core.storage import write_bytes
from lossland.report import html
from lossland.report.choice import Group, choose, reference, scope
from lossland.report.configs import leave_out_old_sets
from lossland.report.records import Problem, load_paths
from lossland.report.types import Report

STRAIGHT = "straight"
GROUP = ["arch", "set", "landscape"]
KEY = [*GROUP, "n_points"]  # records are compared on one grid of t only
HEIGHT_COLUMNS = [*KEY, "finder", "n", "median_height"]
TEST_COLUMNS = [
    *KEY,
    "finder",
    "n",
    "median_straight",
    "median_finder",
    "lower_in",
    "sign_p",
    "wilcoxon_p",
]


def one_config_per_finder(
    paths: pd.DataFrame,
    configs: dict | None = None,
    prefer: Sequence[str] = (),
    study_sets: Collection[str] = (),
) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    """The finished records, one config (sig) per arch x finder (the same for every set and
    landscape): the study's defaults or `prefer` (lossland.report.choice), never the larger
    group; the others are named, never pooled (notes: (where, why)). `n_points` is each
    record's grid (finder.n_points). A source outside `study_sets` (a weights file, an aligned
    set) has its own config (choice.scope)."""
    ok = paths[paths.status == "done"]
    configs = configs or {}
    keep, notes = [], []
    scopes = pd.Series([scope(n, study_sets) for n in ok.set], index=ok.index, dtype=object)
    for (arch, where, finder), g in ok.groupby([ok.arch, scopes, ok.finder], sort=True):
        first = g.groupby("sig").set.first()
        groups = [
            Group(
                sig,
                f"paths/{arch}/{where}/*/{finder}/{sig}",
                configs.get((arch, first[sig], sig), {}),
                n,
            )
            for sig, n in g.sig.value_counts().sort_index().items()
        ]
        kept, left_out = choose(groups, reference("paths", {"finder": finder}, prefer), "paths")
        notes += [(group.where, why) for group, why in left_out]
        if kept is not None:
            grid = flat(kept.config).get("finder.n_points")
            keep.append(g[g.sig == kept.sig].assign(n_points=grid))
    return (pd.concat(keep) if keep else ok.iloc[:0].assign(n_points=None)), notes


def paired_heights(paths: pd.DataFrame) -> dict[tuple, pd.DataFrame]:
    """Per arch x set x landscape x grid (finder.n_points): one row per pair found by every
    finder there, one column per finder (`straight` first) holding that finder's height. Only
    records scored on one grid are compared: a straight line of another grid is never used."""
    out = {}
    grid = paths["n_points"] if "n_points" in paths else pd.Series(-1, index=paths.index)
    for key, g in paths.assign(n_points=grid.fillna(-1)).groupby(KEY, sort=True):
        wide = g.pivot_table(index=["i", "j"], columns="finder", values="height", aggfunc="first")
        straight = g.groupby(["i", "j"]).straight_height.first()
        if "linear" in wide:
            straight = wide.pop("linear").fillna(straight)
        wide.insert(0, STRAIGHT, straight.reindex(wide.index))
        out[key[:-1] + ((None if key[-1] == -1 else key[-1]),)] = wide.dropna()
    return out


def height_by_finder(paired: dict[tuple, pd.DataFrame]) -> pd.DataFrame:
    """Median barrier height and n per arch x set x landscape x finder, on the same pairs."""
    rows = [
        dict(zip(KEY, key, strict=True))
        | {"finder": finder, "n": len(wide), "median_height": float(wide[finder].median())}
        for key, wide in paired.items()
        for finder in wide.columns
    ]
    return pd.DataFrame(rows, columns=HEIGHT_COLUMNS)


def lower_than_straight(paired: dict[tuple, pd.DataFrame]) -> pd.DataFrame:
    """Per finder: is it lower than the straight line? Paired, one-sided (straight > finder)."""
    rows = []
    for key, wide in paired.items():
        for finder in wide.columns.drop(STRAIGHT):
            d = (wide[STRAIGHT] - wide[finder]).to_numpy(float)
            nonzero = d[d != 0]
            sign_p = wilcoxon_p = np.nan
            if len(nonzero):
                sign_p = binomtest(int((nonzero > 0).sum()), len(nonzero), alternative="greater")
                sign_p = float(sign_p.pvalue)
                wilcoxon_p = float(wilcoxon(nonzero, alternative="greater").pvalue)
            rows.append(
                dict(zip(KEY, key, strict=True))
                | {
                    "finder": finder,
                    "n": len(d),
                    "median_straight": float(wide[STRAIGHT].median()),
                    "median_finder": float(wide[finder].median()),
                    "lower_in": f"{int((d > 0).sum())} of {len(d)}",
                    "sign_p": sign_p,
                    "wilcoxon_p": wilcoxon_p,
                }
            )
    return pd.DataFrame(rows, columns=TEST_COLUMNS)


def convergence(paths: pd.DataFrame) -> pd.DataFrame:
    """Per arch x set x landscape x finder: the share of paths whose stopping rule held
    (issue 19; 'converged' is 0 where the rule was off, the paper's fixed steps) and the median
    steps made and best step; records made before the rule existed count as not converged."""
    rows = [
        dict(zip([*GROUP, "finder"], key, strict=True))
        | {
            "n": len(g),
            "converged": float(g.converged.fillna(False).astype(bool).mean()),
            "median_steps": float(pd.to_numeric(g.steps).median()),
            "median_best_step": float(pd.to_numeric(g.best_step).median()),
        }
        for key, g in paths.groupby([*GROUP, "finder"], sort=True)
    ]
    columns = [*GROUP, "finder", "n", "converged", "median_steps", "median_best_step"]
    return pd.DataFrame(rows, columns=columns)


def build(report: Report, prefer: Sequence[str] = ()) -> None:
    """Fill report.tables with the finder comparison; write finder_heights.csv, finder_tests.csv."""
    records = load_paths(report.out_dir, finder=None)
    leave_out_old_sets(records, {key: s.hash for key, s in report.sets.items()})
    named = {p.path for p in report.problems}
    report.problems += [p for p in records.problems if p.path not in named]
    paths, notes = one_config_per_finder(records.table, records.configs, prefer, report.study.sets)
    paired = paired_heights(paths)
    report.tables["finder_heights"] = height_by_finder(paired)
    report.tables["finder_tests"] = lower_than_straight(paired)
    report.tables["finder_convergence"] = convergence(paths[paths.finder != "linear"])
    report.finder_notes = [f"{where}: {why}" for where, why in notes]
    known = {(p.path, p.reason) for p in report.problems}
    report.problems += [Problem(w, why) for w, why in notes if (w, why) not in known]
    for key in ("finder_heights", "finder_tests", "finder_convergence"):
        csv = report.tables[key].to_csv(index=False).encode()
        write_bytes(report.report_dir / f"{key}.csv", csv)


def section(report: Report) -> html.Section:
    s = html.Section("finders", "Barrier height by path finder")
    heights = report.tables.get("finder_heights", pd.DataFrame())
    if heights.empty:
        s.text(
            "No path records yet: run python -m lossland.paths (finder=fourier|bezier|neb|linear).",
            "warn",
        )
        return s
    s.text(
        "Median barrier height (max of the loss on the common grid of finder.n_points values "
        "of t) on the pairs that every finder found; straight = the straight line between the "
        "same endpoints."
    )
    s.table(heights, "Barrier height by finder (finder_heights.csv)")
    s.text(
        "Paper: Fourier paths are lower than straight lines. Tested for every finder, paired "
        "over the same pairs, one-sided (straight higher): sign test and Wilcoxon signed-rank. "
        "The pairs of a set share endpoints, so they are not independent and the p-values "
        "overstate the evidence (descriptive)."
    )
    s.table(report.tables["finder_tests"], "Lower than the straight line? (finder_tests.csv)")
    s.text(
        "Converged: the share of paths whose stopping rule held (finder.tol; off in the "
        "paper's protocol of a fixed number of steps, whose paths count as not converged)."
    )
    s.table(report.tables["finder_convergence"], "Converged paths (finder_convergence.csv)")
    if getattr(report, "finder_notes", None):
        s.items(report.finder_notes)
    return s
