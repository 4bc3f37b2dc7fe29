"""perturb, interp, slice, noise, intrinsic against independent references: nn.Module losses,
per-batch gradients by a plain loop with an SVD, hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lossland.data import load_split
from lossland.nets.modules import build_model, evaluate, get_flat, set_flat
from lossland.probes import Landscape
from lossland.probes.hessian import spectrum
from lossland.probes.interp import Interp, barrier
from lossland.probes.intrinsic import Intrinsic, d_int90
from lossland.probes.noise import Noise
from lossland.probes.perturb import Perturb, fitted_curvature
from lossland.probes.slice import Slice
from lossland.study.design import load_study


def solutions(arch: str, n: int) -> torch.Tensor:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(3)
        return torch.stack([get_flat(build_model(arch)) * (1 + 0.5 * k) for k in range(n)])


@pytest.fixture(scope="module")
def splits(mnist_root):
    return {s: load_split(mnist_root, s, limit=200) for s in ("train", "test")}


def landscape(arch: str, weights: torch.Tensor, splits, partner=None, name="bfgs-train"):
    return Landscape(
        arch=arch,
        act="softplus",
        set_name=name,
        weights=weights,
        seeds=list(range(10, 10 + len(weights))),
        device=torch.device("cpu"),
        landscape="train",
        image_chunk=64,
        data=lambda s: splits[s],
        partner=partner or (lambda: None),
        opt=load_study().check_set(name).opt,
    )


def module_loss(arch: str, w: torch.Tensor, split) -> float:
    model = build_model(arch)
    set_flat(model, w)
    return evaluate(model, arch, split.x, split.y)["loss"]


def test_fitted_curvature_of_a_parabola():
    eps = np.linspace(-1, 1, 21)
    assert fitted_curvature(eps, 3 + 0.5 * eps + 2.5 * eps**2, 0.3) == pytest.approx(5.0)
    assert fitted_curvature(eps, eps**2, 0.01) is None  # one point inside the radius


def test_perturb_curvature_matches_lambda_max(splits):
    ctx = landscape("fcp", solutions("fcp", 1), splits)
    (rec,) = Perturb(eps_max=0.2, n_eps=21, fit_radius=0.05, tol=1e-6).run(
        ctx, Perturb().units(ctx)
    )
    assert rec["status"] == "ok"
    assert rec["fitted_curvature"] == pytest.approx(rec["lambda_max"], rel=0.03)
    assert rec["profile"][10] == pytest.approx(module_loss("fcp", ctx.weights[0], splits["train"]))


def test_interp_profiles_and_nearest_partner(splits):
    w = solutions("fcp", 3)
    other = solutions("fcp", 4)[[3, 0, 2, 1]] * 0.9
    ctx = landscape("fcp", w, splits, partner=lambda: ("sgd-train", other.numpy(), [5, 6, 7, 8]))
    probe = Interp(n_alpha=31)
    units = probe.units(ctx)
    cross = [u for u in units if u.key.startswith("cross")]
    d = np.linalg.norm(w.numpy()[:, None] - other.numpy()[None], axis=2)
    assert [u.index for u in cross] == [(i, int(d[i].argmin())) for i in range(3)]
    assert cross[0].info["seed_j"] == [5, 6, 7, 8][int(d[0].argmin())]
    assert [u.key for u in units[:3]] == ["pair=0-1", "pair=0-2", "pair=1-2"]
    rec_pair, rec_cross = probe.run(ctx, [units[2], cross[1]])
    alpha = np.array(rec_pair["alpha"])
    for split in ("train", "test"):
        for a, expected_w in ((0.0, w[1]), (1.0, w[2]), (0.5, (w[1] + w[2]) / 2)):
            got = rec_pair[split][int(np.flatnonzero(np.isclose(alpha, a))[0])]
            assert got == pytest.approx(module_loss("fcp", expected_w, splits[split]), rel=1e-5)
    j = cross[1].index[1]
    end = rec_cross["train"][int(np.flatnonzero(alpha == 1)[0])]
    assert end == pytest.approx(module_loss("fcp", other[j], splits["train"]), rel=1e-5)


def test_barrier_by_hand():
    alpha = np.array([-0.5, 0.0, 0.5, 1.0, 1.5])
    assert barrier(alpha, np.array([9.0, 1.0, 4.0, 3.0, 9.0])) == pytest.approx(2.0)
    assert barrier(alpha, np.array([9.0, 1.0, 2.5, 3.0, 9.0])) == pytest.approx(0.5)  # chord 2
    assert barrier(alpha, np.array([0.0, 1.0, 1.0, 3.0, 0.0])) == 0.0  # below the chord: 0


def test_slice_directions_are_filter_normalized(splits):
    w = solutions("lenet", 2)
    ctx = landscape("lenet", w, splits)
    probe = Slice(n_1d=5, n_2d=3, seed=7)
    recs = probe.run(ctx, probe.units(ctx))
    model = build_model("lenet")
    set_flat(model, w[1])
    for rec, k in zip(recs, (0, 1), strict=True):
        assert rec["direction_seed"] == 7 * 100_000 + k
        center = module_loss("lenet", w[k], splits["train"])
        assert rec["loss_2d"][1][1] == pytest.approx(center, rel=1e-5)
        assert rec["loss_1d"][2] == pytest.approx(center, rel=1e-5)
    # the direction itself: each conv filter / linear row has the norm of the weight's
    from lossland.probes.slice import filter_normalized

    gen = torch.Generator().manual_seed(0)
    d = filter_normalized("lenet", w[1], gen)
    start = 0
    for _, p in model.named_parameters():
        piece = d[start : start + p.numel()].reshape(p.shape)
        if p.ndim == 1:
            assert piece.abs().max() == 0
        else:
            for row_d, row_w in zip(piece, p.detach(), strict=True):
                assert float(row_d.norm()) == pytest.approx(float(row_w.norm()), rel=1e-5)
        start += p.numel()
    again = probe.run(ctx, probe.units(ctx)[:1])[0]
    assert again["loss_2d"] == recs[0]["loss_2d"]  # the seed fixes the directions


@pytest.mark.parametrize("arch", ["fcp", "lstm"])
def test_noise_gram_trick_matches_svd_of_looped_gradients(arch, splits):
    w = solutions(arch, 1)
    ctx = landscape(arch, w, splits)
    probe = Noise(batch_size=16, n_batches=6, vmap_chunk=4, seed=2, tol=1e-6, maxiter=300)
    if arch == "lstm":  # lambda_H is checked on fcp; for the LSTM a short Lanczos is enough
        probe.tol = 1e-2
    (rec,) = probe.run(ctx, probe.units(ctx))
    # the same batches (same generator draws), gradients by nn.Module one batch at a time
    gen = torch.Generator().manual_seed(2 * 100_000 + 0)
    x, y = splits["train"].x, splits["train"].y
    model = build_model(arch)
    set_flat(model, w[0])
    grads = []
    for _ in range(6):
        idx = torch.randperm(len(y), generator=gen)[:16]
        model.zero_grad()
        torch.nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters()]))
    g = torch.stack(grads).double()
    g = g - g.mean(0)
    expected = float(torch.linalg.svdvals(g)[0] ** 2 / 5)
    assert rec["lambda_c"] == pytest.approx(expected, rel=1e-3)
    if arch == "lstm":
        return
    curv = ctx.curvature()
    top = spectrum(curv, w[0], k=1, tol=1e-6, negative=False, trace_samples=0)["top"][0]
    assert rec["lambda_h"] == pytest.approx(top, rel=1e-3)
    assert rec["ratio"] == pytest.approx(rec["lambda_c"] / rec["lambda_h"])


def test_d_int90_by_hand():
    assert d_int90([10, 100, 1000], [0.5, 0.86, 0.95], full=0.96) == 1000
    assert d_int90([100, 10, 1000], [0.9, 0.5, 0.95], full=0.96) == 100
    assert d_int90([10], [0.1], full=0.96) is None


def test_intrinsic_trains_in_the_subspace(splits):
    ctx = landscape("fcp", solutions("fcp", 2), splits, name="sgd-train")
    probe = Intrinsic(dims=(2, 40), sgd_epochs=3, sgd_lr=0.5)
    units = probe.units(ctx)
    assert [u.key for u in units] == ["d=2", "d=40"] and units[0].info["opt"] == "sgd"
    small, large = probe.run(ctx, units)
    assert large["test_loss"] < large["init_test"]["loss"]
    assert large["train_curve"][-1] < small["train_curve"][-1]  # more dimensions fit better
    reference = np.mean(
        [evaluate_acc(w, splits["test"]) for w in ctx.weights]
    )  # the full-space reference is the set's mean test accuracy
    assert large["full_space"]["accuracy"] == pytest.approx(reference)
    lbfgs = Intrinsic(dims=(40,), lbfgs_iterations=5)
    (rec,) = lbfgs.run(landscape("fcp", ctx.weights, splits, name="bfgs-train"), units[1:])
    assert len(rec["train_curve"]) == 5 and rec["train_curve"][-1] < rec["init_test"]["loss"]


def evaluate_acc(w: torch.Tensor, split) -> float:
    model = build_model("fcp")
    set_flat(model, w)
    return evaluate(model, "fcp", split.x, split.y)["accuracy"]
