"""L-BFGS with a Golden Section Search line search (the paper's L-BFGS-GSS, Algorithm 1).

Full-batch quasi-Newton training: the direction comes from the L-BFGS two-loop recursion over the
last m curvature pairs (s_k, y_k), the step size u from a derivative-free Golden Section Search
along that direction, w_{k+1} = w_k - u p with p = H grad.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator, Sequence

import torch

from lossland.train.line_search_authors import authors_steps

PHI = (1.0 + math.sqrt(5.0)) / 2.0
CURVATURE_EPS = 1e-10  # a pair is unusable when s.y <= eps * |s| |y|
MIN_STEP = 1e-12  # floor for the adaptive initial trial step
LINE_SEARCHES = ("spec", "authors")  # docs/decisions.md#training: both readings
AUTHORS_RHO_EPS = 1e-6  # notebook: rho = 1 / (s.y + 1e-6)
AUTHORS_MIN_COS = 1e-4  # notebook: reset the history when cos(s, y) < 1e-4
AUTHORS_TOL = 1e-4  # notebook: stop refining when |f_a - f_b| or |b - a| is below this


def two_loop_direction(
    grad: torch.Tensor,
    s_hist: Sequence[torch.Tensor],
    y_hist: Sequence[torch.Tensor],
    rho_eps: float = 0.0,
) -> torch.Tensor:
    """Return p = H grad, the L-BFGS inverse-Hessian approximation applied to `grad`.

    Histories are ordered oldest first. The initial inverse Hessian is gamma * I with
    gamma = s.y / y.y of the newest pair (1 without history, i.e. p = grad). The update is -p.
    Everything stays a tensor on grad's device (no host syncs). rho = 1 / (y.s + rho_eps)
    (the authors' notebook adds 1e-6).
    """
    q = grad.clone()
    rhos = [1.0 / (torch.dot(y, s) + rho_eps) for s, y in zip(s_hist, y_hist, strict=True)]
    alphas = []
    for s, y, rho in zip(reversed(s_hist), reversed(y_hist), reversed(rhos), strict=True):
        alpha = rho * torch.dot(s, q)
        q -= alpha * y
        alphas.append(alpha)
    if s_hist:
        q *= torch.dot(s_hist[-1], y_hist[-1]) / torch.dot(y_hist[-1], y_hist[-1])
    for s, y, rho, alpha in zip(s_hist, y_hist, rhos, reversed(alphas), strict=True):
        q += (alpha - rho * torch.dot(y, q)) * s
    return q


Search = Generator[float, float, tuple[float, float, int]]


def golden_section_steps(f0: float, initial_step: float, max_evals: int) -> Search:
    """The golden-section search as a generator: yields each trial u, is sent f(u). One search,
    two drivers: `golden_section_search` below, and lbfgs_pack running many side by side."""
    best_u, best_f, evals = 0.0, f0, 0

    def seen(u: float, v: float) -> float:
        nonlocal best_u, best_f, evals
        v = v if math.isfinite(v) else math.inf
        evals += 1
        if v < best_f:
            best_u, best_f = u, v
        return v

    if max_evals < 1:
        return best_u, best_f, evals
    a, fa = 0.0, f0
    c = initial_step
    fc = seen(c, (yield c))
    b: float | None = None
    fb = math.inf
    if fc < fa:
        b, fb = c, fc
        while True:
            if evals >= max_evals:
                return best_u, best_f, evals
            c = b + PHI * (b - a)
            fc = seen(c, (yield c))
            if fc >= fb:
                break
            a, fa, b, fb = b, fb, c, fc
    while evals < max_evals:
        if b is None:
            x = a + (c - a) / PHI**2
            fx = seen(x, (yield x))
            if fx < fa:
                b, fb = x, fx
            else:
                c, fc = x, fx
            continue
        x = a + c - b
        fx = seen(x, (yield x))
        (lo, flo), (hi, fhi) = sorted([(b, fb), (x, fx)])
        if flo <= fhi:
            c, b, fb = hi, lo, flo
        else:
            a, b, fb = lo, hi, fhi
    return best_u, best_f, evals


def golden_section_search(
    f: Callable[[float], float], f0: float, initial_step: float, max_evals: int
) -> tuple[float, float, int]:
    """Minimise the 1-D function f(u), u >= 0, with f(0) = f0 known, in at most max_evals calls.

    Bracketing: try u = initial_step; while the value keeps decreasing, grow the interval by the
    golden ratio (u_next = u + PHI * (u - u_prev)), which leaves the middle point of each bracket
    at its golden-section position. If the first trial does not decrease f, the bracket is
    [0, initial_step] with no interior point yet: try its lower golden point, shrinking the
    bracket to [0, that point] (by PHI^2) until some point beats f0. Shrinking: standard golden
    section, one new evaluation per step at the mirror image of the kept interior point.
    Non-finite values count as +inf. Returns (best step, best value, evaluations used); the best
    step is 0.0 (with f0) when no evaluated point lowers f.
    """
    search = golden_section_steps(f0, initial_step, max_evals)
    try:
        u = next(search)
        while True:
            u = search.send(f(u))
    except StopIteration as done:
        return done.value


class LBFGSGSS(torch.optim.Optimizer):
    """Full-batch L-BFGS whose step size comes from a Golden Section Search (paper Algorithm 1).

    Why a class of its own: torch.optim.LBFGS offers only a strong-Wolfe line search, while the
    paper's optimizer picks the step by a derivative-free golden-section search with a fixed
    budget of loss evaluations per iteration. All parameters are treated as one flat vector, in
    their own dtype and on their own device. The whole state (s/y history, previous point and
    gradient, adaptive trial steps, counters) lives in ``self.state`` under the first parameter,
    so ``state_dict()`` / ``load_state_dict()`` resume a run exactly.

    History is reset (falling back to steepest descent) when a curvature pair is unusable
    (s.y <= 1e-10 |s||y| or not finite), when the direction is not a descent direction, and when
    no line-search point lowers the loss (then the parameters do not move). Hyperparameters are
    read from the first param group; ``.grad`` of the parameters is left untouched.

    ``line_search="authors"`` runs the authors' notebook instead
    (lossland.train.line_search_authors): its line search, rho = 1 / (s.y + 1e-6), every pair kept
    unless cos(s, y) < 1e-4 (then the history is reset), no descent check, and the step is always
    taken (``initial_step`` unused).
    ``diagnostics()`` counts evaluations, resets and failed searches over the whole run.
    """

    def __init__(
        self,
        params,
        history_size: int = 10,
        max_evals: int = 6,
        initial_step: float = 1.0,
        line_search: str = "spec",
    ) -> None:
        if history_size < 0:
            raise ValueError(f"history_size must be >= 0, got {history_size}")
        if max_evals < 1:
            raise ValueError(f"max_evals must be >= 1, got {max_evals}")
        if not initial_step > 0:
            raise ValueError(f"initial_step must be > 0, got {initial_step}")
        if line_search not in LINE_SEARCHES:
            raise ValueError(f"line_search must be one of {LINE_SEARCHES}, got {line_search!r}")
        defaults = dict(
            history_size=history_size,
            max_evals=max_evals,
            initial_step=initial_step,
            line_search=line_search,
        )
        super().__init__(params, defaults)

    @property
    def _params(self) -> list[torch.Tensor]:
        return [p for group in self.param_groups for p in group["params"]]

    @property
    def _state(self) -> dict:
        state = self.state[self._params[0]]
        if not state:
            state.update(fresh_state(float(self.param_groups[0]["initial_step"])))
        for key in ("n_evals", "n_failed", "last_decrease_iter"):  # also for older checkpoints
            state.setdefault(key, 0)
        return state

    def diagnostics(self) -> dict[str, int | float]:
        """`diagnostics` of this optimizer's run so far."""
        return diagnostics(self._state)

    @property
    def n_resets(self) -> int:
        """How many times the history was discarded: unusable pair, uphill direction, or a
        line search that found nothing better (the last one repeats once fully converged)."""
        return int(self._state["n_resets"])

    @property
    def last_evals(self) -> int:
        """Line-search loss evaluations in the last step (the gradient evaluation excluded)."""
        return int(self._state["last_evals"])

    @property
    def last_step(self) -> float:
        """Step size u taken in the last step (0.0 when the parameters did not move)."""
        return float(self._state["last_step"])

    def _set_flat(self, vec: torch.Tensor) -> None:
        offset = 0
        for p in self._params:
            p.copy_(vec[offset : offset + p.numel()].view_as(p))
            offset += p.numel()

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor]) -> torch.Tensor:  # type: ignore[override]
        """closure() returns the full-batch loss WITHOUT calling backward; the optimizer
        computes the gradient itself (under torch.enable_grad(), via torch.autograd.grad on the
        params) at the current point and evaluates closure() under no_grad for line-search
        trials. Returns the loss at the new point (the best line-search value)."""
        params = self._params
        with torch.enable_grad():
            loss = closure()
            grads = torch.autograd.grad(loss, params, allow_unused=True)
        x = torch.cat([p.detach().reshape(-1) for p in params])
        g = torch.cat(
            [
                (torch.zeros_like(p) if gr is None else gr).reshape(-1)
                for p, gr in zip(params, grads, strict=True)
            ]
        )
        loss = loss.detach()
        steps = iteration(self._state, self.param_groups[0], x, g, float(loss))
        try:
            point = next(steps)
            while True:
                self._set_flat(point)
                point = steps.send(float(closure()))
        except StopIteration as done:
            new_x, f_new = done.value
        self._set_flat(new_x)
        return loss.new_tensor(f_new)


