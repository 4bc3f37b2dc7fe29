"""FourierPathFinder: the batched objective equals the per-point loop, and it finds paths."""

from __future__ import annotations

import pytest
import torch

from lossland.core.errors import LosslandError
from lossland.data import load_split
from lossland.nets import archs
from lossland.nets.batched import batched_loss_fn
from lossland.nets.modules import build_model, get_flat
from lossland.paths.basis_loss import BasisLoss, basis_loss_fn
from lossland.paths.finders.fourier import (
    find_path,
    find_paths,
    fourier_basis,
    fourier_phi,
    loop_objective,
    path_objective,
    t_grid,
)

N_POINTS, N_FOURIER, LAM = 6, 3, 1e-2  # small, and lambda large enough that its term counts

ARCHS = archs.names()


@pytest.fixture(scope="module")
def data(mnist_root) -> tuple[torch.Tensor, torch.Tensor]:
    """The first 128 training images: small, so the per-vector loop stays quick."""
    split = load_split(mnist_root, "train", limit=128)
    return split.x, split.y


def endpoints_and_b(arch: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        w_i, w_j = get_flat(build_model(arch)), get_flat(build_model(arch))
        b = 0.05 * torch.randn(N_FOURIER, len(w_i))
    return w_i, w_j, b


def batched_objective(loss, w_i, w_j, b, t, lam):
    """The finder's own L and dL/db for one path, as `find_paths` computes them."""
    theta = torch.cat([w_i[None, None], w_j[None, None], b[None]], 1).requires_grad_(True)
    objective, profile = path_objective(loss, fourier_phi(t, len(b)), theta, lam)
    objective.sum().backward()
    return objective.detach()[0], theta.grad[0, 2:], profile.detach()[0]


LOSSES = {
    # the first layer once per basis vector (fcp, ae; the others fall back to the points),
    # 50 images per slice and 4 points per call: both cut through the data and the path
    "basis": lambda arch, x, y: basis_loss_fn(arch, "softplus", x, y, 50, 4),
    "points": lambda arch, x, y: BasisLoss.of_points(batched_loss_fn(arch, "softplus", x, y), 4),
}


@pytest.mark.parametrize("kind", LOSSES)
@pytest.mark.parametrize("arch", ARCHS)
def test_batched_objective_equals_per_point_loop(arch, kind, data):
    x, y = data
    w_i, w_j, b = endpoints_and_b(arch)
    t = t_grid(N_POINTS)
    value, grad, losses = batched_objective(LOSSES[kind](arch, x, y), w_i, w_j, b, t, LAM)
    ref_value, ref_grad, ref_losses = loop_objective(arch, "softplus", x, y, w_i, w_j, b, t, LAM)
    torch.testing.assert_close(losses, ref_losses, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(value, ref_value, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(grad, ref_grad, rtol=1e-4, atol=1e-6)


def double_well(w: torch.Tensor) -> torch.Tensor:
    """Minima at (-1, 0) and (1, 0); a Gaussian bump of height 2 sits on the line between them."""
    x, y = w[:, 0], w[:, 1]
    return (x**2 - 1) ** 2 + 0.5 * y**2 + 2 * torch.exp(-(x**2 + y**2) / 0.1)


def test_finder_goes_around_a_barrier():
    w_i, w_j = torch.tensor([-1.0, 0.0]), torch.tensor([1.0, 0.0])
    result = find_path(double_well, w_i, w_j, n_points=30, lam=0.1, lr=0.05, steps=300)
    assert result.straight_height > 2.9  # the bump (2) plus the quartic's hump (1) at the origin
    assert result.height < 0.8 * result.straight_height
    assert result.objective <= result.history[0]
    assert result.objective == min(result.history)
    assert len(result.history) == 301 and result.steps == 300
    points = result.points()
    torch.testing.assert_close(double_well(points), result.profile)
    assert result.length > 2.0  # longer than the straight line it bends away from


def test_zero_coefficients_give_the_straight_line_and_exact_endpoints():
    w_i, w_j = torch.randn(2, 7, dtype=torch.float64)
    t = t_grid(11, torch.float64)

    def points(
        b: torch.Tensor,
    ) -> torch.Tensor:  # w(t) = (1 - t) w_i + t w_j + sum_n sin(n pi t) b_n
        n = torch.arange(1, len(b) + 1, dtype=t.dtype)
        return torch.lerp(w_i, w_j, t[:, None]) + torch.sin(torch.pi * t[:, None] * n) @ b

    line = points(torch.zeros(4, 7, dtype=torch.float64))
    torch.testing.assert_close(line, torch.lerp(w_i, w_j, t[:, None]), rtol=0, atol=1e-15)
    ends = fourier_phi(t, 4)[[0, -1]]  # exactly (1, 0, 0...) and (0, 1, 0...): exact endpoints
    assert torch.equal(ends, torch.eye(6, dtype=torch.float64)[:2])
    assert torch.equal(fourier_basis(t, 4)[[0, -1]], torch.zeros(2, 4, dtype=torch.float64))
    result = find_path(lambda w: w.pow(2).sum(1), w_i, w_j, n_points=11, steps=0)
    torch.testing.assert_close(result.profile, line.pow(2).sum(1))
    assert result.height == result.straight_height and result.theta[2:].abs().max() == 0
    assert result.length == pytest.approx(float((w_j - w_i).norm()))


def test_several_pairs_at_once_equal_one_at_a_time():
    g = torch.Generator().manual_seed(3)
    w_i, w_j = torch.randn(3, 2, generator=g), torch.randn(3, 2, generator=g)
    settings = dict(n_points=12, n_fourier=4, lam=0.05, lr=0.05, steps=40)
    together = find_paths(double_well, w_i, w_j, chunk=7, **settings)  # slices cut across pairs
    for p, joint in enumerate(together):
        alone = find_path(double_well, w_i[p], w_j[p], **settings)
        torch.testing.assert_close(joint.theta, alone.theta, rtol=1e-4, atol=1e-5)
        assert joint.height == pytest.approx(alone.height, rel=1e-4)
        assert joint.best_step == alone.best_step


def test_callback_sees_every_iterate():
    seen = []
    find_path(
        double_well,
        torch.tensor([-1.0, 0.0]),
        torch.tensor([1.0, 0.0]),
        steps=5,
        callback=lambda k, obj: seen.append((k, obj.shape)),
    )
    assert seen == [(k, torch.Size([1])) for k in range(6)]


def test_bad_endpoints_are_one_line_errors():
    with pytest.raises(LosslandError, match="endpoints"):
        find_paths(double_well, torch.zeros(2), torch.zeros(2))
    with pytest.raises(LosslandError, match="at least 2 points"):
        find_path(double_well, torch.zeros(2), torch.ones(2), n_points=1)


def test_a_two_point_path_is_its_endpoints():
    """M = 2 leaves no inner point to move: the profile is the two end losses, by hand."""
    w_i, w_j = torch.tensor([[1.0, 2.0]]), torch.tensor([[3.0, -1.0]])
    result = find_path(lambda w: w.pow(2).sum(1), w_i[0], w_j[0], n_points=2, steps=3)
    assert result.profile.tolist() == [5.0, 10.0] and result.height == 10.0
