"""Every net's first layer once per basis vector (issue 19) against a per-point loop.

The reference forms each point's weight vector w(t_m) = sum_j phi[m, j] theta_j and runs the
net's own nn.Module on it (nn.LSTM for the LSTM, not the batched twin), one point at a time;
autograd through that loop gives the gradient w.r.t. theta.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch.func import functional_call

from lossland.data import load_split
from lossland.nets.modules import build_model, get_flat, loss_from_outputs
from lossland.paths.basis_loss import _first_layer_value_and_grad as PLANNED
from lossland.paths.basis_loss import basis_loss_fn
from lossland.paths.finders import line_phi
from lossland.paths.finders.fourier import fourier_phi, t_grid

ARCHS = ("fcp", "ae", "lenet", "lstm")
# float32: another summation order (basis first, then points), measured within 6e-7 of the
# largest loss or gradient entry; float64: within 6e-16
TOL = {
    torch.float32: dict(rtol=1e-5, atol=1e-6),
    torch.float64: dict(rtol=1e-10, atol=1e-12),
}
N_IMAGES, IMAGE_CHUNK = 60, 25  # three image slices: 25 + 25 + 10


@pytest.fixture(scope="module")
def data(mnist_root) -> tuple[torch.Tensor, torch.Tensor]:
    split = load_split(mnist_root, "train", limit=N_IMAGES)
    return split.x, split.y


def fourier_theta(arch: str, n_pairs: int, n_fourier: int, dtype: torch.dtype) -> torch.Tensor:
    """theta [P, 2 + N_F, N]: two freshly initialised nets per pair, then random b."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(2)
        ends = [
            torch.stack([get_flat(build_model(arch)) for _ in range(2)]) for _ in range(n_pairs)
        ]
        b = 0.05 * torch.randn(n_pairs, n_fourier, ends[0].shape[1])
    return torch.cat([torch.stack(ends), b], 1).to(dtype)


def loop_profile(arch: str, x, y, phi, theta) -> torch.Tensor:
    """losses [P, M], one nn.Module call per point on its own weight vector."""
    with torch.random.fork_rng(devices=[]):
        model = build_model(arch).to(x.dtype)
    shapes = [(name, p.shape) for name, p in model.named_parameters()]
    rows = []
    for p in range(len(theta)):
        row = []
        for m in range(len(phi)):
            w = phi[m] @ theta[p]
            params, start = {}, 0
            for name, shape in shapes:
                size = math.prod(shape)
                params[name] = w[start : start + size].view(shape)
                start += size
            row.append(loss_from_outputs(arch, functional_call(model, params, (x,)), x, y))
        rows.append(torch.stack(row))
    return torch.stack(rows)


def value_and_grad(fn, theta, weights):
    theta = theta.clone().requires_grad_(True)
    profile = fn(theta)
    (profile * weights).sum().backward()
    return profile.detach(), theta.grad


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize(
    ("first_layer", "point_chunk"),
    [(True, 1), (True, 4), (False, 4)],
    ids=["plan1", "plan4", "points4"],
)
@pytest.mark.parametrize("arch", ARCHS)
def test_first_layer_plan_equals_the_per_point_loop(arch, first_layer, point_chunk, dtype, data):
    """Two pairs, 7 points, N_F = 3, three image slices; 4 points per call cut across the
    pairs, 1 point per call takes the one-point tail; the points formed (first_layer=False, the
    paper's computation) as well. Summed profile (the scaled forward gradient) and uneven
    weights (the recomputing backward): losses and the gradient w.r.t. the free basis vectors
    equal the loop's; the endpoints get none."""
    x, y = data[0].to(dtype), data[1]
    phi, theta = fourier_phi(t_grid(7, dtype), 3), fourier_theta(arch, 2, 3, dtype)
    plan = basis_loss_fn(arch, "softplus", x, y, IMAGE_CHUNK, point_chunk, first_layer)
    uneven = torch.rand(2, 7, generator=torch.Generator().manual_seed(0), dtype=dtype)
    for weights in (torch.ones(2, 7, dtype=dtype), uneven):
        profile, grad = value_and_grad(lambda th: plan(phi, th, n_fixed=2), theta, weights)
        ref_profile, ref_grad = value_and_grad(
            lambda th: loop_profile(arch, x, y, phi, th), theta, weights
        )
        torch.testing.assert_close(profile, ref_profile, **TOL[dtype])
        torch.testing.assert_close(grad[:, 2:], ref_grad[:, 2:], **TOL[dtype])
        assert grad[:, :2].abs().max() == 0  # the endpoints are fixed
    with torch.no_grad():
        torch.testing.assert_close(plan(phi, theta, n_fixed=2), ref_profile, **TOL[dtype])


@pytest.mark.parametrize("arch", ARCHS)
def test_all_fixed_and_all_free_bases(arch, data):
    """The endpoints alone (the finder's first call: no free basis vector) and a basis with
    nothing fixed (every vector gets its gradient) equal the loop as well (float64)."""
    x, y = data[0].double(), data[1]
    theta = fourier_theta(arch, 1, 2, torch.float64)
    plan = basis_loss_fn(arch, "softplus", x, y, IMAGE_CHUNK, 3, first_layer=True)
    ends, line = theta[:, :2], line_phi(torch.tensor([0.0, 1.0], dtype=torch.float64))
    with torch.no_grad():
        torch.testing.assert_close(
            plan(line, ends, n_fixed=2), loop_profile(arch, x, y, line, ends), **TOL[torch.float64]
        )
    phi, weights = fourier_phi(t_grid(5, torch.float64), 2), torch.ones(1, 5, dtype=torch.float64)
    profile, grad = value_and_grad(lambda th: plan(phi, th), theta, weights)
    ref = value_and_grad(lambda th: loop_profile(arch, x, y, phi, th), theta, weights)
    torch.testing.assert_close(profile, ref[0], **TOL[torch.float64])
    torch.testing.assert_close(grad, ref[1], **TOL[torch.float64])


def test_by_default_where_it_pays(data):
    """Unasked, the first layer goes on the basis for fcp and ae only (CONV_LSTM_BY_DEFAULT)."""
    x, y = data
    on = {a for a in ARCHS if basis_loss_fn(a, "softplus", x, y).value_and_grad.func is PLANNED}
    assert on == {"fcp", "ae"}
