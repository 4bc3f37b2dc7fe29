"""L-BFGS-GSS for a pack of seeds: every seed its own iteration, all loss calls batched.

Each seed keeps exactly the state `lbfgs_gss.LBFGSGSS` keeps (the same dict: history, previous
point and gradient, trial steps, counters) and takes the same decisions (curvature check,
descent check, resets, the golden-section search and what follows it). What is shared is only
the arithmetic: one batched gradient call for all seeds, then the seeds' line searches run side
by side, each search a generator (`golden_section_steps`, the same search as
`lbfgs_gss.golden_section_search`) that yields its next trial step; the trial points of all
seeds still searching go through one batched loss call, and a seed whose search has ended is
left out of the next calls.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from lossland.lbfgs_gss import (
    CURVATURE_EPS,
    MIN_STEP,
    PHI,
    Search,
    golden_section_steps,
    two_loop_direction,
)


def run_searches(
    searches: list[Search | None], trial: Callable[[list[int], list[float]], list[float]]
) -> list[tuple[float, float, int] | None]:
    """Drive the searches together: each round, one `trial(seeds, steps)` call for all of them."""
    results: list[tuple[float, float, int] | None] = [None] * len(searches)
    pending: dict[int, float] = {}

    def advance(i: int, value: float | None) -> None:
        try:
            pending[i] = searches[i].send(value)  # type: ignore[union-attr]
        except StopIteration as done:
            results[i] = done.value

    for i, search in enumerate(searches):
        if search is not None:
            advance(i, None)
    while pending:
        seeds, steps = list(pending), list(pending.values())
        pending.clear()
        for i, value in zip(seeds, trial(seeds, steps), strict=True):
            advance(i, value)
    return results


def reset(state: dict, initial_step: float) -> None:
    state.update(s_hist=[], y_hist=[], t_qn=initial_step)
    state["n_resets"] += 1


def lbfgs_pack_step(w: Tensor, states: list[dict], losses: Callable[[Tensor], Tensor], opt) -> None:
    """One L-BFGS-GSS iteration of every row of w (in place), `LBFGSGSS.step` seed by seed."""
    t0 = float(opt.initial_step)
    wg = w.detach().requires_grad_()
    with torch.enable_grad():
        f = losses(wg)
        (grads,) = torch.autograd.grad(f.sum(), wg)
    f0s = f.detach().tolist()
    searches: list[Search | None] = []
    moves: list[tuple[Tensor, Tensor, str] | None] = []
    for i, state in enumerate(states):
        x, g = w[i].clone(), grads[i]
        state["n_iter"] += 1
        state.update(last_evals=0, last_step=0.0)
        if not (math.isfinite(f0s[i]) and bool(torch.isfinite(g).all())):
            reset(state, t0)
            state.update(prev_x=None, prev_g=None)
            searches.append(None)
            moves.append(None)
            continue
        if state["prev_x"] is not None:
            s, y = x - state["prev_x"], g - state["prev_g"]
            if bool(torch.dot(s, y) > CURVATURE_EPS * s.norm() * y.norm()):
                m = opt.history_size
                state["s_hist"] = (state["s_hist"] + [s])[-m:] if m else []
                state["y_hist"] = (state["y_hist"] + [y])[-m:] if m else []
            else:
                reset(state, t0)
        d = -two_loop_direction(g, state["s_hist"], state["y_hist"])
        if state["s_hist"] and not bool(torch.dot(g, d) < 0):
            reset(state, t0)
            d = -g
        key = "t_qn" if state["s_hist"] else "t_sd"
        searches.append(golden_section_steps(f0s[i], state[key], opt.max_evals))
        moves.append((x, d, key))

    @torch.no_grad()
    def trial(seeds: list[int], steps: list[float]) -> list[float]:
        points = [
            torch.add(moves[i][0], moves[i][1], alpha=u) for i, u in zip(seeds, steps, strict=True)
        ]
        return losses(torch.stack(points)).tolist()

    for i, result in enumerate(run_searches(searches, trial)):
        if result is None:
            continue
        (x, d, key), state = moves[i], states[i]
        u, _, evals = result
        state.update(last_evals=evals, last_step=u)
        if u > 0:
            w[i] = torch.add(x, d, alpha=u)
            state.update(prev_x=x, prev_g=grads[i].clone())
            state[key] = max(u, MIN_STEP)
            continue
        w[i] = x
        t = state[key]
        reset(state, t0)
        state.update(prev_x=None, prev_g=None)
        if key == "t_sd":
            state["t_sd"] = max(t / PHI ** (2 * evals), MIN_STEP)
