"""The report's page, index.html: the title, a table of contents, then one ordered list of
sections (SECTIONS): the findings first, the tables, the figures and the numbers behind them,
the probes and the finders, the tidy files, and last the status of the runs and paths (folded
away when everything is complete, open with the problems first when not)."""

from __future__ import annotations

import pandas as pd

from lossland.report import aligned, html, path_tables, probe_tables, stats
from lossland.report.tidy import TIDY_FILES
from lossland.report.types import Report


def render_index(report: Report) -> str:
    sections = [s for make in SECTIONS if (s := make(report)) is not None]
    return html.render_page("lossland report", intro(report), sections)


def intro(report: Report) -> list[str]:
    return [
        f"Records under {report.out_dir.resolve()}; sets of up to {report.n_select} runs; "
        f"study {report.study.name} (conf/study/{report.study.name}.yaml). {status_line(report)}",
        "Paper: Yu & Morozov, Neural network optimization strategies and the topography of the "
        "loss landscape.",
    ]


def findings(report: Report) -> html.Section | None:
    """The study's findings, first under the title: lossland.report.claims.section(report),
    per net each of the paper's claims the records can judge (none until that module exists)."""
    try:
        from lossland.report import claims
    except ImportError:
        return None
    make = getattr(claims, "section", None)
    return make(report) if make is not None else None


def table1(report: Report) -> html.Section:
    s = html.Section("table1", "Table 1: average training and test loss")
    s.text(
        "train: mean over the train set's runs of the minimum training loss; test: mean test "
        "loss at w_test over the same runs; n: runs averaged. Grey rows: the paper's values "
        "(48 runs of 75, full MNIST; a dash where the paper has none). Look for: L-BFGS-GSS's "
        "train loss far below SGD's; the paper has it so for every net, and L-BFGS-GSS's test "
        "loss above SGD's for the three classifiers (below for the autoencoder). Files: "
        "table1.csv, table1.md."
    )
    s.table(report.tables["table1"], style="e")
    return s


def table_s1(report: Report) -> html.Section:
    s = html.Section("tableS1", "Table S1: weight statistics")
    s.text(
        "Mean (mu) and standard deviation (sigma) of the concatenated vectors of each set. "
        "Grey rows: the paper's values. Look for: sigma of the L-BFGS-GSS sets above SGD's "
        "(the paper: so for every net, train and test sets). Files: table_s1.csv, .md."
    )
    s.table(report.tables["table_s1"], style="e")
    return s


def figures(report: Report) -> html.Section:
    s = html.Section("figures", "Figures")
    for spec in report.specs:
        if spec.key in report.figures:
            s.figure(report.figures[spec.key].name, f"{spec.title}. {spec.caption}")
        else:
            why = spec.absent or "see Status"
            s.text(f"{spec.title}: not drawn ({why}).", "warn")
    return s


def numbers(report: Report) -> html.Section:
    t = report.tables
    s = html.Section("numbers", "Numbers behind the pictures")
    contrasts = ", ".join(
        f"{report.study.opt_title(a)} vs {report.study.opt_title(b)}"
        for a, b in report.study.contrasts
    )
    s.text(
        "Path heights: median of each set (and of the straight line between the same pairs) "
        f"per landscape; set a vs set b ({contrasts}) with the solution as the unit: each "
        "solution's mean height over its paths, the two-sided permutation test of the mean "
        "difference (p_permutation), the median difference and P(a higher) with 95% bootstrap "
        "intervals over solutions (height_tests_solutions.csv). p_paths_descriptive, the "
        "Mann-Whitney test over paths (height_tests.csv), is descriptive only: the paths of a "
        "set share their endpoints."
    )
    s.table(t["height_medians"], "Median path heights")
    s.table(t["height_tests_solutions"], "Path heights, set a vs set b, solutions as units")
    s.text(
        "Weight space: distance of the centroids from w_bar, median |w_i - w_bar| per set, and "
        "how well the two sets separate on PC1-PC2: 5-fold (fewer for small sets) "
        "cross-validated accuracy of a standardized logistic regression, for RBF kernel PCA "
        "(gamma = 1/N_prm) and linear PCA, with p the share of "
        f"{stats.SEPARATION_PERMUTATIONS} label permutations that "
        "separate as well (separation.csv). The (k)PCA is fitted on both sets "
        "without labels; 0.5 = chance. A linear boundary cannot separate a shell from a core, "
        "so p_a_longer adds the radial view of Fig. 5: the probability that a vector of set a "
        "(paper: BFGS) is farther from w_bar than one of set b (SGD) (Mann-Whitney U / (n_a "
        "n_b); 1 = all longer)."
    )
    s.table(t["separation"], "Cluster separation and vector lengths")
    if "toy_heights" in t:
        s.table(t["toy_heights"], "Fig. 3: path heights on the toy landscape (ours, paper)")
    return s


