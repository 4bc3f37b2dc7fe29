"""build_report(out_dir): read outputs/, write outputs/report/ (tables, figures, index.html).

    from lossland.report import build_report
    report = build_report("outputs/small")      # -> outputs/small/report/index.html

Builds what it can from a partial sweep and says what is missing; a corrupt record is named
and skipped. Only an out_dir with no records at all is an error (LosslandError).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from lossland.errors import LosslandError
from lossland.progress import progress
from lossland.report import figures, finders, html, probes, stats, status, tables
from lossland.report.configs import keep_one_config
from lossland.report.records import Problem, Records, load_paths, load_runs
from lossland.report.sets import ARCHS, SET_LABEL, LoadedSet, load_sets
from lossland.solution_sets import SETS
from lossland.storage import set_file, write_bytes

PAPER_N_SELECT = 48


@dataclass
class Report:
    """What was written, and what the report found (also usable from a notebook)."""

    out_dir: Path
    report_dir: Path
    index: Path
    n_select: int
    runs: Records
    paths: Records
    sets: dict[tuple[str, str], LoadedSet]
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    figures: dict[str, Path] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    comparisons: dict = field(default_factory=dict)  # (comparison, arch) -> Comparison
    specs: list = field(default_factory=list)  # the FigureSpecs drawn


def build_report(
    out_dir: str | Path = "outputs",
    report_dir: str | Path | None = None,
    n_select: int | None = None,
) -> Report:
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
    train_sigs, config_notes = keep_one_config(runs, paths)  # never pool two configs
    notes = list(runs.notes) + config_notes
    unknown = sorted(set(runs.table.arch) - set(ARCHS))
    if unknown:
        notes.append(f"ignored train/ directories of unknown archs: {', '.join(unknown)}")
    archs = [a for a in ARCHS if a in set(runs.table.arch) | set(paths.table.arch)]
    n_select, why = choose_n_select(paths.table, n_select)
    notes.append(why)
    sets, set_problems = load_sets(out_dir, archs, n_select, train_sigs)
    short = {f"{a}/{n}: {len(s.seeds)}" for (a, n), s in sets.items() if len(s.seeds) < n_select}
    if short:
        notes.append(
            f"sets smaller than n_select={n_select} (all finished runs used): "
            + ", ".join(sorted(short))
        )
    notes += stale_sets(out_dir, sets, train_sigs, n_select)
    report = Report(
        out_dir=out_dir,
        report_dir=report_dir,
        index=report_dir / "index.html",
        n_select=n_select,
        runs=runs,
        paths=paths,
        sets=sets,
        problems=runs.problems + paths.problems + set_problems,
        notes=notes,
    )
    compute_tables(report, archs)
    write_tables(report)
    draw_figures(report)
    probes.build(report)  # the probe records' tables, figures and verdicts (if any)
    finders.build(report)  # barrier height by path finder, every finder's records
    write_bytes(report.index, render_index(report).encode())
    return report


def choose_n_select(paths: pd.DataFrame, n_select: int | None) -> tuple[int, str]:
    """Given, else the path jobs' n_select (from their records' configs), else the paper's 48."""
    rule = "best finished runs per arch x optimizer"
    if n_select is not None:
        return int(n_select), f"sets: the {n_select} {rule} (given)"
    used = paths.n_select.dropna()
    if len(used):
        n = int(used.mode().iloc[0])
        return n, f"sets: the {n} {rule} (n_select of the path jobs)"
    why = "the paper's number; no path records to take n_select from"
    return PAPER_N_SELECT, f"sets: the {PAPER_N_SELECT} {rule} ({why})"


