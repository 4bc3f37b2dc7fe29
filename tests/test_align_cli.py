"""`python -m lossland.align`: a weights file's rows aligned to a reference's; bad input is one
line before any work. The reference answer is known: the rows are planted permutations of
the reference's rows, so aligning must give the reference back exactly."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from lossland.align import align_file
from lossland.core.errors import LosslandError
from lossland.nets import archs, symmetry
from lossland.nets.modules import build_model, get_flat
from tests.conftest import run_module


def vectors(arch: str, n: int, seed: int = 0) -> np.ndarray:
    torch.manual_seed(seed)
    return np.stack([get_flat(build_model(arch)).numpy() for _ in range(n)]).astype(np.float32)


def permuted(arch: str, w: np.ndarray, seed: int = 1) -> np.ndarray:
    sym, g = symmetry.of(arch), torch.Generator().manual_seed(seed)
    return np.stack([sym.permute(torch.from_numpy(r), sym.random(g)).numpy() for r in w])


def test_the_command_aligns_each_row_to_the_references_row(tmp_path):
    ref = vectors("lenet", 3)
    np.save(tmp_path / "ref.npy", ref)
    np.save(tmp_path / "w.npy", permuted("lenet", ref))
    done = run_module(
        "lossland.align",
        "arch=lenet",
        f"weights={tmp_path / 'w.npy'}",
        f"reference={tmp_path / 'ref.npy'}",
        f"out={tmp_path / 'out.npy'}",
    )
    out = np.load(tmp_path / "out.npy")
    assert out.dtype == np.float32 and out.shape == ref.shape
    assert np.array_equal(out, ref)
    assert "distance_after" in done.stdout and "wrote" in done.stdout


def test_one_reference_row_serves_every_row_and_a_vector_keeps_its_shape(tmp_path):
    ref = vectors("fcp", 1)
    w = permuted("fcp", np.repeat(ref, 2, axis=0))
    np.save(ref_file := tmp_path / "ref.npy", ref[0])  # [N_prm]
    np.save(w_file := tmp_path / "w.npy", w)
    table = align_file("fcp", str(w_file), str(ref_file), str(tmp_path / "out.npy"))
    assert np.array_equal(np.load(tmp_path / "out.npy"), np.repeat(ref, 2, axis=0))
    assert (table.distance_after == 0).all() and (table.distance_before > 0).all()
    np.save(w_file, w[0])
    align_file("fcp", str(w_file), str(ref_file), str(tmp_path / "one.npy"))
    assert np.load(tmp_path / "one.npy").shape == (42200,)


def test_bad_input_is_one_line_and_writes_nothing(tmp_path):
    ref = vectors("fcp", 2)
    good, ref_file, out = tmp_path / "w.npy", tmp_path / "ref.npy", tmp_path / "out.npy"
    np.save(good, ref)
    np.save(ref_file, ref)

    def fails(match: str, weights=good, reference=ref_file, arch="fcp") -> None:
        with pytest.raises(LosslandError, match=match):
            align_file(arch, str(weights), str(reference), str(out))
        assert not out.exists()

    np.save(short := tmp_path / "short.npy", ref[:, :100])
    fails("has shape \\[2, 100\\], expected \\[n, 42200\\] for arch fcp", weights=short)
    nan = ref.copy()
    nan[1, 5] = np.nan
    np.save(bad := tmp_path / "nan.npy", nan)
    fails("weights .*nan.npy: rows \\[1\\] hold NaN or inf", weights=bad)
    np.save(three := tmp_path / "three.npy", np.concatenate([ref, ref[:1]]))
    fails("reference .* has 2 rows and weights .* 3", weights=three)
    archs.register(
        OmegaConf.create(
            {"name": "fcp_nosym", "_target_": "lossland.nets.modules.FCP", "n_prm": 42200}
        )
    )
    fails("arch fcp_nosym declares no permutation symmetry", arch="fcp_nosym")
    align_file("fcp", str(good), str(ref_file), str(out))
    with pytest.raises(LosslandError, match="out.npy exists: choose another out=, or add"):
        align_file("fcp", str(good), str(ref_file), str(out))


def test_the_command_says_one_line_for_bad_input(tmp_path):
    np.save(tmp_path / "w.npy", np.zeros((2, 42200), np.float64))
    done = run_module(
        "lossland.align",
        "arch=fcp",
        f"weights={tmp_path / 'w.npy'}",
        f"reference={tmp_path / 'w.npy'}",
        f"out={tmp_path / 'out.npy'}",
        check=False,
    )
    assert done.returncode == 2
    assert "dtype float64, expected float32" in done.stderr + done.stdout
    assert "Traceback" not in done.stderr and not (tmp_path / "out.npy").exists()
