"""Path losses on a basis: points[p, m] = sum_j phi[m, j] theta[p, j], all of P paths at once.

Every path finder's points are linear in its parameters theta (Fourier: theta = w_i, w_j,
b_1..b_NF and phi = 1 - t, t, sin(n pi t); Bezier: w_i, bend, w_j and the Bernstein
polynomials; a band of images: phi = identity). Where a net's first layer is a bias-free
Linear on the flattened image (fcp, ae), its pre-activations are linear in the weights as
well: X W1_j^T is computed once per basis vector and combined per point by phi, so a Fourier
step (M = 50 points, J = 12 basis vectors) runs the 784-wide layer 12 times instead of 50 and
its backward 10 times (the endpoints get no gradient). Other nets form the points and call
their batched loss (`functional.batched_loss_fn`).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache, partial

import torch
from torch import Tensor

from lossland.core.errors import LosslandError
from lossland.nets import archs
from lossland.nets.batched import PACKED_LOSSES, BatchedLoss, batched_loss_fn, is_plain_mlp
from lossland.nets.modules import build_model

# (phi, fixed, free, weights, need_grad) -> (losses [P, M], d sum(weights * losses) / d free
# [P, J_free, N], or None without need_grad); weights None means all ones.
ValueAndGrad = Callable[[Tensor, Tensor, Tensor, Tensor | None, bool], tuple[Tensor, Tensor | None]]


class BasisLoss:
    """(phi [M, J], theta [P, J, N], n_fixed=0) -> losses [P, M] at the points phi theta.

    Differentiable w.r.t. theta[:, n_fixed:]; the first n_fixed basis vectors (a path's
    endpoints) get no gradient, and their part of the backward is never computed. The forward
    computes the gradient of the summed losses alongside (one pass, no recomputation); a
    backward whose incoming gradient is constant along m for each path (a sum or mean of the
    profile: every finder's objective) scales it, any other recomputes with those weights.
    """

    def __init__(
        self,
        value_and_grad: ValueAndGrad,
        n_images: int | None = None,
        on_images: Callable[[Tensor], BasisLoss] | None = None,
    ) -> None:
        self.value_and_grad = value_and_grad
        self.n_images = n_images  # the landscape's size (None: not a mean over images)
        self._on_images = on_images

    def on_images(self, index: Tensor) -> BasisLoss:
        """The same loss on the landscape's images `index` only (a finder's stochastic step)."""
        if self._on_images is None or self.n_images is None:
            raise LosslandError(
                "this loss is no mean over images: images_per_step needs a net's landscape "
                "(set finder.images_per_step=null)"
            )
        return self._on_images(index)

    def __call__(self, phi: Tensor, theta: Tensor, n_fixed: int = 0) -> Tensor:
        if phi.ndim != 2 or theta.ndim != 3 or phi.shape[1] != theta.shape[1]:
            raise LosslandError(
                f"basis phi {list(phi.shape)} and parameters theta {list(theta.shape)} "
                "must be [M, J] and [P, J, N]"
            )
        if len(phi) == 0:  # no points (a 2-point path's inner points): nothing to score
            return theta.new_zeros(len(theta), 0)
        fixed, free = theta[:, :n_fixed].detach(), theta[:, n_fixed:]
        return _BasisLossFn.apply(self.value_and_grad, phi.detach(), fixed, free)

    @classmethod
    def of_points(cls, batched: BatchedLoss, point_chunk: int | None = None) -> BasisLoss:
        """Any loss W [B, N] -> [B]: the points are formed and evaluated `point_chunk` rows at
        a time, each slice's backward done before the next slice's forward."""
        return cls(partial(_points_value_and_grad, batched, point_chunk))


def basis_loss_fn(
    arch: str,
    act: str,
    x: Tensor,
    y: Tensor,
    image_chunk: int | None = None,
    point_chunk: int | None = None,
) -> BasisLoss:
    """The mean loss on (x, y) at the points of P paths; `image_chunk` images and `point_chunk`
    points at a time (memory only, as in `batched_loss_fn`)."""
    plan = first_layer_plan(arch, act)

    def on_images(index: Tensor) -> BasisLoss:
        return basis_loss_fn(arch, act, x[index], y[index], image_chunk, point_chunk)

    if plan is None:
        one = point_chunk == 1  # every call one point: the net's module (`params_loss_fn`)
        batched = batched_loss_fn(arch, act, x, y, image_chunk, one_vector=one)
        value_and_grad = partial(_points_value_and_grad, batched, point_chunk)
    else:
        value_and_grad = partial(_first_layer_value_and_grad, *plan, x, y, image_chunk, point_chunk)
    return BasisLoss(value_and_grad, len(y), on_images)


Tail = Callable[[Tensor, Tensor, Tensor, Tensor], Tensor]  # (weights, h, x, y) -> [B] losses


@cache  # a finder's stochastic steps ask once a step
def first_layer_plan(arch: str, act: str) -> tuple[torch.nn.Linear, Tail] | None:
    """For a plain MLP (`functional.is_plain_mlp`) that starts Flatten, Linear: that Linear and
    the rest of the net as a batched function of its weights and the first pre-activations;
    None for any other net."""
    with torch.device("meta"):
        model = build_model(arch, act)
    layers = list(model.children())
    if not (is_plain_mlp(model) and len(layers) > 1 and isinstance(layers[1], torch.nn.Linear)):
        return None
    loss = PACKED_LOSSES[archs.get(arch).loss]

    def tail(w: Tensor, h: Tensor, x: Tensor, y: Tensor) -> Tensor:
        """Layers 2.. for B weight sets w [B, N_rest] from pre-activations h [B, n, H] on the
        shared images x [n, ...] and labels y [n]."""
        start = 0
        for layer in layers[2:]:
            if isinstance(layer, torch.nn.Linear):
                size = layer.weight.numel()
                weight = w[:, start : start + size].view(len(w), *layer.weight.shape)
                h = torch.bmm(h, weight.transpose(1, 2))
                start += size
            else:
                h = layer(h)  # elementwise
        return loss(h, x.expand(len(w), *x.shape), y.expand(len(w), -1))

    return layers[1], tail


class _BasisLossFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, value_and_grad: ValueAndGrad, phi: Tensor, fixed: Tensor, free: Tensor):
        losses, grad = value_and_grad(phi, fixed, free, None, ctx.needs_input_grad[3])
        ctx.value_and_grad = value_and_grad
        ctx.save_for_backward(phi, fixed, free, grad)
        return losses

    @staticmethod
    def backward(ctx, g: Tensor):
        phi, fixed, free, grad = ctx.saved_tensors
        per_path = g[:, :1]
        if grad is not None and torch.equal(g, per_path.expand_as(g)):
            return None, None, None, grad * per_path[:, :, None]
        with torch.no_grad():
            return None, None, None, ctx.value_and_grad(phi, fixed, free, g, True)[1]


def _row_seeds(weights: Tensor | None, like: Tensor, rows: int) -> Tensor:
    return like.new_ones(rows) if weights is None else weights.reshape(-1).to(like)


def _points_value_and_grad(
    batched: BatchedLoss,
    point_chunk: int | None,
    phi: Tensor,
    fixed: Tensor,
    free: Tensor,
    weights: Tensor | None,
    need_grad: bool,
) -> tuple[Tensor, Tensor | None]:
    """Form the points and call the batched loss, `point_chunk` rows at a time."""
    fixed, free = fixed.detach(), free.detach()
    points = torch.einsum("mj,pjn->pmn", phi, torch.cat([fixed, free], 1))
    rows = points.reshape(-1, points.shape[-1])
    step = point_chunk or len(rows)
    seeds = _row_seeds(weights, rows, len(rows))
    losses, grads = [], []
    for part, seed in zip(rows.split(step), seeds.split(step), strict=True):
        if not need_grad:
            losses.append(batched(part))
            continue
        with torch.enable_grad():
            part = part.detach().requires_grad_(True)
            value = batched(part)
            (grad,) = torch.autograd.grad(value, part, seed)
        losses.append(value.detach())
        grads.append(grad)
    profile = torch.cat(losses).view(points.shape[:2])
    if not need_grad:
        return profile, None
    grad_points = torch.cat(grads).view_as(points)
    return profile, torch.einsum("mj,pmn->pjn", phi[:, fixed.shape[1] :], grad_points)


def _segments(start: int, stop: int, n_points: int) -> list[tuple[int, int, int]]:
    """Rows [start, stop) of the flattened [P, M] grid as (p, m0, m1) runs within one path."""
    runs = []
    while start < stop:
        p, m0 = divmod(start, n_points)
        m1 = min(n_points, m0 + stop - start)
        runs.append((p, m0, m1))
        start += m1 - m0
    return runs


def _first_layer_value_and_grad(
    first: torch.nn.Linear,
    tail: Tail,
    x: Tensor,
    y: Tensor,
    image_chunk: int | None,
    point_chunk: int | None,
    phi: Tensor,
    fixed: Tensor,
    free: Tensor,
    weights: Tensor | None,
    need_grad: bool,
) -> tuple[Tensor, Tensor | None]:
    """The first layer once per basis vector, the rest of the net once per point.

    Per slice of images: Z_j = X W1_j^T for every path and basis vector ([n, P, J, H]); per
    slice of points, the pre-activations sum_j phi[m, j] Z_j and the other layers' weights
    sum_j phi[m, j] theta_j go through the rest of the net, whose backward leaves dL/dZ_j;
    dL/dW1_j = dZ_j^T X once per slice, for the free basis vectors only.
    """
    fixed, free = fixed.detach(), free.detach()
    hidden, width = first.weight.shape
    n_first, n_paths, n_points = hidden * width, fixed.shape[0], len(phi)
    phi_f, phi_t = phi[:, : fixed.shape[1]], phi[:, fixed.shape[1] :]
    w1_f, w1_t = fixed[..., :n_first].reshape(-1, width), free[..., :n_first].reshape(-1, width)
    rest_f = fixed[..., n_first:]
    rest_t = free[..., n_first:].detach().requires_grad_(need_grad)
    rows = n_paths * n_points
    step, size = point_chunk or rows, image_chunk or len(y)
    seeds = _row_seeds(weights, phi, rows)
    total = phi.new_zeros(rows)
    grad_w1 = torch.zeros_like(w1_t) if need_grad else None
    for i in range(0, len(y), size):
        xs, ys = x[i : i + size].flatten(1), y[i : i + size]
        share = len(ys) / len(y)
        z_f = (xs @ w1_f.T).view(len(ys), n_paths, -1, hidden)  # [n, P, J_fixed, H]
        z_t = (xs @ w1_t.T).view(len(ys), n_paths, -1, hidden).requires_grad_(need_grad)
        for start in range(0, rows, step):
            runs = _segments(start, min(start + step, rows), n_points)
            with torch.set_grad_enabled(need_grad):
                h = torch.cat(
                    [
                        torch.einsum("mj,njh->mnh", phi_f[m0:m1], z_f[:, p])
                        + torch.einsum("mj,njh->mnh", phi_t[m0:m1], z_t[:, p])
                        for p, m0, m1 in runs
                    ]
                )
                rest = torch.cat(
                    [phi_f[m0:m1] @ rest_f[p] + phi_t[m0:m1] @ rest_t[p] for p, m0, m1 in runs]
                )
                value = tail(rest, h, x[i : i + size], ys) * share
                if need_grad:
                    torch.autograd.backward(
                        value, seeds[start : start + len(value)], inputs=[z_t, rest_t]
                    )
            total[start : start + len(value)] += value.detach()
        if need_grad:
            grad_w1 += z_t.grad.reshape(len(ys), -1).T @ xs
    profile = total.view(n_paths, n_points)
    if not need_grad:
        return profile, None
    return profile, torch.cat([grad_w1.view(n_paths, -1, n_first), rest_t.grad], -1)
