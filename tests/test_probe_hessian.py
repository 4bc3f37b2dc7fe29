"""The Hessian probe against references: the dense Hessian of a small net, and curvlinops
(an independent library) on the paper's nets, including the LSTM through its plain-ops twin."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from curvlinops import HessianLinearOperator
from scipy.sparse.linalg import eigsh

from lossland.data import load_split
from lossland.nets.batched import batched_loss_fn
from lossland.nets.modules import build_model, get_flat
from lossland.probes.hessian import spectrum
from lossland.probes.hvp import Curvature, hutchinson_trace


@pytest.fixture(scope="module")
def data(mnist_root):
    split = load_split(mnist_root, "train", limit=64)
    return split.x, split.y


def small_net_loss(x: torch.Tensor, y: torch.Tensor):
    """A 12-5-3 softplus net on 12 pixel features, W [B, 75] -> losses [B]: small enough to
    form its Hessian densely."""
    feats = x.flatten(1)[:, 300:312] * 3

    def losses(w: torch.Tensor) -> torch.Tensor:
        w1, w2 = w[:, :60].reshape(-1, 5, 12), w[:, 60:].reshape(-1, 3, 5)
        hidden = torch.nn.functional.softplus(torch.einsum("bhf,nf->bnh", w1, feats))
        logits = torch.einsum("bch,bnh->bnc", w2, hidden)
        return torch.stack(
            [torch.nn.functional.cross_entropy(out, y % 3) for out in logits]
        )  # 3 classes

    return losses


def test_lanczos_matches_dense_hessian(data):
    x, y = data
    f = small_net_loss(x, y)
    w = torch.randn(75, generator=torch.Generator().manual_seed(0))
    dense = torch.func.hessian(lambda v: f(v[None])[0])(w)
    eig = torch.linalg.eigvalsh(dense.double()).numpy()
    # two slices weighted by their share: the slicing must not change H
    curv = Curvature(
        [(small_net_loss(x[:40], y[:40]), 40 / 64), (small_net_loss(x[40:], y[40:]), 24 / 64)]
    )
    out = spectrum(curv, w, k=3, tol=1e-6, maxiter=1000, trace_samples=0)
    assert out["status"] == "ok"
    np.testing.assert_allclose(out["top"], eig[::-1][:3], rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(out["lambda_min"], eig[0], rtol=1e-3, atol=1e-5)
    assert eig[0] < 0  # the check covers an indefinite Hessian


def test_hutchinson_trace_is_unbiased_within_its_error(data):
    x, y = data
    f = small_net_loss(x, y)
    w = torch.randn(75, generator=torch.Generator().manual_seed(1))
    exact = float(torch.trace(torch.func.hessian(lambda v: f(v[None])[0])(w)))
    est, se = hutchinson_trace(Curvature([(f, 1.0)]), w, samples=400, batch=100, seed=0)
    assert abs(est - exact) < 4 * se
    assert se < 0.2 * abs(exact)


def test_lstm_twin_equals_the_fast_lstm(data):
    """The plain-ops LSTM cell (second derivatives) gives the fused one's losses and gradients."""
    x, y = data
    w = torch.stack([get_flat(build_model("lstm")) * s for s in (1.0, 3.0)]).requires_grad_()
    fast = batched_loss_fn("lstm", "softplus", x, y)(w)
    twin = batched_loss_fn("lstm", "softplus", x, y, twice=True)(w)
    (g_fast,) = torch.autograd.grad(fast.sum(), w)
    (g_twin,) = torch.autograd.grad(twin.sum(), w)
    torch.testing.assert_close(twin, fast, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(g_twin, g_fast, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("arch", ["fcp", "lstm", "lenet"])
def test_hvp_matches_curvlinops(arch, data):
    """Hessian-vector products of the batched twin = curvlinops' on the nn.Module (nn.LSTM)."""
    x, y = data
    torch.manual_seed(0)
    model = build_model(arch)
    params = list(model.parameters())
    ref = HessianLinearOperator(
        model, torch.nn.CrossEntropyLoss(), params, [(x, y)], check_deterministic=False
    )
    v = torch.randn(2, sum(p.numel() for p in params))
    with torch.backends.mkldnn.flags(enabled=False):  # nn.LSTM's mkldnn kernel has no jvp
        expected = torch.stack([ref @ row for row in v])
    w = get_flat(model)
    mine = Curvature.for_arch(arch, "softplus", x, y, image_chunk=40).hvp(w.expand(2, -1), v)
    torch.testing.assert_close(mine, expected, rtol=1e-3, atol=1e-5 * float(expected.abs().max()))


def test_top_eigenvalues_match_curvlinops_eigsh(data):
    x, y = data
    torch.manual_seed(0)
    model = build_model("fcp")
    ref = HessianLinearOperator(
        model,
        torch.nn.CrossEntropyLoss(),
        list(model.parameters()),
        [(x, y)],
        check_deterministic=False,
    ).to_scipy()
    expected = np.sort(eigsh(ref, k=3, which="LA", tol=1e-6)[0])[::-1]
    out = spectrum(
        Curvature.for_arch("fcp", "softplus", x, y),
        get_flat(model),
        tol=1e-6,
        trace_samples=0,
        negative=False,
    )
    np.testing.assert_allclose(out["top"], expected, rtol=1e-3)


def test_non_convergence_is_recorded_not_waited_for(data):
    x, y = data
    curv = Curvature.for_arch("fcp", "softplus", x, y)
    out = spectrum(curv, get_flat(build_model("fcp")), k=3, tol=1e-12, maxiter=1, trace_samples=0)
    assert out["status"] == "not-converged"
    assert not (out["top_converged"] and out["min_converged"])
    assert "maxiter=1" in out["message"]


def test_nan_weights_give_a_status_not_a_crash(data):
    x, y = data
    w = get_flat(build_model("fcp"))
    w[0] = float("nan")
    out = spectrum(Curvature.for_arch("fcp", "softplus", x, y), w)
    assert out["status"] == "non-finite" and "loss is nan" in out["message"]
