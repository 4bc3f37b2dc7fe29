"""The paper's claims, one line each, judged on the records (docs/decisions.md#claims).

One module for both readers: the report's findings (`section`, first under the title) and the
reproduction page (analysis/reproduction.py, `table`), in the same words. Per net, `judge`
takes an `Evidence` (the selected runs of each optimizer, the four sets' vectors, the done path
records) and returns one `Claim` per distinct statement of the paper, each quoting where the
paper makes it. The units are runs or solutions, never paths (the paths of a set share their
endpoints). Thresholds are declared here, before any record is read:

- "comparable" (Sec. III.1): the ratio of the geometric-mean test losses within
  [1/COMPARABLE, COMPARABLE], tested by two one-sided permutation tests (TOST);
- "rise sharply" (Fig. S1): a test-loss curve ending more than SHARP_RISE above its minimum;
- "small" centroid distance (Fig. 5): under SMALL_CENTROID of the median vector length.

Tests are one-sided in the paper's direction; Holm's correction runs over the tested claims of
one net (and one line-search variant on the page). A claim of no effect (the autoencoder's
exceptions, the kernels that do not separate) is judged descriptively, outside the family: a
test cannot confirm that an effect is absent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from scipy import stats as sps
from sklearn.decomposition import KernelPCA

from lossland.report import html, stats
from lossland.report.types import Report

ALPHA = 0.05
COMPARABLE = 1.25  # the largest gap the paper calls comparable is LSTM's, 1.55e-1 / 1.28e-1 = 1.21
SHARP_RISE = 0.10  # a curve rises sharply when it ends > 10% above its minimum
SMALL_CENTROID = 0.5  # the centroid distance is small when < half the median vector length
N_RESAMPLES = 9999  # permutation tests are exact whenever there are fewer relabellings
SEPARATION_PERMUTATIONS = stats.SEPARATION_PERMUTATIONS  # label permutations (Fig. 6 / S4)
OTHER_KERNEL_PERMUTATIONS = 99  # descriptive (p >= ALPHA or not): 1/100 resolves it
OVERFIT_EXCEPTION = {"ae"}  # Sec. III.2: the autoencoder's BFGS weights are not overfit
TRAIN_ABOVE_TEST = {"fcp", "lstm"}  # Sec. III.2: BFGS-train barriers above BFGS-test only here
GAP_SHRINKS = {"fcp", "lenet"}  # Sec. III.3 (Fig. S3)
SEPARATION_PERSISTS = {"ae", "lstm"}  # Sec. III.4 (Fig. S4)
BFGS, SGD = "lbfgs", "sgd"
COLUMNS = ["claim (where; the paper's words)", "verdict", "effect [95% interval]", "n", "p",
           "Holm p", "smallest p at n", "how judged"]  # fmt: skip


@dataclass
class Evidence:
    """What one net's claims are judged on.

    runs: per optimizer, the selected runs (one row each: seed, min_train_loss,
    test_loss_at_w_test, test_at_w_train, rise); finished: runs finished per optimizer;
    sets: the selected runs' vectors per set name (bfgs-train, ...); paths: done path records
    (set, landscape, seed_i, seed_j, height, higher_end: the loss of the higher endpoint);
    separations: (set a, set b, rbf | pca) -> (accuracy, p) already computed on these sets
    (the report's weight-space comparisons: the same test, not run twice)."""

    arch: str
    runs: dict[str, pd.DataFrame]
    finished: dict[str, int]
    sets: dict[str, np.ndarray]
    paths: pd.DataFrame
    separations: dict[tuple[str, str, str], tuple[float, float]] = field(default_factory=dict)


@dataclass
class Claim:
    """One of the paper's statements and how the records judge it."""

    where: str  # the paper's section / figure
    words: str  # the paper's words (quoted) or a close paraphrase
    holds: bool | None = None  # the records point the paper's way (None: not judged)
    effect: str = ""
    n: str = "0"
    p: float | None = None  # raw one-sided p (None: not tested)
    min_p: float | None = None  # the smallest p this test can give at this n
    p_holm: float | None = None
    best_holm: float | None = None  # its Holm p had it the smallest p n allows
    how: str = ""
    untestable: str = ""  # why the records cannot judge it

    @property
    def verdict(self) -> str:
        if self.untestable:
            return f"not testable here: {self.untestable}"
        if self.p is None:  # descriptive: a threshold, or a claim of no effect
            return "consistent (descriptive)" if self.holds else "not reproduced (descriptive)"
        if not self.holds:
            return "not reproduced"
        if self.p_holm is not None and self.p_holm < ALPHA:
            return "reproduced"
        if self.best_holm is not None and self.best_holm >= ALPHA:
            return "consistent, underpowered"
        return "consistent, not significant"

    def row(self) -> list[str]:
        def num(x: float | None) -> str:
            return "" if x is None else f"{x:.2g}"

        return [f"{self.where}: {self.words}", self.verdict, self.effect, self.n, num(self.p),
                num(self.p_holm), num(self.min_p), self.how]  # fmt: skip


# ------------------------------------------------------------------------------ statistics


def holm(p: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values (scipy has no Holm): sort ascending, multiply the
    k-th smallest by (m - k + 1), make the sequence non-decreasing, cap at 1."""
    order = np.argsort(p, kind="stable")
    m = len(p)
    out = np.empty(m)
    running = 0.0
    for k, i in enumerate(order):
        running = max(running, (m - k) * p[i])
        out[i] = min(1.0, running)
    return out.tolist()


def apply_holm(claims: list[Claim]) -> list[Claim]:
    """Holm over the claims with a p-value (the family); the others pass through."""
    tested = [c for c in claims if c.p is not None and not c.untestable]
    raw = [c.p for c in tested]
    adjusted = holm(raw)
    best = [holm(raw[:k] + [c.min_p] + raw[k + 1 :])[k] for k, c in enumerate(tested)]
    done = {id(c): replace(c, p_holm=a, best_holm=b)
            for c, a, b in zip(tested, adjusted, best, strict=True)}  # fmt: skip
    return [done.get(id(c), c) for c in claims]


def mean_diff(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x, axis=axis) - np.mean(y, axis=axis)


def two_sample(a: np.ndarray, b: np.ndarray, alternative: str) -> tuple[float, float]:
    """One-sided permutation test of mean(a) - mean(b) (exact when the relabellings are fewer
    than N_RESAMPLES) and the smallest p it can give at these n."""
    total = math.comb(len(a) + len(b), len(a))
    res = sps.permutation_test((a, b), mean_diff, vectorized=True, alternative=alternative,
                               n_resamples=N_RESAMPLES, random_state=0)  # fmt: skip
    return float(res.pvalue), max(1 / total, 1 / (N_RESAMPLES + 1))


def paired(a: np.ndarray, b: np.ndarray, alternative: str) -> tuple[float, float]:
    """One-sided sign-flip permutation test of mean(a - b) over pairs, and its smallest p."""
    res = sps.permutation_test((a, b), mean_diff, vectorized=True, alternative=alternative,
                               permutation_type="samples", n_resamples=N_RESAMPLES,
                               random_state=0)  # fmt: skip
    return float(res.pvalue), max(0.5 ** len(a), 1 / (N_RESAMPLES + 1))


def interval(a: np.ndarray, b: np.ndarray, statistic) -> str:
    """The 95% bootstrap interval over units (stats.bootstrap_interval), as [lo, hi]."""
    lo, hi = stats.bootstrap_interval(a, b, statistic)
    return f"[{lo:.3g}, {hi:.3g}]"


def n_of(a, b) -> str:
    return f"{len(a)} + {len(b)}"


def too_few(claim: Claim, *samples) -> bool:
    """A permutation test needs two units a side: say so and leave the claim untested."""
    if min(len(x) for x in samples) >= 2:
        return False
    n = " + ".join(str(len(x)) for x in samples)
    claim.untestable = f"n = {n}: the test needs at least 2 units a side"
    claim.n = n
    return True


# ------------------------------------------------------------------------------ the claims


def judge(ev: Evidence) -> list[Claim]:
    """Every claim of the paper about `ev.arch` that this module knows, judged, Holm applied."""
    out = table1_claims(ev) + curve_claims(ev) + barrier_claims(ev) + weight_claims(ev)
    return apply_holm(out)


def runs_of(ev: Evidence, opt: str, column: str) -> np.ndarray:
    df = ev.runs.get(opt)
    return np.array([]) if df is None or df.empty else df[column].to_numpy(float)


def directional(claim: Claim, a: np.ndarray, b: np.ndarray, alternative: str, what: str,
                test=two_sample) -> Claim:  # fmt: skip
    """a vs b in the paper's direction (greater: a above b): effect mean(a) - mean(b)."""
    if too_few(claim, a, b):
        return claim
    d = mean_diff(a, b)
    claim.holds = bool(d > 0) if alternative == "greater" else bool(d < 0)
    claim.p, claim.min_p = test(a, b, alternative)
    claim.effect = f"{what} {d:.3g} {interval(a, b, stats.mean_difference)}"
    claim.n = n_of(a, b)
    return claim


def table1_claims(ev: Evidence) -> list[Claim]:
    """Table 1 over the selected runs (the runs its means average)."""
    perm = "one-sided permutation test over the selected runs"
    train = directional(
        Claim("Sec. III.1, Table 1", "\u201cthe values of the average training loss are "
              "considerably lower for the L-BFGS-GSS optimizer compared to SGD\u201d",
              how=perm),
        runs_of(ev, BFGS, "min_train_loss"), runs_of(ev, SGD, "min_train_loss"), "less",
        "mean min train loss, L-BFGS-GSS - SGD:")  # fmt: skip
    a, b = runs_of(ev, BFGS, "test_loss_at_w_test"), runs_of(ev, SGD, "test_loss_at_w_test")
    comparable = equivalent(
        Claim("Sec. III.1, Table 1; Sec. I", "\u201cthe average test loss values are "
              "comparable\u201d; \u201cboth methods yield similar performance on test data when "
              "early stopping is employed\u201d (test loss at w_test)",
              how=f"TOST: two one-sided permutation tests on log losses, margin: ratio within "
              f"[1/{COMPARABLE}, {COMPARABLE}]"), a, b)  # fmt: skip
    a, b = runs_of(ev, BFGS, "test_at_w_train"), runs_of(ev, SGD, "test_at_w_train")
    if ev.arch in OVERFIT_EXCEPTION:
        overfit = directional(
            Claim("Sec. III.2-3, Table 1", "the exception: the autoencoder \u201cdoes not exhibit "
                  "strong BFGS overfitting\u201d: L-BFGS-GSS's test loss at w_train below SGD's "
                  "(Table 1: 1.65e-02 vs 4.52e-02)", how=perm),
            a, b, "less", "mean test loss at w_train, L-BFGS-GSS - SGD:")  # fmt: skip
    else:
        overfit = directional(
            Claim("Abstract; Sec. III.1", "\u201cThese solutions are less generalizable to the "
                  "test data\u201d; \u201cthe L-BFGS-GSS training weights are likely to be "
                  "overfit\u201d: test loss at w_train above SGD's", how=perm),
            a, b, "greater", "mean test loss at w_train, L-BFGS-GSS - SGD:")  # fmt: skip
    return [train, comparable, overfit]


def equivalent(claim: Claim, a: np.ndarray, b: np.ndarray) -> Claim:
    """TOST on log losses: the geometric-mean ratio a/b inside [1/COMPARABLE, COMPARABLE]."""
    if too_few(claim, a, b):
        return claim
    la, lb, margin = np.log(a), np.log(b), math.log(COMPARABLE)
    ratio = math.exp(mean_diff(la, lb))
    claim.holds = bool(1 / COMPARABLE < ratio < COMPARABLE)
    p_low, min_p = two_sample(la + margin, lb, "greater")
    p_high, _ = two_sample(la - margin, lb, "less")
    claim.p, claim.min_p = max(p_low, p_high), min_p
    lo, hi = stats.bootstrap_interval(la, lb, stats.mean_difference)
    claim.effect = (f"test-loss ratio L-BFGS-GSS / SGD (geometric means): {ratio:.3g} "
                    f"[{math.exp(lo):.3g}, {math.exp(hi):.3g}]")  # fmt: skip
    claim.n = n_of(a, b)
    return claim


def curve_claims(ev: Evidence) -> list[Claim]:
    """Fig. S1: BFGS test-loss curves rise sharply from their minima, except the autoencoder's."""
    rise = runs_of(ev, BFGS, "rise")
    if ev.arch in OVERFIT_EXCEPTION:
        claim = Claim(
            "Sec. III.1, Fig. S1",
            "the exception: the autoencoder's L-BFGS-GSS "
            "test-loss curves do not \u201crise sharply from the minima\u201d",
            how=f"one-sided Wilcoxon signed-rank test of rise < {SHARP_RISE:.0%}",
        )
        alternative = "less"  # fmt: skip
    else:
        claim = Claim(
            "Sec. III.1, Fig. S1",
            "\u201cthe L-BFGS-GSS test loss curves rise sharply from the minima\u201d",
            how=f"one-sided Wilcoxon signed-rank test of rise > {SHARP_RISE:.0%}",
        )
        alternative = "greater"  # fmt: skip
    if too_few(claim, rise):
        return [claim]
    x = rise - SHARP_RISE
    claim.holds = bool(np.median(x) > 0) if alternative == "greater" else bool(np.median(x) < 0)
    claim.p = float(sps.wilcoxon(x, alternative=alternative, method="exact").pvalue)
    claim.min_p = 0.5 ** len(x)
    boot = sps.bootstrap((rise,), np.median, n_resamples=2000, method="percentile", random_state=0)
    lo, hi = np.quantile(boot.bootstrap_distribution, [0.025, 0.975])
    claim.effect = (f"median rise of the selected runs' test loss from its minimum to the "
                    f"run's end: {np.median(rise):.1%} [{lo:.1%}, {hi:.1%}]")  # fmt: skip
    claim.n = str(len(rise))
    return [claim]


def barriers(paths: pd.DataFrame, set_name: str, landscape: str) -> pd.DataFrame:
    sel = paths[(paths.set == set_name) & (paths.landscape == landscape)]
    return sel.assign(barrier=sel.height - sel.higher_end)


def per_solution(paths: pd.DataFrame, column: str) -> pd.Series:
    return stats.solution_means(paths.assign(height=paths[column]))


def barrier_claims(ev: Evidence) -> list[Claim]:
    """Fig. 4 / S2 on the barrier above the endpoints (height minus the higher endpoint's loss),
    the solution as the unit; the height beside it, and how many paths peak at an endpoint."""
    out = []
    exception = ev.arch in OVERFIT_EXCEPTION
    for landscape, a_set, b_set, fig in (
        ("train", "bfgs-train", "sgd-train", "Fig. 4"),
        ("train", "bfgs-test", "sgd-test", "Fig. 4"),
        ("test", "bfgs-test", "sgd-test", "Fig. S2"),
    ):
        pa, pb = barriers(ev.paths, a_set, landscape), barriers(ev.paths, b_set, landscape)
        if exception:
            claim = Claim(
                f"Sec. III.2, {fig}",
                f"the exception: \u201cwith the exception of "
                f"Autoencoder, the barrier heights are lower for the SGD solutions\u201d:"
                f" {a_set} barriers not above {b_set}'s ({landscape} landscape)",
            )
        else:
            claim = Claim(f"Sec. III.2, {fig}", f"\u201cthe barrier heights are lower for the "
                          f"SGD solutions compared to BFGS\u201d: {a_set} above {b_set} "
                          f"({landscape} landscape)")  # fmt: skip
        out.append(barrier_contrast(claim, pa, pb, exception, two_sample))
    for opt in ("bfgs", "sgd"):
        pa = barriers(ev.paths, f"{opt}-train", "train")
        pb = barriers(ev.paths, f"{opt}-test", "train")
        exception = ev.arch not in TRAIN_ABOVE_TEST
        words = (
            "\u201con the training landscape the BFGS barrier heights between vectors of "
            "training weights are only higher than [...] between vectors of test weights in"
            " two out of four NN architectures, FCP and LSTM\u201d"
            + ("" if opt == "bfgs" else "; \u201cthe same observation is true for SGD\u201d")
        )
        what = f": {opt}-train {'not ' if exception else ''}above {opt}-test"  # fmt: skip
        out.append(barrier_contrast(Claim("Sec. III.2, Fig. 4", words + what), pa, pb,
                                    exception, paired))  # fmt: skip
    return out


def barrier_contrast(claim: Claim, pa: pd.DataFrame, pb: pd.DataFrame, exception: bool,
                     test) -> Claim:  # fmt: skip
    """Set a's barriers above set b's (or, for an exception, not), solutions as units."""
    unit = "pairs of solutions (sign flips)" if test is paired else "solutions"
    if pa.empty or pb.empty:
        claim.n = f"{len(pa)} + {len(pb)} paths"
        claim.untestable = f"no path records of both sets yet (n = {claim.n})"
        return claim
    bare = int(pa.higher_end.isna().sum() + pb.higher_end.isna().sum())
    if bare:
        claim.untestable = f"{bare} path records without a loss profile (no endpoint losses)"
        return claim
    a, b = per_solution(pa, "barrier"), per_solution(pb, "barrier")
    if test is paired:
        common = a.index.intersection(b.index)
        a, b = a.loc[common], b.loc[common]
    a, b = a.to_numpy(), b.to_numpy()
    if too_few(claim, a, b):
        return claim
    ha, hb = per_solution(pa, "height").to_numpy(), per_solution(pb, "height").to_numpy()
    at_end = int((pa.barrier <= 0).sum() + (pb.barrier <= 0).sum())
    d = mean_diff(a, b)
    p, min_p = test(a, b, "greater")
    claim.effect = (f"mean barrier above the endpoints, a - b: {d:.3g} "
                    f"{interval(a, b, stats.mean_difference)}; median height a {np.median(ha):.3g}"
                    f", b {np.median(hb):.3g}; {at_end} of {len(pa) + len(pb)} paths peak at an "
                    "endpoint")  # fmt: skip
    claim.n = f"{len(a)} + {len(b)} solutions ({len(pa)} + {len(pb)} paths)"
    if exception:  # a claim of no effect: consistent unless a is significantly above b
        claim.holds = not (d > 0 and p < ALPHA)
        claim.how = (f"descriptive (a claim of no effect): one-sided permutation p = {p:.2g} over "
                     f"{unit} for a above b; consistent unless p < {ALPHA}")  # fmt: skip
        return claim
    claim.holds, claim.p, claim.min_p = bool(d > 0), p, min_p
    claim.how = f"one-sided permutation test over {unit}"
    return claim


def weight_claims(ev: Evidence) -> list[Claim]:
    """Table S1's sigma, Fig. 5's lengths and centroid, Fig. S3's gap, Fig. 6 / S4's kPCA."""
    s = ev.sets
    need = ("bfgs-train", "bfgs-test", "sgd-train", "sgd-test")
    missing = [k for k in need if k not in s or len(s[k]) == 0]
    perm = "one-sided permutation test over solutions"
    out = []
    for split in ("train", "test"):
        c = Claim(
            "Sec. III.3, Table S1",
            "BFGS weights are \u201ccharacterized by larger "
            f"standard deviations\u201d: {split} sets",
            how=perm + " (each solution's std)",
        )
        if f"bfgs-{split}" in missing or f"sgd-{split}" in missing:
            c.untestable = "a set has no vectors (n = 0)"
            out.append(c)
            continue
        a, b = s[f"bfgs-{split}"].std(axis=1), s[f"sgd-{split}"].std(axis=1)
        out.append(directional(c, a, b, "greater", "mean per-solution std, BFGS - SGD:"))
    main = Claim(
        "Sec. III.3, Fig. 5",
        "\u201cBFGS weight vectors tend to be longer than SGD "
        "weight vectors\u201d (BFGS-train vs SGD-test, |w - w_bar|)",
        how=perm,
    )
    centroid = Claim(
        "Sec. III.3, Fig. 5",
        "\u201cThe distance between w_bar_BFGS and w_bar_SGD "
        "is small compared to the spread of vector lengths within each group\u201d",
        how=f"descriptive: centroid distance / median |w - w_bar| < "
        f"{SMALL_CENTROID}; range: one vector left out at a time",
    )
    shrink = ev.arch in GAP_SHRINKS
    gap = Claim("Sec. III.3, Fig. S3", "the length gap (BFGS-test vs SGD-test against BFGS-train "
                "vs SGD-test) " + ("shrinks: \u201cthe SGD and BFGS vector lengths become less "
                                   "different for FCP and LeNet\u201d" if shrink else
                                   "stays: \u201cthe gap [...] remains nearly the same for "
                                   "Autoencoder and LSTM\u201d"),
                how="descriptive: ratio of median-length gaps S3 / 5, " + (
                    "< 1" if shrink else f"within [1/{COMPARABLE}, {COMPARABLE}]")
                + "; range: one vector left out at a time")  # fmt: skip
    fig6 = Claim(
        "Sec. III.4, Fig. 6",
        "\u201cclear separation of BFGS and SGD vectors\u201d (RBF kPCA, BFGS-train vs SGD-test)",
        how="label-permutation test of a "
        "cross-validated linear classifier on PC1-PC2 (stats.separation_test)",
    )
    others = Claim("Sec. III.4 (Fig. 6 text)", "\u201cthe separation is only observed with the "
                   "RBF kernel and disappears when other kernels such as polynomial and sigmoid "
                   "are used, or when standard PCA is employed\u201d",
                   how=f"descriptive (a claim of no effect): consistent when no other "
                   f"projection separates at p < {ALPHA}")  # fmt: skip
    persists = ev.arch in SEPARATION_PERSISTS
    s4 = Claim("Sec. III.4, Fig. S4", "BFGS-test vs SGD-test: \u201ccluster separation nearly "
               "disappears for FCP and LeNet but persists for Autoencoder and LSTM\u201d: "
               + ("persists" if persists else "disappears"),
               how="label-permutation test as Fig. 6" if persists else
               f"descriptive (a claim of no effect): consistent when p >= {ALPHA}")  # fmt: skip
    group = [main, centroid, gap, fig6, others, s4]
    if missing:
        for c in group:
            c.untestable = f"sets without vectors: {', '.join(missing)} (n = 0)"
        return out + group
    bt, bs, st = s["bfgs-train"], s["bfgs-test"], s["sgd-test"]
    ln = stats.lengths(bt, st)
    out.append(directional(main, ln.a, ln.b, "greater", "mean |w - w_bar|, BFGS - SGD:"))
    ratio, ci = centroid_ratio(bt, st), leave_one_out((bt, st), centroid_ratio)
    centroid.holds, centroid.n = bool(ratio < SMALL_CENTROID), n_of(bt, st)
    centroid.effect = f"centroid distance / median length: {ratio:.3g} {ci}"
    ratio, ci = gap_ratio(bt, bs, st), leave_one_out((bt, bs, st), gap_ratio, paired_first=2)
    gap.holds = bool(ratio < 1) if shrink else bool(1 / COMPARABLE < ratio < COMPARABLE)
    gap.effect, gap.n = f"gap ratio S3 / Fig. 5: {ratio:.3g} {ci}", n_of(bt, st)
    out.append(centroid)
    out.append(gap)
    main_sets = ("bfgs-train", "sgd-test")
    out.append(separation(fig6, ev, main_sets, "rbf"))
    seen = [separation(Claim("", ""), ev, main_sets, k) for k in ("poly", "sigmoid", "pca")]
    others.untestable = seen[0].untestable
    others.holds = all(c.p is None or c.p >= ALPHA for c in seen)
    others.effect = "; ".join(f"{k}: {c.effect}" for k, c in zip(("poly", "sigmoid", "PCA"), seen,
                                                                    strict=True))  # fmt: skip
    others.n = n_of(bt, st)
    out.append(others)
    s4 = separation(s4, ev, ("bfgs-test", "sgd-test"), "rbf")
    if not persists and not s4.untestable:  # a claim of no effect
        s4.holds, s4.p, s4.min_p = s4.p >= ALPHA, None, None
    out.append(s4)
    return out


def centroid_ratio(a: np.ndarray, b: np.ndarray) -> float:
    ln = stats.lengths(a, b)
    return ln.centroid_distance / float(np.median(np.concatenate([ln.a, ln.b])))


def gap_ratio(bfgs_train: np.ndarray, bfgs_test: np.ndarray, sgd_test: np.ndarray) -> float:
    """(median length gap, BFGS-test vs SGD-test) / (the same, BFGS-train vs SGD-test)."""
    main, supp = stats.lengths(bfgs_train, sgd_test), stats.lengths(bfgs_test, sgd_test)
    gap5 = float(np.median(main.a) - np.median(main.b))
    return float(np.median(supp.a) - np.median(supp.b)) / gap5 if gap5 else math.nan


def leave_one_out(arrays: tuple[np.ndarray, ...], fn, paired_first: int = 1) -> str:
    """The range of fn with one vector left out at a time, as [lo, hi] (a bootstrap duplicates
    vectors, which biases these distance ratios); the first `paired_first` arrays hold rows of
    the same runs and lose the same row."""
    if min(len(x) for x in arrays) < 3:
        return "[n/a]"
    values = []
    for k in range(paired_first - 1, len(arrays)):
        group = range(paired_first) if k < paired_first else [k]
        for i in range(len(arrays[k])):
            values.append(fn(*[np.delete(x, i, axis=0) if j in group else x
                               for j, x in enumerate(arrays)]))  # fmt: skip
    return f"[{np.nanmin(values):.3g}, {np.nanmax(values):.3g}]"


def separation(claim: Claim, ev: Evidence, names: tuple[str, str], kernel: str) -> Claim:
    """Set a vs set b: the cross-validated accuracy on PC1-PC2 and its label-permutation p
    (taken from ev.separations when the report has computed it already)."""
    a, b = ev.sets[names[0]], ev.sets[names[1]]
    known = ev.separations.get((*names, kernel))
    perms = SEPARATION_PERMUTATIONS if kernel in ("rbf", "pca") else OTHER_KERNEL_PERMUTATIONS
    acc, p = known if known is not None else separation_of(a, b, kernel, perms)
    claim.n = n_of(a, b)
    if math.isnan(acc):
        claim.untestable = f"a set has fewer than 2 vectors (n = {n_of(a, b)})"
        return claim
    claim.holds = bool(acc > 0.5)
    claim.p, claim.min_p = p, 1 / (perms + 1)
    claim.effect = f"accuracy {acc:.2f} (p = {p:.2g})"
    return claim


def separation_of(a: np.ndarray, b: np.ndarray, kernel: str, perms: int) -> tuple[float, float]:
    """RBF kernel PCA with gamma = 1/N_prm (stats.project), linear PCA, or another kernel of
    sklearn's with the same gamma and its other defaults; stats.separation_test on PC1-PC2."""
    proj = stats.project(a, b)
    if kernel == "rbf":
        coords = proj.kpca
    elif kernel == "pca":
        coords = proj.pca
    else:
        x = np.concatenate([a, b]).astype(np.float64)
        coords = stats.pad2(KernelPCA(n_components=min(2, len(x) - 1), kernel=kernel,
                                      gamma=1.0 / x.shape[1]).fit_transform(x))  # fmt: skip
    return stats.separation_test(coords, proj.labels, n_permutations=perms)


# ------------------------------------------------------------------------------ evidence


def run_rows(runs: pd.DataFrame, curves: pd.DataFrame | None) -> pd.DataFrame:
    """The selected runs with the test loss at w_train and the rise of the test curve, both
    read off the run's test-loss curve (index = epoch)."""
    rows = []
    for r in runs.itertuples():
        test = np.array([])
        if curves is not None and not curves.empty:
            c = curves[(curves.opt == r.opt) & (curves.seed == r.seed) & (curves.split == "test")
                       & (curves.sig == r.sig)].sort_values("epoch")  # fmt: skip
            test = c.loss.to_numpy(float)
        at_train = test[int(r.w_train_epoch)] if len(test) > r.w_train_epoch else math.nan
        rise = test[-1] / test.min() - 1 if len(test) else math.nan
        rows.append({"seed": r.seed, "min_train_loss": r.min_train_loss,
                     "test_loss_at_w_test": r.test_loss_at_w_test, "test_at_w_train": at_train,
                     "rise": rise})  # fmt: skip
    return pd.DataFrame(rows, columns=["seed", "min_train_loss", "test_loss_at_w_test",
                                       "test_at_w_train", "rise"])  # fmt: skip


def evidence(arch: str, runs: pd.DataFrame, curves: pd.DataFrame | None, sets: dict,
             paths: pd.DataFrame, separations: dict | None = None) -> Evidence:  # fmt: skip
    """One net's evidence from the report's tidy tables: runs (records.load_runs' table, one
    training config per optimizer), its curves, the loaded sets keyed (arch, set name) and
    the path table; the runs judged are those of each optimizer's train set (the selected)."""
    chosen, finished = {}, {}
    for opt, label in ((BFGS, "bfgs"), (SGD, "sgd")):
        mine = runs[(runs.arch == arch) & (runs.opt == opt) & (runs.status == "done")]
        finished[opt] = len(mine)
        s = sets.get((arch, f"{label}-train"))
        picked = mine[mine.seed.isin(s.seeds if s else [])]
        chosen[opt] = run_rows(picked, curves)
    vectors = {name: s.weights for (a, name), s in sets.items() if a == arch}
    p = paths[(paths.arch == arch) & (paths.status == "done")] if len(paths) else paths
    if "higher_end" not in p.columns:
        p = p.assign(higher_end=math.nan)
    return Evidence(arch, chosen, finished, vectors, p, separations or {})


def table(claims: list[Claim]) -> pd.DataFrame:
    return pd.DataFrame([c.row() for c in claims], columns=COLUMNS)


def summary(ev: Evidence) -> str:
    """Which runs the claims use: n selected of n finished per optimizer, and the paths."""
    parts = [f"{name}: {len(ev.runs.get(opt, []))} selected of {ev.finished.get(opt, 0)} "
             "finished runs" for opt, name in ((BFGS, "L-BFGS-GSS"), (SGD, "SGD"))]  # fmt: skip
    return "; ".join(parts) + f"; {len(ev.paths)} done path records"


def section(report: Report) -> html.Section | None:
    """The report's findings, first under the title: per net the claims table."""
    study = report.study
    if not {"bfgs-train", "bfgs-test", "sgd-train", "sgd-test"} <= set(study.sets):
        return None  # the paper's claims are about its four sets; another study has its own
    s = html.Section("findings", "Findings: the paper's claims, judged on these records")
    s.text(
        "Per net, each statement of the paper (quoted, with where it makes it) and what these "
        "records say: one-sided tests in the paper's direction over runs or solutions (never "
        f"paths), Holm's correction over each net's tested claims at {ALPHA}; reproduced only "
        "where the corrected p is below it; consistent, underpowered where the direction holds "
        "but even the smallest p the n allows cannot reach it. Margins declared before looking: "
        f"comparable = a test-loss ratio within [1/{COMPARABLE}, {COMPARABLE}]; a sharp rise = "
        f"more than {SHARP_RISE:.0%}; a small centroid distance = under {SMALL_CENTROID} of the "
        "median vector length. Same words as the reproduction page (docs/reproduction.md)."
    )
    runs, paths = report.runs, report.paths
    for arch in report.archs:
        known = {
            (c.a, c.b, kernel): result
            for (c, a), ws in report.comparisons.items()
            if a == arch
            for kernel, result in zip(("rbf", "pca"), ws.separation, strict=True)
        }
        ev = evidence(arch, runs.table, runs.curves, report.sets, paths.table, known)
        if not any(len(df) for df in ev.runs.values()):
            continue
        s.table(table(judge(ev)), f"{study.net_title(arch)} ({summary(ev)})", style="str")
    return s
