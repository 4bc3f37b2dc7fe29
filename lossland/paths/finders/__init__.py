"""Path finders: each is a class that Hydra builds from conf/finder/<name>.yaml (`_target_`).

A finder maps P pairs of endpoints (w_i, w_j [P, N]) and a loss to one `PathResult` each. Every
finder's path is linear in its parameters, w(t) = sum_j phi_j(t) theta_j with theta = (w_i,
w_j, its own parameters), so its points on the common grid t_m (M = finder.n_points equally
spaced values in [0, 1], the paper's M = 50) are phi theta, scored by one `BasisLoss` call.
Every finder reports the profile on that grid, height = max of the profile, length = sum_m
|w(t_{m+1}) - w(t_m)|: finders are comparable. Entries: fourier
(`lossland.paths.finders.fourier`, the paper's), linear, bezier, neb (modules here). A new
finder is a yaml file plus a class with `find` and its `SETTINGS`; tests/test_finders.py tests
every yaml it finds.

Every trained finder takes the same mode settings (docs/paths.md#modes): `images_per_step`
(each step's loss and gradient on a fresh random subset of the landscape's images, null = all:
the paper's full batch), `tol` / `window` / `eval_every` (stop once the full-landscape
objective's best value fell by less than `tol`, relative, over the last `window` steps; null =
always `steps`, the paper's). Its draws come from its own generator, seeded by the path job from
the record's identity (`seed` of `find`), so a rerun is identical. Whatever the mode, the
profile, the height and the kept iterate come from the full landscape.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor

from lossland.core import registry
from lossland.core.errors import LosslandError
from lossland.core.ranges import Float, Int, Spec
from lossland.nets.batched import BatchedLoss
from lossland.paths.basis_loss import BasisLoss

EVAL_EVERY = 10  # full-landscape evaluations of a stochastic or stopping run, in steps
WINDOW = 100  # the stopping rule's window, in steps
# The mode's settings (docs/paths.md#modes), the same for every trained finder that takes them.
MODE: dict[str, Spec] = {
    "images_per_step": Int(1, null=True),
    "tol": Float(0, null=True),
    "window": Int(1),
    "eval_every": Int(1),
}
TRAINED: dict[str, Spec] = {"steps": Int(1), "lr": Float(0)}  # a preset sizes every finder so


@dataclass
class PathResult:
    """One path; tensors are detached, on the endpoints' device."""

    theta: Tensor  # [J, N]: the finder's parameters at its result, the endpoints first
    phi: Tensor  # [M, J]: w(t_m) = sum_j phi[m, j] theta_j on the common grid
    t: Tensor  # [M], the common grid
    profile: Tensor  # loss(w(t_m)) [M]
    height: float  # max of `profile` (paper Eq. 5)
    straight_profile: Tensor  # [M] along the straight line
    straight_height: float
    length: float  # sum_m |w(t_{m+1}) - w(t_m)|
    objective: float | None  # the finder's own objective at its result (None: not optimised)
    best_step: int  # updates before the kept iterate
    steps: int  # updates made
    history: list[float]  # the objective along the way
    history_steps: list[int] | None = None  # the steps of `history` (None: every step from 0)
    converged: bool = False  # the stopping rule held (False when it is off: tol null)

    def points(self) -> Tensor:
        """The path's points w(t_m) on the common grid, [M, N]."""
        return self.phi @ self.theta


class Finder:
    """Base: `find(loss, w_i, w_j, t)` joins P pairs; `__call__` checks and normalises.

    `SETTINGS`: the range of every argument of the class (its yaml entry's keys);
    `JOB_SETTINGS`: cfg.finder's keys the path job reads itself (the common grid, batching,
    memory) and the shared ones a preset gives every finder (identity.SHARED_KEYS: ignored by a
    finder that does not take them, e.g. the straight line's steps). lossland.launch.checks
    applies both before anything runs; lossland.core.registry.build refuses any other key."""

    SETTINGS: ClassVar[dict[str, Spec]] = {}
    JOB_SETTINGS: ClassVar[dict[str, Spec]] = {
        "n_points": Int(2),
        "pairs_per_batch": Int(1, null=True),
        "point_chunk": Int(1, null=True),
        "image_chunk": Int(1, null=True),
        **TRAINED,
        **MODE,
    }

    def __call__(
        self, loss: BasisLoss | BatchedLoss, w_i: Tensor, w_j: Tensor, t: Tensor, seed: int = 0
    ) -> list[PathResult]:
        if w_i.shape != w_j.shape or w_i.ndim != 2:
            raise LosslandError(
                f"endpoints must both be [P, N], got {list(w_i.shape)}, {list(w_j.shape)}"
            )
        if not isinstance(loss, BasisLoss):
            loss = BasisLoss.of_points(loss)
        return self.find(loss, w_i, w_j, t, seed)

    def find(
        self, loss: BasisLoss, w_i: Tensor, w_j: Tensor, t: Tensor, seed: int = 0
    ) -> list[PathResult]:
        """`seed`: of the finder's own draws (images per step), from the record's identity."""
        raise NotImplementedError


