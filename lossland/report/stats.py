"""The numbers behind the tables and figures (docs/decisions.md#analysis), on plain arrays.

Also the numbers the paper only shows as pictures: per arch, the median path height of each set,
a permutation test of BFGS vs SGD heights whose unit is the solution (the Mann-Whitney test over
paths kept as descriptive), and how well the BFGS and SGD clusters
separate in (kernel) PCA space, as a cross-validated linear classifier's accuracy on PC1-PC2
and its label-permutation p.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import mannwhitneyu
from sklearn.decomposition import PCA, KernelPCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, permutation_test_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from lossland.study.design import Comparison


def weight_stats(weights: np.ndarray) -> tuple[float, float]:
    """Mean and std of the concatenation of a set's vectors (Table S1)."""
    w = np.asarray(weights, dtype=np.float64).ravel()
    return float(w.mean()), float(w.std())


@dataclass
class Lengths:
    """Fig. 5: distances of each vector from w_bar, the midpoint of the two centroids."""

    a: np.ndarray  # |w_i - w_bar| for the first (BFGS) set
    b: np.ndarray  # ... for the second (SGD) set
    centroid_distance: float  # |centroid_a - w_bar| = |centroid_b - w_bar|


def lengths(a: np.ndarray, b: np.ndarray) -> Lengths:
    a64, b64 = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    ca, cb = a64.mean(axis=0), b64.mean(axis=0)
    w_bar = 0.5 * (ca + cb)
    return Lengths(
        a=np.linalg.norm(a64 - w_bar, axis=1),
        b=np.linalg.norm(b64 - w_bar, axis=1),
        centroid_distance=float(np.linalg.norm(ca - w_bar)),
    )


@dataclass
class Projection:
    """PC1-PC2 of the two sets together, by RBF kernel PCA and by linear PCA."""

    kpca: np.ndarray  # [n_a + n_b, 2]
    pca: np.ndarray  # [n_a + n_b, 2]
    labels: np.ndarray  # 0 = first set (BFGS), 1 = second (SGD)
    gamma: float


def project(a: np.ndarray, b: np.ndarray) -> Projection:
    """kPCA with k(x, x') = exp(-|x - x'|^2 / N_prm), i.e. 2 sigma^2 = N_prm (paper Sec. II.4)."""
    x = np.concatenate([a, b]).astype(np.float64)
    n_prm = x.shape[1]
    n_comp = min(2, len(x) - 1)
    kpca = KernelPCA(n_components=n_comp, kernel="rbf", gamma=1.0 / n_prm).fit_transform(x)
    pca = PCA(n_components=n_comp, svd_solver="full").fit_transform(x)
    return Projection(
        kpca=pad2(kpca),
        pca=pad2(pca),
        labels=np.r_[np.zeros(len(a), int), np.ones(len(b), int)],
        gamma=1.0 / n_prm,
    )


def pad2(x: np.ndarray) -> np.ndarray:
    """Always two columns (a 2-point projection has only one component)."""
    return np.pad(x, ((0, 0), (0, 2 - x.shape[1]))) if x.shape[1] < 2 else x


SEPARATION_PERMUTATIONS = 199
Separation = tuple[float, float]  # CV accuracy on PC1-PC2 and its label-permutation p


def separation_test(
    coords: np.ndarray,
    labels: np.ndarray,
    n_permutations: int = SEPARATION_PERMUTATIONS,
    max_folds: int = 5,
) -> Separation:
    """(accuracy, p): the cross-validated accuracy of a logistic regression on the 2-D
    coordinates (0.5 = chance; stratified k-fold, k = min(max_folds, smaller class)) and the
    chance of an accuracy as high with the labels permuted (sklearn's permutation_test_score;
    the projection never saw the labels). NaN when a class has < 2 points."""
    setup = classifier_and_folds(labels, max_folds)
    if setup is None:
        return float("nan"), float("nan")
    model, folds = setup
    score, _, p = permutation_test_score(
        model, coords, labels, cv=folds, n_permutations=n_permutations, random_state=0
    )
    return float(score), float(p)