def stale_sets(
    out_dir: Path, sets: dict[tuple[str, str], LoadedSet], train_sigs: dict, n_select: int
) -> list[str]:
    """Sets whose members differ from those the path jobs used (sets/<arch>/<set>/...json)."""
    out = []
    for (arch, name), s in sorted(sets.items()):
        sig = train_sigs.get((arch, SETS[name][0]), "")
        saved = set_file(out_dir, arch, name, sig, n_select)
        try:
            seeds = [int(x) for x in json.loads(saved.read_text())["seeds"]]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if seeds != s.seeds:
            out.append(
                f"{arch}/{name}: the path jobs used seeds {seeds}, this report's set is {s.seeds} "
                "(more runs finished since?); heights are from the path jobs' set"
            )
    return out


# ------------------------------------------------------------------------------- numbers


def compute_tables(report: Report, archs: list[str]) -> None:
    t = report.tables
    runs, paths, sets = report.runs, report.paths, report.sets
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
    t["path_status"] = status.path_status(paths, archs, report.out_dir)
    t["failed_path_jobs"] = status.failed_path_jobs(report.out_dir)
    t["problems"] = pd.DataFrame([vars(p) for p in report.problems], columns=["path", "reason"])
    t["table1"] = tables.table1(runs.table, sets)
    t["table_s1"] = tables.table_s1(sets)
    t["height_medians"] = stats.height_medians(paths.table)
    t["height_tests"] = stats.height_tests(paths.table)
    report.comparisons = compare_sets(sets, archs)
    t["separation"], t["weight_lengths"], t["projections"] = weight_space_tables(report.comparisons)


@dataclass
class Comparison:
    """Two sets of one arch compared in weight space (Fig. 5 / 6 or S3 / S4)."""

    arch: str
    a_name: str  # the BFGS set
    b_name: str  # the SGD set
    seeds: list[tuple[str, int]]  # (set, seed) of each row of the arrays below
    lengths: stats.Lengths
    projection: stats.Projection
    scores: tuple[float, float]  # CV accuracy on PC1-PC2: kPCA, linear PCA


def compare_sets(sets: dict[tuple[str, str], LoadedSet], archs: list[str]) -> dict:
    """(comparison, arch) -> Comparison, for every arch where both sets exist."""
    out = {}
    for comparison, (a_name, b_name) in stats.WEIGHT_COMPARISONS.items():
        for arch in archs:
            a, b = sets.get((arch, a_name)), sets.get((arch, b_name))
            if a is None or b is None or a.n_prm != b.n_prm:
                continue
            p = stats.project(a.weights, b.weights)
            out[(comparison, arch)] = Comparison(
                arch,
                a_name,
                b_name,
                seeds=[(a_name, s) for s in a.seeds] + [(b_name, s) for s in b.seeds],
                lengths=stats.lengths(a.weights, b.weights),
                projection=p,
                scores=(
                    stats.separation_score(p.kpca, p.labels),
                    stats.separation_score(p.pca, p.labels),
                ),
            )
    return out


def weight_space_tables(comparisons: dict) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Tidy forms: separation scores per arch, each vector's length and (k)PCA coordinates."""
    sep, lengths, coords = [], [], []
    for (comparison, arch), c in comparisons.items():
        ln, p = c.lengths, c.projection
        sep.append(
            {
                "arch": arch,
                "comparison": f"{c.a_name} vs {c.b_name}",
                "n_bfgs": int((p.labels == 0).sum()),
                "n_sgd": int((p.labels == 1).sum()),
                "kpca_cv_accuracy": c.scores[0],
                "pca_cv_accuracy": c.scores[1],
                "centroid_distance": ln.centroid_distance,
                "median_length_bfgs": float(np.median(ln.a)),
                "median_length_sgd": float(np.median(ln.b)),
                "p_bfgs_longer": stats.longer_fraction(ln.a, ln.b),
            }
        )
        for k, ((name, seed), length) in enumerate(zip(c.seeds, np.r_[ln.a, ln.b], strict=True)):
            base = {"arch": arch, "comparison": comparison, "set": name, "seed": seed}
            lengths.append(base | {"length": length})
            coords.append(
                base
                | {"kpca1": p.kpca[k, 0], "kpca2": p.kpca[k, 1]}
                | {"pca1": p.pca[k, 0], "pca2": p.pca[k, 1]}
            )
    return pd.DataFrame(sep), pd.DataFrame(lengths), pd.DataFrame(coords)


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
    "separation": "separation.csv",
    "weight_lengths": "weight_lengths.csv",
    "projections": "projections.csv",
}


