"""Flushing subnormal floats to zero (every entry point does: lossland.launch.cli) keeps the
results.

Near a deep minimum the softmax's small probabilities and their gradients go subnormal
(< 1.2e-38), where CPU arithmetic is up to 10x slower. Flushed, each such term becomes 0: it
is below float32's resolution of any loss or weight we record (a loss of 1e-10 has an ulp of
1e-17), so the loss and the gradient must stay as they were, and as in float64.
"""

from __future__ import annotations

import pytest
import torch

from lossland.data import load_split
from lossland.nets.modules import batch_loss, build_model, loss_from_outputs
from lossland.train.lbfgs_gss import LBFGSGSS
from lossland.train.optimizers import full_batch_epoch


def loss_and_grad(model, x, y) -> tuple[float, torch.Tensor]:
    model.zero_grad()
    loss = loss_from_outputs("fcp", model(x), x, y)
    loss.backward()
    return loss.item(), torch.cat([p.grad.reshape(-1) for p in model.parameters()])


def test_flushing_denormals_at_a_deep_minimum_changes_nothing(mnist_root):
    train = load_split(mnist_root, "train", limit=200)
    torch.manual_seed(0)
    model = build_model("fcp")
    optimizer = LBFGSGSS(model.parameters())
    for _ in range(40):  # fcp fits 200 images to a train loss of ~2e-9
        full_batch_epoch(batch_loss(model, "fcp"), optimizer, train)
    with torch.no_grad():
        p = torch.softmax(model(train.x), 1)
    assert ((p > 0) & (p < torch.finfo(torch.float32).tiny)).any(), "no subnormals: no test"
    try:
        torch.set_flush_denormal(False)
        kept = loss_and_grad(model, train.x, train.y)
        assert torch.set_flush_denormal(True), "this CPU cannot flush denormals"
        flushed = loss_and_grad(model, train.x, train.y)
    finally:
        torch.set_flush_denormal(False)
    exact = loss_and_grad(model.double(), train.x.double(), train.y)
    assert kept[0] < 1e-8
    # float32 itself resolves a loss of 1e-9 coarsely (log-softmax of logits ~10 has an ulp of
    # 1e-6 / n images): flushing must not move either result further from float64 than that.
    for i in (0, 1):
        err_kept = (torch.as_tensor(kept[i]).double() - exact[i]).abs().max().item()
        err_flushed = (torch.as_tensor(flushed[i]).double() - exact[i]).abs().max().item()
        assert err_flushed <= 1.01 * err_kept + 1e-30
    assert flushed[0] == pytest.approx(kept[0], rel=1e-6)
    torch.testing.assert_close(flushed[1], kept[1], rtol=1e-5, atol=1e-12)
