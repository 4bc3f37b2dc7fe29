"""The paper's figures, one PNG each, labelled like the paper (panel letters, arch names, colours).

Each function takes plain tables/arrays and returns a matplotlib Figure; `save` writes it
atomically. A panel with no data yet says so instead of failing.
"""

from __future__ import annotations

import io
import math
import string
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from lossland.core.storage import write_bytes  # noqa: E402
from lossland.report.stats import Lengths, Projection, Separation  # noqa: E402
from lossland.study.design import Study  # noqa: E402

PAIR_COLOR = ("tab:blue", "#f08080")  # Fig. 5 / S3: first set blue, second light red
POINT_COLOR = ("tab:blue", "tab:red")  # Fig. 6 / S4: first set blue, second red points


def letter(k: int) -> str:
    """Panel letters a, b, ..., z, aa, ab, ...: any number of panels."""
    return string.ascii_lowercase[k] if k < 26 else letter(k // 26 - 1) + letter(k % 26)


def save(fig: Figure, path: str | Path, dpi: int = 110) -> Path:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    write_bytes(path, buf.getvalue())
    return Path(path)


def no_data(ax: Axes, text: str = "no data yet") -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="grey")
    ax.set_xticks([])
    ax.set_yticks([])


def grid_shape(n: int, per_row: int = 2) -> tuple[int, int]:
    """Rows x columns of `n` panels: 2 x 2 for the paper's four nets, 3 wide from five on."""
    cols = min(n, per_row if n <= 4 else 3) or 1
    return max(1, math.ceil(n / cols)), cols


def arch_grid(suptitle: str, nets: dict[str, str]) -> tuple[Figure, dict]:
    """One panel per net, (a) FCP, (b) LeNet, (c) Autoencoder, (d) LSTM for the paper's
    (Figs. 4-6); `nets` is name -> title, in order. Panels beyond the nets are hidden."""
    rows, cols = grid_shape(len(nets))
    fig, axes = plt.subplots(
        rows, cols, figsize=(5 * cols, 3.75 * rows), layout="constrained", squeeze=False
    )
    fig.suptitle(suptitle)
    panels = {}
    flat = axes.ravel()
    for k, (arch, title) in enumerate(nets.items()):
        flat[k].set_title(f"({letter(k)}) {title}", loc="left")
        panels[arch] = flat[k]
    for ax in flat[len(nets) :]:
        ax.set_visible(False)
    return fig, panels


# ------------------------------------------------------------------------- Fig. 2 / S1


def loss_curves(
    curves: pd.DataFrame,
    picks: dict[tuple[str, str], int],
    archs: list[str],
    title: str,
    study: Study,
) -> Figure | None:
    """Per arch a row: (training loss, test loss) vs epoch for one run of each optimizer of
    the study (None when no arch is given).

    picks: (arch, opt) -> seed of the representative run. Dashed verticals mark each curve's
    minimum (the epoch where w_train / w_test are taken), in the curve's colour.
    """
    if not archs:
        return None
    fig, axes = plt.subplots(
        len(archs), 2, figsize=(10, 3.4 * len(archs)), layout="constrained", squeeze=False
    )
    fig.suptitle(title)
    panel = 0
    for row, arch in zip(axes, archs, strict=True):
        for ax, split, what in zip(row, ("train", "test"), ("training", "test"), strict=True):
            ax.set_title(f"({letter(panel)}) {study.net_title(arch)}: {what} loss", loc="left")
            panel += 1
            drawn = False
            for opt, o in study.optimizers.items():
                label, color = study.opt_title(opt, full=True), o.color
                seed = picks.get((arch, opt))
                if seed is None:
                    continue
                c = curves[
                    (curves.arch == arch)
                    & (curves.opt == opt)
                    & (curves.seed == seed)
                    & (curves.split == split)
                ]
                if c.empty:
                    continue
                epoch, loss = c.epoch.to_numpy(), c.loss.to_numpy(float)
                k = int(np.nanargmin(loss))
                ax.plot(epoch, loss, color=color, label=f"{label} (seed {seed})")
                ax.axvline(epoch[k], color=color, ls="--", lw=1)
                ax.plot(epoch[k], loss[k], "o", color=color, ms=4)
                drawn = True
            if not drawn:
                no_data(ax)
                continue
            lo, hi = np.nanmin(c_all := axis_values(ax)), np.nanmax(c_all)
            if lo > 0 and hi / lo > 10:  # log only where the curves span over a decade
                ax.set_yscale("log")
            ax.set_xlabel("epoch")
            ax.set_ylabel(rf"$\langle l(x^{{\rm {split}}}, \omega)\rangle$")
            ax.legend(fontsize=8)
    return fig


def axis_values(ax: Axes) -> np.ndarray:
    return np.concatenate([np.asarray(line.get_ydata(), float) for line in ax.get_lines()])


# ------------------------------------------------------------------------- Fig. 4 / S2


def shared_bins(values: list[np.ndarray], n: int = 30) -> tuple[np.ndarray, bool]:
    """Bins over all values; log-spaced when they are positive and span over two decades."""
    v = np.concatenate(values)
    v = v[np.isfinite(v)]
    lo, hi = float(v.min()), float(v.max())
    if lo > 0 and hi / lo > 100:
        return np.geomspace(lo, hi, n + 1), True
    if hi == lo:
        lo, hi = lo - 0.5 * abs(lo or 1) * 0.01, hi + 0.5 * abs(hi or 1) * 0.01
    return np.linspace(lo, hi, n + 1), False


