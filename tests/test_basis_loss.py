"""Paths on a basis: each net's first layer once per basis vector equals forming the points
(tests/test_basis_loss_first_layer.py: against a per-point loop of the nets' own modules)."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from lossland.core.errors import LosslandError
from lossland.data import load_split
from lossland.nets import archs
from lossland.nets.batched import batched_loss_fn
from lossland.nets.modules import build_model, get_flat
from lossland.paths.basis_loss import BasisLoss, basis_loss_fn, first_layer_plan
from lossland.paths.finders.fourier import fourier_phi, t_grid

# float32: losses of order 1 to a few ulps; gradients are sums over images and points taken
# in another order (basis first vs points first), measured within 5e-7 of their largest entry
LOSS_TOL = dict(rtol=1e-5, atol=1e-6)
GRAD_TOL = dict(rtol=1e-4, atol=1e-6)
FAST = ("fcp", "ae")  # LeNet and the LSTM: tests/test_basis_loss_first_layer.py (faster data)


@pytest.fixture(scope="module")
def data(mnist_root) -> tuple[torch.Tensor, torch.Tensor]:
    split = load_split(mnist_root, "train", limit=300)
    return split.x, split.y


def fourier_theta(arch: str, n_pairs: int, n_fourier: int) -> torch.Tensor:
    """theta [P, 2 + N_F, N]: two freshly initialised nets per pair, then random b."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        ends = [
            torch.stack([get_flat(build_model(arch)) for _ in range(2)]) for _ in range(n_pairs)
        ]
        b = 0.05 * torch.randn(n_pairs, n_fourier, ends[0].shape[1])
    return torch.cat([torch.stack(ends), b], 1)


def loss_and_grad(loss: BasisLoss, phi, theta, weights=None):
    theta = theta.clone().requires_grad_(True)
    profile = loss(phi, theta, n_fixed=2)
    (profile.sum() if weights is None else (profile * weights).sum()).backward()
    return profile.detach(), theta.grad


def test_every_net_takes_the_first_layer_shortcut():
    plain = {arch for arch in archs.names() if first_layer_plan(arch, "softplus") is not None}
    assert plain == set(archs.names())


@pytest.mark.parametrize("arch", FAST)
def test_first_layer_per_basis_vector_equals_the_points(arch, data):
    """Two pairs, 9 points, 128 images per slice (300 = 128 + 128 + 44) and 7 points per call
    (calls cut across the pairs): losses and gradients equal the vmapped module at each point,
    for the summed profile and for uneven weights on the points (the recomputing backward)."""
    x, y = data
    phi, theta = fourier_phi(t_grid(9), 3), fourier_theta(arch, 2, 3)
    fast = basis_loss_fn(arch, "softplus", x, y, image_chunk=128, point_chunk=7)
    points = BasisLoss.of_points(batched_loss_fn(arch, "softplus", x, y))
    weights = torch.rand(2, 9, generator=torch.Generator().manual_seed(0))
    for w in (None, weights):
        profile, grad = loss_and_grad(fast, phi, theta, w)
        ref_profile, ref_grad = loss_and_grad(points, phi, theta, w)
        torch.testing.assert_close(profile, ref_profile, **LOSS_TOL)
        torch.testing.assert_close(grad, ref_grad, **GRAD_TOL)
        assert grad[:, :2].abs().max() == 0  # the endpoints are fixed
    with torch.no_grad():
        torch.testing.assert_close(fast(phi, theta, n_fixed=2), ref_profile, **LOSS_TOL)


def test_the_first_layer_shortcut_saves_flops(data):
    """fcp at the paper's M = 50, N_F = 10: one forward and backward of a path costs at least
    3x fewer matrix FLOPs than forming the 50 points (counted by torch; hand count 3.2x)."""
    x, y = data
    phi, theta = fourier_phi(t_grid(50), 10), fourier_theta("fcp", 1, 10)

    def flops(loss: BasisLoss) -> int:
        with FlopCounterMode(display=False) as counter:
            loss_and_grad(loss, phi, theta)
        return counter.get_total_flops()

    fast = flops(basis_loss_fn("fcp", "softplus", x, y))
    points = flops(BasisLoss.of_points(batched_loss_fn("fcp", "softplus", x, y)))
    assert points / fast > 3.0


def test_bad_shapes_are_one_line_errors(data):
    loss = basis_loss_fn("fcp", "softplus", *data)
    with pytest.raises(LosslandError, match=r"must be \[M, J\] and \[P, J, N\]"):
        loss(torch.zeros(5, 3), torch.zeros(1, 4, 42200))
