"""Issue 23: the Hessian probe's batched Lanczos (solver=batched) against references: the dense
Hessian's eigenvalues of a small net for several solutions at once, the eigsh path on fcp, and
the probe's config identity (the default solver keeps every signature)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from lossland.core import identity
from lossland.core.config import compose
from lossland.data import load_split
from lossland.nets.modules import build_model, get_flat
from lossland.probes.hessian import Hessian, spectra, spectrum
from lossland.probes.hvp import Curvature, batched_lanczos
from lossland.probes.job import probe_paths, run_probe
from tests.test_probe_hessian import small_net_loss


@pytest.fixture(scope="module")
def data(mnist_root):
    split = load_split(mnist_root, "train", limit=64)
    return split.x.double(), split.y


def dense_eigs(x: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> np.ndarray:
    f = small_net_loss(x, y)
    return np.linalg.eigvalsh(torch.func.hessian(lambda v: f(v[None])[0])(w).numpy())


def test_batched_lanczos_equals_the_dense_hessian_for_several_solutions(data):
    """Four solutions in lock-step (float64, two weighted image slices): top 3 and the most
    negative eigenvalue of each = numpy's eigvalsh of its dense Hessian."""
    x, y = data
    gen = torch.Generator().manual_seed(0)
    w = torch.randn(4, 75, generator=gen, dtype=torch.float64) * torch.tensor(
        [[0.5], [1.0], [1.5], [2.0]], dtype=torch.float64
    )
    curv = Curvature(
        [(small_net_loss(x[:40], y[:40]), 40 / 64), (small_net_loss(x[40:], y[40:]), 24 / 64)]
    )
    outs = spectra(curv, w, k=3, tol=1e-8, maxiter=75, trace_samples=0)
    for row, out in zip(w, outs, strict=True):
        eig = dense_eigs(x, y, row)
        assert out["status"] == "ok", out
        assert out["top_converged"] and out["min_converged"]
        np.testing.assert_allclose(out["top"], eig[::-1][:3], rtol=1e-6)
        assert out["lambda_max"] == out["top"][0]
        np.testing.assert_allclose(out["lambda_min"], eig[0], rtol=1e-5, atol=1e-8)
        assert eig[0] < 0  # an indefinite Hessian: the shifted run is exercised
        assert out["n_hvp"] == out["n_hvp_lanczos"] <= 2 * 75
    assert len({tuple(o["top"]) for o in outs}) == 4  # four different spectra


def test_batched_lanczos_of_diagonal_operators_is_exact():
    """Known spectra (diagonal matrices, one per row, different sizes of gaps): the Ritz values
    and the stopping rule, without a net."""
    gen = torch.Generator().manual_seed(1)
    n = 200
    diags = torch.stack(
        [
            torch.linspace(-1, 10, n, dtype=torch.float64),
            torch.rand(n, generator=gen, dtype=torch.float64) * 3 - 1,
            torch.cat([torch.tensor([50.0, 49.0, 20.0]), torch.linspace(-2, 1, n - 3)]).double(),
        ]
    )
    v0 = torch.randn(3, n, generator=gen, dtype=torch.float64)
    found = batched_lanczos(lambda rows, v: diags[rows] * v, v0, 3, "LA", 1e-10, n)
    for d, (vals, ok, steps) in zip(diags, found, strict=True):
        assert ok and steps <= n
        np.testing.assert_allclose(vals, np.sort(d.numpy())[::-1][:3], rtol=1e-8)
    low = batched_lanczos(lambda rows, v: diags[rows] * v, v0, 1, "LM", 1e-10, n)
    assert low[2][0][0] == pytest.approx(50.0, rel=1e-8)  # largest magnitude
    # too few steps: not converged, and only what passed the test is returned
    short = batched_lanczos(lambda rows, v: diags[rows] * v, v0, 3, "LA", 1e-12, 5)
    assert all(not ok and steps == 5 and len(vals) < 3 for vals, ok, steps in short)
    # a start vector in an invariant subspace of 2 eigenvectors: exact after 2 steps, and k = 3
    # is out of reach (recorded as not converged, with the 2 found)
    two = torch.zeros(1, n, dtype=torch.float64)
    two[0, [0, 5]] = 1.0
    ((vals, ok, steps),) = batched_lanczos(lambda rows, v: diags[:1] * v, two, 3, "LA", 1e-10, n)
    assert not ok and steps == 2
    np.testing.assert_allclose(vals, diags[0, [5, 0]].numpy(), rtol=1e-12)
    ((vals, ok, steps),) = batched_lanczos(lambda rows, v: diags[:1] * v, two, 1, "LA", 1e-10, n)
    assert ok and steps <= 2 and vals[0] == pytest.approx(float(diags[0, 5]), rel=1e-12)


