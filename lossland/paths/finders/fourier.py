"""FourierPathFinder (paper Algorithm 2, docs/decisions.md#paths): low-loss paths between points.

w(t) = (1 - t) w_i + t w_j + sum_n b_n sin(n pi t) is evaluated at M equally spaced t_m in
[0, 1]; Adam minimises L = sum_m loss(w(t_m)) + lambda sum_m |w(t_{m+1}) - w(t_m)|^2 over b
(init 0) and keeps the iterate with the lowest L. A path is a linear combination of basis
vectors, w(t_m) = sum_j phi[m, j] theta_j with theta = (w_i, w_j, b_1..b_NF): the loss is a
`basis_loss.BasisLoss` of (phi, theta) (the nets' losses, fcp and ae with their first layer
once per basis vector) or ANY differentiable function of a stack of flat vectors, W [B, N] ->
[B] (such as the toy landscape); all M points of P paths are evaluated together and autograd
gives dL/db.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
from torch import Tensor

from lossland.core.errors import LosslandError
from lossland.core.ranges import Float, Int
from lossland.nets.batched import BatchedLoss
from lossland.nets.modules import build_model, loss_from_outputs, set_flat
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
    line_phi,
    path_results,
    step_lengths_sq,
)

N_FOURIER = 10  # N_F (paper II.3)
N_POINTS = 50  # M: points along t, both ends included
LAM = 1e-4  # lambda of Eq. 4, NN landscapes
LR = 1e-3  # Adam
STEPS = 100


def t_grid(n_points: int, dtype: torch.dtype = torch.float32, device=None) -> Tensor:
    if n_points < 2:
        raise LosslandError(f"a path needs at least 2 points, got M = {n_points}")
    return torch.linspace(0.0, 1.0, n_points, dtype=dtype, device=device)


def fourier_basis(t: Tensor, n_fourier: int) -> Tensor:
    """sin(n pi t_m) as [M, N_F]; exactly 0 at t = 0 and 1, so the endpoints never move."""
    n = torch.arange(1, n_fourier + 1, dtype=t.dtype, device=t.device)
    basis = torch.sin(torch.pi * t[:, None] * n)
    basis[(t == 0) | (t == 1)] = 0.0
    return basis


def fourier_phi(t: Tensor, n_fourier: int) -> Tensor:
    """The Fourier path's basis, [M, 2 + N_F]: 1 - t, t, sin(n pi t), for theta = (w_i, w_j, b)."""
    return torch.cat([(1 - t)[:, None], t[:, None], fourier_basis(t, n_fourier)], 1)


def path_objective(
    loss: BasisLoss, phi: Tensor, theta: Tensor, lam: float
) -> tuple[Tensor, Tensor]:
    """Eq. 4 of P paths, L = sum_m loss(w(t_m)) + lambda sum_m |w(t_{m+1}) - w(t_m)|^2, [P],
    and the profile [P, M]; differentiable w.r.t. theta[:, 2:] (theta[:, :2] are the ends)."""
    profile = loss(phi, theta, n_fixed=2)
    return profile.sum(1) + lam * step_lengths_sq(phi, theta).sum(1), profile


