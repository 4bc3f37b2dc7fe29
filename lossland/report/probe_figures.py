"""One figure per probe (lossland.report.probe_tables): each takes the tidy tables, the raw records,
the study (set names, titles, colours) and the nets (name -> title, one panel each) and returns
a Figure, or None when that probe has no records."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from lossland.report.figures import arch_grid, no_data, save  # noqa: F401 - save re-exported
from lossland.study.design import Study


def present(df: pd.DataFrame | None) -> bool:
    return df is not None and not df.empty


def set_order(study: Study, found) -> list[str]:
    """The study's sets in its order, then any other set with records (a weights file)."""
    found = set(found)
    return [s for s in study.sets if s in found] + sorted(found - set(study.sets))


def boxes(
    tables, study: Study, nets: dict[str, str], probe: str, col: str, title: str, log: bool = True
) -> Figure | None:
    df = tables.get(probe)
    if not present(df) or col not in df:
        return None
    df = df[(df.status == "ok") & df[col].notna()]
    fig, panels = arch_grid(title, nets)
    for arch, ax in panels.items():
        sets = set_order(study, df[df.arch == arch].set)
        if not sets:
            no_data(ax)
            continue
        values = [df[(df.arch == arch) & (df.set == s)][col].astype(float).to_numpy() for s in sets]
        bp = ax.boxplot(values, patch_artist=True, showfliers=True)
        for patch, s in zip(bp["boxes"], sets, strict=True):
            patch.set_facecolor(study.set_color(s))
        for x, v in enumerate(values, start=1):
            ax.plot(np.full(len(v), x), v, ".", color="k", alpha=0.5)
        ax.set_xticks(range(1, len(sets) + 1), [study.set_title(s) for s in sets])
        if log and all((v > 0).all() for v in values):
            ax.set_yscale("log")
        ax.set_ylabel(col)
    return fig


def interp_curves(tables, raw, study: Study, nets: dict[str, str]) -> Figure | None:
    if not present(tables.get("interp")):
        return None
    title = "Linear interpolation: train loss (median and quartiles over pairs)"
    fig, panels = arch_grid(title, nets)
    for arch, ax in panels.items():
        drawn = False
        for (probe, a, set_name), recs in sorted(raw.items()):
            if probe != "interp" or a != arch:
                continue
            for kind, style in (("pair", "-"), ("cross", "--")):
                rs = [r for r in recs if r.get("kind") == kind and r.get("status") == "ok"]
                if not rs:
                    continue
                alpha = np.array(rs[0]["alpha"])
                prof = np.array([r["train"] for r in rs], float)
                q1, med, q3 = np.nanpercentile(prof, [25, 50, 75], axis=0)
                partner = study.partner(set_name) if set_name in study.sets else None
                what = "pairs" if kind == "pair" else f"-> nearest {study.set_title(partner)}"
                label = f"{study.set_title(set_name)} {what}"
                color = study.set_color(set_name)
                ax.plot(alpha, med, style, color=color, label=label)
                ax.fill_between(alpha, q1, q3, color=color, alpha=0.15)
                drawn = True
        if drawn:
            ax.axvline(0, color="grey", lw=0.5)
            ax.axvline(1, color="grey", lw=0.5)
            ax.set_yscale("log")
            ax.set_xlabel("a in (1 - a) w_i + a w_j")
            ax.legend(fontsize=7)
        else:
            no_data(ax)
    return fig


