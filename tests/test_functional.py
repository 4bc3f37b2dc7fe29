"""The batched losses of `functional.py` equal a plain loop over nn.Modules: values, gradients."""

from __future__ import annotations

import pytest
import torch

from lossland.core.errors import LosslandError
from lossland.data import load_split
from lossland.nets import archs
from lossland.nets.batched import batched_loss_fn, unflatten
from lossland.nets.modules import build_model, get_flat, loss_from_outputs, set_flat

LOSS_TOL = dict(rtol=1e-5, atol=1e-6)  # float32: a few ulps of a loss of order 1
GRAD_TOL = dict(rtol=1e-4, atol=1e-6)  # summation order differs between batched and looped

ARCHS = archs.names()


@pytest.fixture(scope="module")
def data(mnist_root) -> tuple[torch.Tensor, torch.Tensor]:
    """The first 256 training images: small, so the per-vector loop stays quick."""
    split = load_split(mnist_root, "train", limit=256)
    return split.x, split.y


def random_weights(arch: str, n: int, seed: int = 0) -> torch.Tensor:
    """n flat vectors from the models' own init, spread out so the nets differ."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return torch.stack([get_flat(build_model(arch)) * (1 + k) for k in range(n)])


def looped(arch: str, w: torch.Tensor, x: torch.Tensor, y: torch.Tensor, act: str = "softplus"):
    """Reference: one nn.Module per vector; returns losses [B] and gradients [B, N]."""
    losses, grads = [], []
    model = build_model(arch, act)
    for row in w:
        set_flat(model, row)
        model.zero_grad()
        loss = loss_from_outputs(arch, model(x), x, y)
        loss.backward()
        losses.append(loss.detach())
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters()]))
    return torch.stack(losses), torch.stack(grads)


@pytest.mark.parametrize("arch", ARCHS)
def test_batched_equals_loop(arch, data):
    x, y = data
    w = random_weights(arch, 3).requires_grad_(True)
    losses = batched_loss_fn(arch, "softplus", x, y)(w)
    (grad,) = torch.autograd.grad(losses.sum(), w)
    ref_losses, ref_grads = looped(arch, w.detach(), x, y)
    torch.testing.assert_close(losses.detach(), ref_losses, **LOSS_TOL)
    torch.testing.assert_close(grad, ref_grads, **GRAD_TOL)


@pytest.mark.parametrize("arch", ["fcp", "lstm"])
def test_chunked_data_equals_whole(arch, data):
    """Slicing the images (with checkpointing under grad) changes nothing but memory."""
    x, y = data
    w = random_weights(arch, 2).requires_grad_(True)
    whole = batched_loss_fn(arch, "softplus", x, y)(w)
    (g_whole,) = torch.autograd.grad(whole.sum(), w)
    sliced = batched_loss_fn(arch, "softplus", x, y, chunk=100)(w)  # 100 + 100 + 56 images
    (g_sliced,) = torch.autograd.grad(sliced.sum(), w)
    torch.testing.assert_close(sliced, whole, **LOSS_TOL)
    torch.testing.assert_close(g_sliced, g_whole, **GRAD_TOL)


def test_relu_activation(data):
    x, y = data
    w = random_weights("lenet", 2)
    losses = batched_loss_fn("lenet", "relu", x, y)(w)
    torch.testing.assert_close(losses, looped("lenet", w, x, y, act="relu")[0], **LOSS_TOL)


def test_functional_lstm_matches_pixel_lstm(data):
    """The hand-written LSTM twin reproduces nn.LSTM's logits path for several weight vectors."""
    x, y = data
    w = random_weights("lstm", 4, seed=1)
    torch.testing.assert_close(
        batched_loss_fn("lstm", "softplus", x, y)(w), looped("lstm", w, x, y)[0], **LOSS_TOL
    )


def test_unflatten_matches_module_layout():
    model = build_model("lenet")
    params = unflatten("lenet", get_flat(model))
    for (name, p), (key, q) in zip(model.named_parameters(), params.items(), strict=True):
        assert name == key
        torch.testing.assert_close(q, p.detach(), rtol=0, atol=0)
    assert unflatten("fcp", torch.zeros(5, archs.get("fcp").n_prm))["1.weight"].shape == (
        5,
        50,
        784,
    )


def test_bad_shapes_are_one_line_errors(data):
    x, y = data
    with pytest.raises(LosslandError, match="needs"):
        unflatten("fcp", torch.zeros(3, 10))
    with pytest.raises(LosslandError, match="expected"):
        batched_loss_fn("fcp", "softplus", x, y)(torch.zeros(archs.get("fcp").n_prm))
    with pytest.raises(LosslandError, match="unknown arch"):
        batched_loss_fn("resnet", "softplus", x, y)


@pytest.mark.parametrize("arch", ARCHS)
def test_one_row_is_bit_for_bit_a_row_of_many(arch, data):
    """Where values of calls with different row counts are compared (an L-BFGS-GSS pack's last
    searching seed against its start, a pack shrunk to one seed, a path's one-row last chunk),
    one row goes through the same implementation as many: identical, not just close."""
    x, y = data
    w = random_weights(arch, 4)
    losses = batched_loss_fn(arch, "softplus", x, y, chunk=100)
    with torch.no_grad():
        many = losses(w)
        assert torch.equal(losses(w[:1]), many[:1])
        assert torch.equal(losses(w[3:]), many[3:])
    one = batched_loss_fn(arch, "softplus", x, y, one_vector=True)  # every call one vector
    torch.testing.assert_close(one(w[:1]), many[:1], **LOSS_TOL)
    with pytest.raises(LosslandError, match="one-vector loss was given 2"):
        one(w[:2])
