"""Path losses on a basis: points[p, m] = sum_j phi[m, j] theta[p, j], all of P paths at once.

Every path finder's points are linear in its parameters theta (Fourier: theta = w_i, w_j,
b_1..b_NF and phi = 1 - t, t, sin(n pi t); Bezier: w_i, bend, w_j and the Bernstein
polynomials; a band of images: phi = identity). Where a net's first layer is a bias-free
Linear on the flattened image (fcp, ae), its pre-activations are linear in the weights as
well: X W1_j^T is computed once per basis vector and combined per point by phi, so a Fourier
step (M = 50 points, J = 12 basis vectors) runs the 784-wide layer 12 times instead of 50 and
its backward 10 times (the endpoints get no gradient). LeNet's first convolution (with its
bias) and the LSTM's input projection W_ih x_t are linear in their weights too and have the
same plan, exact but slower on the CPU, so taken only when asked (`first_layer=True`,
CONV_LSTM_BY_DEFAULT). Otherwise the points are formed and go through the net's batched loss
(`functional.batched_loss_fn`).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, partial

import torch
from torch import Tensor
from torch.func import functional_call, vmap
from torch.nn import functional as F

from lossland.core.errors import LosslandError
from lossland.nets import archs
from lossland.nets.batched import (
    PACKED_LOSSES,
    BatchedLoss,
    _LSTMCell,
    _permutation,
    batched_loss_fn,
    is_plain_mlp,
)
from lossland.nets.modules import LOSSES, PixelLSTM, build_model

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
    first_layer: bool | None = None,
) -> BasisLoss:
    """The mean loss on (x, y) at the points of P paths; `image_chunk` images and `point_chunk`
    points at a time (memory only, as in `batched_loss_fn`). `first_layer`: the net's first
    layer once per basis vector (`first_layer_plan`; True: wherever the net has a plan, False:
    never, every point through the whole net; None: where it was measured to pay, the plan's
    `by_default`). Every choice gives the same losses and gradients up to float rounding."""
    plan = first_layer_plan(arch, act)
    if plan is not None and not (plan.by_default if first_layer is None else first_layer):
        plan = None

    def on_images(index: Tensor) -> BasisLoss:
        return basis_loss_fn(arch, act, x[index], y[index], image_chunk, point_chunk, first_layer)

    if plan is None:
        one = point_chunk == 1  # every call one point: the net's module (`params_loss_fn`)
        batched = batched_loss_fn(arch, act, x, y, image_chunk, one_vector=one)
        value_and_grad = partial(_points_value_and_grad, batched, point_chunk)
    else:
        # one point per call: the net's own ops, as `params_loss_fn(one_vector=True)`
        tail = plan.tail_one if point_chunk == 1 and plan.tail_one is not None else plan.tail
        value_and_grad = partial(
            _first_layer_value_and_grad, plan, tail, x, y, image_chunk, point_chunk
        )
    return BasisLoss(value_and_grad, len(y), on_images)


Tail = Callable[[Tensor, Tensor, Tensor, Tensor], Tensor]  # (rest weights, h, x, y) -> [B] losses
# LeNet's convolution and the LSTM's projection are exact but not taken unasked (issue 19):
# on the CPU their basis responses are J = 12 times a point's first-layer output, combining
# them per point is memory-bound, and the layer itself is a few percent of a step (LeNet:
# softplus, conv2 and pooling dominate; the LSTM: the recurrence, whose nn.LSTM kernel beats
# the hand-written one). benchmarks/pathfinder.py --first-layer on (500 images, one thread,
# busy 2-core machine), exact / savings: LeNet 0.84x at 1 point per call (the CPU jobs'),
# 1.01x at 10; the LSTM 0.39x and 0.85x. Not measured on a GPU, where the responses would also
# need room beside sizing's per-point budget (lossland.paths.sizing probes with J = 3).
CONV_LSTM_BY_DEFAULT = False
Responses = Callable[[Tensor, Tensor], Tensor]  # (images [n, ...], W1 [B, n_first]) -> [B, ...]


@dataclass(frozen=True)
class FirstLayerPlan:
    """A net whose first layer is linear in its own weights, which lead the flat vector.

    `responses(x, W1)`: the first layer of B weight sets on the images, [B, *S]; the response of
    a combination sum_j phi_j W1_j is sum_j phi_j responses(x, W1_j). `tail(rest, h, x, y)`:
    the rest of the net for B weight sets (the flat vectors without their first n_first
    entries) from their responses h [B, *S]; `tail_one` the same for B = 1 through the net's
    own ops (what a one-point call runs; None: `tail` serves every B). `by_default`: whether
    `basis_loss_fn` takes the plan unasked.
    """

    n_first: int
    responses: Responses
    tail: Tail
    tail_one: Tail | None = None
    by_default: bool = True


@cache  # a finder's stochastic steps ask once a step
def first_layer_plan(arch: str, act: str) -> FirstLayerPlan | None:
    """The plan of a net whose first layer is linear in its weights: a plain MLP's Linear
    (`functional.is_plain_mlp`: fcp, ae), a Sequential's leading Conv2d with its bias (LeNet),
    the LSTM's input projection W_ih x_t for all time steps (its biases are added per point,
    with the recurrence's); None for any other net."""
    with torch.device("meta"):
        model = build_model(arch, act)
    layers = list(model.children())
    loss = PACKED_LOSSES[archs.get(arch).loss]
    if is_plain_mlp(model) and len(layers) > 1 and isinstance(layers[1], torch.nn.Linear):
        return _mlp_plan(layers, loss)
    if isinstance(model, torch.nn.Sequential) and _plain_conv(layers[0]):
        return _conv_plan(arch, act)
    lstm = getattr(model, "lstm", None)
    if isinstance(model, PixelLSTM) and lstm.num_layers == 1 and not lstm.bidirectional:
        return _lstm_plan(model)
    return None


