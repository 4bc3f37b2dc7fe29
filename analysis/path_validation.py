"""`python analysis/path_validation.py [root=records] [modes=records/fcp-modes]`

The path finder's fast modes (issue 19) on the committed full-data fcp pairs: a Markdown
section, as lines. The paper's full-batch paths of the default (authors') line search's sets
and the SGD sets (`root`/fcp-authors, jobs/reproduce_fcp_cpu.sh) against the same pairs found
again by jobs/validate_paths_fcp_cpu.sh under `modes`: `fast` (the paper's 100 steps, 5,000
random images a step, conf/preset/fast_paths.yaml) and `converged` (the stopping rule,
conf/preset/converged_paths.yaml). Per set: the pairs' relative height differences; per Fig. 4
comparison: its direction and its solution-level verdict in both modes. analysis/reproduction.py
includes `section(root, modes)`; run alone, this prints it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

from lossland.report import stats
from lossland.report.records import load_paths
from lossland.study.design import load_study

PAPER = load_study("paper")
KEY = ["set", "landscape", "i", "j"]
ALPHA = 0.05


def done(out_dir: Path) -> pd.DataFrame:
    """The finished fourier records of fcp under out_dir, one row per pair."""
    table = load_paths(out_dir).table
    return table[(table.arch == "fcp") & (table.status == "done")]


def paired(full: pd.DataFrame, other: pd.DataFrame) -> pd.DataFrame:
    """The pairs found in both, with the relative height difference (other - full) / full."""
    both = full.merge(other, on=KEY, suffixes=("", "_mode"))
    return both.assign(rel=(both.height_mode - both.height) / both.height)


def fmt(x: float) -> str:
    return "–" if x is None or not np.isfinite(x) else f"{x:.3g}"


def difference_table(both: pd.DataFrame) -> list[str]:
    lines = [
        "| set | landscape | pairs | median height, full batch | fast | median abs. rel. diff "
        "| largest abs. rel. diff |",
        "|---|---|---|---|---|---|---|",
    ]
    for (name, landscape), g in both.groupby(["set", "landscape"], sort=True):
        rel = g.rel.abs()
        lines.append(
            f"| {name} | {landscape} | {len(g)} | {fmt(g.height.median())} | "
            f"{fmt(g.height_mode.median())} | {rel.median():.2%} | {rel.max():.2%} |"
        )
    rel = both.rel.abs()
    lines.append(f"| all | | {len(both)} | | | {rel.median():.2%} | {rel.max():.2%} |")
    return lines


def verdicts(table: pd.DataFrame) -> dict[tuple[str, str, str], tuple[float, float]]:
    """(landscape, a, b) -> (median difference of the solutions' mean heights, its p)."""
    tests = stats.solution_height_tests(table.assign(arch="fcp"), PAPER.height_tests)
    return {
        (t.landscape, t.a_set, t.b_set): (t.median_diff, t.p_permutation)
        for t in tests.itertuples()
    }


def said(diff: float, p: float) -> str:
    way = "BFGS higher" if diff > 0 else "SGD higher" if diff < 0 else "tie"
    return f"{way}, {'significant' if p < ALPHA else 'not significant'} (p = {p:.3g})"


def comparison_table(both: pd.DataFrame, label: str) -> tuple[list[str], bool | None]:
    """Each Fig. 4 comparison on the pairs found in both modes; whether every verdict kept."""
    ours = both.assign(height=both.height_mode)
    a, b = verdicts(both), verdicts(ours)
    lines = [
        f"| comparison | pairs | full batch | {label} | same direction | same verdict |",
        "|---|---|---|---|---|---|",
    ]
    kept: bool | None = None
    for key in sorted(a.keys() & b.keys()):
        (da, pa), (db, pb) = a[key], b[key]
        direction = np.sign(da) == np.sign(db)
        verdict = direction and (pa < ALPHA) == (pb < ALPHA)
        kept = verdict if kept is None else kept and verdict
        n = len(both[(both.landscape == key[0]) & both.set.isin(key[1:])])
        lines.append(
            f"| {key[0]}: {key[1]} vs {key[2]} | {n} | {said(da, pa)} | {said(db, pb)} | "
            f"{'yes' if direction else 'NO'} | {'yes' if verdict else 'NO'} |"
        )
    return lines, kept


def convergence_table(full: pd.DataFrame, conv: pd.DataFrame) -> list[str]:
    both = paired(full, conv)
    lines = [
        "| set | landscape | pairs | converged | median steps | median height at 100 steps "
        "(full batch) | this run | ratio |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for (name, landscape), g in both.groupby(["set", "landscape"], sort=True):
        lines.append(
            f"| {name} | {landscape} | {len(g)} | {int(g.converged_mode.fillna(False).sum())} of "
            f"{len(g)} | {g.steps_mode.median():.0f} | {fmt(g.height.median())} | "
            f"{fmt(g.height_mode.median())} | {fmt((g.height_mode / g.height).median())} |"
        )
    return lines


def section(root: Path, modes: Path = Path("records/fcp-modes")) -> list[str]:
    """The Markdown lines of the section (a heading, tables, what they say)."""
    lines = [
        "## Fast and converged paths (issue 19)",
        "",
        "The committed full-batch paths of the authors' line search's sets and the SGD sets "
        f"(`{root.as_posix()}/fcp-authors`), found again by `jobs/validate_paths_fcp_cpu.sh` "
        f"(records under `{modes.as_posix()}/`): *fast*, the paper's 100 Adam steps on 5,000 "
        "random training images a step (`preset=fast_paths`; height and kept iterate on the "
        "full landscape), and *converged*, until the stopping rule holds "
        "(`preset=converged_paths`). Relative difference: (fast - full) / full, per pair. "
        "Made with `MODES=fast jobs/validate_paths_fcp_cpu.sh` and `MODES=converged "
        "CONVERGED_SIZE=1 JOBS='bfgs-train:train sgd-train:train' FINDER=finder.steps=600 "
        "jobs/validate_paths_fcp_cpu.sh` (one thread, a busy 2-core CPU: 61 minutes for the 36 "
        "fast paths, 9 for each 600-step one).",
        "",
    ]
    full = done(root / "fcp-authors")
    fast = done(modes / "fast") if (modes / "fast").exists() else full.iloc[:0]
    if full.empty or fast.empty:
        return lines + ["Not measured yet (`jobs/validate_paths_fcp_cpu.sh`).", ""]
    both = paired(full, fast)
    table, kept = comparison_table(both, "fast")
    lines += [
        "Heights at the paper's 100 steps, full batch against fast:",
        "",
        *difference_table(both),
        "",
        "Fig. 4 comparisons, the solution as the unit (each solution's mean height over its "
        "pairs; permutation test), on the pairs found in both modes:",
        "",
        *(table if kept is not None else ["No comparison has both its sets yet."]),
        "",
    ]
    conv = done(modes / "converged") if (modes / "converged").exists() else full.iloc[:0]
    if conv.empty:
        lines += ["Converged paths: not measured yet.", ""]
    else:
        lines += [
            "The converged preset (its records' own step limit; `converged`: whether the "
            "stopping rule held before it) against the paper's 100 steps, same pairs:",
            "",
            *convergence_table(full, conv),
            "",
        ]
        table, kept_c = comparison_table(paired(full, conv), "converged")
        if kept_c is not None:
            lines += ["Fig. 4 comparisons with the converged preset:", "", *table, ""]
    return lines


if __name__ == "__main__":
    settings = dict(a.split("=", 1) for a in sys.argv[1:] if "=" in a)
    root = Path(settings.get("root", "records"))
    print("\n".join(section(root, Path(settings.get("modes", "records/fcp-modes")))))
