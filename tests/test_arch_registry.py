"""The net registry's contract, for every conf/arch/*.yaml on disk (a new entry is tested with no
new test): N_prm is the module's parameter count, the flat layout is the module's parameters in
order, and the batched losses of a stack of 3 vectors (plain, twice-differentiable and packed
forms) are the module's loss for each.

The references are independent of lossland's code: torch.nn.utils.parameters_to_vector of a
module built from a seed, and the module's own forward with torch's loss functions written
out here. Losses are compared in float64 with rtol 1e-10 (the forms differ in summation order
only, so they agree to ~1e-15); float32 would need ~1e-5.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.nn.utils import parameters_to_vector

from lossland.core.errors import LosslandError
from lossland.data import load_split
from lossland.nets import archs, batched

ENTRIES = sorted(p.stem for p in archs.ARCH_DIR.glob("*.yaml"))
REFERENCE_LOSS = {  # the module's loss, by the entry's `loss`, from torch itself
    "cross_entropy": lambda out, x, y: F.cross_entropy(out, y),
    "mse": lambda out, x, y: F.mse_loss(out, x.flatten(1)),
}
RTOL = 1e-10


def seeded_module(name: str, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return archs.get(name).module(act="softplus").double()


def check_n_prm(name: str) -> None:
    model = seeded_module(name, 0)
    assert sum(p.numel() for p in model.parameters()) == archs.get(name).n_prm


def check_flat_layout(name: str) -> None:
    model = seeded_module(name, 3)
    w = parameters_to_vector(model.parameters()).detach()
    params = batched.unflatten(name, w)
    assert list(params) == [n for n, _ in model.named_parameters()]  # the same order
    for n, p in model.named_parameters():
        assert torch.equal(params[n], p.detach()), n


def check_batched_losses(name: str, x: torch.Tensor, y: torch.Tensor) -> None:
    """Three vectors from three seeds: each form's losses against each module's own loss."""
    models = [seeded_module(name, seed) for seed in (0, 1, 2)]
    w = torch.stack([parameters_to_vector(m.parameters()).detach() for m in models])
    loss = REFERENCE_LOSS[archs.get(name).loss.value]
    with torch.no_grad():
        expected = torch.stack([loss(m(x), x, y) for m in models])
        torch.testing.assert_close(
            batched.batched_loss_fn(name, "softplus", x, y)(w), expected, rtol=RTOL, atol=0
        )
        # one vector goes through the module itself (path jobs' one point per call)
        torch.testing.assert_close(
            batched.batched_loss_fn(name, "softplus", x, y)(w[1:2]),
            expected[1:2],
            rtol=RTOL,
            atol=0,
        )
        torch.testing.assert_close(
            batched.batched_loss_fn(name, "softplus", x, y, twice=True)(w),
            expected,
            rtol=RTOL,
            atol=0,
        )
        # packed: each vector on its own images (as a training pack's seeds)
        xs = torch.stack([x[k::3][:8] for k in range(3)])
        ys = torch.stack([y[k::3][:8] for k in range(3)])
        packed = batched.packed_loss_fn(name, "softplus")(batched.unflatten(name, w), xs, ys)
        alone = torch.stack([loss(m(xs[k]), xs[k], ys[k]) for k, m in enumerate(models)])
        torch.testing.assert_close(packed, alone, rtol=RTOL, atol=0)


@pytest.fixture(scope="module")
def images(mnist_root) -> tuple[torch.Tensor, torch.Tensor]:
    split = load_split(mnist_root, "train", limit=30)
    return split.x.double(), split.y


def test_the_registry_is_the_yaml_files_on_disk():
    assert archs.names() == tuple(ENTRIES) and {"fcp", "lenet", "lstm", "ae"} <= set(ENTRIES)


@pytest.mark.parametrize("name", ENTRIES)
def test_n_prm_is_the_modules_parameter_count(name):
    check_n_prm(name)


@pytest.mark.parametrize("name", ENTRIES)
def test_flat_layout_is_the_modules_parameters_in_order(name):
    check_flat_layout(name)


@pytest.mark.parametrize("name", ENTRIES)
def test_batched_loss_of_three_vectors_is_the_modules_loss_for_each(name, images):
    check_batched_losses(name, *images)


@pytest.mark.parametrize("name", ENTRIES)
def test_a_twin_says_how_wide_it_is(name):
    twin = archs.get(name).batched
    assert twin is None or (isinstance(twin.widest, int) and twin.widest > 0)
    assert batched.widest_layer(name) > 0


def test_widest_layer_of_the_plain_nets():
    assert [batched.widest_layer(a) for a in ("fcp", "lenet", "ae")] == [50, 6 * 28 * 28, 784]


def test_a_bad_entry_is_one_line():
    with pytest.raises(LosslandError, match="arch entry 'bad' is not valid"):
        archs.register({"name": "bad", "_target_": "torch.nn.Nope", "n_prm": 3})
    with pytest.raises(LosslandError, match="arch entry 'bad' is not valid"):
        archs.register({"name": "bad", "_target_": "torch.nn.Linear", "n_prm": 3, "los": "mse"})
    with pytest.raises(LosslandError, match="unknown arch 'resnet'.*conf/arch/resnet.yaml"):
        archs.get("resnet")
