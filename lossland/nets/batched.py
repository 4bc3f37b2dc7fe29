"""Batched ("functional") forms of the nets in `models.py`: many weight vectors, one call.

The path finder evaluates all M points of a path (or of several paths) at once. Looping over
weight vectors with one nn.Module runs many small kernels in series; stacking the vectors
into W [B, N_prm] turns them into a few large ones. By default an arch's batched form is the
vmapped `functional_call` of its very module; an arch whose registry entry names a `batched`
twin uses that instead: vmap has no rule for nn.LSTM, so the LSTM has a hand-written twin here
(`PixelLSTMTwin`: PyTorch's gate order i, f, g, o and both bias vectors), tested equal to
`PixelLSTM`.
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

from lossland.core.config import Loss
from lossland.core.errors import LosslandError
from lossland.nets import archs
from lossland.nets.modules import build_model, loss_from_outputs, lstm_permutation

BatchedLoss = Callable[[Tensor], Tensor]
PackedLoss = Callable[[dict[str, Tensor], Tensor, Tensor], Tensor]


@cache
def param_shapes(arch: str) -> tuple[tuple[str, torch.Size], ...]:
    """(name, shape) of each parameter in flat-vector order; built on `meta`, so no RNG use."""
    with torch.device("meta"):
        model = build_model(arch)
    return tuple((name, p.shape) for name, p in model.named_parameters())


def unflatten(arch: str, w: Tensor) -> dict[str, Tensor]:
    """Split flat vector(s) [..., N_prm] into named parameters shaped [..., *param.shape]."""
    n_prm = archs.get(arch).n_prm
    if w.shape[-1] != n_prm:
        raise LosslandError(f"weights have shape {list(w.shape)}, arch {arch} needs [..., {n_prm}]")
    params, start, lead = {}, 0, w.shape[:-1]
    for name, shape in param_shapes(arch):
        size = math.prod(shape)
        params[name] = w[..., start : start + size].reshape(*lead, *shape)
        start += size
    return params


def batched_loss_fn(
    arch: str,
    act: str,
    x: Tensor,
    y: Tensor,
    chunk: int | None = None,
    twice: bool = False,
    one_vector: bool = False,
) -> BatchedLoss:
    """W [B, N_prm] -> the B mean losses [B] on (x, y), differentiable w.r.t. W.

    `chunk` bounds memory: the data are processed `chunk` images at a time and, when a gradient
    is needed, each slice is checkpointed (recomputed in backward), so only one slice's
    activations are alive at once. `twice=True` builds the LSTM from plain ops (slower), so
    that second derivatives (Hessian-vector products) and torch.func transforms work.
    `one_vector=True`: every call has B = 1 (`params_loss_fn`).
    """
    one_slice = params_loss_fn(arch, act, twice, one_vector)

    def losses(w: Tensor) -> Tensor:
        if w.ndim != 2:
            n_prm = archs.get(arch).n_prm
            raise LosslandError(f"weights have shape {list(w.shape)}, expected [B, {n_prm}]")
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
    arch: str, act: str, twice: bool = False, one_vector: bool = False
) -> Callable[[dict[str, Tensor], Tensor, Tensor], Tensor]:
    """(unflattened params of B vectors, x, y) -> [B] losses; build it outside torch.func
    transforms (it builds a module, which vmap counts as randomness).

    One implementation per function, whatever the B of a call: the LSTM's twin or a vmap of
    the net's module, the data shared, not copied. Values of one call are compared with
    another's (a line search's trials with its start, a path's points with each other, a
    pack's curve after it shrank to one seed), so a call with one row must not switch to
    other kernels (on CUDA: another precision). `one_vector=True` is for callers whose every
    call has B = 1: those go through the module itself, as the batched form only pays for many
    (vmap makes LeNet's convolutions grouped ones; nn.LSTM has a fused kernel the twin lacks)."""
    twin = archs.get(arch).batched
    if twin is not None and twice:
        return twin.losses_twice
    one = _module_loss(arch, act)
    if not one_vector:
        return twin.losses if twin is not None else _rows_alike(vmap(one, in_dims=(0, None, None)))

    def alone(params: dict[str, Tensor], x: Tensor, y: Tensor) -> Tensor:
        n = next(iter(params.values())).shape[0]
        if n != 1:
            raise LosslandError(f"a one-vector loss was given {n} weight vectors")
        return one({name: p[0] for name, p in params.items()}, x, y)[None]

    return alone


def _rows_alike(many: Callable[[dict[str, Tensor], Tensor, Tensor], Tensor]):
    """A vmapped loss whose one-row calls equal a row of a many-row call: with one row vmap
    runs LeNet's convolutions as ungrouped ones (other kernels: 2e-7 apart, measured on the
    CPU), so one row is computed as two equal rows (tests/test_functional.py)."""

    def losses(params: dict[str, Tensor], x: Tensor, y: Tensor) -> Tensor:
        if next(iter(params.values())).shape[0] != 1:
            return many(params, x, y)
        return many({name: p.expand(2, *p.shape[1:]) for name, p in params.items()}, x, y)[:1]

    return losses


def _module_loss(arch: str, act: str) -> Callable[[dict[str, Tensor], Tensor, Tensor], Tensor]:
    """(params of one vector, x, y) -> its loss, through the nn.Module itself."""
    with torch.random.fork_rng(devices=[]):  # a real module for its buffers; no RNG use seen
        model = build_model(arch, act)
    buffers = dict(model.named_buffers())  # the LSTM's pixel permutation
    on_device: dict[torch.device, dict[str, Tensor]] = {}  # moved once per device, not per call

    def one(params: dict[str, Tensor], x: Tensor, y: Tensor) -> Tensor:
        if x.device not in on_device:
            on_device[x.device] = {name: b.to(x.device) for name, b in buffers.items()}
        state = {**on_device[x.device], **params}
        return loss_from_outputs(arch, functional_call(model, state, (x,)), x, y)

    return one


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


def packed_loss_fn(arch: str, act: str) -> PackedLoss:
    """(params {name: [B, *shape]}, X [B, n, ...], Y [B, n]) -> the B mean losses [B], each
    weight set on its own images: the training pack's step (every seed its own mini-batch, one
    batched call). It takes the parameters (`unflatten`'s views of W [B, N_prm]) rather than W,
    so their gradients come back per parameter, without autograd assembling a [B, N_prm] zero
    tensor per parameter (a third of an ae pack's step on the CPU)."""
    spec = archs.get(arch)
    if spec.batched is not None:
        return spec.batched.packed
    with torch.device("meta"):
        model = build_model(arch, act)
    if is_plain_mlp(model):  # bmm layer by layer, without vmap's per-call cost
        loss = PACKED_LOSSES[spec.loss]
        return lambda params, x, y: loss(_mlp_packed_outputs(model, params, x), x, y)

    def single(params: dict[str, Tensor], x: Tensor, y: Tensor) -> Tensor:
        return loss_from_outputs(arch, functional_call(model, params, (x,)), x, y)

    return vmap(single, in_dims=(0, 0, 0))


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


class PixelLSTMTwin:
    """The LSTM's batched forms (conf/arch/lstm.yaml `batched`): (params, x, y) -> [B] losses."""

    losses = staticmethod(_lstm_losses)  # fast, once differentiable
    losses_twice = staticmethod(_lstm_losses_twice)  # Hessian-vector products, torch.func
    packed = staticmethod(_lstm_packed_losses)  # a training pack: each weight set its own images
    widest = 4 * 48  # activations per image alive at once (the gates of one step)


MLP_LAYERS = (torch.nn.Flatten, torch.nn.Linear, torch.nn.Softplus, torch.nn.ReLU, torch.nn.Sigmoid)
PACKED_LOSSES = {  # (outputs [B, n, ...], images [B, n, ...], labels [B, n]) -> [B] mean losses
    Loss.cross_entropy: lambda h, x, y: F.cross_entropy(
        h.transpose(1, 2), y, reduction="none"
    ).mean(1),
    # a sum times 1/(n D), not a mean: the mean's backward writes a full [B, n, D] gradient
    Loss.mse: lambda h, x, y: (
        F.mse_loss(h, x.flatten(2), reduction="none").sum((1, 2)) * (1 / h[0].numel())
    ),
}


def is_plain_mlp(model: torch.nn.Module) -> bool:
    """A Sequential of Flatten, bias-free Linear layers and elementwise activations."""
    layers = list(model.children())
    return isinstance(model, torch.nn.Sequential) and all(
        isinstance(m, MLP_LAYERS) and getattr(m, "bias", None) is None for m in layers
    )


def _mlp_packed_outputs(model: torch.nn.Sequential, params: dict[str, Tensor], x: Tensor) -> Tensor:
    """A plain MLP (`is_plain_mlp`) for B weight sets on their own images x [B, n, 1, 28, 28]:
    one bmm per layer."""
    h = x.flatten(2)  # [B, n, 784]
    for name, module in model.named_children():
        if isinstance(module, torch.nn.Linear):
            h = torch.bmm(h, params[f"{name}.weight"].transpose(1, 2))
        elif not isinstance(module, torch.nn.Flatten):
            h = module(h)  # softplus / relu / sigmoid: elementwise
    return h


def widest_layer(arch: str) -> int:
    """Activations per image of the net's widest parametrised layer (sizes evaluation chunks):
    a twin says its own; else one forward on `meta` tensors, so nothing is computed."""
    twin = archs.get(arch).batched
    if twin is not None:
        return twin.widest
    sizes: list[int] = []

    def hook(module, inputs, out) -> None:
        sizes.append((out[0] if isinstance(out, tuple) else out)[0].numel())

    with torch.device("meta"):
        model = build_model(arch)
        for m in model.modules():
            if not list(m.children()) and list(m.parameters(recurse=False)):
                m.register_forward_hook(hook)
        model(torch.empty(1, 1, 28, 28))
    return max(sizes)
