"""L-BFGS-GSS for a pack of seeds: every seed its own iteration, all loss calls batched.

Each seed keeps exactly the state `lbfgs_gss.LBFGSGSS` keeps (the same dict: history, previous
point and gradient, trial steps, counters and diagnostics) and runs the very iteration a seed
alone runs (`lbfgs_gss.iteration`, either line search): what is shared is only the arithmetic.
One batched gradient call for all seeds, then the seeds' iterations run side by side, each a
generator that yields its next trial point; the trial points of all seeds still searching go
through one batched loss call, and a seed whose search has ended is left out of the next calls.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

import torch
from torch import Tensor

from lossland.train.lbfgs_gss import iteration


def run_searches(
    searches: list[Generator[Any, float, Any] | None],
    trial: Callable[[list[int], list[Any]], list[float]],
) -> list[Any]:
    """Drive the searches together: each round, one `trial(seeds, steps)` call for all of them
    (a search yields a step or point, is sent the loss there, and returns its result)."""
    results: list[Any] = [None] * len(searches)
    pending: dict[int, Any] = {}

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


def lbfgs_pack_step(w: Tensor, states: list[dict], losses: Callable[[Tensor], Tensor], opt) -> None:
    """One L-BFGS-GSS iteration of every row of w (in place), `LBFGSGSS.step` seed by seed."""
    group = {
        "history_size": int(opt.history_size),
        "max_evals": int(opt.max_evals),
        "initial_step": float(opt.initial_step),
        "line_search": str(opt.get("line_search", "spec")),
    }
    wg = w.detach().requires_grad_()
    with torch.enable_grad():
        f = losses(wg)
        (grads,) = torch.autograd.grad(f.sum(), wg)
    f0s = f.detach().tolist()
    iterations = [
        iteration(state, group, w[i].clone(), grads[i].clone(), f0s[i])
        for i, state in enumerate(states)
    ]

    @torch.no_grad()
    def trial(seeds: list[int], points: list[Tensor]) -> list[float]:
        return losses(torch.stack(points)).tolist()

    for i, (x, _) in enumerate(run_searches(iterations, trial)):
        w[i] = x
