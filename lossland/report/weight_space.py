"""The study's weight-space comparisons (Fig. 5 / 6, S3 / S4): two sets of one arch, their
vectors' distances from the midpoint of the centroids and their (kernel) PCA."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from lossland.report import stats
from lossland.report.sets import LoadedSet
from lossland.study.design import Comparison, Study


@dataclass
class WeightSpace:
    """Two sets of one arch compared in weight space (the study's comparison `spec`)."""

    arch: str
    spec: Comparison  # name (main | supp), set a (paper: BFGS), set b (paper: SGD)
    seeds: list[tuple[str, int]]  # (set, seed) of each row of the arrays below
    lengths: stats.Lengths
    projection: stats.Projection
    separation: tuple[stats.Separation, stats.Separation]  # kPCA, linear PCA


def compare_sets(
    sets: dict[tuple[str, str], LoadedSet], archs: list[str], study: Study
) -> dict[tuple[Comparison, str], WeightSpace]:
    """(comparison, arch) -> WeightSpace, for every arch where both sets exist."""
    out = {}
    for spec in study.weight_comparisons:
        for arch in archs:
            a, b = sets.get((arch, spec.a)), sets.get((arch, spec.b))
            if a is None or b is None or a.n_prm != b.n_prm:
                continue
            p = stats.project(a.weights, b.weights)
            out[(spec, arch)] = WeightSpace(
                arch,
                spec,
                seeds=[(spec.a, s) for s in a.seeds] + [(spec.b, s) for s in b.seeds],
                lengths=stats.lengths(a.weights, b.weights),
                projection=p,
                separation=(
                    stats.separation_test(p.kpca, p.labels),
                    stats.separation_test(p.pca, p.labels),
                ),
            )
    return out


def weight_space_tables(comparisons: dict) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Tidy forms: separation scores per arch, each vector's length and (k)PCA coordinates."""
    sep, lengths, coords = [], [], []
    for (spec, arch), c in comparisons.items():
        ln, p = c.lengths, c.projection
        sep.append(
            {
                "arch": arch,
                "comparison": f"{spec.a} vs {spec.b}",
                "n_a": int((p.labels == 0).sum()),
                "n_b": int((p.labels == 1).sum()),
                "kpca_cv_accuracy": c.separation[0][0],
                "kpca_p": c.separation[0][1],
                "pca_cv_accuracy": c.separation[1][0],
                "pca_p": c.separation[1][1],
                "centroid_distance": ln.centroid_distance,
                "median_length_a": float(np.median(ln.a)),
                "median_length_b": float(np.median(ln.b)),
                "p_a_longer": stats.longer_fraction(ln.a, ln.b),
            }
        )
        for k, ((name, seed), length) in enumerate(zip(c.seeds, np.r_[ln.a, ln.b], strict=True)):
            base = {"arch": arch, "comparison": spec.name, "set": name, "seed": seed}
            lengths.append(base | {"length": length})
            coords.append(
                base
                | {"kpca1": p.kpca[k, 0], "kpca2": p.kpca[k, 1]}
                | {"pca1": p.pca[k, 0], "pca2": p.pca[k, 1]}
            )
    return pd.DataFrame(sep), pd.DataFrame(lengths), pd.DataFrame(coords)