Iteration = Generator[torch.Tensor, float, tuple[torch.Tensor, float]]


def iteration(state: dict, group: dict, x: torch.Tensor, g: torch.Tensor, f0: float) -> Iteration:
    """One L-BFGS-GSS iteration of one weight vector x (loss f0, gradient g), as a generator:
    it yields each line-search trial point and is sent the loss there; it returns the new
    point and its loss, and updates `state` (history, trial steps, counters). One iteration,
    two drivers: `LBFGSGSS.step` (one seed) and `lbfgs_pack` (many seeds, their trial points
    in batched calls), so a packed seed takes exactly the decisions of a seed alone."""
    state["n_iter"] += 1
    state.update(last_evals=0, last_step=0.0)
    if not (math.isfinite(f0) and bool(torch.isfinite(g).all())):
        reset(state, group)
        state.update(prev_x=None, prev_g=None)
        return x, f0
    if group["line_search"] == "authors":
        return (yield from _authors_iteration(state, group, x, g, f0))

    if state["prev_x"] is not None:  # new curvature pair from the last move
        s, y = x - state["prev_x"], g - state["prev_g"]
        sy = torch.dot(s, y)
        if bool(sy > CURVATURE_EPS * s.norm() * y.norm()):  # False for NaN
            m = group["history_size"]
            state["s_hist"] = (state["s_hist"] + [s])[-m:] if m else []
            state["y_hist"] = (state["y_hist"] + [y])[-m:] if m else []
        else:
            reset(state, group)

    d = -two_loop_direction(g, state["s_hist"], state["y_hist"])
    if state["s_hist"] and not bool(torch.dot(g, d) < 0):  # not a descent direction
        reset(state, group)
        d = -g
    key = "t_qn" if state["s_hist"] else "t_sd"
    t = state[key]
    search = golden_section_steps(f0, t, group["max_evals"])
    u, f_best, evals = yield from _points(search, lambda u: torch.add(x, d, alpha=u))
    state.update(last_evals=evals, last_step=u)
    _count(state, evals, f0, f_best)
    if u > 0:
        state.update(prev_x=x, prev_g=g)
        state[key] = max(u, MIN_STEP)
        return torch.add(x, d, alpha=u), f_best
    # No point beat f0: stay, drop the history, next time start below every step tried.
    reset(state, group)
    state.update(prev_x=None, prev_g=None)
    if key == "t_sd":
        state["t_sd"] = max(t / PHI ** (2 * evals), MIN_STEP)
    return x, f0


