"""build_report(out_dir): read outputs/, write outputs/report/ (tables, figures, index.html).

    from lossland.report import build_report
    report = build_report("outputs/small")      # -> outputs/small/report/index.html

Builds what it can from a partial sweep and says what is missing; a corrupt record is named
and skipped. Only an out_dir with no records at all is an error (LosslandError). The study
(default: the paper's, conf/study/paper.yaml) names the sets and comparisons; the nets are the
study's with records, then any other net with records. This module loads; tidy (numbers),
figure_specs (figures) and page (index.html) make the rest.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from lossland.core.errors import LosslandError
from lossland.core.storage import set_file, write_bytes
from lossland.report import aligned, path_tables, probe_tables
from lossland.report.configs import keep_one_config, leave_out_old_sets
from lossland.report.figure_specs import draw_figures
from lossland.report.page import render_index
from lossland.report.records import load_paths, load_runs
from lossland.report.sets import load_sets
from lossland.report.tidy import compute_tables, write_problems, write_tables
from lossland.report.types import LoadedSet, Report
from lossland.study.design import Study, load_study


def build_report(
    out_dir: str | Path = "outputs",
    report_dir: str | Path | None = None,
    n_select: int | None = None,
    study: Study | str = "paper",
    prefer: list[str] | tuple[str, ...] = (),
) -> Report:
    """`prefer`: settings (KEY=VALUE) whose records to report where records were made under
    different settings; by default the study's (lossland.report.choice)."""
    study = load_study(study) if isinstance(study, str) else study
    out_dir = Path(out_dir)
    report_dir = Path(report_dir) if report_dir is not None else out_dir / "report"
    if not out_dir.is_dir():
        raise LosslandError(f"{out_dir} does not exist: pass out_dir=<the sweeps' out_dir>")
    runs, paths = load_runs(out_dir), load_paths(out_dir)
    if runs.table.empty and paths.table.empty:
        raise LosslandError(
            f"no training or path records under {out_dir}: run the sweeps first (README), "
            "or pass out_dir=<the sweeps' out_dir>"
        )
    train_sigs, config_notes = keep_one_config(runs, paths, study, prefer)  # never pool configs
    notes = list(runs.notes) + config_notes
    archs = study.archs(set(runs.table.arch) | set(paths.table.arch))
    others = [a for a in archs if a not in study.nets]
    if others:
        notes.append(f"nets with records that study {study.name} does not list: {others}")
    n_select, why = choose_n_select(paths.table, n_select, study, out_dir)
    notes.append(why)
    sets, set_problems = load_sets(out_dir, archs, study, n_select, train_sigs)
    short = {f"{a}/{n}: {len(s.seeds)}" for (a, n), s in sets.items() if len(s.seeds) < n_select}
    if short:
        notes.append(
            f"sets smaller than n_select={n_select} (all finished runs used): "
            + ", ".join(sorted(short))
        )
    notes += stale_sets(out_dir, sets, train_sigs, n_select, study)
    leave_out_old_sets(paths, {key: s.hash for key, s in sets.items()})
    report = Report(
        out_dir=out_dir,
        report_dir=report_dir,
        index=report_dir / "index.html",
        n_select=n_select,
        study=study,
        archs=archs,
        runs=runs,
        paths=paths,
        sets=sets,
        problems=runs.problems + paths.problems + set_problems,
        notes=notes,
    )
    compute_tables(report)
    write_tables(report)
    draw_figures(report)
    probe_tables.build(report, prefer)  # the probe records' tables, figures and verdicts (if any)
    path_tables.build(report, prefer)  # barrier height by path finder, every finder's records
    aligned.build(report)  # unaligned vs aligned paths (align=weight records)
    write_problems(report)  # with what the probes and finders left out
    write_bytes(report.index, render_index(report).encode())
    return report


def choose_n_select(
    paths: pd.DataFrame, n_select: int | None, study: Study, out_dir: Path | None = None
) -> tuple[int, str]:
    """Given, else the path jobs' n_select (from their records' configs), else the probe
    jobs', else the study's."""
    rule = "best finished runs per arch x optimizer"
    if n_select is not None:
        return int(n_select), f"sets: the {n_select} {rule} (given)"
    for jobs, used in (
        ("path", paths.n_select.dropna()),
        ("probe", pd.Series(probe_tables.n_selects(out_dir) if out_dir else [], dtype=float)),
    ):
        if len(used):
            n = int(used.mode().iloc[0])
            return n, f"sets: the {n} {rule} (n_select of the {jobs} jobs)"
    why = f"study {study.name}'s n_select; no path records to take one from"
    return study.n_select, f"sets: the {study.n_select} {rule} ({why})"


def stale_sets(
    out_dir: Path,
    sets: dict[tuple[str, str], LoadedSet],
    train_sigs: dict,
    n_select: int,
    study: Study,
) -> list[str]:
    """Sets whose members differ from those the path jobs used (sets/<arch>/<set>/...json)."""
    out = []
    for (arch, name), s in sorted(sets.items()):
        sig = train_sigs.get((arch, study.sets[name].opt), "")
        saved = set_file(out_dir, arch, name, sig, n_select)
        try:
            seeds = [int(x) for x in json.loads(saved.read_text())["seeds"]]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if seeds != s.seeds:
            out.append(
                f"{arch}/{name}: the path jobs used seeds {seeds}, this report's set is {s.seeds} "
                "(more runs finished since?); records of the older set are left out (Status)"
            )
    return out
