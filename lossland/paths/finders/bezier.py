"""Quadratic Bezier curve with one trainable bend (Garipov et al. 2018, mode connectivity).

w(t) = (1 - t)^2 w_i + 2 t (1 - t) theta + t^2 w_j, theta initialised at the midpoint (so the
curve starts as the straight line). Each Adam step draws `samples` values t ~ U(0, 1), shared
by all pairs (so P pairs together equal each alone) and drawn from `seed`, and lowers the mean
loss at them: a stochastic estimate of the mean loss along the curve, Garipov's objective (they
draw one t per mini-batch; with the full-batch loss here, a few t per step lower the variance).
The last iterate is kept. `images_per_step` / `tol` (finders/__init__.py): each step on random
images; the full-landscape mean on the grid every `eval_every` steps, for the stopping rule.
"""

from __future__ import annotations

import torch
from torch import Tensor

from lossland.core.ranges import Int
from lossland.paths.basis_loss import BasisLoss
from lossland.paths.finders import (
    EVAL_EVERY,
    MODE,
    TRAINED,
    WINDOW,
    Finder,
    ImageDraws,
    PathResult,
    Stopping,
    path_results,
    straight_profiles,
)


def bezier_phi(t: Tensor) -> Tensor:
    """The basis [M, 3] for theta = (w_i, w_j, bend): (1 - t)^2, t^2, 2 t (1 - t)."""
    return torch.stack([(1 - t) ** 2, t**2, 2 * t * (1 - t)], 1)


class QuadraticBezier(Finder):
    SETTINGS = TRAINED | {"samples": Int(1), "seed": Int(0)} | MODE

    def __init__(
        self,
        lr: float = 1e-3,
        steps: int = 100,
        samples: int = 10,
        seed: int = 0,
        images_per_step: int | None = None,
        tol: float | None = None,
        window: int = WINDOW,
        eval_every: int = EVAL_EVERY,
    ):
        self.lr, self.steps, self.samples, self.seed = lr, steps, samples, seed
        self.images_per_step, self.tol = images_per_step, tol
        self.window, self.eval_every = window, eval_every

    def find(
        self, loss: BasisLoss, w_i: Tensor, w_j: Tensor, t: Tensor, seed: int = 0
    ) -> list[PathResult]:
        """`seed`: of the image draws (the t draws come from the setting `seed`)."""
        ends = torch.stack([w_i, w_j], 1)
        bend = (0.5 * (w_i + w_j))[:, None].clone().requires_grad_(True)  # [P, 1, N]
        adam = torch.optim.Adam([bend], lr=self.lr)
        draws = torch.rand(
            self.steps, self.samples, generator=torch.Generator().manual_seed(self.seed)
        ).to(w_i)
        images = ImageDraws(loss, self.images_per_step, seed)
        phi = bezier_phi(t)
        stop = Stopping(self.tol, self.window, len(w_i))
        tracked = self.tol is not None or not images.all  # full-landscape evaluations
        history, done = [], 0
        for k, t_k in enumerate(draws):
            if tracked and k % self.eval_every == 0:
                with torch.no_grad():
                    stop.record(k, loss(phi, torch.cat([ends, bend], 1), n_fixed=2).mean(1))
                if stop.done:
                    break
            theta = torch.cat([ends, bend], 1)
            mean = images.next()(bezier_phi(t_k), theta, n_fixed=2).mean(1)
            adam.zero_grad()
            mean.sum().backward()
            adam.step()
            history.append(mean.detach())
            done = k + 1
        theta = torch.cat([ends, bend.detach()], 1)
        with torch.no_grad():
            profile = loss(phi, theta, n_fixed=2)
        if tracked and stop.steps[-1] != done:
            stop.record(done, profile.mean(1))
        rows = torch.stack(history, 1).tolist() if history else [[] for _ in range(len(w_i))]
        return path_results(
            t,
            phi,
            theta,
            profile,
            straight_profiles(loss, w_i, w_j, t),
            objective=profile.mean(1),
            best_step=done,
            steps=done,
            history=stop.history() if tracked else rows,
            history_steps=stop.steps if tracked else None,
            converged=stop.converged,
        )