def find_paths(
    loss: BasisLoss | BatchedLoss,
    w_i: Tensor,
    w_j: Tensor,
    *,
    n_fourier: int = N_FOURIER,
    n_points: int = N_POINTS,
    lam: float = LAM,
    lr: float = LR,
    steps: int = STEPS,
    images_per_step: int | None = None,
    points_per_step: int | None = None,
    tol: float | None = None,
    window: int = WINDOW,
    eval_every: int = EVAL_EVERY,
    seed: int = 0,
    chunk: int | None = None,
    callback: Callable[[int, Tensor], None] | None = None,
    progress: bool = False,
) -> list[PathResult]:
    """Optimise P independent paths w_i[p] -> w_j[p] (endpoints [P, N]) in one batched loop.

    `loss` is a `BasisLoss` (`basis_loss.basis_loss_fn`: fcp and ae evaluate their first layer
    once per basis vector) or any W [B, N] -> [B] function, whose points are evaluated `chunk`
    rows at a time. The endpoints' losses are computed once (they never move), each step
    evaluates the M - 2 inner points of the P paths. Adam is elementwise, so P paths together
    match P runs alone (with a stopping rule, they stop when the last one has converged).

    Full batch (images_per_step and points_per_step null, the paper's Algorithm 2): every step
    is a full-landscape evaluation. Stochastic: each step's gradient comes from
    `images_per_step` random images and/or `points_per_step` random inner points (weighted by
    (M - 2) / points_per_step, so the expected gradient is the full one), drawn from a
    generator seeded by `seed`; the full objective is evaluated every `eval_every` steps and at
    the end, and only those iterates can be kept. `tol`: stop once every path's best full
    objective fell by less than tol (relative) over `window` steps (null: `steps` steps).
    `callback(step, L)` sees each full evaluation; `progress` shows a tqdm bar.
    """
    if w_i.shape != w_j.shape or w_i.ndim != 2:
        raise LosslandError(
            f"endpoints must both be [P, N], got {list(w_i.shape)}, {list(w_j.shape)}"
        )
    if not isinstance(loss, BasisLoss):
        loss = BasisLoss.of_points(loss, chunk)
    n_pairs, n_prm = w_i.shape
    t = t_grid(n_points, w_i.dtype, w_i.device)
    phi = fourier_phi(t, n_fourier)
    ends = torch.stack([w_i, w_j], 1)
    with torch.no_grad():  # once per path: the endpoints never move
        end_losses = loss(line_phi(t[[0, -1]]), ends, n_fixed=2)  # [P, 2]
    images = ImageDraws(loss, images_per_step, seed)
    inner = n_points - 2
    per_step = min(points_per_step or inner, inner)
    points = torch.Generator().manual_seed(seed + 1)
    stochastic = not images.all or per_step < inner
    b = torch.zeros(n_pairs, n_fourier, n_prm, dtype=w_i.dtype, device=w_i.device)
    b.requires_grad_(True)
    adam = torch.optim.Adam([b], lr=lr)
    stop = Stopping(tol, window, n_pairs)
    best: tuple[Tensor, ...] = ()
    straight = end_losses  # replaced at step 0 (b = 0: the straight line)
    for k in _steps(steps, progress):
        last = k == steps
        if not stochastic or last or k % eval_every == 0:  # a full-landscape evaluation
            grad = not stochastic and not last  # full batch: its gradient is the step's
            with torch.set_grad_enabled(grad):
                theta = torch.cat([ends, b], 1)
                objective, profile = full_objective(loss, phi, theta, lam, end_losses)
                if grad:
                    adam.zero_grad()
                    objective.sum().backward()
            profile, objective = profile.detach(), objective.detach()
            if k == 0:
                straight = profile
                best = (objective, b.detach().clone(), profile, objective.new_zeros(()))
            better = objective < best[0]
            best = (
                torch.where(better, objective, best[0]),
                torch.where(better[:, None, None], b.detach(), best[1]),
                torch.where(better[:, None], profile, best[2]),
                torch.where(better, k, best[3]),
            )
            stop.record(k, objective)
            if callback is not None:
                callback(k, objective)
            if stop.done:
                break
        if last:
            break
        if stochastic:
            rows = None
            if per_step < inner:
                rows = torch.randperm(inner, generator=points)[:per_step] + 1
            adam.zero_grad()
            theta = torch.cat([ends, b], 1)
            sampled_objective(images.next(), phi, theta, lam, rows).sum().backward()
        adam.step()
    best_obj, best_b, best_profile, best_step = best
    return path_results(
        t,
        phi,
        torch.cat([ends, best_b], 1),
        best_profile,
        straight,
        objective=best_obj,
        best_step=best_step,
        steps=k,
        history=stop.history(),
        history_steps=stop.steps,
        converged=stop.converged,
    )


def full_objective(
    loss: BasisLoss, phi: Tensor, theta: Tensor, lam: float, end_losses: Tensor
) -> tuple[Tensor, Tensor]:
    """Eq. 4 of P paths and their profiles [P, M], the inner points evaluated, the endpoints'
    losses `end_losses` [P, 2] given (they never move): `path_objective` without its endpoints'
    two evaluations per step."""
    inner = loss(phi[1:-1], theta, n_fixed=2)
    profile = torch.cat([end_losses[:, :1], inner, end_losses[:, 1:]], 1)
    return profile.sum(1) + lam * step_lengths_sq(phi, theta).sum(1), profile