def tidy_files(report: Report) -> html.Section:
    s = html.Section("files", "Tidy tables")
    s.items([f"{f}: {name}" for name, f in TIDY_FILES.items()])
    return s


def status_problems(report: Report) -> list[str]:
    """What keeps the sweep from being complete, one phrase each (empty: complete)."""
    t = report.tables
    out = []
    bad_runs = t["run_exceptions"]
    if len(bad_runs):
        out.append(f"{int(bad_runs.n.sum())} run(s) not done")
    ps = t["path_status"]
    if ps.empty or not ps.started.any():
        out.append("no path jobs started")
    else:
        unstarted = int((~ps.started.astype(bool) & ps.arch.isin(trained(report))).sum())
        if unstarted:
            out.append(f"{unstarted} set x landscape(s) without path jobs")
        short = int(ps[list(PATH_PROBLEMS)].to_numpy().sum())
        if short:
            out.append(f"{short} path record(s) missing, diverged or corrupt")
    if len(t["failed_path_jobs"]):
        out.append(f"{len(t['failed_path_jobs'])} path job(s) ended in an error")
    if report.problems:
        out.append(f"{len(report.problems)} record(s) unreadable or left out")
    return out


PATH_PROBLEMS = ("missing", "diverged", "corrupt")


def trained(report: Report) -> set[str]:
    """The nets with finished runs: those whose sets the path jobs are expected to join."""
    return set(report.runs.table.query("status == 'done'").arch)


def status_line(report: Report) -> str:
    problems = status_problems(report)
    if not problems:
        return "Status: every expected run and path record is there (details at the end)."
    return "Status: " + "; ".join(problems) + " (see Status at the end)."


def status(report: Report) -> html.Section:
    """Last: folded away when complete; else open, the problems first, then the full tables."""
    t = report.tables
    problems = status_problems(report)
    summary = "; ".join(problems) if problems else "complete: every expected run and path record"
    s = html.Section("status", "Status", fold=summary, open=bool(problems))
    if t["run_exceptions"].size:
        s.table(t["run_exceptions"], "Runs not done (seeds as ranges)", style="str")
    if not t["failed_path_jobs"].empty:
        s.table(t["failed_path_jobs"], "Path jobs whose log ends in an error", style="str")
    if report.problems:
        left = sum(p.reason.startswith("left out") for p in report.problems)
        unreadable = len(report.problems) - left
        s.text(
            f"{unreadable} record(s) could not be read and were skipped; {left} group(s) of "
            "records left out (each named with its settings, record count and why; "
            "problems.csv):",
            "warn",
        )
        s.table(t["problems"], style="str")
    ps = t["path_status"]
    if ps.empty or not (ps.started.any() or len(report.paths.table)):
        s.text("No path jobs started yet (no paths/<arch>/<set>/<landscape>/pairs.json).", "warn")
    else:
        caption = "Path records per arch x set x landscape (expected = the pairs in pairs.json)"
        s.table(problems_first(ps, trained(report)), caption, style="str")
    s.text("How expected runs were inferred: " + "; ".join(report.runs.notes) + ".")
    s.table(t["run_status"], "Training runs per arch x optimizer", style="str")
    if not report.problems:
        s.text("Every record could be read.")
    s.items(report.notes)
    return s


def problems_first(path_status: pd.DataFrame, trained: set[str]) -> pd.DataFrame:
    """The path status rows with a problem first (records missing, diverged or corrupt, or a
    trained net's set not started), then the complete ones, then the nets without runs."""
    started = path_status.started.astype(bool)
    bad = (path_status[list(PATH_PROBLEMS)].sum(axis=1) > 0) | (
        ~started & path_status.arch.isin(trained)
    )
    rank = (~bad).astype(int) + (~bad & ~started)  # 0 problem, 1 complete, 2 no runs yet
    return path_status.assign(_rank=rank).sort_values("_rank", kind="stable").drop(columns="_rank")


SECTIONS = (
    findings,  # first under the title (lossland.report.claims)
    table1,
    table_s1,
    figures,
    numbers,
    probe_tables.section,
    path_tables.section,
    aligned.section,
    tidy_files,
    status,  # last
)