def _mlp_plan(layers: list[torch.nn.Module], loss) -> FirstLayerPlan:
    first = layers[1]
    hidden, width = first.weight.shape

    def responses(x: Tensor, w: Tensor) -> Tensor:
        """X W1_b^T for each of the B weight sets, [B, n, H]."""
        z = x.flatten(1) @ w.reshape(-1, width).T  # [n, B H]: one GEMM for all B
        return z.view(len(x), len(w), hidden).transpose(0, 1).contiguous()

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

    return FirstLayerPlan(first.weight.numel(), responses, tail)


def _plain_conv(layer: torch.nn.Module) -> bool:
    return (
        isinstance(layer, torch.nn.Conv2d)
        and layer.groups == 1
        and layer.padding_mode == "zeros"
        and layer.bias is not None
    )


def _conv_plan(arch: str, act: str) -> FirstLayerPlan:
    """A Sequential that starts with a Conv2d: conv(x, sum_j phi_j (K_j, b_j)) =
    sum_j phi_j conv(x, K_j, b_j); the rest per point through the net's own modules."""
    with torch.random.fork_rng(devices=[]):  # real modules (functional_call); no RNG use seen
        model = build_model(arch, act)
    named = list(model.named_children())
    conv = named[0][1]
    rest_net = torch.nn.Sequential(OrderedDict(named[1:]))  # the net's parameter names
    shapes = [(name, p.shape) for name, p in rest_net.named_parameters()]
    loss = LOSSES[archs.get(arch).loss]
    out_channels = conv.out_channels

    def responses(x: Tensor, w: Tensor) -> Tensor:
        """The convolution of B weight sets as one with B times the output channels."""
        n_weight = conv.weight.numel()
        weight = w[:, :n_weight].reshape(-1, *conv.weight.shape[1:])
        z = F.conv2d(
            x, weight, w[:, n_weight:].reshape(-1), conv.stride, conv.padding, conv.dilation
        )
        return z.view(len(x), len(w), out_channels, *z.shape[2:]).transpose(0, 1).contiguous()

    def params(w: Tensor) -> dict[str, Tensor]:
        out, start = {}, 0
        for name, shape in shapes:
            size = math.prod(shape)
            out[name] = w[:, start : start + size].view(len(w), *shape)
            start += size
        return out

    def one(p: dict[str, Tensor], h: Tensor, x: Tensor, y: Tensor) -> Tensor:
        return loss(functional_call(rest_net, p, (h,)), x, y)

    many = vmap(one, in_dims=(0, 0, None, None))

    def tail(w: Tensor, h: Tensor, x: Tensor, y: Tensor) -> Tensor:
        """vmap's grouped convolutions; one row as two equal rows, so that its kernels are a
        many-row call's (`functional._rows_alike`)."""
        if len(w) == 1:
            return many(params(w.expand(2, -1)), h.expand(2, *h.shape[1:]), x, y)[:1]
        return many(params(w), h, x, y)

    def tail_one(w: Tensor, h: Tensor, x: Tensor, y: Tensor) -> Tensor:
        return one({name: p[0] for name, p in params(w).items()}, h[0], x, y)[None]

    return FirstLayerPlan(
        conv.weight.numel() + out_channels, responses, tail, tail_one, CONV_LSTM_BY_DEFAULT
    )