def sampled_objective(
    loss: BasisLoss, phi: Tensor, theta: Tensor, lam: float, rows: Tensor | None
) -> Tensor:
    """Eq. 4 of P paths less the endpoints' constant losses, [P], its loss term from the grid
    rows `rows` of the inner points only, weighted (M - 2) / len(rows): over a uniform draw of
    rows, its expected gradient is the full one (None: every inner point, exact)."""
    if rows is None:
        term = loss(phi[1:-1], theta, n_fixed=2).sum(1)
    else:
        term = loss(phi[rows], theta, n_fixed=2).sum(1) * ((len(phi) - 2) / len(rows))
    return term + lam * step_lengths_sq(phi, theta).sum(1)


def find_path(loss: BasisLoss | BatchedLoss, w_i: Tensor, w_j: Tensor, **kwargs) -> PathResult:
    """One path w_i -> w_j (each [N]); keyword arguments as in `find_paths`."""
    return find_paths(loss, w_i[None], w_j[None], **kwargs)[0]


class FourierPathFinder(Finder):
    """The `fourier` entry of the finder registry (conf/finder/fourier.yaml): `find_paths`."""

    SETTINGS = (
        TRAINED
        | {"n_fourier": Int(1), "lam": Float(0, strict=False)}
        | MODE
        | {"points_per_step": Int(2, null=True)}
    )

    def __init__(
        self,
        n_fourier: int = N_FOURIER,
        lam: float = LAM,
        lr: float = LR,
        steps: int = STEPS,
        images_per_step: int | None = None,
        points_per_step: int | None = None,
        tol: float | None = None,
        window: int = WINDOW,
        eval_every: int = EVAL_EVERY,
    ) -> None:
        self.settings = dict(
            n_fourier=n_fourier,
            lam=lam,
            lr=lr,
            steps=steps,
            images_per_step=images_per_step,
            points_per_step=points_per_step,
            tol=tol,
            window=window,
            eval_every=eval_every,
        )

    def find(
        self, loss: BasisLoss, w_i: Tensor, w_j: Tensor, t: Tensor, seed: int = 0
    ) -> list[PathResult]:
        return find_paths(loss, w_i, w_j, n_points=len(t), seed=seed, **self.settings)


def _steps(steps: int, progress: bool) -> Iterator[int]:
    if not progress:
        return iter(range(steps + 1))
    from tqdm import tqdm

    return iter(tqdm(range(steps + 1), desc="path", unit="step"))


def loop_objective(
    arch: str,
    act: str,
    x: Tensor,
    y: Tensor,
    w_i: Tensor,
    w_j: Tensor,
    b: Tensor,
    t: Tensor,
    lam: float = LAM,
) -> tuple[Tensor, Tensor, Tensor]:
    """The paper's per-point Algorithm 2 for one path: the reference for the batched finder.

    One plain nn.Module forward/backward per point gives g_m, then the paper's formula
    dL/db_n = sum_m g_m sin(n pi t_m) + 2 lambda sum_m [w(t_{m+1}) - w(t_m)][sin(n pi t_{m+1})
    - sin(n pi t_m)]. Takes b [N_F, N] and t [M]; returns (L, dL/db [N_F, N], losses [M]).
    """
    with torch.random.fork_rng(devices=[]):  # building the module must not move the caller's RNG
        model = build_model(arch, act).to(x.device)
    basis = fourier_basis(t, len(b))
    points = (1 - t)[:, None] * w_i + t[:, None] * w_j + basis @ b
    losses, grads = [], []
    for w in points:
        set_flat(model, w)
        model.zero_grad()
        loss = loss_from_outputs(arch, model(x), x, y)
        loss.backward()
        losses.append(loss.detach())
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters()]))
    losses_t, g = torch.stack(losses), torch.stack(grads)
    diffs = points[1:] - points[:-1]
    objective = losses_t.sum() + lam * diffs.pow(2).sum()
    grad_b = basis.T @ g + 2 * lam * (basis[1:] - basis[:-1]).T @ diffs
    return objective, grad_b, losses_t