def classifier_and_folds(
    labels: np.ndarray, max_folds: int
) -> tuple[Pipeline, StratifiedKFold] | None:
    """The separation classifier and its stratified folds; None when a class has < 2 points."""
    k = int(min(max_folds, np.bincount(labels, minlength=2).min()))
    if k < 2:
        return None
    model = make_pipeline(StandardScaler(), LogisticRegression())
    return model, StratifiedKFold(n_splits=k, shuffle=True, random_state=0)


def longer_fraction(a: np.ndarray, b: np.ndarray) -> float:
    """P(a random vector of `a` is longer than one of `b`), ties half: U / (n_a n_b) (AUC)."""
    if len(a) == 0 or len(b) == 0:
        return float("nan")
    return float(mannwhitneyu(a, b, alternative="two-sided").statistic / (len(a) * len(b)))


def height_tests(paths: pd.DataFrame, comparisons: tuple[Comparison, ...]) -> pd.DataFrame:
    """Per arch and comparison (the study's height tests, set a vs set b on a landscape; paper:
    BFGS vs SGD): n, medians, Mann-Whitney U (two-sided) of the two sets' heights.

    Descriptive only: the paths of a set share their endpoints (300 paths, 48 solutions), so
    this p-value treats dependent paths as independent and overstates significance. The test
    whose unit is the solution is `solution_height_tests`.
    """
    ok = paths[paths.status == "done"]
    rows = []
    for arch in sorted(ok.arch.unique()):
        for c in comparisons:
            landscape, bfgs, sgd = c.name, c.a, c.b
            sel = ok[(ok.arch == arch) & (ok.landscape == landscape)]
            h_b = sel.loc[sel.set == bfgs, "height"].to_numpy(float)
            h_s = sel.loc[sel.set == sgd, "height"].to_numpy(float)
            if len(h_b) == 0 and len(h_s) == 0:
                continue
            u, p = (np.nan, np.nan)
            if len(h_b) and len(h_s):
                res = mannwhitneyu(h_b, h_s, alternative="two-sided")
                u, p = float(res.statistic), float(res.pvalue)
            rows.append(
                {
                    "arch": arch,
                    "landscape": landscape,
                    "a_set": bfgs,
                    "b_set": sgd,
                    "n_a": len(h_b),
                    "n_b": len(h_s),
                    "median_a": float(np.median(h_b)) if len(h_b) else np.nan,
                    "median_b": float(np.median(h_s)) if len(h_s) else np.nan,
                    "U": u,
                    "p_value": p,
                    "a_higher": bool(np.median(h_b) > np.median(h_s))
                    if len(h_b) and len(h_s)
                    else None,
                }
            )
    return pd.DataFrame(rows)


def height_medians(paths: pd.DataFrame) -> pd.DataFrame:
    """Median optimized and straight-line heights (and counts) per arch, set and landscape."""
    ok = paths[paths.status == "done"]
    if ok.empty:
        return pd.DataFrame(
            columns=["arch", "set", "landscape", "n", "median_height", "median_straight_height"]
        )
    g = ok.groupby(["arch", "set", "landscape"])
    return (
        g.agg(
            n=("height", "size"),
            median_height=("height", "median"),
            median_straight_height=("straight_height", "median"),
        )
        .reset_index()
        .sort_values(["arch", "landscape", "set"], ignore_index=True)
    )


# --- Tests whose unit is the solution (issue 10) -------------------------------------------


def solution_means(paths: pd.DataFrame) -> pd.Series:
    """Each solution's mean path height over the paths it ends (index: seed)."""
    ends = pd.concat(
        [
            paths[["seed_i", "height"]].rename(columns={"seed_i": "seed"}),
            paths[["seed_j", "height"]].rename(columns={"seed_j": "seed"}),
        ]
    )
    return ends.groupby("seed")["height"].mean()


def median_difference(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.median(a) - np.median(b))


def mean_difference(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(a) - np.mean(b))