def write_tables(report: Report) -> None:
    for name, file in TIDY_FILES.items():
        data = report.tables[name].to_csv(index=False).encode()
        write_bytes(
            report.report_dir / file, gzip.compress(data, mtime=0) if file.endswith(".gz") else data
        )
    tables.write_table(report.tables["table1"], report.report_dir, "table1")
    tables.write_table(report.tables["table_s1"], report.report_dir, "table_s1")


# ------------------------------------------------------------------------------- figures


@dataclass
class FigureSpec:
    key: str
    file: str
    title: str
    caption: str
    draw: Callable[[], Figure | None]


def draw_figures(report: Report) -> None:
    specs = report.specs = figure_specs(report)
    for spec in progress(specs, total=len(specs), desc="figures"):
        fig = spec.draw()
        if fig is not None:
            report.figures[spec.key] = figures.save(fig, report.report_dir / spec.file)


def representative_seeds(sets: dict[tuple[str, str], LoadedSet]) -> dict[tuple[str, str], int]:
    """Fig. 2: per arch x optimizer, the median member of its train set (by min train loss)."""
    picks = {}
    for (arch, name), s in sets.items():
        if name.endswith("-train") and s.seeds:
            picks[(arch, "lbfgs" if name.startswith("bfgs") else "sgd")] = s.seeds[
                len(s.seeds) // 2
            ]
    return picks


def figure_specs(report: Report) -> list[FigureSpec]:
    sets = report.sets
    curves, paths = report.runs.curves, report.paths.table
    picks = representative_seeds(sets)
    specs = [
        FigureSpec(
            "fig2",
            "fig2_loss_curves_lstm.png",
            "Fig. 2: LSTM loss curves",
            "Representative LSTM training (a) and test (b) loss curves vs epoch, one L-BFGS-GSS "
            "run (blue) and one SGD run (red): the median member of each optimizer's train set. "
            "Dashed verticals: the epochs of each curve's minimum (w_train in a, w_test in b).",
            lambda: figures.loss_curves(curves, picks, ["lstm"], "Fig. 2: LSTM loss curves"),
        ),
        FigureSpec(
            "figS1",
            "figS1_loss_curves.png",
            "Fig. S1: loss curves of FCP, LeNet, Autoencoder",
            "Same as Fig. 2 for FCP (a, b), LeNet (c, d) and Autoencoder (e, f).",
            lambda: figures.loss_curves(
                curves, picks, ["fcp", "lenet", "ae"], "Fig. S1: loss curves"
            ),
        ),
        toy_spec(report),
        FigureSpec(
            "fig4",
            "fig4_heights_train_landscape.png",
            "Fig. 4: path heights, train landscape",
            "Histograms of FourierPathFinder path heights H (Eq. 5) on the training landscape, "
            "per arch, for BFGS train (navy), BFGS test (light blue), SGD train (light red) and "
            "SGD test (gold); log-spaced bins where heights span over two decades.",
            lambda: figures.height_histograms(
                paths,
                "train",
                ("bfgs-train", "bfgs-test", "sgd-train", "sgd-test"),
                "Fig. 4: path heights on the training landscape",
            ),
        ),
        FigureSpec(
            "figS2",
            "figS2_heights_test_landscape.png",
            "Fig. S2: path heights, test landscape",
            "Histograms of path heights on the test landscape for BFGS test (light blue) and "
            "SGD test (gold).",
            lambda: figures.height_histograms(
                paths,
                "test",
                ("bfgs-test", "sgd-test"),
                "Fig. S2: path heights on the test landscape",
            ),
        ),
    ]
    for key, kpca_key, comparison in (("fig5", "fig6", "main"), ("figS3", "figS4", "supp")):
        a_name, b_name = stats.WEIGHT_COMPARISONS[comparison]
        cmp = by_arch(report, comparison)
        labels = (SET_LABEL[a_name], SET_LABEL[b_name])
        name = key.replace("fig", "Fig. ")
        kname = kpca_key.replace("fig", "Fig. ")
        specs += [
            FigureSpec(
                key,
                f"{key}_lengths_{a_name}_vs_{b_name}.png",
                f"{name}: weight-vector lengths, {labels[0]} vs {labels[1]}",
                f"Histograms of |w_i - w_bar| for {labels[0]} (blue) and {labels[1]} (light "
                "red), w_bar = midpoint of the two sets' centroids; dotted line at "
                "|centroid_BFGS - w_bar| (= |centroid_SGD - w_bar|).",
                lambda cmp=cmp, lab=labels, n=name: figures.length_histograms(
                    {arch: c.lengths for arch, c in cmp.items()},
                    lab,
                    rf"{n}: $|\omega^i - \bar\omega|$, {lab[0]} vs {lab[1]}",
                ),
            ),
            FigureSpec(
                kpca_key,
                f"{kpca_key}_kpca_{a_name}_vs_{b_name}.png",
                f"{kname}: kernel PCA, {labels[0]} vs {labels[1]}",
                f"PC1 vs PC2 of {labels[0]} (blue) and {labels[1]} (red) vectors: kernel PCA "
                "with the RBF kernel, gamma = 1/N_prm (the paper's panel), and linear PCA beside "
                "it. Each panel gives the k-fold (k = min(5, smaller set)) cross-validated "
                "accuracy of a logistic regression on PC1-PC2 (0.5 = chance).",
                lambda cmp=cmp, lab=labels, n=kname: figures.projections(
                    {arch: c.projection for arch, c in cmp.items()},
                    {arch: c.scores for arch, c in cmp.items()},
                    lab,
                    f"{n}: PC1-PC2 of {lab[0]} and {lab[1]}",
                ),
            ),
        ]
    return specs


