"""Tests for the L-BFGS-GSS optimizer (paper Algorithm 1)."""

from __future__ import annotations

import io
import math

import pytest
import torch

from lossland.train.lbfgs_gss import LBFGSGSS, PHI, golden_section_search, two_loop_direction

F64 = torch.float64


def rosenbrock(w: torch.Tensor) -> torch.Tensor:
    return (1 - w[0]) ** 2 + 100 * (w[1] - w[0] ** 2) ** 2


def ill_conditioned_quadratic(n: int = 20, cond: float = 1e3, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=F64))
    a = q @ torch.diag(torch.logspace(0, math.log10(cond), n, dtype=F64)) @ q.T
    return a, torch.randn(n, generator=g, dtype=F64)


def test_quadratic_converges_much_faster_than_steepest_descent():
    a, w_star = ill_conditioned_quadratic()  # condition number 1e3 in 20 dims
    errors = {}
    for history_size in (10, 0):  # history_size=0 is steepest descent + the same GSS
        w = torch.zeros(20, dtype=F64, requires_grad=True)
        opt = LBFGSGSS([w], history_size=history_size)
        for _ in range(100):
            opt.step(lambda w=w: 0.5 * (w - w_star) @ a @ (w - w_star))
        errors[history_size] = ((w - w_star).norm() / w_star.norm()).item()
    assert errors[10] < 1e-3  # relative distance to the known minimum
    assert errors[0] > 0.1
    assert errors[0] > 100 * errors[10]


def test_two_loop_without_history_is_gradient_and_with_exact_pairs_inverts_hessian():
    g = torch.tensor([1.0, -2.0, 3.0], dtype=F64)
    assert torch.equal(two_loop_direction(g, [], []), g)
    # one pair, curvature 2 along x: exact there, gamma = s.y / y.y = 1/2 elsewhere
    one = two_loop_direction(
        torch.tensor([1.0, 1.0], dtype=F64),
        [torch.tensor([1.0, 0.0], dtype=F64)],
        [torch.tensor([2.0, 0.0], dtype=F64)],
    )
    torch.testing.assert_close(one, torch.tensor([0.5, 0.5], dtype=F64))
    h = torch.diag(torch.tensor([1.0, 4.0, 9.0], dtype=F64))
    s_hist = list(torch.eye(3, dtype=F64))
    y_hist = [h @ s for s in s_hist]  # 3 exact pairs in 3 dims: H^-1 is recovered exactly
    torch.testing.assert_close(two_loop_direction(g, s_hist, y_hist), torch.linalg.solve(h, g))


@pytest.mark.parametrize("max_evals", [2, 6])
def test_rosenbrock_converges(max_evals):
    w = torch.tensor([-1.2, 1.0], dtype=F64, requires_grad=True)
    opt = LBFGSGSS([w], max_evals=max_evals)
    for _ in range(100):
        opt.step(lambda: rosenbrock(w))
    assert torch.allclose(w.detach(), torch.ones(2, dtype=F64), atol=1e-6)


@pytest.mark.parametrize("max_evals", [1, 2, 6])
def test_evaluation_budget_respected_every_iteration(max_evals):
    w = torch.tensor([-1.2, 1.0], dtype=F64, requires_grad=True)
    opt = LBFGSGSS([w], max_evals=max_evals)
    calls = 0

    def closure():
        nonlocal calls
        calls += 1
        return rosenbrock(w)

    used = []
    for _ in range(40):
        calls = 0
        opt.step(closure)
        assert calls == 1 + opt.last_evals  # one gradient evaluation + the line search
        assert 1 <= opt.last_evals <= max_evals
        used.append(opt.last_evals)
    assert max_evals in used


@pytest.mark.parametrize("target", [3.0, 0.3, 1.0])
def test_golden_section_search_precision_on_parabola(target):
    max_evals = 20
    u, fu, evals = golden_section_search(lambda u: (u - target) ** 2, target**2, 1.0, max_evals)
    assert evals == max_evals
    assert fu == (u - target) ** 2
    # bracket found after: 3.0: u = 1, 2.618, 5.236 -> [1, 5.236] (3 evals); 0.3: u = 1 too far,
    # 0.382 better -> [0, 1] (2 evals); 1.0: u = 1, 2.618 -> [0, 2.618] (2 evals)
    width, bracket_evals = {3.0: (4.236, 3), 0.3: (1.0, 2), 1.0: (2.618, 2)}[target]
    width /= PHI ** (max_evals - bracket_evals)  # each later evaluation shrinks it by PHI
    assert abs(u - target) <= width
    # with 3 evaluations only the bracket [1, 5.236] is found: the best point is its middle
    u3, _, e3 = golden_section_search(lambda u: (u - 3.0) ** 2, 9.0, 1.0, 3)
    assert e3 == 3 and u3 == pytest.approx(PHI**2)


