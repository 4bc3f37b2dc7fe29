"""The finders' modes (issue 19): the stochastic steps are unbiased, reruns are identical, the
full batch is one setting away, the endpoints' losses once equal the per-point loop, the
stopping rule stops where it should, and bad settings are one line before anything runs."""

from __future__ import annotations

from itertools import combinations

import pytest
import torch

from lossland.core import identity
from lossland.core.config import compose
from lossland.core.errors import LosslandError
from lossland.data import load_split
from lossland.launch import checks
from lossland.nets.modules import build_model, get_flat
from lossland.paths.basis_loss import basis_loss_fn
from lossland.paths.finders import build_finder
from lossland.paths.finders.bezier import QuadraticBezier
from lossland.paths.finders.fourier import (
    find_path,
    find_paths,
    fourier_phi,
    full_objective,
    loop_objective,
    sampled_objective,
    t_grid,
)
from lossland.paths.finders.neb import NudgedElasticBand

M, NF, LAM = 6, 2, 1e-2


@pytest.fixture(scope="module")
def data(mnist_root) -> tuple[torch.Tensor, torch.Tensor]:
    split = load_split(mnist_root, "train", limit=6)
    return split.x.double(), split.y


def ends_and_b(arch: str = "fcp") -> tuple[torch.Tensor, ...]:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        w_i, w_j = get_flat(build_model(arch)).double(), get_flat(build_model(arch)).double()
        b = 0.05 * torch.randn(NF, len(w_i), dtype=torch.float64)
    return w_i, w_j, b


def grad_of(objective_of, w_i, w_j, b) -> torch.Tensor:
    theta = torch.cat([w_i[None, None], w_j[None, None], b[None]], 1).requires_grad_(True)
    objective_of(theta).sum().backward()
    return theta.grad[0, 2:]


def reference(x, y, w_i, w_j, b, t):
    """The paper's per-point loop on the same float64 model."""
    torch.set_default_dtype(torch.float64)
    try:
        return loop_objective("fcp", "softplus", x, y, w_i, w_j, b, t, LAM)
    finally:
        torch.set_default_dtype(torch.float32)


def test_endpoints_once_equal_the_per_point_loop(data):
    x, y = data
    w_i, w_j, b = ends_and_b()
    t = t_grid(M, torch.float64)
    loss, phi = basis_loss_fn("fcp", "softplus", x, y), fourier_phi(t, NF)
    ref_value, ref_grad, ref_losses = reference(x, y, w_i, w_j, b, t)
    ends = loss(phi[[0, -1]][:, :2], torch.stack([w_i, w_j])[None], n_fixed=2)
    theta = torch.cat([w_i[None, None], w_j[None, None], b[None]], 1)
    value, profile = full_objective(loss, phi, theta, LAM, ends)
    torch.testing.assert_close(profile[0], ref_losses)
    torch.testing.assert_close(value[0], ref_value)
    grad = grad_of(lambda th: sampled_objective(loss, phi, th, LAM, None), w_i, w_j, b)
    torch.testing.assert_close(grad, ref_grad)


def test_point_draws_are_unbiased(data):
    """The mean gradient over every draw of 2 of the M - 2 inner points is the loop's."""
    x, y = data
    w_i, w_j, b = ends_and_b()
    t = t_grid(M, torch.float64)
    loss, phi = basis_loss_fn("fcp", "softplus", x, y), fourier_phi(t, NF)
    draws = [torch.tensor(rows) + 1 for rows in combinations(range(M - 2), 2)]
    grads = [
        grad_of(lambda th, r=r: sampled_objective(loss, phi, th, LAM, r), w_i, w_j, b)
        for r in draws
    ]
    torch.testing.assert_close(torch.stack(grads).mean(0), reference(x, y, w_i, w_j, b, t)[1])
    assert not torch.allclose(grads[0], grads[1])  # each draw alone is not the full gradient


def test_image_draws_are_unbiased(data):
    """The mean gradient over every draw of 2 of the 6 images is the loop's on all 6."""
    x, y = data
    w_i, w_j, b = ends_and_b()
    t = t_grid(M, torch.float64)
    loss, phi = basis_loss_fn("fcp", "softplus", x, y), fourier_phi(t, NF)
    grads = [
        grad_of(
            lambda th, i=i: sampled_objective(loss.on_images(torch.tensor(i)), phi, th, LAM, None),
            w_i,
            w_j,
            b,
        )
        for i in combinations(range(len(y)), 2)
    ]
    torch.testing.assert_close(torch.stack(grads).mean(0), reference(x, y, w_i, w_j, b, t)[1])


@pytest.fixture(scope="module")
def fcp_loss(mnist_root):
    split = load_split(mnist_root, "train", limit=200)
    return basis_loss_fn("fcp", "softplus", split.x, split.y)


FAST = dict(n_points=8, n_fourier=3, lr=1e-2, steps=6)


