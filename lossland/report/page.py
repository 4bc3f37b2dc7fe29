"""The report's page, index.html: status, tables, numbers, figures, probes, files."""

from __future__ import annotations

from typing import Any

from lossland.report import aligned, finders, html, probes, stats
from lossland.report.tidy import TIDY_FILES


def render_index(report: Any) -> str:
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
        "(48 runs of 75, full MNIST; a dash where the paper has none). Files: table1.csv, "
        "table1.md."
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
    contrasts = ", ".join(
        f"{report.study.opt_title(a)} vs {report.study.opt_title(b)}"
        for a, b in report.study.contrasts
    )
    nums.text(
        "Path heights: median of each set (and of the straight line between the same pairs) "
        "per landscape; two-sided Mann-Whitney U test of set a vs set b heights "
        f"({contrasts}; height_tests.csv)."
    )
    nums.table(t["height_medians"], "Median path heights")
    nums.table(t["height_tests"], "Path heights, set a vs set b: Mann-Whitney U, two-sided")
    nums.text(
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
    sections.append(aligned.section(report))
    files = html.Section("files", "Tidy tables")
    files.items([f"{f}: {name}" for name, f in TIDY_FILES.items()])
    sections.append(files)
    intro = [
        f"Records under {report.out_dir.resolve()}; sets of up to {report.n_select} runs; "
        f"study {report.study.name} (conf/study/{report.study.name}.yaml).",
        "Paper: Yu & Morozov, Neural network optimization strategies and the topography of the "
        "loss landscape.",
    ]
    return html.render_page("lossland report", intro, sections)