def _authors_iteration(
    state: dict, group: dict, x: torch.Tensor, g: torch.Tensor, f0: float
) -> Iteration:
    """One iteration as the authors' notebook runs it (see the class docstring)."""
    if state["prev_x"] is not None:  # every pair is kept, unless it is nearly orthogonal
        s, y = x - state["prev_x"], g - state["prev_g"]
        m = group["history_size"]
        state["s_hist"] = (state["s_hist"] + [s])[-m:] if m else []
        state["y_hist"] = (state["y_hist"] + [y])[-m:] if m else []
        cos = torch.dot(s, y) / (s.norm() * y.norm())
        if not bool(cos >= AUTHORS_MIN_COS):  # also NaN (a zero s or y)
            reset(state, group)
    d = -two_loop_direction(g, state["s_hist"], state["y_hist"], AUTHORS_RHO_EPS)
    if not bool(torch.isfinite(d).all()):
        reset(state, group)
        d = -g
    scale = float(d.norm())
    if scale == 0.0:  # zero gradient: nothing to do
        state.update(prev_x=None, prev_g=None)
        return x, f0
    unit = d / scale
    search = authors_steps(f0, scale, group["max_evals"], AUTHORS_TOL)
    t, f_new, evals = yield from _points(search, lambda t: torch.add(x, unit, alpha=t))
    state.update(prev_x=x, prev_g=g, last_evals=evals, last_step=t / scale)
    _count(state, evals, f0, f_new)
    return torch.add(x, unit, alpha=t), f_new


