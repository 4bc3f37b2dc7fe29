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

from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import binomtest, wilcoxon

from lossland.report import html
from lossland.report.records import load_paths
from lossland.storage import write_bytes

STRAIGHT = "straight"
GROUP = ["arch", "set", "landscape"]
HEIGHT_COLUMNS = [*GROUP, "finder", "n", "median_height"]
TEST_COLUMNS = [
    *GROUP,
    "finder",
    "n",
    "median_straight",
    "median_finder",
    "lower_in",
    "sign_p",
    "wilcoxon_p",
]


def one_config_per_finder(paths: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """The finished records, one config (sig) per arch x set x landscape x finder: the one with
    the most records; the others are named in a note, never pooled."""
    ok = paths[paths.status == "done"]
    keep, notes = [], []
    for key, g in ok.groupby([*GROUP, "finder"], sort=True):
        counts = g.sig.value_counts()
        best = sorted(counts.index, key=lambda s: (-counts[s], s))[0]
        keep.append(g[g.sig == best])
        for sig in counts.index.drop(best):
            notes.append(f"left out paths/{'/'.join(key)}/{sig} ({counts[sig]} records)")
    return (pd.concat(keep) if keep else ok.iloc[:0]), notes


def paired_heights(paths: pd.DataFrame) -> dict[tuple[str, str, str], pd.DataFrame]:
    """Per arch x set x landscape: one row per pair found by every finder there, one column
    per finder (`straight` first) holding that finder's height."""
    out = {}
    for key, g in paths.groupby(GROUP, sort=True):
        wide = g.pivot_table(index=["i", "j"], columns="finder", values="height", aggfunc="first")
        straight = g.groupby(["i", "j"]).straight_height.first()
        if "linear" in wide:
            straight = wide.pop("linear").fillna(straight)
        wide.insert(0, STRAIGHT, straight.reindex(wide.index))
        out[key] = wide.dropna()
    return out


def height_by_finder(paired: dict[tuple[str, str, str], pd.DataFrame]) -> pd.DataFrame:
    """Median barrier height and n per arch x set x landscape x finder, on the same pairs."""
    rows = [
        dict(zip(GROUP, key, strict=True))
        | {"finder": finder, "n": len(wide), "median_height": float(wide[finder].median())}
        for key, wide in paired.items()
        for finder in wide.columns
    ]
    return pd.DataFrame(rows, columns=HEIGHT_COLUMNS)


def lower_than_straight(paired: dict[tuple[str, str, str], pd.DataFrame]) -> pd.DataFrame:
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
                dict(zip(GROUP, key, strict=True))
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


def build(report: Any) -> None:
    """Fill report.tables with the finder comparison; write finder_heights.csv, finder_tests.csv."""
    paths, notes = one_config_per_finder(load_paths(report.out_dir, finder=None).table)
    paired = paired_heights(paths)
    report.tables["finder_heights"] = height_by_finder(paired)
    report.tables["finder_tests"] = lower_than_straight(paired)
    report.tables["finder_convergence"] = convergence(paths[paths.finder != "linear"])
    report.finder_notes = notes
    for key in ("finder_heights", "finder_tests", "finder_convergence"):
        csv = report.tables[key].to_csv(index=False).encode()
        write_bytes(report.report_dir / f"{key}.csv", csv)


def section(report: Any) -> html.Section:
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