def superiority(a: np.ndarray, b: np.ndarray) -> float:
    """P(a value of a > a value of b), ties half (the common-language effect size, AUC)."""
    diff = np.subtract.outer(np.asarray(a, float), np.asarray(b, float))
    return float(((diff > 0) + 0.5 * (diff == 0)).mean())


def permutation_test(
    a: np.ndarray, b: np.ndarray, statistic=mean_difference, n_perm: int = 10_000, seed: int = 0
) -> float:
    """Two-sided p-value of `statistic` when the labels of the units are exchangeable.

    All relabellings are enumerated when there are at most n_perm of them (an exact test);
    otherwise n_perm random ones, p = (1 + hits) / (1 + n_perm).
    """
    a, b = np.asarray(a, float), np.asarray(b, float)
    pooled, n_a = np.concatenate([a, b]), len(a)
    observed = abs(statistic(a, b))
    tol = 1e-12 * max(1.0, observed)
    n = len(pooled)
    if math.comb(n, n_a) <= n_perm:
        hits = total = 0
        for idx in itertools.combinations(range(n), n_a):
            mask = np.zeros(n, bool)
            mask[list(idx)] = True
            hits += abs(statistic(pooled[mask], pooled[~mask])) >= observed - tol
            total += 1
        return hits / total
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(n_perm):
        perm = rng.permutation(pooled)
        hits += abs(statistic(perm[:n_a], perm[n_a:])) >= observed - tol
    return (1 + hits) / (1 + n_perm)


def bootstrap_interval(
    a: np.ndarray, b: np.ndarray, statistic, n_boot: int = 2000, level: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Percentile interval of `statistic` when each set's units are resampled with replacement."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    rng = np.random.default_rng(seed)
    values = [statistic(rng.choice(a, len(a)), rng.choice(b, len(b))) for _ in range(n_boot)]
    lo, hi = np.quantile(values, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def solution_height_tests(paths: pd.DataFrame, comparisons: tuple[Comparison, ...]) -> pd.DataFrame:
    """Set a vs set b path heights (paper: BFGS vs SGD) with the solution as the unit, per
    arch and comparison of the study.

    Each solution is summarised by its mean height over its paths. The test: the difference of
    the two sets' mean summaries, its p-value from permuting set labels between whole solutions
    (exact for small sets; a median-based statistic ties too often at n = 5 to be useful). The
    effect sizes, with 95% bootstrap intervals over solutions: the difference of the medians
    (Fig. 4) and P(a BFGS solution lies higher than an SGD one). `p_paths_descriptive` is the
    old Mann-Whitney test over paths, which treats paths sharing endpoints as independent.
    """
    ok = paths[paths.status == "done"]
    rows = []
    for arch in sorted(ok.arch.unique()):
        for c in comparisons:
            landscape, bfgs, sgd = c.name, c.a, c.b
            sel = ok[(ok.arch == arch) & (ok.landscape == landscape)]
            pa, pb = sel[sel.set == bfgs], sel[sel.set == sgd]
            if pa.empty or pb.empty:
                continue
            a, b = solution_means(pa).to_numpy(), solution_means(pb).to_numpy()
            rows.append(
                {
                    "arch": arch,
                    "landscape": landscape,
                    "a_set": bfgs,
                    "b_set": sgd,
                    "n_solutions_a": len(a),
                    "n_solutions_b": len(b),
                    "n_paths_a": len(pa),
                    "n_paths_b": len(pb),
                    "median_a": float(np.median(a)),
                    "median_b": float(np.median(b)),
                    "median_diff": median_difference(a, b),
                    "median_diff_ci": bootstrap_interval(a, b, median_difference),
                    "p_a_higher": superiority(a, b),
                    "p_a_higher_ci": bootstrap_interval(a, b, superiority),
                    "p_permutation": permutation_test(a, b),
                    "p_paths_descriptive": float(
                        mannwhitneyu(pa.height, pb.height, alternative="two-sided").pvalue
                    ),
                }
            )
    return pd.DataFrame(rows)