def _points(search, point: Callable[[float], torch.Tensor]):
    """A 1-D search (yields steps) as one over weight vectors (yields the points there)."""
    try:
        step = next(search)
        while True:
            step = search.send((yield point(step)))
    except StopIteration as done:
        return done.value


def reset(state: dict, group: dict) -> None:
    """Drop the curvature history (steepest descent next); the quasi-Newton trial step anew."""
    state.update(s_hist=[], y_hist=[], t_qn=float(group["initial_step"]))
    state["n_resets"] += 1


def _count(state: dict, evals: int, f0: float, f_new: float) -> None:
    state["n_evals"] += evals
    if f_new < f0:
        state["last_decrease_iter"] = state["n_iter"]
    else:
        state["n_failed"] += 1


def fresh_state(initial_step: float) -> dict:
    """The state of an iteration that has not run yet (LBFGSGSS keeps it under its first
    parameter, so `state_dict()` holds it)."""
    return dict(
        s_hist=[], y_hist=[], prev_x=None, prev_g=None, t_qn=initial_step, t_sd=initial_step,
        n_iter=0, n_resets=0, last_evals=0, last_step=0.0, n_evals=0, n_failed=0,
        last_decrease_iter=0,
    )  # fmt: skip


def diagnostics(state: dict) -> dict[str, int | float]:
    """Run totals for the record: iterations, line-search loss evaluations, history resets,
    failed searches (no trial lowered the loss: the spec search stays put, the authors'
    takes the step anyway), the last step size and the last iteration that lowered the loss
    (long before the end means the run froze)."""
    keys = ("n_iter", "n_evals", "n_resets", "n_failed", "last_decrease_iter")
    return {k: int(state[k]) for k in keys} | {"last_step": float(state["last_step"])}
