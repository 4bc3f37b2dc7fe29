"""The four nets: the paper's parameter counts, the flat layout, and weight-file checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lossland.core.errors import LosslandError
from lossland.nets import archs
from lossland.nets.modules import (
    build_model,
    evaluate,
    get_flat,
    load_weight_file,
    lstm_permutation,
    set_flat,
)

PAPER_N_PRM = {"fcp": 42200, "lenet": 61706, "lstm": 15456, "ae": 52224}  # Table 1

ARCHS = archs.names()


@pytest.mark.parametrize("arch", ARCHS)
def test_parameter_count_matches_table_1(arch):
    model = build_model(arch)
    assert sum(p.numel() for p in model.parameters()) == PAPER_N_PRM[arch] == archs.get(arch).n_prm


@pytest.mark.parametrize("arch", ARCHS)
def test_flat_vector_is_parameters_in_module_order(arch):
    # The reference: docs/decisions.md's layer table written out by hand as (out, in) weight
    # shapes in
    # the authors' order, and each net's forward pass written with torch.nn.functional on
    # slices of the flat vector. A different layout gives a different output.
    torch.manual_seed(0)
    w = 0.1 * torch.randn(archs.get(arch).n_prm, dtype=torch.float64)
    model = build_model(arch).double()
    set_flat(model, w)
    assert torch.equal(get_flat(model), w)
    x = torch.rand(5, 1, 28, 28, dtype=torch.float64)
    torch.testing.assert_close(model(x), HAND_FORWARD[arch](x, w))


HAND_LAYOUT = {  # docs/decisions.md#architectures: every parameter's shape, in order
    "fcp": [(50, 784), (50, 50), (10, 50)],
    "lenet": [(6, 1, 5, 5), (6,), (16, 6, 5, 5), (16,), (120, 400), (120,), (84, 120), (84,),
              (10, 84), (10,)],
    "lstm": [(192, 28), (192, 48), (192,), (192,), (10, 48)],  # W_ih, W_hh, b_ih, b_hh, head
    "ae": [(32, 784), (32, 32), (32, 32), (784, 32)],
}  # fmt: skip


def hand_split(w: torch.Tensor, arch: str) -> list[torch.Tensor]:
    sizes = [int(np.prod(shape)) for shape in HAND_LAYOUT[arch]]
    assert sum(sizes) == PAPER_N_PRM[arch]
    return [t.view(shape) for t, shape in zip(w.split(sizes), HAND_LAYOUT[arch], strict=True)]


def hand_lstm(seq: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """LSTM with gates in PyTorch's documented order (input, forget, cell, output), h0 = c0 = 0,
    then the bias-free head on the last hidden state. seq: [batch, 28 steps, 28 features]."""
    w_ih, w_hh, b_ih, b_hh, head = hand_split(w, "lstm")
    h = c = seq.new_zeros(len(seq), 48)
    for t in range(seq.shape[1]):
        i, f, g, o = (seq[:, t] @ w_ih.T + b_ih + h @ w_hh.T + b_hh).chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
    return h @ head.T


def hand_fcp(x, w):
    w1, w2, w3 = hand_split(w, "fcp")
    return F.softplus(F.softplus(x.flatten(1) @ w1.T) @ w2.T) @ w3.T


def hand_lenet(x, w):
    c1, b1, c2, b2, l1, d1, l2, d2, l3, d3 = hand_split(w, "lenet")
    h = F.avg_pool2d(F.softplus(F.conv2d(x, c1, b1, padding=2)), 2)
    h = F.avg_pool2d(F.softplus(F.conv2d(h, c2, b2)), 2).flatten(1)
    return F.softplus(F.softplus(h @ l1.T + d1) @ l2.T + d2) @ l3.T + d3


def hand_ae(x, w):
    w1, w2, w3, w4 = hand_split(w, "ae")
    h = F.softplus(F.softplus(F.softplus(x.flatten(1) @ w1.T) @ w2.T) @ w3.T)
    return torch.sigmoid(h @ w4.T)


HAND_FORWARD = {
    "fcp": hand_fcp,
    "lenet": hand_lenet,
    "lstm": lambda x, w: hand_lstm(x.flatten(1)[:, lstm_permutation()].view(-1, 28, 28), w),
    "ae": hand_ae,
}


@pytest.mark.parametrize("arch", ARCHS)
def test_forward_shapes_and_losses(arch):
    torch.manual_seed(0)
    x, y = torch.rand(32, 1, 28, 28), torch.randint(0, 10, (32,))
    result = evaluate(build_model(arch), arch, x, y, batch_size=10)
    assert np.isfinite(result["loss"])
    assert ("accuracy" in result) == (arch != "ae")
    if arch != "ae":  # an untrained classifier is near chance: ln(10)
        assert abs(result["loss"] - np.log(10)) < 0.5


def test_activation_is_selectable():
    torch.manual_seed(0)
    soft, relu = build_model("fcp", "softplus"), build_model("fcp", "relu")
    relu.load_state_dict(soft.state_dict())
    x = torch.rand(4, 1, 28, 28)
    assert not torch.allclose(soft(x), relu(x))
    with pytest.raises(LosslandError, match="softplus, relu"):
        build_model("fcp", "tanh")


# torch.randperm(784, generator=torch.Generator().manual_seed(1234)) on CPU, as the authors'
# NN_arch.py (LSTM_sMNIST) draws it: its first 12 and last 5 entries, recorded once.
PERM_HEAD = [111, 112, 772, 475, 120, 209, 418, 25, 311, 38, 733, 723]
PERM_TAIL = [358, 701, 7, 328, 31]


def test_lstm_permutation_is_the_authors():
    p = lstm_permutation()
    assert sorted(p.tolist()) == list(range(784))
    assert p[:12].tolist() == PERM_HEAD and p[-5:].tolist() == PERM_TAIL


@pytest.mark.parametrize("k", [0, 1, 11, 779, 783])
def test_lstm_reads_pixel_perm_k_at_step_k_div_28(k):
    # One lit pixel at image index perm[k] must reach the LSTM as feature k % 28 of step k // 28;
    # the reference is the hand-written LSTM fed that sequence directly (no permutation code).
    torch.manual_seed(0)
    w = 0.3 * torch.randn(archs.get("lstm").n_prm, dtype=torch.float64)
    model = build_model("lstm").double()
    set_flat(model, w)
    pixel = (PERM_HEAD + [None] * 767 + PERM_TAIL)[k]
    image = torch.zeros(1, 1, 28, 28, dtype=torch.float64)
    image.view(-1)[pixel] = 1.0
    seq = torch.zeros(1, 28, 28, dtype=torch.float64)
    seq[0, k // 28, k % 28] = 1.0
    torch.testing.assert_close(model(image), hand_lstm(seq, w))


def test_unknown_arch_lists_choices():
    with pytest.raises(LosslandError, match="ae, fcp, lenet, lstm"):
        build_model("resnet")


def test_weight_file_round_trip(tmp_path):
    w = np.random.default_rng(0).standard_normal((3, archs.get("lstm").n_prm)).astype(np.float32)
    np.save(tmp_path / "w.npy", w)
    assert np.array_equal(load_weight_file(tmp_path / "w.npy", "lstm"), w)
    np.save(tmp_path / "one.npy", w[0])
    assert load_weight_file(tmp_path / "one.npy", "lstm").shape == (1, archs.get("lstm").n_prm)


@pytest.mark.parametrize(
    "content, message",
    [
        (np.zeros((2, 10), np.float32), r"shape \[2, 10\], expected \[n, 15456\]"),
        (np.zeros((2, archs.get("lstm").n_prm), np.float64), "dtype float64, expected float32"),
        (np.zeros((2, 3, archs.get("lstm").n_prm), np.float32), "expected \\[n, 15456\\]"),
    ],
)
def test_bad_weight_files_get_one_clear_line(tmp_path, content, message):
    np.save(tmp_path / "w.npy", content)
    with pytest.raises(LosslandError, match=message):
        load_weight_file(tmp_path / "w.npy", "lstm")


def test_non_array_files_are_refused(tmp_path):
    (tmp_path / "text.npy").write_text("not an array")
    with pytest.raises(LosslandError, match="not a .npy array file"):
        load_weight_file(tmp_path / "text.npy", "fcp")
    np.savez(tmp_path / "many.npz", a=np.zeros(3))
    with pytest.raises(LosslandError, match="several arrays"):
        load_weight_file(tmp_path / "many.npz", "fcp")
    with pytest.raises(LosslandError, match="does not exist"):
        load_weight_file(tmp_path / "nope.npy", "fcp")


def test_set_flat_copies_so_a_packed_seeds_checkpoint_holds_one_vector():
    """A row of a pack's W [k, N] set into a model: the model owns a copy (W moves on without
    it), and its saved state is one vector's size, not the whole pack's storage."""
    import io

    w = torch.randn(75, 42200)
    model = build_model("fcp")
    set_flat(model, w[3])
    before = w[3].clone()
    w[3] += 1.0
    assert torch.equal(get_flat(model), before)
    saved = io.BytesIO()
    torch.save(model.state_dict(), saved)
    assert saved.tell() < 2 * 42200 * 4