def test_a_rerun_is_identical_and_all_images_are_the_full_batch(fcp_loss):
    w_i, w_j, _ = ends_and_b()
    w_i, w_j = w_i.float()[None], w_j.float()[None]
    one = find_paths(fcp_loss, w_i, w_j, images_per_step=50, points_per_step=3, seed=7, **FAST)
    two = find_paths(fcp_loss, w_i, w_j, images_per_step=50, points_per_step=3, seed=7, **FAST)
    other = find_paths(fcp_loss, w_i, w_j, images_per_step=50, points_per_step=3, seed=8, **FAST)
    assert torch.equal(one[0].theta, two[0].theta) and one[0].history == two[0].history
    assert not torch.equal(one[0].theta, other[0].theta)
    full = find_paths(fcp_loss, w_i, w_j, **FAST)
    every = find_paths(fcp_loss, w_i, w_j, images_per_step=200, points_per_step=8, **FAST)
    assert torch.equal(full[0].theta, every[0].theta) and full[0].history == every[0].history
    # stochastic: the full landscape at steps 0, eval_every.., and the end; kept among those
    spaced = find_paths(fcp_loss, w_i, w_j, images_per_step=50, eval_every=4, **FAST)[0]
    assert spaced.history_steps == [0, 4, 6] and spaced.best_step in (0, 4, 6)
    assert spaced.objective == min(spaced.history)
    assert full[0].height == float(full[0].profile.max())


@pytest.mark.parametrize("finder", ["bezier", "neb"])
def test_bezier_and_neb_draw_images_reproducibly(fcp_loss, finder):
    w_i, w_j, _ = ends_and_b()
    w_i, w_j = w_i.float()[None], w_j.float()[None]
    cls = {"bezier": QuadraticBezier, "neb": NudgedElasticBand}[finder]
    extra = {"points_per_step": 3} if finder == "neb" else {}
    make = lambda: cls(steps=5, images_per_step=40, eval_every=2, **extra)  # noqa: E731
    t = t_grid(8)
    one, two = make()(fcp_loss, w_i, w_j, t, seed=1)[0], make()(fcp_loss, w_i, w_j, t, seed=1)[0]
    assert torch.equal(one.theta, two.theta) and one.history_steps == [0, 2, 4, 5]
    full = cls(steps=5)(fcp_loss, w_i, w_j, t)[0]
    assert not torch.equal(one.theta, full.theta)
    torch.testing.assert_close(one.profile, fcp_loss(one.phi, one.theta[None], 2)[0])


def bowl(w: torch.Tensor) -> torch.Tensor:
    return (w - 3).pow(2).sum(1)


def test_the_stopping_rule_stops_when_the_objective_levels_off():
    w_i, w_j = torch.zeros(2), torch.zeros(2)
    settings = dict(n_points=10, lam=0.0, lr=0.1, steps=2000, tol=1e-3, window=20)
    result = find_path(bowl, w_i, w_j, **settings)
    assert result.converged and result.steps < 2000 and len(result.history) == result.steps + 1
    best = torch.tensor(result.history).cummin(0).values
    drops = (best[:-20] - best[20:]) / best[:-20]  # over every window, by hand
    assert drops[-1] < 1e-3 and (drops[:-1] >= 1e-3).all()
    unstopped = find_path(bowl, w_i, w_j, **(settings | {"tol": None, "steps": 50}))
    assert not unstopped.converged and unstopped.steps == 50


BAD = [
    ["finder.images_per_step=0"],
    ["finder.images_per_step=50001"],
    ["dataset.n_train=1000", "finder.images_per_step=1001"],
    ["landscape=test", "finder.images_per_step=10001"],
    ["finder.points_per_step=1"],
    ["finder.points_per_step=51"],
    ["finder.tol=0"],
    ["finder.tol=-0.1"],
    ["finder.window=0"],
    ["finder.eval_every=0"],
    ["finder=bezier", "finder.images_per_step=0"],
    ["finder=neb", "finder.points_per_step=60"],
]


@pytest.mark.parametrize("overrides", BAD, ids=lambda o: " ".join(o))
def test_bad_mode_settings_are_one_line(overrides):
    key = overrides[-1].split("=")[0]
    with pytest.raises(LosslandError, match=f"bad value: {key}=") as e:
        checks.check_values(compose("paths", overrides), "paths")
    assert "\n" not in str(e.value)


def test_good_modes_pass_and_the_default_keeps_its_signature():
    for preset in ("fast_paths", "converged_paths"):
        checks.check_values(compose("paths", [f"preset={preset}"]), "paths")
    default = identity.plain(compose("paths", []))
    mode_keys = ("images_per_step", "points_per_step", "tol", "window", "eval_every")
    before = default | {
        "finder": {k: v for k, v in default["finder"].items() if k not in mode_keys}
    }
    assert identity.signature(default) == identity.signature(before)  # as if never added
    fast = identity.plain(compose("paths", ["preset=fast_paths"]))
    assert identity.signature(fast) != identity.signature(default)
    build_finder(fast["finder"])


def test_a_loss_without_images_refuses_image_draws():
    with pytest.raises(LosslandError, match="images_per_step"):
        find_path(bowl, torch.zeros(2), torch.ones(2), steps=2, images_per_step=5)
