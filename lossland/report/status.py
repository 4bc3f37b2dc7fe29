"""What is there and what is not: runs and pairs that are missing, failed, diverged or corrupt.

A partial sweep is the normal case while jobs run; these tables say exactly where it stands.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from lossland.core.storage import PAIRS_FILE, job_logs, path_task_dirs
from lossland.report.records import Records
from lossland.study.design import Study

RUN_STATES = ("done", "diverged", "stalled", "failed", "incomplete", "corrupt", "missing")
PATH_STATES = ("done", "diverged", "corrupt", "missing")


def run_status(runs: Records) -> pd.DataFrame:
    """Per arch x opt: how many runs are expected and how many are in each state."""
    t = runs.table[["arch", "opt", "seed", "status"]]
    exp = runs.expected.merge(t, on=["arch", "opt", "seed"], how="left")
    exp["status"] = exp.status.fillna("missing")
    counts = pd.crosstab([exp.arch, exp.opt], exp.status)
    counts = counts.reindex(columns=list(RUN_STATES), fill_value=0)
    counts.insert(0, "expected", counts.sum(axis=1))
    return counts.reset_index().rename_axis(columns=None)


def run_exceptions(runs: Records) -> pd.DataFrame:
    """Runs that are not done, grouped: arch, opt, status, seeds (as compact ranges), detail."""
    t = runs.table[["arch", "opt", "seed", "status", "detail"]]
    exp = runs.expected.merge(t, on=["arch", "opt", "seed"], how="left")
    exp["status"] = exp.status.fillna("missing")
    exp["detail"] = exp.detail.fillna("no task directory")
    bad = exp[exp.status != "done"]
    rows = [
        {"arch": a, "opt": o, "status": s, "n": len(g), "seeds": seed_ranges(g.seed)}
        | {"example": g.detail.iloc[0]}
        for (a, o, s), g in bad.groupby(["arch", "opt", "status"], sort=True)
    ]
    return pd.DataFrame(rows, columns=["arch", "opt", "status", "n", "seeds", "example"])


def path_status(
    paths: Records, archs: list[str], out_dir: str | Path, study: Study
) -> pd.DataFrame:
    """Per arch x set x landscape: pairs expected (pairs.json) and in each state.

    Every arch with finished runs is expected to have the sets the study scores on each
    landscape (paper: all four on train, the two test sets on test; docs/decisions.md#sets);
    `started` says whether its pairs.json exists.
    """
    t, exp = paths.table, paths.expected
    rows = []
    for arch in archs:
        for landscape, names in study.landscapes.items():
            for name in names:
                key = (t.arch == arch) & (t.set == name) & (t.landscape == landscape)
                e = exp[(exp.arch == arch) & (exp.set == name) & (exp.landscape == landscape)]
                counts = t[key].status.value_counts()
                row = {"arch": arch, "set": name, "landscape": landscape}
                row["started"] = any(
                    (d / PAIRS_FILE).exists()
                    for a, n, land, _, _, d in path_task_dirs(out_dir)
                    if (a, n, land) == (arch, name, landscape)
                )
                row["expected"] = len(e) if len(e) else int(key.sum())
                for s in PATH_STATES[:-1]:
                    row[s] = int(counts.get(s, 0))
                row["missing"] = int((~e.present).sum()) if len(e) else 0
                rows.append(row)
    return pd.DataFrame(
        rows, columns=["arch", "set", "landscape", "started", "expected", *PATH_STATES]
    )


def failed_path_jobs(out_dir: str | Path) -> pd.DataFrame:
    """Path job logs (paths/<arch>/<set>/<landscape>/<finder>/<sig>/shard=<s>/paths.log) whose LAST
    attempt (from its last `... to find` line on) ends in an error; a rerun that found every
    pair clears an old failure."""
    rows = []
    for log in job_logs(out_dir, "paths"):
        lines = log.read_text(errors="replace").splitlines()
        starts = [k for k, ln in enumerate(lines) if " to find" in ln]
        lines = lines[starts[-1] :] if starts else lines
        err = [ln for ln in lines if "[ERROR]" in ln or ln.startswith("Traceback")]
        if err:
            rows.append({"log": str(log), "error": err[-1].strip()[-300:]})
    return pd.DataFrame(rows, columns=["log", "error"])


def seed_ranges(seeds) -> str:
    """[0, 1, 2, 5, 7, 8] -> '0-2, 5, 7-8'."""
    s = sorted({int(x) for x in seeds})
    out, start = [], None
    for k, v in enumerate(s):
        if start is None:
            start = v
        if k + 1 == len(s) or s[k + 1] != v + 1:
            out.append(str(start) if start == v else f"{start}-{v}")
            start = None
    return ", ".join(out)
