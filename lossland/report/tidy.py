"""The report's numbers as tables (report.tables) and their files under report/ (CSV)."""

from __future__ import annotations

import gzip

import pandas as pd

from lossland.core.storage import write_bytes
from lossland.report import stats, status, tables
from lossland.report.types import Report
from lossland.report.weight_space import compare_sets, weight_space_tables

TIDY_FILES = {  # table -> file name under report/
    "runs": "runs.csv",
    "curves": "curves.csv.gz",
    "paths": "paths.csv",
    "sets": "sets.csv",
    "run_status": "run_status.csv",
    "run_exceptions": "run_exceptions.csv",
    "path_status": "path_status.csv",
    "failed_path_jobs": "failed_path_jobs.csv",
    "problems": "problems.csv",
    "height_medians": "height_medians.csv",
    "height_tests": "height_tests.csv",
    "height_tests_solutions": "height_tests_solutions.csv",
    "separation": "separation.csv",
    "weight_lengths": "weight_lengths.csv",
    "projections": "projections.csv",
}


def compute_tables(report: Report) -> None:
    """Fill report.tables (and report.comparisons) from its records and sets."""
    t = report.tables
    runs, paths, sets, study, archs = (
        report.runs,
        report.paths,
        report.sets,
        report.study,
        report.archs,
    )
    t["runs"] = runs.table
    t["curves"] = runs.curves
    t["paths"] = paths.table
    t["sets"] = pd.DataFrame(
        [
            {"arch": a, "set": n, "rank": r, "seed": seed}
            for (a, n), s in sets.items()
            for r, seed in enumerate(s.seeds)
        ],
        columns=["arch", "set", "rank", "seed"],
    )
    t["run_status"] = status.run_status(runs)
    t["run_exceptions"] = status.run_exceptions(runs)
    t["path_status"] = status.path_status(paths, archs, report.out_dir, study)
    t["failed_path_jobs"] = status.failed_path_jobs(report.out_dir)
    t["problems"] = pd.DataFrame([vars(p) for p in report.problems], columns=["path", "reason"])
    t["table1"] = tables.table1(runs.table, sets, study, archs)
    t["table_s1"] = tables.table_s1(sets, study, archs)
    t["height_medians"] = stats.height_medians(paths.table)
    t["height_tests"] = stats.height_tests(paths.table, study.height_tests)
    t["height_tests_solutions"] = split_intervals(
        stats.solution_height_tests(paths.table, study.height_tests)
    )
    report.comparisons = compare_sets(sets, archs, study)
    t["separation"], t["weight_lengths"], t["projections"] = weight_space_tables(report.comparisons)


def split_intervals(df: pd.DataFrame) -> pd.DataFrame:
    """Interval columns (x_ci: (lo, hi)) as two plain columns, x_lo and x_hi."""
    for col in [c for c in df.columns if c.endswith("_ci")]:
        lo, hi = zip(*df[col], strict=True) if len(df) else ((), ())
        at = df.columns.get_loc(col)
        df = df.drop(columns=col)
        df.insert(at, col.removesuffix("_ci") + "_lo", list(lo))
        df.insert(at + 1, col.removesuffix("_ci") + "_hi", list(hi))
    return df


def write_problems(report: Report) -> None:
    """problems.csv again with every problem (the probes and finders add theirs last)."""
    t = report.tables
    t["problems"] = pd.DataFrame([vars(p) for p in report.problems], columns=["path", "reason"])
    write_bytes(
        report.report_dir / TIDY_FILES["problems"], t["problems"].to_csv(index=False).encode()
    )


def write_tables(report: Report) -> None:
    for name, file in TIDY_FILES.items():
        data = report.tables[name].to_csv(index=False).encode()
        write_bytes(
            report.report_dir / file, gzip.compress(data, mtime=0) if file.endswith(".gz") else data
        )
    tables.write_table(report.tables["table1"], report.report_dir, "table1")
    tables.write_table(report.tables["table_s1"], report.report_dir, "table_s1")
