"""The authors' line search and L-BFGS-GSS variant (issue 10), on 1-D functions with known minima.

Every expected trial point below is derived by hand from the notebook's rules (first trial
0.2 |d|, then 0.8, 1.6, 3.2 x |d|; golden points at 0.382 of the bracket; stop when
|f_a - f_b| < 1e-4 or |b - a| < 1e-4), not by running the code.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lossland.train.lbfgs_gss import LBFGSGSS, two_loop_direction
from lossland.train.line_search_authors import authors_line_search, trial_step
from lossland.train.seed_run import train_one
from tests.test_training import tiny

F64 = torch.float64


def recorded(fn):
    """fn, and the list of the points it was called at."""
    points: list[float] = []

    def f(t: float) -> float:
        points.append(t)
        return fn(t)

    return f, points


def test_bracket_grows_02_08_16_32_times_the_direction_norm():
    assert [trial_step(k, 1.0) for k in range(6)] == pytest.approx([0.2, 0.8, 1.6, 3.2, 6.4, 12.8])
    f, points = recorded(lambda t: -t)  # falls forever: the budget ends the bracketing
    t, ft, evals = authors_line_search(f, 0.0, scale=2.0, max_evals=6)
    assert points == pytest.approx([0.4, 1.6, 3.2, 6.4, 12.8, 25.6])
    assert (t, ft, evals) == (pytest.approx(25.6), pytest.approx(-25.6), 6)


def test_parabola_bracket_then_golden_section_by_hand():
    # f = (t - 1)^2, minimum at 1. Bracket: 0.2 (0.64), 0.8 (0.04), 1.6 (0.36) -> [0.2, 1.6], x=0.8.
    # Golden: 0.2 + 0.382*1.4 = 0.7348 (worse, a <- it); 0.7348 + 0.382*0.8652 = 1.0653064
    # (better, a <- 0.8); 0.8 + 0.382*0.8 = 1.1056 (worse, b <- it): budget of 6 spent.
    f, points = recorded(lambda t: (t - 1.0) ** 2)
    t, ft, evals = authors_line_search(f, 1.0, scale=1.0, max_evals=6)
    assert points == pytest.approx([0.2, 0.8, 1.6, 0.7348, 1.0653064, 1.1056])
    assert t == pytest.approx(1.0653064) and ft == pytest.approx(0.0653064**2) and evals == 6


def test_uphill_direction_shrinks_towards_zero_and_still_steps():
    # f = 1 + t rises from f(0) = 1: every trial is uphill, b shrinks by 0.382 each time, and
    # with the budget spent the last (smallest) uphill trial is returned: 0.2 * 0.382^5.
    f, points = recorded(lambda t: 1.0 + t)
    t, ft, evals = authors_line_search(f, 1.0, scale=1.0, max_evals=6)
    assert points == pytest.approx([0.2 * 0.382**k for k in range(6)])
    assert t == pytest.approx(0.2 * 0.382**5) and ft > 1.0 and evals == 6


def test_uphill_by_less_than_1e4_is_accepted_at_once():
    t, ft, evals = authors_line_search(lambda t: 1.0 + 1e-5 * t, 1.0, scale=1.0, max_evals=6)
    assert (t, evals) == (pytest.approx(0.2), 1) and ft == pytest.approx(1.0 + 2e-6)


def test_below_1e4_the_golden_phase_never_runs():
    # f = 1e-6 (t - 1)^2: bracket 0.2, 0.8, 1.6 as for the parabola, then |f_a - f_b| < 1e-4.
    f, points = recorded(lambda t: 1e-6 * (t - 1.0) ** 2)
    t, ft, evals = authors_line_search(f, 1e-6, scale=1.0, max_evals=6)
    assert points == pytest.approx([0.2, 0.8, 1.6]) and t == pytest.approx(0.8) and evals == 3


def test_a_tie_returns_the_midpoint_evaluated():
    f, points = recorded(lambda t: 5.0)
    t, ft, evals = authors_line_search(f, 5.0, scale=1.0, max_evals=6)
    assert points == pytest.approx([0.2, 0.1]) and (t, ft, evals) == (pytest.approx(0.1), 5.0, 2)


def test_two_loop_with_the_notebooks_rho_epsilon():
    # one pair s = (1, 0), y = (2, 0), g = (1, 1), gamma = 1/2, rho = 1/(2 + eps): by hand the
    # first component is 0.5 - rho + 2 rho^2 (0.5 exactly when eps = 0), the second 0.5.
    g = torch.tensor([1.0, 1.0], dtype=F64)
    s, y = torch.tensor([1.0, 0.0], dtype=F64), torch.tensor([2.0, 0.0], dtype=F64)
    for eps in (0.0, 1e-6, 0.5):
        rho = 1 / (2 + eps)
        expected = torch.tensor([0.5 - rho + 2 * rho**2, 0.5], dtype=F64)
        torch.testing.assert_close(two_loop_direction(g, [s], [y], eps), expected)


def test_authors_variant_minimises_a_quadratic_and_counts():
    a = torch.diag(torch.tensor([1.0, 10.0, 100.0], dtype=F64))
    w_star = torch.tensor([1.0, -2.0, 3.0], dtype=F64)
    w = torch.zeros(3, dtype=F64, requires_grad=True)
    opt = LBFGSGSS([w], line_search="authors")
    for _ in range(60):
        opt.step(lambda: 0.5 * (w - w_star) @ a @ (w - w_star))
    # its tolerance (1e-4 on the loss) caps the accuracy: well below the start (7.0 from 0), not
    # as deep as the spec search
    assert float(0.5 * (w - w_star) @ a @ (w - w_star).detach()) < 1e-4
    d = opt.diagnostics()
    assert d["n_iter"] == 60 and 60 <= d["n_evals"] <= 7 * 60
    assert 0 <= d["n_failed"] <= 60 and 1 <= d["last_decrease_iter"] <= 60


def test_orthogonal_pair_resets_the_history():
    # a linear function has a constant gradient: y = 0, cos(s, y) is NaN, every pair resets
    w = torch.zeros(2, dtype=F64, requires_grad=True)
    opt = LBFGSGSS([w], line_search="authors")
    for _ in range(3):
        opt.step(lambda: w.sum())
    assert opt.n_resets == 2  # pairs after the 1st and 2nd step


def test_spec_search_counts_failures_and_last_decrease():
    w = torch.zeros(2, dtype=F64, requires_grad=True)
    opt = LBFGSGSS([w])
    for _ in range(5):
        opt.step(lambda: (w**2).sum())  # at its minimum from the start: nothing lowers it
    d = opt.diagnostics()
    assert d["n_failed"] == 5 and d["last_decrease_iter"] == 0 and d["last_step"] == 0.0
    assert d["n_evals"] == 5 * 6


@pytest.mark.parametrize("precision", ["float32", "float64"])
def test_record_has_diagnostics_and_precision(mnist_root, tmp_path, precision):
    cfg, task_dir = tiny(
        mnist_root, tmp_path, "opt=lbfgs_authors", f"precision={precision}", "opt.epochs=3"
    )
    record = train_one(cfg, task_dir)
    assert record["config"]["opt"]["line_search"] == "authors"
    assert record["lbfgs"]["n_iter"] == 3 and record["lbfgs"]["n_evals"] >= 3
    assert np.load(task_dir / "w_train.npy").dtype == np.float32  # records stay float32
    assert math.isfinite(record["min_train_loss"])
    if precision == "float64":  # a float32 run gives other numbers
        f32, dir32 = tiny(mnist_root, tmp_path / "f32", "opt=lbfgs_authors", "opt.epochs=3")
        other = train_one(f32, dir32)["curves"]["train"]
        assert other[0] == pytest.approx(record["curves"]["train"][0], rel=1e-5)
        assert other != record["curves"]["train"]