def test_golden_section_search_points_are_golden_and_reused():
    tried = []

    def f(u):
        tried.append(u)
        return (u - 0.3) ** 2

    u, fu, evals = golden_section_search(f, 0.09, 1.0, 5)
    # u=1 is worse than u=0 -> bracket [0, 1]; then one new point per shrink, each at the
    # golden position mirrored from the kept interior point
    expected = [1.0, PHI**-2, PHI**-1, PHI**-3, PHI**-4]
    assert tried == pytest.approx(expected, rel=1e-12)
    assert (u, fu, evals) == (tried[3], f(tried[3]), 5)


def test_golden_section_search_edge_cases():
    # keeps decreasing: spends the whole budget expanding and returns the largest step
    u, fu, evals = golden_section_search(lambda u: -u, 0.0, 1.0, 4)
    assert evals == 4 and u == pytest.approx(1 + PHI + PHI**2 + PHI**3) and fu == -u
    # nothing better than f(0) (NaN counts as +inf): do not move
    assert golden_section_search(lambda u: math.nan, 1.0, 1.0, 6) == (0.0, 1.0, 6)
    assert golden_section_search(lambda u: 1.0 + u, 1.0, 1.0, 6) == (0.0, 1.0, 6)
    # NaN beyond u = 0.5: the search shrinks back into the finite region and finds u = 0.4
    u, fu, _ = golden_section_search(
        lambda u: (u - 0.4) ** 2 if u < 0.5 else math.nan, 0.16, 1.0, 20
    )
    assert abs(u - 0.4) < 1e-3 and math.isfinite(fu)


def test_negative_curvature_pair_resets_history_then_converges():
    # double well in x (concave for |x| < 1/sqrt(3)) plus a quadratic in y; minima at (+-1, 1).
    # With 2 evaluations per step, the first steps undershoot inside the concave region, where
    # the gradient gets steeper along the move: s.y < 0.
    w = torch.tensor([0.05, 0.0], dtype=F64, requires_grad=True)

    def f():
        return w[0] ** 4 / 4 - w[0] ** 2 / 2 + 5 * (w[1] - 1) ** 2

    def grad_at(v):
        v = v.clone().requires_grad_(True)
        return torch.autograd.grad(v[0] ** 4 / 4 - v[0] ** 2 / 2 + 5 * (v[1] - 1) ** 2, v)[0]

    opt = LBFGSGSS([w], max_evals=2)
    prev = None  # (point, gradient) before the last move
    bad_pairs = 0
    for _ in range(30):
        here, resets = w.detach().clone(), opt.n_resets
        opt.step(f)
        if prev is not None:  # the pair formed at the start of this step
            s, y = here - prev[0], grad_at(here) - prev[1]
            if torch.dot(s, y) <= 0:
                bad_pairs += 1
                assert opt.n_resets > resets
        prev = (here, grad_at(here)) if opt.last_step > 0 else None
    assert bad_pairs >= 1
    torch.testing.assert_close(w.detach(), torch.tensor([1.0, 1.0], dtype=F64), atol=1e-7, rtol=0)


@pytest.mark.parametrize("kind", ["negative", "tiny", "nan"])
def test_unusable_curvature_pair_is_rejected(kind):
    a, w_star = ill_conditioned_quadratic(n=6, cond=10.0)
    w = torch.zeros(6, dtype=F64, requires_grad=True)

    def f():
        return 0.5 * (w - w_star) @ a @ (w - w_star)

    opt = LBFGSGSS([w])
    for _ in range(3):
        opt.step(f)
    state, resets = opt.state[w], opt.n_resets
    assert state["s_hist"] and state["prev_x"] is not None
    # Forge the gradient remembered at the previous point so the next pair (s, y) is unusable.
    s = w.detach() - state["prev_x"]
    v = torch.randn(6, generator=torch.Generator().manual_seed(3), dtype=F64)
    v -= torch.dot(v, s) / torch.dot(s, s) * s  # v orthogonal to s
    y = {
        "negative": -s,
        "tiny": v + 1e-12 * v.norm() / s.norm() * s,  # 0 < s.y <= 1e-10 |s||y|
        "nan": s * math.nan,
    }[kind]
    state["prev_g"] = (a @ (w.detach() - w_star)) - y
    opt.step(f)
    assert opt.n_resets == resets + 1
    assert state["s_hist"] == []  # the pair was dropped together with the history
    assert opt.last_step > 0  # and the steepest-descent step still made progress
    for _ in range(40):
        opt.step(f)
    torch.testing.assert_close(w.detach(), w_star, atol=1e-8, rtol=0)


def test_non_descent_direction_falls_back_to_steepest_descent():
    w = torch.tensor([1.0, -2.0], dtype=F64, requires_grad=True)
    opt = LBFGSGSS([w])
    opt.step(lambda: (w**2).sum())  # creates the state
    state = opt.state[w]
    s = torch.tensor([1.0, 0.5], dtype=F64)
    # a forged pair with y = -s makes H = -I: the two-loop direction points uphill
    state.update(s_hist=[s], y_hist=[-s], prev_x=None, prev_g=None)
    before, resets = (w**2).sum().item(), opt.n_resets
    loss = opt.step(lambda: (w**2).sum())
    assert opt.n_resets == resets + 1 and opt.last_step > 0 and loss.item() < before


