"""Align one solution to another modulo hidden-unit permutations (lossland.nets.symmetry).

Weight matching (Ainsworth et al. 2023, "Git Re-Basin", Algorithm 1): maximise <w_a, P(w_b)>
over the permutations P of the arch's groups, i.e. minimise |w_a - P(w_b)| (P keeps the norm).
Coordinate descent: for one group at a time, with the others held, the objective is linear in
that group's permutation, a linear assignment (scipy.optimize.linear_sum_assignment); the groups
are visited in an order drawn from `seed` each sweep, and the descent stops after a sweep that
improves nothing (or at `max_iter` sweeps). Deterministic: same inputs, seed, same answer.
Costs are summed in float64 whatever the weights' dtype.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor

from lossland.core.errors import LosslandError
from lossland.nets.symmetry import Permutation, Symmetry, permutation_hash
from lossland.nets.symmetry import of as symmetry_of

METHODS = ("none", "weight")  # `align=` choices; none: the endpoints as they are
MAX_ITER = 100
IMPROVES = 1e-12  # relative gain that counts as progress (float64 rounding is ~1e-16)


@dataclass
class Match:
    """b aligned to a: the permutation, how many sweeps it took, the distances."""

    perm: Permutation
    aligned: Tensor  # P(w_b), in w_b's dtype and device
    iterations: int
    distance_before: float  # |w_a - w_b|
    distance_after: float  # |w_a - P(w_b)|

    def info(self, method: str) -> dict[str, Any]:
        """What a record says about its alignment."""
        return {
            "method": method,
            "permutation_hash": permutation_hash(self.perm),
            "iterations": self.iterations,
            "distance_before": self.distance_before,
            "distance_after": self.distance_after,
        }


def weight_matching(
    sym: Symmetry, wa: Tensor, wb: Tensor, seed: int = 0, max_iter: int = MAX_ITER
) -> Match:
    """Permute w_b's units to bring it closest to w_a (both [N_prm])."""
    a, b = wa.detach().double().cpu(), wb.detach().double().cpu()
    perm = sym.identity()
    rng = np.random.default_rng(seed)
    iterations = 0
    for iterations in range(1, max_iter + 1):  # noqa: B007 - the count is reported
        progress = False
        for k in rng.permutation(len(sym.groups)):
            group = sym.groups[k]
            others = sym.permute(b, perm | {group.name: torch.arange(group.size)})
            gain = torch.zeros(group.size, group.size, dtype=torch.float64)
            for ax in group.axes:
                ua = ax.units(sym.param(a, ax.param), group.size)
                ub = ax.units(sym.param(others, ax.param), group.size)
                gain += ua @ ub.T  # gain[k, l]: unit k of a against unit l of b
            g = gain.numpy()
            _, cols = linear_sum_assignment(g, maximize=True)
            old = g[np.arange(group.size), perm[group.name].numpy()].sum()
            new = g[np.arange(group.size), cols].sum()
            if new > old + IMPROVES * max(1.0, abs(old)):
                perm[group.name] = torch.from_numpy(cols).long()
                progress = True
        if not progress:
            break
    aligned = sym.permute(wb.detach(), perm)
    return Match(
        perm=perm,
        aligned=aligned,
        iterations=iterations,
        distance_before=float(torch.linalg.vector_norm(a - b)),
        distance_after=float(torch.linalg.vector_norm(a - sym.permute(b, perm))),
    )


MATCHERS = {"weight": weight_matching}


def check_method(method: str) -> None:
    if method not in METHODS:
        raise LosslandError(f"align={method}: choose one of {', '.join(METHODS)}")


def check_setting(arch: str, method: str) -> None:
    """`align=` is a method, and the arch declares a symmetry to align by (one line)."""
    check_method(method)
    if method != "none":
        symmetry_of(arch)


def align(arch: str, method: str, wa: Tensor, wb: Tensor, seed: int = 0) -> Match:
    """w_b aligned to w_a by `method` (one of MATCHERS)."""
    check_method(method)
    if method == "none":
        raise LosslandError("align=none aligns nothing: choose align=weight")
    return MATCHERS[method](symmetry_of(arch), wa, wb, seed)


def align_pairs(
    arch: str, method: str, wa: Tensor, wb: Tensor
) -> tuple[Tensor, list[dict[str, Any] | None]]:
    """The second endpoints [B, N_prm] aligned each to its first, and what each record says
    about it; align=none returns them as they are (and None for each)."""
    check_method(method)
    if method == "none":
        return wb, [None] * len(wb)
    matches = [align(arch, method, a, b) for a, b in zip(wa, wb, strict=True)]
    return torch.stack([m.aligned for m in matches]), [m.info(method) for m in matches]
