"""Batched ("functional") forms of the nets in `models.py`: many weight vectors, one call.

The path finder evaluates all M points of a path (or of several paths) at once. Looping over
weight vectors with one nn.Module runs many small kernels in series; stacking the vectors
into W [B, N_prm] turns them into a few large ones. fcp, lenet and ae are vmapped
`functional_call`s of the very modules in `models.py`; vmap has no rule for nn.LSTM, so the
LSTM has a hand-written twin here (PyTorch's gate order i, f, g, o and both bias vectors),
tested equal to `PixelLSTM`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import cache

import torch
from torch import Tensor
from torch.func import functional_call, vmap
from torch.nn import functional as F
from torch.utils.checkpoint import checkpoint

from lossland.errors import LosslandError
from lossland.models import (
    N_PRM,
    build_model,
    check_arch,
    is_classifier,
    loss_from_outputs,
    lstm_permutation,
)

BatchedLoss = Callable[[Tensor], Tensor]
ELEMENTWISE = (torch.nn.Softplus, torch.nn.ReLU, torch.nn.Sigmoid)  # layers applied as they are


@cache
def param_shapes(arch: str) -> tuple[tuple[str, torch.Size], ...]:
    """(name, shape) of each parameter in flat-vector order; built on `meta`, so no RNG use."""
    with torch.device("meta"):
        model = build_model(arch)
    return tuple((name, p.shape) for name, p in model.named_parameters())


def unflatten(arch: str, w: Tensor) -> dict[str, Tensor]:
    """Split flat vector(s) [..., N_prm] into named parameters shaped [..., *param.shape]."""
    n_prm = N_PRM[check_arch(arch)]
    if w.shape[-1] != n_prm:
        raise LosslandError(f"weights have shape {list(w.shape)}, arch {arch} needs [..., {n_prm}]")
    params, start, lead = {}, 0, w.shape[:-1]
    for name, shape in param_shapes(arch):
        size = math.prod(shape)
        params[name] = w[..., start : start + size].reshape(*lead, *shape)
        start += size
    return params


def batched_loss_fn(
    arch: str, act: str, x: Tensor, y: Tensor, chunk: int | None = None, twice: bool = False
) -> BatchedLoss:
    """W [B, N_prm] -> the B mean losses [B] on (x, y), differentiable w.r.t. W.

    `chunk` bounds memory: the data are processed `chunk` images at a time and, when a gradient
    is needed, each slice is checkpointed (recomputed in backward), so only one slice's
    activations are alive at once. `twice=True` builds the LSTM from plain ops (slower), so
    that second derivatives (Hessian-vector products) and torch.func transforms work.
    """
    one_slice = params_loss_fn(arch, act, twice)

    def losses(w: Tensor) -> Tensor:
        if w.ndim != 2:
            raise LosslandError(f"weights have shape {list(w.shape)}, expected [B, {N_PRM[arch]}]")
        params = unflatten(arch, w)
        if chunk is None or chunk >= len(y):
            return one_slice(params, x, y)
        total = w.new_zeros(len(w))
        for i in range(0, len(y), chunk):
            xs, ys = x[i : i + chunk], y[i : i + chunk]
            if torch.is_grad_enabled() and w.requires_grad:
                part = checkpoint(one_slice, params, xs, ys, use_reentrant=False)
            else:
                part = one_slice(params, xs, ys)
            total = total + part * len(ys)
        return total / len(y)

    return losses


def params_loss_fn(
    arch: str, act: str, twice: bool = False
) -> Callable[[dict[str, Tensor], Tensor, Tensor], Tensor]:
    """(unflattened params of B vectors, x, y) -> [B] losses; build it outside torch.func
    transforms (it makes a module on `meta`, which vmap counts as randomness)."""
    if check_arch(arch) == "lstm":
        return _lstm_losses_twice if twice else _lstm_losses
    return _vmapped_losses(arch, act)


def _vmapped_losses(arch: str, act: str) -> Callable[[dict[str, Tensor], Tensor, Tensor], Tensor]:
    """vmap of the nn.Module itself over stacked parameters; the data are shared, not copied."""
    with torch.device("meta"):  # parameters are always supplied; meta avoids init and RNG use
        model = build_model(arch, act)

    def one(params: dict[str, Tensor], x: Tensor, y: Tensor) -> Tensor:
        return loss_from_outputs(arch, functional_call(model, params, (x,)), x, y)

    return vmap(one, in_dims=(0, None, None))


@cache
def _permutation(device: torch.device) -> Tensor:
    return lstm_permutation().to(device)


def _lstm_losses(params: dict[str, Tensor], x: Tensor, y: Tensor, cell=None) -> Tensor:
    """PixelLSTM for B weight sets at once, feature-major (states [B, H, n]) so that each gate
    is a contiguous block: per step one GEMM projects the shared pixels for all B weight sets,
    one bmm adds the recurrence, and `_LSTMCell` does the rest."""
    w_ih, w_hh = params["lstm.weight_ih_l0"], params["lstm.weight_hh_l0"]  # [B,4H,F], [B,4H,H]
    bias = params["lstm.bias_ih_l0"] + params["lstm.bias_hh_l0"]  # [B, 4H]
    n_w, four_h, n_feat = w_ih.shape
    # tanh(z) = 2 sigmoid(2z) - 1: doubling the g rows lets one sigmoid cover all four gates
    scale = torch.ones(four_h, 1, dtype=w_ih.dtype, device=w_ih.device)
    scale[2 * four_h // 4 : 3 * four_h // 4] = 2
    w_ih = (w_ih * scale).reshape(n_w * four_h, n_feat)
    w_hh, bias = w_hh * scale, (bias * scale[:, 0]).reshape(-1, 1)
    seq = x.flatten(1)[:, _permutation(x.device)].reshape(len(x), -1, n_feat)  # [n, T, F]
    h, c = None, x.new_zeros(n_w, four_h // 4, len(x))
    for step in range(seq.shape[1]):
        z = torch.addmm(bias, w_ih, seq[:, step].T).view(n_w, four_h, len(x))
        if h is not None:
            z = torch.baddbmm(z, w_hh, h)
        h, c = (cell or _LSTMCell.apply)(z, c)
    logits = torch.bmm(params["head.weight"], h)  # [B, 10, n]
    return F.cross_entropy(logits, y.expand(n_w, -1), reduction="none").mean(1)


def _lstm_cell_plain(z: Tensor, c_prev: Tensor) -> tuple[Tensor, Tensor]:
    """`_LSTMCell` in plain autograd ops: it has double backward and forward-mode rules."""
    i, f, s_g, o = torch.sigmoid(z).chunk(4, dim=1)
    c = f * c_prev + i * (2 * s_g - 1)
    return o * torch.tanh(c), c


def _lstm_losses_twice(params: dict[str, Tensor], x: Tensor, y: Tensor) -> Tensor:
    """The LSTM losses through `_lstm_cell_plain`: twice differentiable."""
    return _lstm_losses(params, x, y, cell=_lstm_cell_plain)


class _LSTMCell(torch.autograd.Function):
    """The elementwise half of an LSTM step (gate order i, f, g, o), with its gradient by hand.

    On CPU autograd's dozen small ops here cost as much as the matmuls (measured); by hand,
    one sigmoid of all gates is kept for the backward and the gate gradients are written in
    place into one buffer, which is about 20% faster overall than plain autograd ops.
    z: [B, 4H, n] pre-activations with the g rows doubled; c_prev: [B, H, n].
    """

    @staticmethod
    def forward(ctx, z: Tensor, c_prev: Tensor) -> tuple[Tensor, Tensor]:
        s = torch.sigmoid(z)
        i, f, s_g, o = s.chunk(4, dim=1)
        g = s_g * 2 - 1  # = tanh of the undoubled pre-activation
        c = (f * c_prev).addcmul_(i, g)
        tanh_c = torch.sigmoid(2 * c).mul_(2).sub_(1)
        ctx.save_for_backward(s, g, c_prev, tanh_c)
        return o * tanh_c, c

    @staticmethod
    def backward(ctx, dh: Tensor, dc: Tensor) -> tuple[Tensor, Tensor]:
        s, g, c_prev, tanh_c = ctx.saved_tensors
        i, f, _, o = s.chunk(4, dim=1)
        dc = torch.addcmul(dc, dh, (1 - tanh_c * tanh_c).mul_(o))  # c also feeds h = o tanh(c)
        d_s = torch.empty_like(s)  # dL/d sigmoid(z), gate by gate
        d_i, d_f, d_g, d_o = d_s.chunk(4, dim=1)
        torch.mul(dc, g, out=d_i)
        torch.mul(dc, c_prev, out=d_f)
        torch.mul(dc, i, out=d_g).mul_(2)
        torch.mul(dh, tanh_c, out=d_o)
        return d_s.mul_(s).mul_(1 - s), dc.mul_(f)


def packed_loss_fn(arch: str, act: str) -> Callable[[Tensor, Tensor, Tensor], Tensor]:
    """(W [B, N_prm], X [B, n, ...], Y [B, n]) -> the B mean losses [B], each weight set on its
    own images: the training pack's step (every seed its own mini-batch, one batched call)."""
    if check_arch(arch) == "lstm":
        return lambda w, x, y: _lstm_packed_losses(unflatten(arch, w), x, y)
    with torch.device("meta"):
        model = build_model(arch, act)
    layers = mlp_layers(arch, act)
    if layers is not None:  # plain MLPs: bmm layer by layer, without vmap's per-call cost
        classifier = is_classifier(arch)
        return lambda w, x, y: mlp_losses(
            classifier, mlp_forward(layers, w, x.flatten(2)), x.flatten(2), y
        )

    def single(params: dict[str, Tensor], x: Tensor, y: Tensor) -> Tensor:
        return loss_from_outputs(arch, functional_call(model, params, (x,)), x, y)

    per_seed = vmap(single, in_dims=(0, 0, 0))
    return lambda w, x, y: per_seed(unflatten(arch, w), x, y)