def height_histograms(
    paths: pd.DataFrame,
    landscape: str,
    set_names: tuple[str, ...],
    title: str,
    study: Study,
    nets: dict[str, str],
) -> Figure:
    """Per arch, overlaid histograms of path heights H (Eq. 5) of each set on one landscape."""
    fig, panels = arch_grid(title, nets)
    ok = paths[(paths.status == "done") & (paths.landscape == landscape)]
    for arch, ax in panels.items():
        groups = {
            name: ok.loc[(ok.arch == arch) & (ok.set == name), "height"].to_numpy(float)
            for name in set_names
        }
        groups = {k: v for k, v in groups.items() if len(v)}
        if not groups:
            no_data(ax, "no path records yet")
            continue
        bins, log = shared_bins(list(groups.values()))
        for name, h in groups.items():  # filled + outline: identical sets stay visible
            color, label = study.set_color(name), f"{study.set_title(name)} (n={len(h)})"
            ax.hist(h, bins=bins, color=color, alpha=0.45, label=label)
            ax.hist(h, bins=bins, color=color, histtype="step", lw=1.8)
        if log:
            ax.set_xscale("log")
        ax.set_xlabel(f"path height H ({landscape} loss)")
        ax.set_ylabel("number of paths")
        ax.legend(fontsize=8)
    return fig


# ------------------------------------------------------------------------- Fig. 5 / S3


def length_histograms(
    lengths: dict[str, Lengths], labels: tuple[str, str], title: str, nets: dict[str, str]
) -> Figure:
    """Per arch, histograms of |w_i - w_bar| of both sets; dotted line at the centroid distance."""
    fig, panels = arch_grid(title, nets)
    for arch, ax in panels.items():
        ln = lengths.get(arch)
        if ln is None:
            no_data(ax)
            continue
        bins, _ = shared_bins([ln.a, ln.b, np.array([ln.centroid_distance])], n=25)
        for v, label, color in zip((ln.a, ln.b), labels, PAIR_COLOR, strict=True):
            ax.hist(v, bins=bins, color=color, alpha=0.7, label=f"{label} (n={len(v)})")
        ax.axvline(
            ln.centroid_distance,
            color="k",
            ls=":",
            lw=1.5,
            label=rf"$|\bar\omega_{{\rm {labels[0].split()[0]}}}-\bar\omega|$",
        )
        ax.set_xlabel(r"$|\omega^i - \bar\omega|$")
        ax.set_ylabel("number of vectors")
        ax.legend(fontsize=8)
    return fig


# ------------------------------------------------------------------------- Fig. 6 / S4


def projections(
    proj: dict[str, Projection],
    separation: dict[str, tuple[Separation, Separation]],
    labels: tuple[str, str],
    title: str,
    nets: dict[str, str],
) -> Figure:
    """Per arch: RBF kernel PCA (the paper's panel) and linear PCA beside it, PC1 vs PC2.

    separation: arch -> (kPCA, PCA), each the cross-validated accuracy of a linear classifier
    on PC1-PC2 and its label-permutation p.
    Two nets per row (the paper's 2 x 4 for its four nets).
    """
    rows = max(1, math.ceil(len(nets) / 2))
    cols = 4 if len(nets) > 1 else 2
    fig, axes = plt.subplots(
        rows, cols, figsize=(4.25 * cols, 4 * rows), layout="constrained", squeeze=False
    )
    for ax in axes.ravel()[2 * len(nets) :]:
        ax.set_visible(False)
    fig.suptitle(
        title + r"   (kPCA: RBF kernel, $\gamma = 1/N_{\rm prm}$; CV acc.: cross-validated "
        "linear classifier on PC1-PC2, 0.5 = chance)"
    )
    for k, (arch, net) in enumerate(nets.items()):
        ax_k, ax_l = axes[k // 2, 2 * (k % 2)], axes[k // 2, 2 * (k % 2) + 1]
        p = proj.get(arch)
        kpca, pca = separation.get(arch, ((np.nan, np.nan), (np.nan, np.nan)))
        score = "" if p is None else ", CV acc. {:.2f} (p {:.2g})"
        ax_k.set_title(
            f"({letter(k)}) {net}: kPCA, RBF{score.format(*kpca)}",
            loc="left",
            fontsize=10,
        )
        ax_l.set_title(f"{net}: linear PCA{score.format(*pca)}", loc="left", fontsize=10)
        if p is None:
            no_data(ax_k)
            no_data(ax_l)
            continue
        for ax, xy in ((ax_k, p.kpca), (ax_l, p.pca)):
            for lab, label, color in zip((0, 1), labels, POINT_COLOR, strict=True):
                sel = p.labels == lab
                ax.scatter(xy[sel, 0], xy[sel, 1], s=18, color=color, label=label, alpha=0.85)
            ax.set_xlabel(r"PC$_1$")
            ax.set_ylabel(r"PC$_2$")
            ax.legend(fontsize=8, loc="upper right")
    return fig