def by_arch(report: Report, comparison: str) -> dict[str, Comparison]:
    return {arch: c for (key, arch), c in report.comparisons.items() if key == comparison}


def toy_spec(report: Report) -> FigureSpec:
    """Fig. 3 from <out_dir>/toy/ (python -m lossland.toy); made there first if missing."""
    toy_dir = report.out_dir / "toy"
    target = report.report_dir / "fig3_toy.png"

    def draw() -> None:
        if not (toy_dir / "fig3_toy.png").exists():
            try:
                from lossland.toy import toy_paths, write_outputs

                write_outputs(toy_paths(), toy_dir)  # seconds
            except Exception as e:  # noqa: BLE001 - the toy must not stop the report
                report.notes.append(f"Fig. 3 skipped: the toy could not be run ({e})")
                return None
        write_bytes(target, (toy_dir / "fig3_toy.png").read_bytes())
        report.figures["fig3"] = target
        try:
            heights = json.loads((toy_dir / "toy_heights.json").read_text())["heights"]
            toy = pd.DataFrame(heights, columns=["path", "height", "paper"])
            report.tables["toy_heights"] = toy
            csv = toy.to_csv(index=False).encode()
            write_bytes(report.report_dir / "toy_heights.csv", csv)
        except (OSError, ValueError, KeyError) as e:
            report.notes.append(f"toy heights not read: {e}")
        return None

    return FigureSpec(
        "fig3",
        "fig3_toy.png",
        "Fig. 3: low-loss paths on a 2-D landscape",
        "The paper's toy landscape f(x, y) (two wells, two bumps): the straight line (dashed) "
        "and FourierPathFinder paths for lambda = 10, 100, 1000 between the two minima (a), and "
        "f along each path with its height H marked (b). Made by python -m lossland.toy.",
        draw,
    )


# ------------------------------------------------------------------------------- page