def test_batched_equals_the_eigsh_path_on_fcp(data):
    """fcp (42,200 weights, 32 images, float64): each solution's record from the batched solver
    holds the keys and, within the tolerance, the values of `spectrum` (scipy eigsh)."""
    x, y = data
    curv = Curvature.for_arch("fcp", "softplus", x[:32], y[:32])
    torch.manual_seed(0)
    w = torch.stack([get_flat(build_model("fcp")) * s for s in (1.0, 2.0, 3.0)]).double()
    kw = dict(k=3, tol=1e-6, maxiter=300, trace_samples=4, trace_batch=2)
    outs = spectra(curv, w, **kw)
    for row, out in zip(w, outs, strict=True):
        ref = spectrum(curv, row, **kw)
        assert ref["status"] == out["status"] == "ok"
        assert list(out) == list(ref)
        np.testing.assert_allclose(out["top"], ref["top"], rtol=1e-5)
        np.testing.assert_allclose(out["lambda_min"], ref["lambda_min"], rtol=1e-3, atol=1e-6)
        np.testing.assert_allclose(out["loss"], ref["loss"], rtol=1e-12)
        # the same Rademacher vectors: the same estimate up to rounding
        np.testing.assert_allclose(out["trace"], ref["trace"], rtol=1e-9)
        np.testing.assert_allclose(out["trace_se"], ref["trace_se"], rtol=1e-9)


def test_non_convergence_and_nan_are_recorded_per_solution(data):
    x, y = data
    curv = Curvature.for_arch("fcp", "softplus", x[:16], y[:16])
    torch.manual_seed(0)
    w = torch.stack([get_flat(build_model("fcp")) for _ in range(3)]).double()
    w[1, 0] = float("nan")
    outs = spectra(curv, w, k=3, tol=1e-12, maxiter=4, trace_samples=0)
    assert outs[1]["status"] == "non-finite" and "loss is nan" in outs[1]["message"]
    for out in (outs[0], outs[2]):
        assert out["status"] == "not-converged" and "maxiter=4" in out["message"]
        assert not out["top_converged"] and len(out["top"]) < 3


def test_probe_runs_the_units_of_a_shard_together(data):
    x, y = data
    probe = Hessian(k=2, tol=1e-6, maxiter=60, trace_samples=0, solver="batched")
    assert probe.batch > 1 and Hessian().batch == 1

    class Ctx:  # what `run` reads of a Landscape
        weights = torch.randn(3, 75, generator=torch.Generator().manual_seed(2)).double()

        def curvature(self, split=None):
            return Curvature([(small_net_loss(x, y), 1.0)])

    units = [type("U", (), {"index": (i,)})() for i in (2, 0)]
    outs = probe.run(Ctx(), units)
    for u, out in zip(units, outs, strict=True):
        eig = dense_eigs(x, y, Ctx.weights[u.index[0]])
        np.testing.assert_allclose(out["top"], eig[::-1][:2], rtol=1e-5)


def test_the_default_solver_keeps_every_signature():
    """`solver` was added after hessian records were made: at its default (eigsh) it is left
    out of the identity, so those records keep their signatures and directories."""
    default = compose("probe", ["probe=hessian"])
    assert default.probe.solver == "eigsh"
    assert "solver" not in identity.result_config(default)["probe"]
    batched = compose("probe", ["probe=hessian", "probe.solver=batched"])
    assert identity.signature(batched) != identity.signature(default)
    assert identity.dir_signature(batched, "probe") != identity.dir_signature(default, "probe")
    older = identity.plain(default)
    del older["probe"]["solver"]  # a record made before the setting existed
    assert identity.signature(older) == identity.signature(default)
    assert identity.dir_signature(older, "probe") == identity.dir_signature(default, "probe")


def test_a_probe_job_with_the_batched_solver(mnist_root, tmp_path):
    """The job end to end (config checks, Hydra's instantiation, records): solver=batched on a
    weights file of three fcp vectors writes the eigsh path's record keys and, within tol, its
    values (scipy eigsh on the same vectors and images as reference)."""
    torch.manual_seed(3)
    w = torch.stack([get_flat(build_model("fcp")) * s for s in (1.0, 1.5, 2.0)])
    np.save(tmp_path / "three.npy", w.numpy())
    over = [
        f"dataset.root={mnist_root}",
        f"out_dir={tmp_path / 'out'}",
        "dataset.n_train=200",
        "probe=hessian",
        "probe.trace_samples=0",
        "probe.tol=1e-5",
        f"weights={tmp_path / 'three.npy'}",
    ]
    cfg = probe_paths(compose("probe", [*over, "probe.solver=batched"]))
    assert run_probe(cfg) == {"units": 3, "skipped": 0, "probed": 3}
    records = sorted((tmp_path / "out").glob("probes/fcp/file-three-*/hessian/*/*.json"))
    assert [r.name for r in records] == [f"solution={k}.json" for k in range(3)]
    split = load_split(mnist_root, "train", limit=200)
    curv = Curvature.for_arch("fcp", "softplus", split.x, split.y)
    for path, row in zip(records, w, strict=True):
        rec = json.loads(path.read_text())
        ref = spectrum(curv, row, k=3, tol=1e-5, maxiter=300, trace_samples=0)
        assert rec["status"] == ref["status"] == "ok"
        assert set(ref) <= set(rec) and rec["config"]["probe"]["solver"] == "batched"
        np.testing.assert_allclose(rec["top"], ref["top"], rtol=1e-4)
        np.testing.assert_allclose(rec["lambda_min"], ref["lambda_min"], rtol=1e-2, atol=1e-5)
