"""The registry's symmetry contract, for every conf/arch/*.yaml on disk (a new entry is tested
with no new test, and fails here until it declares its symmetry, or `symmetry: []`).

Per arch, in float64: a random permutation of the declared groups changes the weights but not
the loss on a batch of real MNIST (relative 1e-10; the permuted net sums in another order
only), checked through the module's own forward with torch's loss (not lossland's batched
forms); and weight matching a randomly permuted copy to its original recovers the original
exactly. For fcp the flat permutation is also checked against the permutation matrices written
out by hand (W1 -> P1 W1, W2 -> P2 W2 P1^T, W3 -> W3 P2^T).
"""

from __future__ import annotations

import pytest
import torch
from torch.nn.utils import parameters_to_vector, vector_to_parameters

from lossland.core.errors import LosslandError
from lossland.data import load_split
from lossland.nets import archs, symmetry
from lossland.nets.matching import weight_matching
from tests.test_arch_registry import ENTRIES, REFERENCE_LOSS, seeded_module

RTOL = 1e-10


@pytest.fixture(scope="module")
def images(mnist_root) -> tuple[torch.Tensor, torch.Tensor]:
    split = load_split(mnist_root, "train", limit=64)
    return split.x.double(), split.y


def module_loss(name: str, w: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> float:
    model = seeded_module(name, 0)
    vector_to_parameters(w, model.parameters())
    with torch.no_grad():
        return float(REFERENCE_LOSS[archs.get(name).loss.value](model(x), x, y))


@pytest.mark.parametrize("name", ENTRIES)
def test_every_entry_declares_its_symmetry(name):
    assert archs.get(name).symmetry is not None, (
        f"conf/arch/{name}.yaml declares no `symmetry:` (use `symmetry: []` for none)"
    )


@pytest.mark.parametrize("name", [e for e in ENTRIES if archs.get(e).symmetry])
def test_a_random_permutation_keeps_the_loss_and_changes_the_weights(name, images):
    sym = symmetry.of(name)
    w = parameters_to_vector(seeded_module(name, 5).parameters()).detach()
    perm = sym.random(torch.Generator().manual_seed(1))
    assert all(not torch.equal(p, torch.arange(len(p))) for p in perm.values())
    permuted = sym.permute(w, perm)
    assert not torch.equal(permuted, w)
    assert torch.equal(permuted.sort().values, w.sort().values)  # the same numbers, moved
    before, after = module_loss(name, w, *images), module_loss(name, permuted, *images)
    assert after == pytest.approx(before, rel=RTOL, abs=0)


@pytest.mark.parametrize("name", [e for e in ENTRIES if archs.get(e).symmetry])
def test_each_group_alone_changes_every_parameter_it_names(name, images):
    """A group that forgot an axis would still pass the test above if another group hid it;
    alone, each group must keep the loss and move each of its parameters."""
    sym = symmetry.of(name)
    w = parameters_to_vector(seeded_module(name, 6).parameters()).detach()
    for group in sym.groups:
        perm = sym.identity() | {group.name: torch.randperm(group.size)}
        permuted = sym.permute(w, perm)
        for ax in group.axes:
            assert not torch.equal(sym.param(permuted, ax.param), sym.param(w, ax.param))
        after = module_loss(name, permuted, *images)
        assert after == pytest.approx(module_loss(name, w, *images), rel=RTOL, abs=0), group.name


@pytest.mark.parametrize("name", [e for e in ENTRIES if archs.get(e).symmetry])
def test_weight_matching_a_permuted_copy_recovers_the_original(name):
    sym = symmetry.of(name)
    w = parameters_to_vector(seeded_module(name, 7).parameters()).detach()
    permuted = sym.permute(w, sym.random(torch.Generator().manual_seed(2)))
    match = weight_matching(sym, w, permuted)
    assert torch.equal(match.aligned, w)
    assert match.distance_before > 0 and match.distance_after == 0
    assert match.iterations >= 1


def test_fcp_flat_permutation_is_the_permutation_matrices():
    sym = symmetry.of("fcp")
    torch.manual_seed(0)
    w1, w2, w3 = torch.randn(50, 784), torch.randn(50, 50), torch.randn(10, 50)
    perm = sym.random(torch.Generator().manual_seed(3))
    p1 = torch.eye(50)[perm["hidden1"]]  # row k of P1 picks unit perm[k]
    p2 = torch.eye(50)[perm["hidden2"]]
    expected = torch.cat([(p1 @ w1).ravel(), (p2 @ w2 @ p1.T).ravel(), (w3 @ p2.T).ravel()])
    flat = torch.cat([w1.ravel(), w2.ravel(), w3.ravel()])
    torch.testing.assert_close(sym.permute(flat, perm), expected, rtol=0, atol=0)


def test_an_undeclared_or_wrong_symmetry_is_one_line():
    entry = {"name": "nosym", "_target_": "lossland.nets.modules.FCP", "n_prm": 42200}
    archs.register(entry)
    with pytest.raises(LosslandError, match="arch nosym declares no permutation symmetry"):
        symmetry.of("nosym")
    archs.register(entry | {"name": "nosym0", "symmetry": []})
    with pytest.raises(LosslandError, match="no permutation symmetry .symmetry: \\[\\]"):
        symmetry.of("nosym0")
    bad = {"name": "h", "size": 40, "axes": ["1.weight[0]"]}
    archs.register(entry | {"name": "badsym", "symmetry": [bad]})
    with pytest.raises(LosslandError, match="has no axis of length 40"):
        symmetry.of("badsym")
    with pytest.raises(LosslandError, match="arch entry 'badaxis' is not valid: symmetry axis"):
        archs.register(entry | {"name": "badaxis", "symmetry": [bad | {"axes": ["1.weight"]}]})


def test_the_loss_check_is_sensitive_to_a_wrong_declaration(images):
    """The contract's loss check fails for a permutation that forgets the next layer's column."""
    sym = symmetry.of("fcp")
    w = parameters_to_vector(seeded_module("fcp", 5).parameters()).detach()
    wrong = w.clone()
    rows = sym.param(wrong, "1.weight")
    rows.copy_(rows[torch.randperm(50, generator=torch.Generator().manual_seed(4))])
    assert module_loss("fcp", wrong, *images) != pytest.approx(
        module_loss("fcp", w, *images), rel=1e-6
    )
