"""Barriers modulo permutation symmetry: each set's paths unaligned against aligned (issue 21).

Aligned path records (`python -m lossland.paths align=weight`) lie under
paths/<arch>/<set>@<method>/...; each pairs with the unaligned record of the same pair. Per arch,
set and landscape, on the pairs found both ways: the median path height, the median endpoint
distance and the median interpolation barrier (max over the path grid t in [0, 1] of the
straight line's loss minus the chord between its end losses; lossland.probes.interp.barrier),
unaligned and aligned. Then the study's height comparison (paper: BFGS vs SGD) with the solution
as the unit (stats.solution_height_tests), once on the unaligned heights and once on the
aligned ones: does the verdict survive alignment?
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from lossland.core.storage import read_json, write_bytes
from lossland.probes.interp import barrier
from lossland.report import html, stats
from lossland.report.types import Report

SEP = "@"  # <set>@<method>: identity.aligned_name
PAIR = ["arch", "set", "landscape", "i", "j"]
MEDIAN_COLUMNS = [
    "arch",
    "set",
    "landscape",
    "method",
    "n_pairs",
    "height",
    "height_aligned",
    "distance",
    "distance_aligned",
    "barrier",
    "barrier_aligned",
]
TEST_COLUMNS = [
    "arch",
    "landscape",
    "a_set",
    "b_set",
    "aligned",
    "n_solutions_a",
    "n_solutions_b",
    "median_a",
    "median_b",
    "median_diff",
    "median_diff_ci",
    "p_a_higher",
    "p_permutation",
]


def straight_barrier(record: dict[str, Any]) -> float:
    """The interpolation barrier on the path's grid: max_t [L(t) - chord] of the straight line."""
    t, profile = np.asarray(record["t"], float), np.asarray(record["straight_profile"], float)
    return barrier(t, profile)


def pair_rows(paths: pd.DataFrame) -> pd.DataFrame:
    """The finished path records with their alignment method (none, or the `@` suffix), the
    endpoint distance (before any alignment: `distance_before`) and the interpolation barrier."""
    ok = paths[paths.status == "done"]
    rows = []
    for row in ok.itertuples(index=False):
        base, _, method = str(row.set).partition(SEP)
        try:
            rec = read_json(row.file)
            how = rec.get("align") or {}
            rows.append(
                {
                    "arch": row.arch,
                    "set": base,
                    "landscape": row.landscape,
                    "method": method or "none",
                    "i": row.i,
                    "j": row.j,
                    "seed_i": row.seed_i,
                    "seed_j": row.seed_j,
                    "height": row.height,
                    "distance": float(row.straight_length),
                    "distance_before": float(how.get("distance_before", row.straight_length)),
                    "barrier": straight_barrier(rec),
                    "status": "done",
                }
            )
        except (OSError, ValueError, KeyError, TypeError):
            continue  # records.load_paths has named it already if it cannot be read
    return pd.DataFrame(rows)


def paired(rows: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """method -> the pairs found both unaligned and by that method: one row per pair, columns
    <x> (unaligned) and <x>_aligned."""
    if rows.empty:
        return {}
    plain = rows[rows.method == "none"]
    out = {}
    for method in sorted(set(rows.method) - {"none"}):
        aligned = rows[rows.method == method]
        both = plain.merge(aligned, on=PAIR, suffixes=("", "_aligned"))
        if len(both):
            out[method] = both
    return out


def medians(pairs: dict[str, pd.DataFrame]) -> pd.DataFrame:
    rows = []
    for method, both in pairs.items():
        for key, g in both.groupby(["arch", "set", "landscape"], sort=True):
            rows.append(
                dict(zip(["arch", "set", "landscape"], key, strict=True))
                | {"method": method, "n_pairs": len(g)}
                | {c: float(g[c].median()) for c in MEDIAN_COLUMNS[5:]}
            )
    return pd.DataFrame(rows, columns=MEDIAN_COLUMNS)


def tests(pairs: dict[str, pd.DataFrame], comparisons) -> pd.DataFrame:
    """The study's height comparisons, solution as the unit, before and after alignment, on the
    same pairs."""
    parts = []
    for method, both in pairs.items():
        for aligned, suffix in ((False, ""), (True, "_aligned")):
            cols = ["arch", "set", "landscape", "seed_i", "seed_j", "status"]
            table = both[[*cols, f"height{suffix}"]].rename(columns={f"height{suffix}": "height"})
            t = stats.solution_height_tests(table, comparisons)
            if len(t):
                parts.append(t.assign(aligned=method if aligned else "none"))
    if not parts:
        return pd.DataFrame(columns=TEST_COLUMNS)
    return pd.concat(parts, ignore_index=True)[TEST_COLUMNS].sort_values(
        ["arch", "landscape", "a_set", "aligned"], ignore_index=True
    )


def build(report: Report) -> None:
    """report.tables['aligned_medians'], ['aligned_tests'] and their CSV files."""
    pairs = paired(pair_rows(report.paths.table))
    report.tables["aligned_medians"] = medians(pairs)
    report.tables["aligned_tests"] = tests(pairs, report.study.height_tests)
    for key in ("aligned_medians", "aligned_tests"):
        write_bytes(
            report.report_dir / f"{key}.csv", report.tables[key].to_csv(index=False).encode()
        )


def section(report: Report) -> html.Section:
    s = html.Section("aligned", "Barriers modulo permutation symmetry")
    med = report.tables.get("aligned_medians", pd.DataFrame())
    if med.empty:
        s.text(
            "No aligned path records: python -m lossland.paths align=weight finds each set's "
            "paths with the second endpoint of every pair permuted to match the first.",
            "warn",
        )
        return s
    s.text(
        "Each pair's second endpoint permuted (hidden units renumbered, the same function) to "
        "match the first by weight matching (Ainsworth et al. 2023) before its path is found. "
        "Medians over the pairs found both ways: path height, endpoint distance, and the "
        "interpolation barrier (max over the path grid of the straight line's loss minus the "
        "chord between its end losses), unaligned and aligned (aligned_medians.csv)."
    )
    s.table(med, "Unaligned vs aligned, per set")
    s.text(
        "Set a vs set b heights with the solution as the unit (each solution's mean height "
        "over its paths; permutation test of the mean difference, 95% bootstrap intervals), "
        "on the same pairs, unaligned (none) and aligned (aligned_tests.csv)."
    )
    s.table(report.tables["aligned_tests"], "Does the comparison survive alignment?")
    return s
