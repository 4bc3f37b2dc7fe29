"""The four nets: the paper's parameter counts, the flat layout, and weight-file checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lossland.errors import LosslandError
from lossland.models import (
    ARCHS,
    N_PRM,
    build_model,
    evaluate,
    get_flat,
    load_weight_file,
    lstm_permutation,
    set_flat,
)

PAPER_N_PRM = {"fcp": 42200, "lenet": 61706, "lstm": 15456, "ae": 52224}  # Table 1


@pytest.mark.parametrize("arch", ARCHS)
def test_parameter_count_matches_table_1(arch):
    model = build_model(arch)
    assert sum(p.numel() for p in model.parameters()) == PAPER_N_PRM[arch] == N_PRM[arch]


@pytest.mark.parametrize("arch", ARCHS)
def test_flat_vector_is_parameters_in_module_order(arch):
    model = build_model(arch)
    w = torch.randn(N_PRM[arch])
    set_flat(model, w)
    assert torch.equal(get_flat(model), w)
    first = next(model.parameters())
    assert torch.equal(first.detach().flatten(), w[: first.numel()])


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


def test_lstm_permutation_is_fixed():
    p = lstm_permutation()
    assert torch.equal(p, lstm_permutation()) and sorted(p.tolist()) == list(range(784))
    assert torch.equal(p, torch.randperm(784, generator=torch.Generator().manual_seed(1234)))


def test_unknown_arch_lists_choices():
    with pytest.raises(LosslandError, match="fcp, lenet, lstm, ae"):
        build_model("resnet")


def test_weight_file_round_trip(tmp_path):
    w = np.random.default_rng(0).standard_normal((3, N_PRM["lstm"])).astype(np.float32)
    np.save(tmp_path / "w.npy", w)
    assert np.array_equal(load_weight_file(tmp_path / "w.npy", "lstm"), w)
    np.save(tmp_path / "one.npy", w[0])
    assert load_weight_file(tmp_path / "one.npy", "lstm").shape == (1, N_PRM["lstm"])


@pytest.mark.parametrize(
    "content, message",
    [
        (np.zeros((2, 10), np.float32), r"shape \[2, 10\], expected \[n, 15456\]"),
        (np.zeros((2, N_PRM["lstm"]), np.float64), "dtype float64, expected float32"),
        (np.zeros((2, 3, N_PRM["lstm"]), np.float32), "expected \\[n, 15456\\]"),
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