class ImageDraws:
    """Each step's images: all (`per_step` null or >= the landscape's size: the loss itself,
    the paper's full batch) or a fresh uniform subset without replacement, whose mean loss and
    gradient are unbiased estimates of the full ones; from a generator of its own."""

    def __init__(self, loss: BasisLoss, per_step: int | None, seed: int) -> None:
        n = loss.n_images
        self.loss, self.all = loss, per_step is None or (n is not None and per_step >= n)
        if not self.all:
            loss.on_images(torch.zeros(0, dtype=torch.long))  # not a net's landscape: one line
        self.per_step, self.generator = per_step, torch.Generator().manual_seed(seed)

    def next(self) -> BasisLoss:
        if self.all:
            return self.loss
        index = torch.randperm(int(self.loss.n_images), generator=self.generator)
        return self.loss.on_images(index[: self.per_step].sort().values)


class Stopping:
    """The full-landscape objective's record, best value and stopping rule of P paths.

    `record(k, objective)` at each full evaluation (step k); a path converges once its best
    value fell by less than `tol` (relative) since the best of `window` steps earlier;
    `done` once every path has. tol None: never (the paper's fixed number of steps).
    """

    def __init__(self, tol: float | None, window: int, n_paths: int) -> None:
        self.tol, self.window = tol, window
        self.steps: list[int] = []
        self.values: list[Tensor] = []
        self.best: list[Tensor] = []  # best so far, after each evaluation
        self.converged = torch.zeros(n_paths, dtype=torch.bool)

    def record(self, k: int, objective: Tensor) -> None:
        objective = objective.detach().cpu()
        best = objective if not self.best else torch.minimum(self.best[-1], objective)
        self.steps.append(k)
        self.values.append(objective)
        self.best.append(best)
        if self.tol is None or k < self.window:
            return
        before = max(n for n, s in enumerate(self.steps) if s <= k - self.window)
        old = self.best[before]
        drop = (old - best) / old.abs().clamp_min(1e-30)
        self.converged |= drop < self.tol

    @property
    def done(self) -> bool:
        return bool(self.converged.all())

    def history(self) -> list[list[float]]:
        """Each path's objective at the evaluations, [P][n_evaluations]."""
        return torch.stack(self.values, 1).tolist()


def build_finder(settings: Mapping[str, Any]) -> tuple[str, Finder]:
    """(name, finder) from cfg.finder by the one registry builder (lossland.core.registry): its
    class from `_target_`, its own settings as arguments; a key that neither the class nor the
    path job takes is one clear error."""
    return str(settings.get("name")), registry.build("finder", settings)


def line_phi(t: Tensor) -> Tensor:
    """The straight line's basis, [M, 2]: 1 - t, t (theta = w_i, w_j)."""
    return torch.stack([1 - t, t], 1)


def step_lengths_sq(phi: Tensor, theta: Tensor) -> Tensor:
    """|w(t_{m+1}) - w(t_m)|^2, [P, M - 1], of the paths phi theta (phi [M, J], theta [P, J, N])."""
    return torch.einsum("mj,pjn->pmn", phi[1:] - phi[:-1], theta).pow(2).sum(-1)


@torch.no_grad()
def straight_profiles(loss: BasisLoss, w_i: Tensor, w_j: Tensor, t: Tensor) -> Tensor:
    """The loss along the straight lines w_i[p] -> w_j[p] on the grid t, [P, M]."""
    return loss(line_phi(t), torch.stack([w_i, w_j], 1), n_fixed=2)


def path_results(
    t: Tensor,
    phi: Tensor,
    theta: Tensor,
    profile: Tensor,
    straight: Tensor,
    *,
    objective: Tensor | None,
    best_step: Tensor | int,
    steps: int,
    history: list[list[float]],
    history_steps: list[int] | None = None,
    converged: Tensor | None = None,
) -> list[PathResult]:
    """One PathResult per path from [P, ...] tensors; the length is measured on the grid."""
    with torch.no_grad():
        lengths = step_lengths_sq(phi, theta).sqrt().sum(1).tolist()
    best = best_step if isinstance(best_step, Tensor) else torch.full((len(theta),), best_step)
    return [
        PathResult(
            theta=theta[p].detach(),
            phi=phi,
            t=t,
            profile=profile[p].detach(),
            height=float(profile[p].max()),
            straight_profile=straight[p].detach(),
            straight_height=float(straight[p].max()),
            length=lengths[p],
            objective=None if objective is None else float(objective[p]),
            best_step=int(best[p]),
            steps=steps,
            history=history[p],
            history_steps=history_steps,
            converged=bool(converged[p]) if converged is not None else False,
        )
        for p in range(len(theta))
    ]
