"""Statistics whose unit is the solution (issue 10), on data small enough to check by hand."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from lossland.report.stats import (
    bootstrap_interval,
    median_difference,
    permutation_test,
    solution_height_tests,
    solution_means,
    superiority,
)
from lossland.study.design import load_study


def test_solution_means_average_the_paths_each_solution_ends():
    paths = pd.DataFrame(
        {"seed_i": [0, 0, 1], "seed_j": [1, 2, 2], "height": [1.0, 3.0, 5.0]}
    )  # seed 0: (1 + 3) / 2, seed 1: (1 + 5) / 2, seed 2: (3 + 5) / 2
    assert solution_means(paths).to_dict() == {0: 2.0, 1: 3.0, 2: 4.0}


def test_exact_permutation_p_value_by_hand():
    # 20 ways to split {1..6} into 3 + 3. |median diff| = 3 needs medians 2 and 5: {1,2,3}|{4,5,6}
    # and {1,2,4}|{3,5,6}, and their mirrors: 4 of 20. The mean difference reaches 3 only at
    # {1,2,3}|{4,5,6} and its mirror: 2 of 20.
    assert permutation_test([1, 2, 3], [4, 5, 6], median_difference) == pytest.approx(4 / 20)
    assert permutation_test([1, 2, 3], [4, 5, 6]) == pytest.approx(2 / 20)  # mean difference
    assert permutation_test([1, 2, 3], [1, 2, 3]) == 1.0  # every split is at least as extreme


def test_sampled_permutation_p_value_when_too_many_splits():
    # C(20, 10) = 184,756 splits > n_perm: sampled; only 2 of them are as extreme as observed
    p = permutation_test(np.arange(10), np.arange(10, 20), n_perm=2000)
    assert 1 / 2001 <= p <= 5 / 2001


def test_superiority_counts_ties_half():
    # pairs (a, b): (1,2) 0, (1,4) 0, (2,2) 0.5, (2,4) 0, (3,2) 1, (3,4) 0 -> 1.5 / 6
    assert superiority([1, 2, 3], [2, 4]) == 0.25


def test_bootstrap_interval_of_constant_sets_is_the_point():
    assert bootstrap_interval([5, 5, 5], [1, 1, 1], median_difference) == (4.0, 4.0)
    lo, hi = bootstrap_interval([1, 2, 3, 4], [11, 12, 13, 14], median_difference)
    assert -13 <= lo <= hi <= -7  # every resampled median difference lies in [-13, -7]


def test_paths_sharing_endpoints_are_not_independent_evidence():
    # 4 solutions per set, all 6 pairs each, every BFGS path higher than every SGD path.
    rows = []
    for set_name, base in (("bfgs-train", 10.0), ("sgd-train", 0.0)):
        for k, (i, j) in enumerate(itertools.combinations(range(4), 2)):
            rows.append(
                {"arch": "fcp", "set": set_name, "landscape": "train", "status": "done",
                 "seed_i": i, "seed_j": j, "height": base + k}
            )  # fmt: skip
    table = solution_height_tests(pd.DataFrame(rows), load_study("paper").height_tests)
    row = table.iloc[0]
    assert (row.n_solutions_a, row.n_paths_a) == (4, 6)
    assert row.p_a_higher == 1.0
    # solution means 11, 12.33, 13, 13.67 vs 1, 2.33, 3, 3.67: of the 70 splits 4 + 4 only the
    # true one and its mirror reach a mean difference of 10 -> 2/70; the 12 paths as if
    # independent (Mann-Whitney, 6 + 6, complete separation): 2 / C(12, 6) = 2/924
    assert row.p_permutation == pytest.approx(2 / 70)
    assert row.p_paths_descriptive == pytest.approx(2 / 924)
