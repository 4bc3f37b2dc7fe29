"""Quadratic Bezier curve with one trainable bend (Garipov et al. 2018, mode connectivity).

w(t) = (1 - t)^2 w_i + 2 t (1 - t) theta + t^2 w_j, theta initialised at the midpoint (so the
curve starts as the straight line). Each Adam step draws `samples` values t ~ U(0, 1), shared
by all pairs (so P pairs together equal each alone) and drawn from `seed`, and lowers the mean
loss at them: a stochastic estimate of the mean loss along the curve, Garipov's objective (they
draw one t per mini-batch; with the full-batch loss here, a few t per step lower the variance).
The last iterate is kept.
"""

from __future__ import annotations

import torch
from torch import Tensor

from lossland.basis_loss import BasisLoss
from lossland.finders import Finder, PathResult, path_results, straight_profiles


def bezier_phi(t: Tensor) -> Tensor:
    """The basis [M, 3] for theta = (w_i, w_j, bend): (1 - t)^2, t^2, 2 t (1 - t)."""
    return torch.stack([(1 - t) ** 2, t**2, 2 * t * (1 - t)], 1)


class QuadraticBezier(Finder):
    def __init__(self, lr: float = 1e-3, steps: int = 100, samples: int = 10, seed: int = 0):
        self.lr, self.steps, self.samples, self.seed = lr, steps, samples, seed

    def find(self, loss: BasisLoss, w_i: Tensor, w_j: Tensor, t: Tensor) -> list[PathResult]:
        ends = torch.stack([w_i, w_j], 1)
        bend = (0.5 * (w_i + w_j))[:, None].clone().requires_grad_(True)  # [P, 1, N]
        adam = torch.optim.Adam([bend], lr=self.lr)
        draws = torch.rand(
            self.steps, self.samples, generator=torch.Generator().manual_seed(self.seed)
        ).to(w_i)
        history = []
        for t_k in draws:
            mean = loss(bezier_phi(t_k), torch.cat([ends, bend], 1), n_fixed=2).mean(1)
            adam.zero_grad()
            mean.sum().backward()
            adam.step()
            history.append(mean.detach())
        theta, phi = torch.cat([ends, bend.detach()], 1), bezier_phi(t)
        with torch.no_grad():
            profile = loss(phi, theta, n_fixed=2)
        rows = torch.stack(history, 1).tolist() if history else [[] for _ in range(len(w_i))]
        return path_results(
            t,
            phi,
            theta,
            profile,
            straight_profiles(loss, w_i, w_j, t),
            objective=profile.mean(1),
            best_step=self.steps,
            steps=self.steps,
            history=rows,
        )