def _lstm_plan(model: PixelLSTM) -> FirstLayerPlan:
    """PixelLSTM (`functional._lstm_losses`, feature-major): W_ih x_t for all T steps once per
    basis vector, [B, T, 4H, n]; per point the biases, the recurrence and the head. The g rows
    are doubled as in `_lstm_losses` (tanh via one sigmoid), which commutes with phi."""
    four_h, n_feat = model.lstm.weight_ih_l0.shape
    hidden = four_h // 4
    n_hh, n_head = model.lstm.weight_hh_l0.numel(), model.head.weight.numel()

    def scale(like: Tensor) -> Tensor:
        s = torch.ones(four_h, 1, dtype=like.dtype, device=like.device)
        s[2 * hidden : 3 * hidden] = 2
        return s

    def responses(x: Tensor, w: Tensor) -> Tensor:
        seq = x.flatten(1)[:, _permutation(x.device)].reshape(len(x), -1, n_feat)
        w_ih = w.view(len(w), four_h, n_feat) * scale(w)
        return torch.matmul(w_ih[:, None], seq.permute(1, 2, 0)[None])  # [B, T, 4H, n]

    def tail(w: Tensor, z_in: Tensor, x: Tensor, y: Tensor) -> Tensor:
        s = scale(w)
        w_hh = w[:, :n_hh].view(len(w), four_h, hidden) * s
        b_ih, b_hh = w[:, n_hh : n_hh + four_h], w[:, n_hh + four_h : n_hh + 2 * four_h]
        bias = ((b_ih + b_hh) * s[:, 0]).unsqueeze(-1)  # [B, 4H, 1]
        head = w[:, -n_head:].view(len(w), -1, hidden)
        h, c = None, x.new_zeros(len(w), hidden, len(x))
        for z_step in z_in.unbind(1):  # its backward is one stack, not T zero-filled copies
            z = z_step + bias
            if h is not None:
                z = torch.baddbmm(z, w_hh, h)
            h, c = _LSTMCell.apply(z, c)
        logits = torch.bmm(head, h)  # [B, 10, n]
        return F.cross_entropy(logits, y.expand(len(w), -1), reduction="none").mean(1)

    return FirstLayerPlan(four_h * n_feat, responses, tail, by_default=CONV_LSTM_BY_DEFAULT)


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
    plan: FirstLayerPlan,
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

    Per slice of images: Z_j = the first layer's responses for every path and basis vector
    ([P, J, *S]); per slice of points, the responses sum_j phi[m, j] Z_j and the other
    weights sum_j phi[m, j] theta_j go through the rest of the net, whose backward leaves
    dL/dZ_j; the first layer's backward from dL/dZ_j runs once per slice, for the free basis
    vectors only.
    """
    fixed, free = fixed.detach(), free.detach()
    n_first, n_paths, n_points, j_fixed = plan.n_first, fixed.shape[0], len(phi), fixed.shape[1]
    phi_f, phi_t = phi[:, :j_fixed], phi[:, j_fixed:]
    w1_f = fixed[..., :n_first].reshape(-1, n_first)
    w1_t = free[..., :n_first].reshape(-1, n_first).requires_grad_(need_grad)  # a leaf
    rest_f = fixed[..., n_first:]
    # one leaf per path: a select's backward would zero-fill all paths' [J, K] per point
    rest_t = [part.detach().requires_grad_(need_grad) for part in free[..., n_first:]]
    rows = n_paths * n_points
    step, size = point_chunk or rows, image_chunk or len(y)
    seeds = _row_seeds(weights, phi, rows)
    total = phi.new_zeros(rows)
    for i in range(0, len(y), size):
        xs, ys = x[i : i + size], y[i : i + size]
        share = len(ys) / len(y)
        with torch.no_grad():
            z_f = _responses(plan, xs, w1_f, n_paths)
        with torch.set_grad_enabled(need_grad):
            z_graph = _responses(plan, xs, w1_t, n_paths)
        shape = (z_f if z_f.numel() else z_graph).shape[2:]
        z_f = _flat_or_empty(z_f, shape)
        z_t = [z.requires_grad_(need_grad) for z in _flat_or_empty(z_graph.detach(), shape)]
        for start in range(0, rows, step):
            runs = _segments(start, min(start + step, rows), n_points)
            with torch.set_grad_enabled(need_grad):
                h = torch.cat([_combine(phi_f, phi_t, z_f, z_t, *run) for run in runs])
                rest = torch.cat([_combine(phi_f, phi_t, rest_f, rest_t, *run) for run in runs])
                value = tail(rest, h.view(len(h), *shape), xs, ys) * share
                if need_grad:
                    torch.autograd.backward(
                        value, seeds[start : start + len(value)], inputs=[*z_t, *rest_t]
                    )
            total[start : start + len(value)] += value.detach()
        if need_grad and z_graph.numel():
            grad_z = torch.stack([_grad_of(z) for z in z_t])
            torch.autograd.backward(z_graph, grad_z.view_as(z_graph), inputs=[w1_t])
    profile = total.view(n_paths, n_points)
    if not need_grad:
        return profile, None
    grad_w1 = w1_t.grad if w1_t.grad is not None else torch.zeros_like(w1_t)
    grad_rest = torch.stack([_grad_of(part) for part in rest_t])
    return profile, torch.cat([grad_w1.view(n_paths, -1, n_first), grad_rest], -1)


def _grad_of(leaf: Tensor) -> Tensor:
    """A leaf's gradient; zeros where no point reached it (a call that skipped a path)."""
    return leaf.grad if leaf.grad is not None else torch.zeros_like(leaf)


def _responses(plan: FirstLayerPlan, x: Tensor, w: Tensor, n_paths: int) -> Tensor:
    """The first layer's responses [P, J, *S] to the basis vectors w [P J, n_first]; [P, 0]
    for none (a convolution takes no empty weight)."""
    if len(w) == 0:
        return w.new_zeros(n_paths, 0)
    z = plan.responses(x, w)
    return z.view(n_paths, -1, *z.shape[1:])


def _flat_or_empty(z: Tensor, shape: torch.Size) -> Tensor:
    """[P, J, *S] -> [P, J, prod(S)]."""
    return z.reshape(*z.shape[:2], shape.numel())


def _combine(phi_f: Tensor, phi_t: Tensor, fixed: Tensor, free: Tensor, p: int, m0: int, m1: int):
    """Path p's points m0..m1-1 from its fixed and free basis parts ([P, J, K] each)."""
    return torch.addmm(phi_f[m0:m1] @ fixed[p], phi_t[m0:m1], free[p])
