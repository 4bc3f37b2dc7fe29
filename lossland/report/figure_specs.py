"""The report's figures: what each shows (FigureSpec: key, file, title, caption) and drawing
them into report/. Panels and legends follow the study and the nets with records."""

from __future__ import annotations

import json

import pandas as pd

from lossland.core.progress import progress
from lossland.core.storage import write_bytes
from lossland.report import figures, stats
from lossland.report.sets import LoadedSet
from lossland.report.types import FigureSpec, Report
from lossland.study.design import Comparison, Study


def draw_figures(report: Report) -> None:
    specs = report.specs = figure_specs(report)
    for spec in progress(specs, total=len(specs), desc="figures"):
        fig = spec.draw()
        if fig is not None:
            report.figures[spec.key] = figures.save(fig, report.report_dir / spec.file)


def representative_seeds(
    sets: dict[tuple[str, str], LoadedSet], study: Study
) -> dict[tuple[str, str], int]:
    """Fig. 2: per arch x optimizer, the median member (by min train loss) of its set of the
    study's `representative` kind (paper: its train set)."""
    picks = {}
    for (arch, name), s in sets.items():
        spec = study.sets.get(name)
        if spec is not None and spec.kind == study.representative and s.seeds:
            picks[(arch, spec.opt)] = s.seeds[len(s.seeds) // 2]
    return picks


def figure_specs(report: Report) -> list[FigureSpec]:
    study, nets = report.study, report.nets
    curves, paths = report.runs.curves, report.paths.table
    picks = representative_seeds(report.sets, study)
    first = study.curves_net if study.curves_net in nets else next(iter(nets), "")
    others = [a for a in nets if a != first]
    opts = " and ".join(study.opt_title(o, full=True) for o in study.optimizers)
    specs = [
        FigureSpec(
            "fig2",
            f"fig2_loss_curves_{first}.png",
            f"Fig. 2: {nets.get(first, first)} loss curves",
            f"Representative {nets.get(first, first)} training (a) and test (b) loss curves vs "
            f"epoch, one run of each optimizer ({opts}): the median member of each optimizer's "
            f"{study.representative} set. Dashed verticals: the epochs of each curve's minimum "
            "(w_train in a, w_test in b). Look for: how far below SGD's the L-BFGS-GSS train "
            "loss falls, and where each test curve has its minimum relative to the train "
            "curve's.",
            lambda: figures.loss_curves(
                curves, picks, [first] if first else [], "Fig. 2: loss curves", study
            ),
        ),
        FigureSpec(
            "figS1",
            "figS1_loss_curves.png",
            f"Fig. S1: loss curves of {', '.join(nets[a] for a in others) or 'the other nets'}",
            "Same as Fig. 2 for the other nets, two panels each. Look for the same: the gap "
            "between the optimizers' train losses, and each test curve's minimum.",
            lambda: figures.loss_curves(curves, picks, others, "Fig. S1: loss curves", study),
        ),
        toy_spec(report),
    ]
    for key, landscape in (("fig4", "train"), ("figS2", "test")):
        names = study.landscapes.get(landscape, ())
        colours = ", ".join(f"{study.set_title(n)} ({study.set_color(n)})" for n in names)
        label = key.replace("fig", "Fig. ")
        specs.append(
            FigureSpec(
                key,
                f"{key}_heights_{landscape}_landscape.png",
                f"{label}: path heights, {landscape} landscape",
                f"Histograms of FourierPathFinder path heights H (Eq. 5) on the {landscape} "
                f"landscape, per arch: {colours}; log-spaced bins where heights span over two "
                "decades. Look for: the paper's claim that paths between L-BFGS-GSS solutions "
                "climb higher (their histograms lie to the right) than paths between SGD "
                "solutions; the medians and Mann-Whitney tests are under Numbers behind the "
                "pictures.",
                lambda land=landscape, names=names, label=label: figures.height_histograms(
                    paths,
                    land,
                    names,
                    f"{label}: path heights on the {land} landscape",
                    study,
                    nets,
                ),
            )
        )
    for spec in study.weight_comparisons:
        specs += weight_figures(report, spec)
    return specs


def weight_figures(report: Report, spec: Comparison) -> list[FigureSpec]:
    """The lengths and (k)PCA figures of one weight-space comparison (Fig. 5 / 6, S3 / S4);
    the study's first contrast keeps the paper's keys, the others add their sets."""
    study, nets = report.study, report.nets
    key, kpca_key = study.figures.get(spec.name) or (f"fig_{spec.name}", f"fig_{spec.name}_pca")
    if not spec.first:
        key, kpca_key = (f"{k}_{spec.a}_vs_{spec.b}" for k in (key, kpca_key))
    cmp = {arch: c for (s, arch), c in report.comparisons.items() if s == spec}
    labels = (study.set_title(spec.a), study.set_title(spec.b))
    name = key.split("_")[0].replace("fig", "Fig. ")
    kname = kpca_key.split("_")[0].replace("fig", "Fig. ")
    return [
        FigureSpec(
            key,
            f"{key.split('_')[0]}_lengths_{spec.a}_vs_{spec.b}.png",
            f"{name}: weight-vector lengths, {labels[0]} vs {labels[1]}",
            f"Histograms of |w_i - w_bar| for {labels[0]} (blue) and {labels[1]} (light "
            "red), w_bar = midpoint of the two sets' centroids; dotted line at "
            "|centroid_a - w_bar| (= |centroid_b - w_bar|). Look for: whether the "
            f"{labels[0]} vectors lie farther from w_bar than the {labels[1]} vectors (the "
            "paper: BFGS vectors do, a shell around the SGD ones); p_a_longer under Numbers "
            "behind the pictures.",
            lambda: figures.length_histograms(
                {arch: c.lengths for arch, c in cmp.items()},
                labels,
                rf"{name}: $|\omega^i - \bar\omega|$, {labels[0]} vs {labels[1]}",
                nets,
            ),
        ),
        FigureSpec(
            kpca_key,
            f"{kpca_key.split('_')[0]}_kpca_{spec.a}_vs_{spec.b}.png",
            f"{kname}: kernel PCA, {labels[0]} vs {labels[1]}",
            f"PC1 vs PC2 of {labels[0]} (blue) and {labels[1]} (red) vectors: kernel PCA "
            "with the RBF kernel, gamma = 1/N_prm (the paper's panel), and linear PCA beside "
            "it. Each panel gives the k-fold (k = min(5, smaller set)) cross-validated "
            "accuracy of a logistic regression on PC1-PC2 (0.5 = chance) and p, the share of "
            f"{stats.SEPARATION_PERMUTATIONS} label permutations that separate as well. Look "
            "for: two separate clusters in the kernel PCA panel but not in the linear one (the "
            "paper's Fig. 6); accuracy near 0.5 and a large p mean the sets do not separate.",
            lambda: figures.projections(
                {arch: c.projection for arch, c in cmp.items()},
                {arch: c.separation for arch, c in cmp.items()},
                labels,
                f"{kname}: PC1-PC2 of {labels[0]} and {labels[1]}",
                nets,
            ),
        ),
    ]


def toy_spec(report: Report) -> FigureSpec:
    """Fig. 3 from the toy's records in <out_dir>/toy/ (python -m lossland.paths.toy). The
    report never runs the toy: without its records the figure says which command makes them."""
    toy_dir = report.out_dir / "toy"
    target = report.report_dir / "fig3_toy.png"
    png, heights_file = toy_dir / "fig3_toy.png", toy_dir / "toy_heights.json"
    absent = ""
    if not png.exists():
        absent = (
            f"no toy records in {toy_dir}: make them with "
            f"python -m lossland.paths.toy out={toy_dir} (seconds), then rerun the report"
        )

    def draw() -> None:
        if absent:
            return None
        write_bytes(target, png.read_bytes())
        report.figures["fig3"] = target
        try:
            heights = json.loads(heights_file.read_text())["heights"]
            toy = pd.DataFrame(heights, columns=["path", "height", "paper"])
        except (OSError, ValueError, KeyError, TypeError) as e:
            report.notes.append(f"toy heights not read from {heights_file}: {e}")
            return None
        report.tables["toy_heights"] = toy
        write_bytes(report.report_dir / "toy_heights.csv", toy.to_csv(index=False).encode())
        return None

    return FigureSpec(
        "fig3",
        "fig3_toy.png",
        "Fig. 3: low-loss paths on a 2-D landscape",
        "The paper's toy landscape f(x, y) (two wells, two bumps): the straight line (dashed) "
        "and FourierPathFinder paths for lambda = 10, 100, 1000 between the two minima (a), and "
        "f along each path with its height H marked (b). Made by python -m lossland.paths.toy. "
        "Look for: the Fourier paths bend around the bumps that the straight line crosses and "
        "stay below its height H (the table under Numbers behind the pictures gives each H "
        "beside the paper's).",
        draw,
        absent,
    )
