"""Nudged elastic band (Jonsson et al. 1998), as AutoNEB uses it on nets (Draxler et al. 2018).

A chain of K images w_0 = w_i, w_1..w_{K-2}, w_{K-1} = w_j (the ends fixed), initialised on the
straight line, equally spaced. Each image k moves along the NEB force
    F_k = -(g_k - (g_k . tau_k) tau_k) + spring (|w_{k+1} - w_k| - |w_k - w_{k-1}|) tau_k,
g_k = grad L(w_k): the true force perpendicular to the band plus the springs' force along
it, tau_k the unit tangent (w_{k+1} - w_{k-1}) / |w_{k+1} - w_{k-1}|; by SGD with momentum
on -F (the force is no gradient of one objective: Adam's per-coordinate scaling would distort
its projection).
The last iterate is kept. The ends' energies are computed once. `images_per_step`,
`points_per_step` (a random subset of the inner images gets the loss's force each step, scaled
by (K - 2) / points_per_step; all get the springs'), `tol`: as in finders/__init__.py.
With `n_images` null (default) the images ARE the common grid; with
another K the band is read off piecewise linearly at the grid.
"""

from __future__ import annotations

import torch
from torch import Tensor

from lossland.core.ranges import Below, Float, Int
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
from lossland.paths.finders.fourier import t_grid


def band_phi(t: Tensor, n_images: int) -> Tensor:
    """Piecewise-linear interpolation of K images at t, [M, K], for theta = (w_0, w_{K-1}, w_1,
    .., w_{K-2}): the identity (reordered) when t is the images' own grid."""
    u = t * (n_images - 1)
    u = torch.where((u - u.round()).abs() < 1e-5, u.round(), u)  # on an image: exactly it
    left = u.floor().clamp(max=n_images - 2).long()
    frac = u - left
    hat = torch.zeros(len(t), n_images, dtype=t.dtype, device=t.device)
    rows = torch.arange(len(t), device=t.device)
    hat[rows, left] = 1 - frac
    hat[rows, left + 1] += frac
    order = [0, n_images - 1, *range(1, n_images - 1)]
    return hat[:, order]


class NudgedElasticBand(Finder):
    SETTINGS = (
        TRAINED
        | {"momentum": Below(0, 1), "spring": Float(0, strict=False), "n_images": Int(3, null=True)}
        | MODE
        | {"points_per_step": Int(2, null=True)}
    )

    def __init__(
        self,
        lr: float = 0.1,
        momentum: float = 0.9,
        steps: int = 100,
        spring: float = 1.0,
        n_images: int | None = None,
        images_per_step: int | None = None,
        points_per_step: int | None = None,
        tol: float | None = None,
        window: int = WINDOW,
        eval_every: int = EVAL_EVERY,
    ):
        self.lr, self.momentum, self.steps = lr, momentum, steps
        self.spring, self.n_images = spring, n_images
        self.images_per_step, self.points_per_step = images_per_step, points_per_step
        self.tol, self.window, self.eval_every = tol, window, eval_every

    def find(
        self, loss: BasisLoss, w_i: Tensor, w_j: Tensor, t: Tensor, seed: int = 0
    ) -> list[PathResult]:
        n_images = self.n_images or len(t)
        s = t_grid(n_images, w_i.dtype, w_i.device)
        ends = torch.stack([w_i, w_j], 1)
        inner = torch.lerp(w_i[:, None], w_j[:, None], s[1:-1, None]).requires_grad_(True)
        own = band_phi(s, n_images)  # the images themselves, in band order
        sgd = torch.optim.SGD([inner], lr=self.lr, momentum=self.momentum)
        with torch.no_grad():  # once: the ends never move
            end_energy = loss(own[[0, -1]], torch.cat([ends, inner], 1), n_fixed=2).sum(1)
        images = ImageDraws(loss, self.images_per_step, seed)
        n_inner = n_images - 2
        per_step = min(self.points_per_step or n_inner, n_inner)
        bands = torch.Generator().manual_seed(seed + 1)
        stochastic = not images.all or per_step < n_inner
        stop = Stopping(self.tol, self.window, len(w_i))
        tracked = self.tol is not None or stochastic  # full-landscape evaluations
        history, done = [], 0
        for k in range(self.steps):
            if tracked and k % self.eval_every == 0:
                with torch.no_grad():
                    energy = loss(own[1:-1], torch.cat([ends, inner], 1), n_fixed=2)
                stop.record(k, energy.sum(1) + end_energy)
                if stop.done:
                    break
            rows = torch.arange(n_inner)
            if per_step < n_inner:
                rows = torch.randperm(n_inner, generator=bands)[:per_step].sort().values
            energy = images.next()(own[rows + 1], torch.cat([ends, inner], 1), n_fixed=2)
            (grad,) = torch.autograd.grad(energy.sum(), inner)  # 0 at the images not drawn
            with torch.no_grad():
                grad *= n_inner / per_step  # its expectation: the full gradient
                band = torch.cat([w_i[:, None], inner, w_j[:, None]], 1)  # [P, K, N] in order
                tau = band[:, 2:] - band[:, :-2]
                tau = tau / tau.norm(dim=-1, keepdim=True).clamp_min(1e-30)
                ahead = (band[:, 2:] - band[:, 1:-1]).norm(dim=-1, keepdim=True)
                behind = (band[:, 1:-1] - band[:, :-2]).norm(dim=-1, keepdim=True)
                perp = grad - (grad * tau).sum(-1, keepdim=True) * tau
                inner.grad = perp - self.spring * (ahead - behind) * tau  # -F
            sgd.step()
            history.append(energy.detach().sum(1) + end_energy)
            done = k + 1
        theta, phi = torch.cat([ends, inner.detach()], 1), band_phi(t, n_images)
        with torch.no_grad():
            profile = loss(phi, theta, n_fixed=2)
            energy = loss(own[1:-1], theta, n_fixed=2).sum(1) + end_energy
        if tracked and stop.steps[-1] != done:
            stop.record(done, energy)
        rows = torch.stack(history, 1).tolist() if history else [[] for _ in range(len(w_i))]
        return path_results(
            t,
            phi,
            theta,
            profile,
            straight_profiles(loss, w_i, w_j, t),
            objective=energy,
            best_step=done,
            steps=done,
            history=stop.history() if tracked else rows,
            history_steps=stop.steps if tracked else None,
            converged=stop.converged,
        )
