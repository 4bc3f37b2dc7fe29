"""`python analysis/aligned_fcp.py [root=records] [aligned=records/fcp-aligned]`

Full-data fcp modulo permutation symmetry (issue 21): a Markdown section, as lines, from the
records jobs/align_fcp_cpu.sh writes under `aligned` for the committed solutions under `root`.
Per variant and set: the endpoint distance and the interpolation barrier (interp probe, alpha
in [0, 1], full train and test data) of each committed pair, unaligned and aligned by weight
matching; the paper's BFGS-vs-SGD comparison of those barriers with the solution as the unit,
both ways; and the aligned paths found so far beside the committed unaligned ones.
analysis/reproduction.py includes `section(root, aligned)`; run alone, this prints it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from lossland.core.storage import probe_task_dirs
from lossland.report import aligned as aligned_paths
from lossland.report import stats
from lossland.report.records import load_paths
from lossland.study.design import load_study

PAPER = load_study("paper")
VARIANTS = {"fcp-authors": "the authors' line search", "fcp-spec": "the spec line search"}
SGD_VARIANT = "fcp-spec"  # SGD is trained once, in fcp-spec (jobs/reproduce_fcp_cpu.sh)


def interp_rows(aligned_root: Path, variant: str) -> pd.DataFrame:
    """The interp records of one variant: one row per pair and alignment (none / weight)."""
    rows = []
    for arch, _, probe, _, task in probe_task_dirs(aligned_root / variant):
        if (arch, probe) != ("fcp", "interp"):
            continue
        for f in sorted(task.glob("pair=*.json")):
            rec = json.loads(f.read_text())
            if rec.get("status") != "ok":
                continue
            base, _, method = rec["set"].partition("@")
            how = rec.get("align") or {}
            rows.append(
                {
                    "variant": variant,
                    "set": base,
                    "align": method or "none",
                    "i": rec["i"],
                    "j": rec["j"],
                    "seed_i": rec["seed_i"],
                    "seed_j": rec["seed_j"],
                    "distance": how.get("distance_before", rec["distance"]),
                    "distance_aligned": rec["distance"],
                    "train": rec["barrier_train"],
                    "test": rec["barrier_test"],
                    "set_hash": rec["inputs"]["set"],
                }
            )
    return pd.DataFrame(rows)


def all_interp(aligned_root: Path) -> pd.DataFrame:
    """Every variant's records; SGD's (trained once) are fcp-spec's, shared by every variant."""
    parts = []
    sgd = interp_rows(aligned_root, SGD_VARIANT)
    sgd = sgd[sgd.set.str.startswith("sgd")] if len(sgd) else sgd
    for variant in VARIANTS:
        rows = interp_rows(aligned_root, variant)
        if len(rows):
            rows = rows[~rows.set.str.startswith("sgd")]
        parts += [rows, sgd.assign(variant=variant)]
    parts = [p for p in parts if len(p)]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def fmt(x: float) -> str:
    return "–" if x is None or not np.isfinite(x) else f"{x:.3g}"