def render_index(report: Report) -> str:
    t = report.tables
    sections = []
    st = html.Section("status", "Status")
    st.text("How expected runs were inferred: " + "; ".join(report.runs.notes) + ".")
    st.table(t["run_status"], "Training runs per arch x optimizer", style="str")
    st.table(t["run_exceptions"], "Runs not done (seeds as ranges)", style="str")
    ps = t["path_status"]
    if ps.empty or not (ps.started.any() or len(report.paths.table)):
        st.text("No path jobs started yet (no paths/<arch>/<set>/<landscape>/pairs.json).", "warn")
    else:
        caption = "Path records per arch x set x landscape (expected = the pairs in pairs.json)"
        st.table(ps, caption, style="str")
    if not t["failed_path_jobs"].empty:
        st.table(t["failed_path_jobs"], "Path jobs whose log ends in an error", style="str")
    if report.problems:
        st.text(f"{len(report.problems)} record(s) could not be read and were skipped:", "warn")
        st.table(t["problems"], style="str")
    else:
        st.text("Every record could be read.")
    st.items(report.notes)
    sections.append(st)

    t1 = html.Section("table1", "Table 1: average training and test loss")
    t1.text(
        "train: mean over the train set's runs of the minimum training loss; test: mean test "
        "loss at w_test over the same runs; n: runs averaged. Grey rows: the paper's values "
        "(48 runs of 75, full MNIST). Files: table1.csv, table1.md."
    )
    t1.table(t["table1"], style="e")
    sections.append(t1)
    ts1 = html.Section("tableS1", "Table S1: weight statistics")
    ts1.text(
        "Mean (mu) and standard deviation (sigma) of the concatenated vectors of each set. "
        "Grey rows: the paper's values. Files: table_s1.csv, .md."
    )
    ts1.table(t["table_s1"], style="e")
    sections.append(ts1)

    nums = html.Section("numbers", "Numbers behind the pictures")
    nums.text(
        "Path heights: median of each set (and of the straight line between the same pairs) "
        "per landscape; two-sided Mann-Whitney U test of BFGS vs SGD heights (height_tests.csv)."
    )
    nums.table(t["height_medians"], "Median path heights")
    nums.table(t["height_tests"], "BFGS vs SGD path heights: Mann-Whitney U, two-sided")
    nums.text(
        "Weight space: distance of the centroids from w_bar, median |w_i - w_bar| per set, and "
        "how well the two sets separate on PC1-PC2: 5-fold (fewer for small sets) "
        "cross-validated accuracy of a standardized logistic regression, for RBF kernel PCA "
        "(gamma = 1/N_prm) and linear PCA (separation.csv). The (k)PCA is fitted on both sets "
        "without labels; 0.5 = chance. A linear boundary cannot separate a shell from a core, "
        "so p_bfgs_longer adds the radial view of Fig. 5: the probability that a BFGS vector is "
        "farther from w_bar than an SGD vector (Mann-Whitney U / (n_bfgs n_sgd); 1 = all longer)."
    )
    nums.table(t["separation"], "Cluster separation and vector lengths")
    if "toy_heights" in t:
        nums.table(t["toy_heights"], "Fig. 3: path heights on the toy landscape (ours, paper)")
    sections.append(nums)

    figs = html.Section("figures", "Figures")
    for spec in report.specs:
        if spec.key in report.figures:
            figs.figure(report.figures[spec.key].name, f"{spec.title}. {spec.caption}")
        else:
            figs.text(f"{spec.title}: not drawn (see Status).", "warn")
    sections.append(figs)

    sections.append(probes.section(report))
    sections.append(finders.section(report))
    files = html.Section("files", "Tidy tables")
    files.items([f"{f}: {name}" for name, f in TIDY_FILES.items()])
    sections.append(files)
    intro = [
        f"Records under {report.out_dir.resolve()}; sets of up to {report.n_select} runs.",
        "Paper: Yu & Morozov, Neural network optimization strategies and the topography of the "
        "loss landscape.",
    ]
    return html.render_page("lossland report", intro, sections)