def contours(tables, raw, study: Study, nets: dict[str, str]) -> Figure | None:
    if not present(tables.get("slice")):
        return None
    archs = [a for a in nets if any(k[0] == "slice" and k[1] == a for k in raw)]
    sets = set_order(study, [k[2] for k in raw if k[0] == "slice"])
    if not sets:
        return None
    fig, axes = plt.subplots(
        len(archs),
        len(sets),
        figsize=(3.2 * len(sets), 3 * len(archs)),
        squeeze=False,
        layout="constrained",
    )
    fig.suptitle("2D filter-normalized slices (Li et al. 2018): the median member of each set")
    for r, arch in enumerate(archs):
        for c, s in enumerate(sets):
            ax = axes[r, c]
            recs = sorted(raw.get(("slice", arch, s), []), key=lambda x: x.get("k", 0))
            recs = [x for x in recs if x.get("status") == "ok"]
            if not recs:
                no_data(ax)
                continue
            rec = recs[len(recs) // 2]
            grid = np.log10(np.maximum(np.array(rec["loss_2d"], float), 1e-12))
            cs = ax.contour(rec["a"], rec["b"], grid.T, levels=15, cmap="viridis")
            ax.clabel(cs, fontsize=6)
            ax.plot(0, 0, "r+")
            what = f"{nets[arch]}, {study.set_title(s)} (seed {rec.get('seed')})"
            ax.set_title(what, fontsize=8)
    return fig


def intrinsic_curves(tables, raw, study: Study, nets: dict[str, str]) -> Figure | None:
    df = tables.get("intrinsic")
    if not present(df):
        return None
    title = "Intrinsic dimension: performance after training in theta_0 + P z"
    fig, panels = arch_grid(title, nets)
    for arch, ax in panels.items():
        sub = df[(df.arch == arch) & (df.status == "ok")]
        if sub.empty:
            no_data(ax)
            continue
        for set_name, g in sub.groupby("set"):
            g = g.sort_values("d")
            color = study.set_color(set_name)
            ax.plot(g.d, g.performance, "o-", color=color, label=study.set_title(set_name))
            full = float(g.full_space_performance.iloc[0])
            ax.axhline(full, color=color, ls=":")
            ax.axhline(0.9 * full, color=color, ls="--", lw=0.7)
        ax.set_xscale("log")
        ax.set_xlabel("d")
        ax.set_ylabel("test accuracy (ae: 1 - L / L(theta_0))")
        ax.legend(fontsize=7)
    return fig


FIGURES = {
    "fig_probe_hessian": lambda t, r, s, n: boxes(
        t, s, n, "hessian", "lambda_max", "Sharpness: top Hessian eigenvalue per solution"
    ),
    "fig_probe_noise": lambda t, r, s, n: boxes(
        t, s, n, "noise", "ratio", "Gradient noise: lambda_C / lambda_H per solution"
    ),
    "fig_probe_perturb": lambda t, r, s, n: boxes(
        t, s, n, "perturb", "fitted_curvature", "Curvature fitted along the top eigenvector"
    ),
    "fig_probe_interp": interp_curves,
    "fig_probe_slice": contours,
    "fig_probe_intrinsic": intrinsic_curves,
}
CAPTIONS = {
    "fig_probe_hessian": "Hessian: top eigenvalue lambda_max (Lanczos) per solution and set, "
    "log scale; table: medians of lambda_max, the most negative eigenvalue and Hutchinson's "
    "trace. Look for: whether one optimizer's solutions sit higher (sharper), as the verdicts "
    "above test",
    "fig_probe_noise": "Gradient noise: lambda_C (top eigenvalue of the 64-image mini-batch "
    "gradient covariance) / lambda_H (top Hessian eigenvalue) per solution. Look for: one "
    "optimizer's ratios against the other's (mini-batch noise relative to the curvature)",
    "fig_probe_perturb": "Perturbation: curvature of a parabola fitted to L(theta + eps v) "
    "near eps = 0, v the top eigenvector (equal to lambda_max for a quadratic bowl). Look for: "
    "points off the diagonal, where the landscape is not quadratic on that scale",
    "fig_probe_interp": "Interpolation: train loss along (1 - a) w_i + a w_j, a in [-1, 2] "
    "(solid: the set's pairs, dashed: each solution of a contrast's first set (paper: BFGS) to "
    "its nearest one of the second (SGD)); table: "
    "median barrier max_a [L(a) - chord] on train and test. Look for: a bump between a = 0 "
    "and 1 (a barrier between the two minima) against a flat or convex valley",
    "fig_probe_slice": "Slices: log10 train loss on a 2D filter-normalized random slice around "
    "the median member (by train loss) of each set. Look for: the width of the basin around "
    "the centre, one optimizer's against the other's",
    "fig_probe_intrinsic": "Intrinsic dimension: test accuracy vs d (dotted: the set's full-space "
    "accuracy, dashed: 90% of it); table: performance per d and d_int90. Look for: the d at "
    "which each curve crosses the dashed line (d_int90), one optimizer's against the other's",
}