def _lstm_packed_losses(params: dict[str, Tensor], x: Tensor, y: Tensor) -> Tensor:
    """`_lstm_losses` with per-weight-set images x [B, n, 1, 28, 28], y [B, n]: the input
    projection becomes a bmm as well."""
    w_ih, w_hh = params["lstm.weight_ih_l0"], params["lstm.weight_hh_l0"]
    bias = params["lstm.bias_ih_l0"] + params["lstm.bias_hh_l0"]
    n_w, four_h, n_feat = w_ih.shape
    scale = torch.ones(four_h, 1, dtype=w_ih.dtype, device=w_ih.device)
    scale[2 * four_h // 4 : 3 * four_h // 4] = 2  # tanh via sigmoid, as in `_lstm_losses`
    w_ih, w_hh, bias = w_ih * scale, w_hh * scale, (bias * scale[:, 0]).unsqueeze(-1)
    n = x.shape[1]
    seq = x.flatten(2)[:, :, _permutation(x.device)].reshape(n_w, n, -1, n_feat)  # [B, n, T, F]
    h, c = None, x.new_zeros(n_w, four_h // 4, n)
    for step in range(seq.shape[2]):
        z = torch.baddbmm(bias, w_ih, seq[:, :, step].transpose(1, 2))  # [B, 4H, n]
        if h is not None:
            z = torch.baddbmm(z, w_hh, h)
        h, c = _LSTMCell.apply(z, c)
    logits = torch.bmm(params["head.weight"], h)  # [B, 10, n]
    return F.cross_entropy(logits, y, reduction="none").mean(1)


def mlp_layers(arch: str, act: str = "softplus") -> list[torch.nn.Module] | None:
    """The layers after the Flatten of a plain MLP (bias-free Linear layers and elementwise
    activations, e.g. fcp and ae), first a Linear; None for any other net."""
    with torch.device("meta"):
        model = build_model(arch, act)
    layers = list(model.children()) if isinstance(model, torch.nn.Sequential) else []
    if len(layers) < 2 or not isinstance(layers[0], torch.nn.Flatten):
        return None
    for layer in layers[1:]:
        linear = isinstance(layer, torch.nn.Linear) and layer.bias is None
        if not (linear or isinstance(layer, ELEMENTWISE)):
            return None
    return layers[1:] if isinstance(layers[1], torch.nn.Linear) else None


def mlp_forward(layers: list[torch.nn.Module], w: Tensor, h: Tensor) -> Tensor:
    """`layers` (from `mlp_layers`, or a tail of them) for B weight sets: w [B, N] holds their
    Linear weights in order, h [B, n, width] (or [n, width], shared) their input; one bmm per
    Linear layer."""
    start = 0
    for layer in layers:
        if isinstance(layer, torch.nn.Linear):
            size = layer.weight.numel()
            weight = w[:, start : start + size].view(len(w), *layer.weight.shape)
            h = torch.matmul(h, weight.transpose(1, 2))
            start += size
        else:
            h = layer(h)  # elementwise
    return h


def mlp_losses(classifier: bool, out: Tensor, x_flat: Tensor, y: Tensor) -> Tensor:
    """Per weight set mean loss [B] of outputs out [B, n, C]: cross-entropy against y ([n] or
    [B, n]) or, for an autoencoder, squared error against x_flat ([n, 784] or [B, n, 784])."""
    if classifier:
        targets = y.expand(len(out), -1)
        return F.cross_entropy(out.transpose(1, 2), targets, reduction="none").mean(1)
    return (out - x_flat).pow(2).mean((1, 2))