def barrier_table(interp: pd.DataFrame) -> list[str]:
    lines = [
        "| variant | set | landscape | pairs | distance | aligned | barrier | aligned |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for (variant, name), g in interp.groupby(["variant", "set"], sort=True):
        plain, weight = g[g["align"] == "none"], g[g["align"] == "weight"]
        both = plain.merge(weight, on=["i", "j"], suffixes=("", "_w"))
        for landscape in PAPER.landscapes:
            if name not in PAPER.landscapes[landscape] or both.empty:
                continue
            lines.append(
                f"| {variant} | {name} | {landscape} | {len(both)} | "
                f"{fmt(both.distance.median())} | {fmt(both.distance_aligned_w.median())} | "
                f"{fmt(both[landscape].median())} | {fmt(both[f'{landscape}_w'].median())} |"
            )
    return lines


def barrier_tests(interp: pd.DataFrame) -> list[str]:
    """The paper's height comparisons on the interpolation barriers, solution as the unit."""
    lines = [
        "| variant | landscape | a vs b | aligned | n | median a | median b | diff (95% CI) | p |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for variant in VARIANTS:
        for method in ("none", "weight"):
            g = interp[(interp.variant == variant) & (interp["align"] == method)]
            if g.empty:
                continue
            for landscape in PAPER.landscapes:
                table = g.assign(
                    arch="fcp", landscape=landscape, status="done", height=g[landscape]
                )
                cmp = [c for c in PAPER.height_tests if c.name == landscape]
                for t in stats.solution_height_tests(table, tuple(cmp)).itertuples():
                    lo, hi = t.median_diff_ci
                    lines.append(
                        f"| {variant} | {landscape} | {t.a_set} vs {t.b_set} | {method} | "
                        f"{t.n_solutions_a}, {t.n_solutions_b} | {fmt(t.median_a)} | "
                        f"{fmt(t.median_b)} | {fmt(t.median_diff)} ({fmt(lo)}, {fmt(hi)}) | "
                        f"{fmt(t.p_permutation)} |"
                    )
    return lines


def path_tables(root: Path, aligned_root: Path) -> list[str]:
    """Aligned path heights beside the committed unaligned ones of the same pairs."""
    lines = [
        "| variant | set | landscape | pairs | height | aligned | distance | aligned |",
        "|---|---|---|---|---|---|---|---|",
    ]
    n = 0
    for variant in VARIANTS:
        plain = load_paths(root / variant).table
        ours = load_paths(aligned_root / variant).table
        rows = aligned_paths.pair_rows(pd.concat([plain, ours], ignore_index=True))
        med = aligned_paths.medians(aligned_paths.paired(rows))
        for r in med.itertuples():
            n += 1
            lines.append(
                f"| {variant} | {r.set} | {r.landscape} | {r.n_pairs} | {fmt(r.height)} | "
                f"{fmt(r.height_aligned)} | {fmt(r.distance)} | {fmt(r.distance_aligned)} |"
            )
    return lines if n else ["No aligned full-data paths yet (jobs/align_fcp_cpu.sh, step paths)."]


def fast_tables(root: Path) -> dict[str, pd.DataFrame]:
    """Each variant's fast-mode path records (preset=fast_paths): the authors' under
    fcp-modes/fast, the spec search's BFGS sets under fcp-modes/fast-spec beside the SGD sets
    (trained once) found under fcp-modes/fast."""
    authors = load_paths(root / "fcp-modes" / "fast").table
    spec = load_paths(root / "fcp-modes" / "fast-spec").table
    if not authors.empty and not spec.empty:
        spec = pd.concat([spec, authors[authors.set.str.startswith("sgd")]], ignore_index=True)
    return {"fcp-authors": authors, "fcp-spec": spec}


def fast_path_tables(tables: dict[str, pd.DataFrame]) -> list[str]:
    """The fast mode's paths of each variant, unaligned and aligned, found with the same finder
    settings: medians per set and the BFGS-vs-SGD test both ways."""
    medians = [
        "| variant | set | landscape | pairs | height | aligned | distance | aligned |",
        "|---|---|---|---|---|---|---|---|",
    ]
    tests = [
        "| variant | landscape | a vs b | aligned | n | median a | median b | diff (95% CI) | p |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for variant, table in tables.items():
        if table.empty or not table.set.str.contains(aligned_paths.SEP).any():
            continue
        pairs = aligned_paths.paired(aligned_paths.pair_rows(table))
        for r in aligned_paths.medians(pairs).itertuples():
            medians.append(
                f"| {variant} | {r.set} | {r.landscape} | {r.n_pairs} | {fmt(r.height)} | "
                f"{fmt(r.height_aligned)} | {fmt(r.distance)} | {fmt(r.distance_aligned)} |"
            )
        for t in aligned_paths.tests(pairs, PAPER.height_tests).itertuples():
            lo, hi = t.median_diff_ci
            tests.append(
                f"| {variant} | {t.landscape} | {t.a_set} vs {t.b_set} | {t.aligned} | "
                f"{t.n_solutions_a}, {t.n_solutions_b} | {fmt(t.median_a)} | {fmt(t.median_b)} | "
                f"{fmt(t.median_diff)} ({fmt(lo)}, {fmt(hi)}) | {fmt(t.p_permutation)} |"
            )
    if len(medians) == 2:
        return ["No aligned fast-mode paths yet (records under records/fcp-modes/)."]
    return [*medians, "", *tests]


def section(root: Path, aligned_root: Path = Path("records/fcp-aligned")) -> list[str]:
    """The Markdown lines of the section (a heading, tables, what they say)."""
    lines = [
        "## Barriers modulo permutation symmetry",
        "",
        "Each committed pair's second solution permuted (hidden units renumbered; the same "
        "function) to match the first by weight matching (Ainsworth et al. 2023; "
        "`lossland.nets.matching`), from the records `jobs/align_fcp_cpu.sh` writes under "
        f"`{aligned_root}`. Barrier: the interpolation barrier, max over alpha in [0, 1] "
        "(11 points, step 0.1) of the loss on the straight line minus the chord between its "
        "end losses, on all 50,000 training (or 10,000 test) images.",
        "",
    ]
    interp = all_interp(aligned_root)
    if interp.empty:
        return lines + ["Not measured yet (`jobs/align_fcp_cpu.sh`, step probes).", ""]
    lines += ["Medians over the pairs, unaligned and aligned:", "", *barrier_table(interp), ""]
    lines += [
        "BFGS vs SGD on these barriers, the solution as the unit (each solution's mean barrier "
        "over its pairs; permutation test of the mean difference, 95% bootstrap interval of "
        "the median difference), unaligned (none) and aligned (weight):",
        "",
        *barrier_tests(interp),
        "",
        "Aligned paths (the committed finder settings, align=weight) against the committed "
        "unaligned paths of the same pairs:",
        "",
        *path_tables(root, aligned_root),
        "",
        "Paths in the fast mode (`preset=fast_paths`: the paper's 100 Adam steps, each on 5,000 "
        "random images of the landscape; heights a median 3.7% above full batch, every Fig. 4 "
        "verdict kept, see the path modes section), both line searches, every committed pair "
        "found again unaligned and aligned with the same settings (`records/fcp-modes/fast`, "
        "`records/fcp-modes/fast-spec`); the solution is the unit of the test (permutation test "
        "of the mean difference, two-sided):",
        "",
        *fast_path_tables(fast_tables(root)),
        "",
    ]
    return lines


if __name__ == "__main__":
    settings = dict(a.split("=", 1) for a in sys.argv[1:] if "=" in a)
    root = Path(settings.get("root", "records"))
    print("\n".join(section(root, Path(settings.get("aligned", "records/fcp-aligned")))))
