"""The CPU reference values of the CUDA tests (tests/data/cuda_refs.npz, made by
`python -m tests.cuda_refs`) are what today's code computes on the CPU: a change that moves
them must regenerate the file, so the CUDA tests never compare against stale numbers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests import cuda_refs

# Another CPU (another SIMD width, another BLAS) sums in another order: a tenth of the CUDA
# tolerances (1e-6 relative for losses), far above this machine's run-to-run difference (none).
CPU_SCALE = 0.1


@pytest.fixture(scope="module")
def committed() -> dict[str, np.ndarray]:
    return cuda_refs.load()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("arch", cuda_refs.ARCHS)
def test_the_committed_references_are_todays_cpu_values(mnist_root, committed, arch, dtype):
    """float32: what the code computes today. float64, an independent reference: the file is
    right up to float32 rounding (measured: 2.4e-7 of the largest value at most), well inside
    a tenth of the tolerances the CUDA tests allow."""
    got = cuda_refs.compute(arch, mnist_root, torch.device("cpu"), dtype)
    mine = {k: v for k, v in committed.items() if k.startswith(f"{arch}/")}
    assert cuda_refs.mismatches({f"{arch}/{k}": v for k, v in got.items()}, mine, CPU_SCALE) == []


def test_the_references_are_what_they_say(committed):
    """Hand-checkable facts: the batched call's first row is the module's loss, the path
    starts and ends at the two nets' losses, L-BFGS-GSS went down, a softplus net's
    cross-entropy at init is near ln 10."""
    for arch in cuda_refs.ARCHS:
        ref = {k.split("/", 1)[1]: v for k, v in committed.items() if k.startswith(f"{arch}/")}
        assert ref["loss_batched"][0] == pytest.approx(ref["loss_module"][0], rel=1e-6)
        assert ref["path_straight"][[0, -1]] == pytest.approx(ref["loss_batched"], rel=1e-6)
        assert (
            np.all(np.diff(ref["lbfgs_losses"]) <= 0)
            and ref["lbfgs_losses"][0] < ref["loss_module"][0]
        )
        assert ref["lbfgs_evals"][0] >= cuda_refs.LBFGS_ITERS
        if arch != "ae":
            assert ref["loss_module"][0] == pytest.approx(np.log(10), abs=0.1)


def test_a_value_off_by_more_than_its_tolerance_is_caught(committed):
    off = dict(committed)
    off["fcp/loss_module"] = committed["fcp/loss_module"] * (1 + 3e-5)
    off["lstm/hvp"] = committed["lstm/hvp"].copy()
    off["lstm/hvp"][5] += 3e-4 * np.abs(committed["lstm/hvp"][2:]).max()
    off["ae/lbfgs_evals"] = committed["ae/lbfgs_evals"] + 1
    assert [line.split(":")[0] for line in cuda_refs.mismatches(off, committed)] == [
        "fcp/loss_module",
        "lstm/hvp",
        "ae/lbfgs_evals",
    ]
    assert cuda_refs.mismatches(committed, committed) == []
