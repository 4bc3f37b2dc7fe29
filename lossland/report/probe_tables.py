"""The probes' part of the report: their records as tables, one figure each, and a verdict per
arch on "are the L-BFGS minima sharper than SGD's?" (python -m lossland.probes writes the
records under <out_dir>/probes/<arch>/<set>/<probe>/<sig>/; none is fine: the section says so).

The verdict's test is a permutation test whose unit is the solution: the runs of one optimizer
are independent (own seeds), so their solutions are exchangeable under "no difference". Pairs
(interp) share solutions and are not independent, so no p-value is computed from them.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Collection, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from lossland.core.storage import probe_task_dirs, write_bytes
from lossland.probes.intrinsic import d_int90
from lossland.report import html
from lossland.report import probe_figures as pf
from lossland.report.choice import Group, choose, reference, scope
from lossland.report.records import Problem
from lossland.report.types import Report
from lossland.study.design import Study

PROBES = ("hessian", "noise", "perturb", "interp", "slice", "intrinsic")
SCALARS = (  # the numbers of each record that go into the tidy table probes_<probe>.csv
    "lambda_max lambda_min trace trace_se lambda_c lambda_h ratio fitted_curvature "
    "barrier_train barrier_test distance d performance full_space_performance test_loss "
    "test_accuracy loss wall_seconds"
).split()
ID = ["arch", "set", "probe", "unit", "k", "seed", "kind", "i", "j", "opt", "status"]


def load_probe_records(
    out_dir: Path,
    prefer: Sequence[str] = (),
    set_hashes: dict[tuple[str, str], str] | None = None,
    study_sets: Collection[str] = (),
) -> tuple[dict[str, pd.DataFrame], dict, list[Problem]]:
    """probe -> tidy table of its scalars; (probe, arch, set) -> raw records (curves, grids).

    Records of one probe and arch made under different settings (directories
    probes/<arch>/<set>/<probe>/<sig>/) are never pooled: one sig per probe and arch, the same
    for every set (so sets are compared on one landscape and grid), chosen by
    lossland.report.choice (the defaults, or `prefer`); records made from an older version of
    their set than `set_hashes[(arch, set)]` are left out. Each group left out is named. A
    source outside `study_sets` (a weights file, an aligned set) has its own (choice.scope)."""
    found: dict[tuple[str, str, str], dict[str, list[dict]]] = {}
    problems = []
    records = [p for *_, d in probe_task_dirs(out_dir) for p in sorted(d.glob("*.json"))]
    for path in records:
        try:
            rec = json.loads(path.read_text())
            key = (rec["probe"], rec["arch"], scope(rec["set"], study_sets))
        except (OSError, ValueError, KeyError) as e:
            problems.append(Problem(str(path), f"unreadable probe record ({e})"))
            continue
        found.setdefault(key, {}).setdefault(path.parent.name, []).append(rec)
    rows: dict[str, list[dict]] = {p: [] for p in PROBES}
    raw: dict[tuple[str, str, str], list[dict]] = {}
    for (probe, arch, where), by_sig in sorted(found.items()):
        groups = [
            Group(
                sig, f"probes/{arch}/{where}/{probe}/{sig}", recs[0].get("config") or {}, len(recs)
            )
            for sig, recs in sorted(by_sig.items())
        ]
        kept, left_out = choose(groups, reference("probe", {"probe": probe}, prefer), "probe")
        problems += [Problem(g.where, why) for g, why in left_out]
        old: dict[str, int] = {}
        for rec in by_sig[kept.sig] if kept else []:
            now = (set_hashes or {}).get((arch, rec["set"]))
            if now and (rec.get("inputs") or {}).get("set") not in (None, now):
                old[rec["set"]] = old.get(rec["set"], 0) + 1
                continue
            rows.setdefault(probe, []).append(
                {k: rec.get(k) for k in ID + SCALARS if k in rec or k in ID} | {"sig": kept.sig}
            )
            raw.setdefault((probe, arch, rec["set"]), []).append(rec)
        problems += [
            Problem(
                f"probes/{arch}/{name}/{probe}/{kept.sig}",
                f"left out {n} record(s): made from an older version of set {name} than the "
                "current one: rerun the probe jobs to redo them",
            )
            for name, n in sorted(old.items())
        ]
    tables = {p: pd.DataFrame(r) for p, r in rows.items() if r}
    return tables, raw, problems


def n_selects(out_dir: Path) -> list[int]:
    """The n_select of each probe record made from a set (the report builds its sets alike)."""
    out = []
    for *_, d in probe_task_dirs(out_dir):
        for path in d.glob("*.json"):
            try:
                n = json.loads(path.read_text())["config"]["n_select"]
            except (OSError, ValueError, KeyError, TypeError):
                continue
            if isinstance(n, int) and "file-" not in path.parent.parent.parent.name:
                out.append(n)
    return out


def permutation_test(a: np.ndarray, b: np.ndarray, n_perm: int = 10_000, seed: int = 0):
    """Two-sided test of mean(a) = mean(b), exact when there are few enough splits.
    Returns (p, number of splits used, exact?)."""
    pooled, n_a = np.r_[a, b], len(a)
    observed = abs(a.mean() - b.mean())
    n_splits = math.comb(len(pooled), n_a)
    if n_splits <= n_perm:
        splits = [list(c) for c in itertools.combinations(range(len(pooled)), n_a)]
        exact = True
    else:
        rng = np.random.default_rng(seed)
        splits = [rng.permutation(len(pooled))[:n_a] for _ in range(n_perm)]
        exact = False
    stats = []
    for idx in splits:
        mask = np.zeros(len(pooled), bool)
        mask[idx] = True
        stats.append(abs(pooled[mask].mean() - pooled[~mask].mean()))
    stats = np.array(stats)
    p = (
        float((stats >= observed - 1e-12).mean())
        if exact
        else float(((stats >= observed - 1e-12).sum() + 1) / (len(stats) + 1))
    )
    return p, len(splits), exact


def sharpness_verdicts(
    hessian: pd.DataFrame, study: Study, archs: list[str]
) -> tuple[pd.DataFrame, list[str]]:
    """Per arch, contrast and kind (train / test sets) of the study (paper: BFGS vs SGD):
    log lambda_max of the two sets, permutation test."""
    rows, lines = [], []
    if hessian.empty:
        return pd.DataFrame(rows), lines
    ok = hessian[(hessian.status == "ok") & (hessian.lambda_max > 0)]
    kinds = list(dict.fromkeys(s.kind for s in study.sets.values()))
    for arch, (opt_a, opt_b), kind in itertools.product(
        [a for a in archs if a in set(ok.arch)], study.contrasts, kinds
    ):
        set_a, set_b = study.set_name(opt_a, kind), study.set_name(opt_b, kind)
        rows_a = ok[(ok.arch == arch) & (ok.set == set_a)]
        rows_b = ok[(ok.arch == arch) & (ok.set == set_b)]
        a, b = rows_a.lambda_max.to_numpy(float), rows_b.lambda_max.to_numpy(float)
        if len(a) < 2 or len(b) < 2:
            continue
        sigs = set(rows_a.get("sig", pd.Series(dtype=str))) | set(
            rows_b.get("sig", pd.Series(dtype=str))
        )
        if len(sigs) > 1:  # never compare records scored under other settings (landscape)
            lines.append(
                f"{arch}: {set_a} vs {set_b} not compared: their hessian records were made under "
                f"different settings ({', '.join(sorted(sigs))})"
            )
            continue
        p, n_splits, exact = permutation_test(np.log(a), np.log(b))
        ratio = float(np.exp(np.log(a).mean() - np.log(b).mean()))
        min_p = 2 / n_splits if exact else 1 / (n_splits + 1)
        rows.append(
            {
                "arch": arch,
                "sets": f"{set_a} vs {set_b}",
                "n_a": len(a),
                "n_b": len(b),
                "median_lambda_max_a": float(np.median(a)),
                "median_lambda_max_b": float(np.median(b)),
                "geo_mean_ratio": ratio,
                "p_value": p,
                "smallest_possible_p": min_p,
            }
        )
        names = (study.opt_title(opt_a), study.opt_title(opt_b))
        lines.append(verdict_line(arch, kind, names, a, b, ratio, p, min_p, exact))
    return pd.DataFrame(rows), lines


def verdict_line(arch, kind, names, a, b, ratio, p, min_p, exact) -> str:
    sharper = "sharper" if ratio > 1 else "flatter"
    if p < 0.05:
        claim = f"{names[0]} {kind} solutions are {sharper} than {names[1]}'s"
    elif min_p >= 0.05:
        claim = f"no verdict possible for the {kind} sets: too few solutions"
    else:
        claim = f"no significant difference in sharpness between the {kind} sets"
    how = "exact, all splits" if exact else "10,000 random splits"
    return (
        f"{arch}: {claim} (geometric-mean lambda_max {names[0]} / {names[1]} = {ratio:.3g}; "
        "medians "
        f"{np.median(a):.3g} vs {np.median(b):.3g}; two-sided permutation test on mean "
        f"log lambda_max, solution = unit, n = {len(a)} vs {len(b)}, {how}: p = {p:.3g}, "
        f"smallest p these n allow = {min_p:.2g}). Runs are independent seeds on the same "
        "data, so p speaks for this data and these settings only."
    )


def summary(df: pd.DataFrame, by: list[str], cols: list[str]) -> pd.DataFrame:
    if df.empty or not set(cols) <= set(df.columns):
        return pd.DataFrame()
    g = df[df.status == "ok"].groupby(by, sort=True)
    out = g[cols].median().add_prefix("median_")
    out.insert(0, "n", g.size())
    return out.reset_index()


def intrinsic_table(df: pd.DataFrame) -> pd.DataFrame:
    if df.empty:
        return df
    rows = []
    for (arch, set_name), g in df.groupby(["arch", "set"]):
        full = float(g.full_space_performance.iloc[0])
        dims, perf = g.d.astype(int).tolist(), g.performance.astype(float).tolist()
        rows.append(
            {"arch": arch, "set": set_name, "opt": g.opt.iloc[0], "full_space": full}
            | {f"d={d}": p for d, p in sorted(zip(dims, perf, strict=True))}
            | {"d_int90": d_int90(dims, perf, full)}
        )
    return pd.DataFrame(rows)


def build(report: Report, prefer: Sequence[str] = ()) -> None:
    """Fill report.tables / report.figures with the probes' part; write its CSVs and PNGs."""
    hashes = {key: s.hash for key, s in report.sets.items()}
    tables, raw, problems = load_probe_records(report.out_dir, prefer, hashes, report.study.sets)
    report.problems += problems
    t = report.tables
    empty = pd.DataFrame()
    t["probe_hessian"] = summary(
        tables.get("hessian", empty), ["arch", "set"], ["lambda_max", "lambda_min", "trace"]
    )
    t["probe_noise"] = summary(
        tables.get("noise", empty), ["arch", "set"], ["lambda_c", "lambda_h", "ratio"]
    )
    t["probe_perturb"] = summary(
        tables.get("perturb", empty), ["arch", "set"], ["lambda_max", "fitted_curvature"]
    )
    t["probe_interp"] = summary(
        tables.get("interp", empty),
        ["arch", "set", "kind"],
        ["barrier_train", "barrier_test", "distance"],
    )
    t["probe_intrinsic"] = intrinsic_table(tables.get("intrinsic", empty))
    t["probe_verdicts"], report.probe_verdicts = sharpness_verdicts(
        tables.get("hessian", empty), report.study, report.archs
    )
    report.probe_counts = {p: len(tables[p]) for p in tables}
    for name, df in tables.items():
        write_bytes(report.report_dir / f"probes_{name}.csv", df.to_csv(index=False).encode())
    for key, draw in pf.FIGURES.items():
        fig = draw(tables, raw, report.study, report.nets)
        if fig is not None:
            report.figures[key] = pf.save(fig, Path(report.report_dir) / f"{key}.png")


def section(report: Report) -> html.Section:
    s = html.Section("probes", "Landscape probes")
    counts = getattr(report, "probe_counts", {})
    if not counts:
        s.text(
            "No probe records under probes/ yet: run python -m lossland.probes (docs/probes.md).",
            "warn",
        )
        return s
    s.text("Records: " + ", ".join(f"{p}: {n}" for p, n in counts.items()) + ".")
    st = report.study
    pairs = ", ".join(f"{st.opt_title(a)} vs {st.opt_title(b)}" for a, b in st.contrasts)
    s.text(f"Are one optimizer's minima sharper than another's ({pairs})? (top Hessian eigenvalue)")
    s.items(report.probe_verdicts or ["No arch has hessian records for both optimizers."])
    t = report.tables
    for key, caption in pf.CAPTIONS.items():
        table = t.get(key.replace("fig_", ""), pd.DataFrame())
        if not table.empty:
            s.table(table, caption.split(":")[0])
        if key in report.figures:
            s.figure(report.figures[key].name, caption)
    s.table(t["probe_verdicts"], "Sharpness tests (probes_hessian.csv holds every solution)")
    return s