def test_initial_trial_step_adapts_to_last_accepted_step():
    # steepest descent on 50 |w|^2: the exact step is 1/100, far below the initial step 1
    w = torch.tensor([1.0, -2.0], dtype=F64, requires_grad=True)
    opt = LBFGSGSS([w], history_size=0, initial_step=1.0)
    for _ in range(5):
        opt.step(lambda: 50 * (w**2).sum())
        if opt.last_step > 0:
            assert opt.state[w]["t_sd"] == opt.last_step  # next search starts at this step
    assert opt.last_step == pytest.approx(0.01, rel=0.2)


def test_nan_trial_loss_is_never_taken():
    w = torch.zeros(1, dtype=F64, requires_grad=True)
    opt = LBFGSGSS([w], initial_step=1.0)

    def f():  # minimum at 2, NaN beyond 2.5; the first trial step (u=1, w=4) hits NaN
        return torch.where(w < 2.5, (w - 2) ** 2, torch.full_like(w, math.nan)).sum()

    for _ in range(20):
        loss = opt.step(f)
        assert torch.isfinite(loss) and torch.isfinite(w).all()
    assert abs(w.item() - 2.0) < 1e-8


def test_no_improvement_does_not_move_and_resets():
    w = torch.tensor([0.0], dtype=F64, requires_grad=True)
    opt = LBFGSGSS([w], max_evals=3)
    loss = opt.step(lambda: (w + 1e3 * (w != 0)).sum())  # every move is worse
    assert w.item() == 0.0 and loss.item() == 0.0
    assert opt.last_step == 0.0 and opt.last_evals == 3 and opt.n_resets == 1


def _mlp(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))


def test_state_dict_round_trip_is_bit_exact():
    gen = torch.Generator().manual_seed(1)
    x, labels = torch.randn(64, 4, generator=gen), torch.randint(0, 3, (64,), generator=gen)

    def run(model, opt, n):
        losses = []
        for _ in range(n):
            losses.append(
                opt.step(lambda: torch.nn.functional.cross_entropy(model(x), labels)).item()
            )
        return losses

    model = _mlp(0)
    opt = LBFGSGSS(model.parameters())
    run(model, opt, 5)
    assert len(opt.state_dict()["state"][0]["s_hist"]) > 0  # the history is in the state dict
    buf = io.BytesIO()
    torch.save({"model": model.state_dict(), "opt": opt.state_dict()}, buf)
    expected = run(model, opt, 5)

    buf.seek(0)
    ckpt = torch.load(buf)
    model2 = _mlp(123)
    model2.load_state_dict(ckpt["model"])
    opt2 = LBFGSGSS(model2.parameters())
    opt2.load_state_dict(ckpt["opt"])
    assert run(model2, opt2, 5) == expected
    for p, q in zip(model.parameters(), model2.parameters(), strict=True):
        assert torch.equal(p, q)
    assert (opt2.n_resets, opt2.last_evals) == (opt.n_resets, opt.last_evals)


def test_nn_linear_least_squares_matches_closed_form():
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(200, 5, generator=gen, dtype=F64)
    y = x @ torch.randn(5, 1, generator=gen, dtype=F64) + 0.7
    y = y + 0.1 * torch.randn(200, 1, generator=gen, dtype=F64)
    design = torch.cat([x, torch.ones(200, 1, dtype=F64)], dim=1)
    coef = torch.linalg.lstsq(design, y).solution.squeeze(1)

    model = torch.nn.Linear(5, 1, dtype=F64)
    opt = LBFGSGSS(model.parameters())
    for _ in range(30):
        opt.step(lambda: torch.nn.functional.mse_loss(model(x), y))
    fitted = torch.cat([model.weight.detach().reshape(-1), model.bias.detach()])
    torch.testing.assert_close(fitted, coef, atol=1e-8, rtol=0)


@pytest.mark.parametrize(
    "device",
    [
        "cpu",
        pytest.param(
            "cuda",
            marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
        ),
    ],
)
def test_state_stays_in_param_dtype_and_device(device):
    w = torch.tensor([-1.2, 1.0], dtype=torch.float32, device=device, requires_grad=True)
    opt = LBFGSGSS([w])
    state = opt.state[w]
    for _ in range(20):  # until the history holds a pair
        loss = opt.step(lambda: rosenbrock(w))
        if state["s_hist"]:
            break
    tensors = [state["prev_x"], state["prev_g"], *state["s_hist"], *state["y_hist"]]
    assert len(tensors) > 2
    assert all(t.dtype == torch.float32 and t.device == w.device for t in tensors)
    assert loss.device == w.device and rosenbrock(w).item() < rosenbrock(torch.tensor([-1.2, 1]))
