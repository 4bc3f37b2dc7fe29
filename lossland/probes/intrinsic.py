"""Intrinsic dimension (Li et al. 2018; report 004, probe 4): train only z in theta_0 + P z.

P [N_prm, d] is dense Gaussian with columns of unit expected length, theta_0 a fresh init (its
seed recorded); z starts at 0 and is trained with the set's optimizer (SGD mini-batches, or
L-BFGS-GSS full batch). One unit per d, so the probe is per arch x optimizer, not per solution;
the set's own solutions give the full-space reference (their mean accuracy on the test split).
d_int90 = the smallest d reaching 90% of it (lossland.report.probe_tables). For the autoencoder
(no accuracy) "performance" is the loss reduction from theta_0: 1 - L(d) / L(theta_0).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from lossland.core.errors import LosslandError
from lossland.core.ranges import Float, Int, IntList
from lossland.nets.batched import params_loss_fn, unflatten
from lossland.nets.modules import build_model, evaluate, get_flat, is_classifier, set_flat
from lossland.probes import Landscape, Probe, Unit
from lossland.train.lbfgs_gss import LBFGSGSS
from lossland.train.optimizers import minibatch_epoch


class Intrinsic(Probe):
    SETTINGS = {
        "dims": IntList(1),
        "sgd_lr": Float(0),
        "sgd_epochs": Int(1),
        "batch_size": Int(1),
        "lbfgs_iterations": Int(1),
        "init_seed": Int(0),
        "projection_seed": Int(0),
    }

    @classmethod
    def limits(cls, s: dict[str, Any], n_prm: int, images: dict[str, int]) -> list[str]:
        """A subspace of the net's own dimension or more is the full space (and P is huge)."""
        bad = []
        if max(s["dims"]) >= n_prm:
            bad.append(
                f"probe.dims={list(s['dims'])} (each d must be < N_prm = {n_prm:,} of this net)"
            )
        if s["batch_size"] > images["train"]:
            bad.append(
                f"probe.batch_size={s['batch_size']} (must be <= the {images['train']:,} "
                "training images)"
            )
        return bad

    def __init__(
        self,
        dims: tuple[int, ...] = (10, 100, 300, 1000),
        sgd_lr: float = 10.0,
        sgd_epochs: int = 10,
        batch_size: int = 64,
        lbfgs_iterations: int = 50,
        init_seed: int = 0,
        projection_seed: int = 0,
    ) -> None:
        self.dims = [int(d) for d in dims]
        self.sgd_lr, self.sgd_epochs, self.batch_size = sgd_lr, sgd_epochs, batch_size
        self.lbfgs_iterations = lbfgs_iterations
        self.init_seed, self.projection_seed = init_seed, projection_seed
        self._reference: dict[str, float] | None = None

    def units(self, ctx: Landscape) -> list[Unit]:
        return [Unit(f"d={d}", (d,), {"d": d, "opt": optimizer_of(ctx)}) for d in self.dims]

    def run(self, ctx: Landscape, units: list[Unit]) -> list[dict[str, Any]]:
        train, test = ctx.data("train"), ctx.data("test")
        model = build_model(ctx.arch, ctx.act).to(ctx.device)
        if self._reference is None:
            scores = []
            for w in ctx.weights:
                set_flat(model, w)
                scores.append(evaluate(model, ctx.arch, test.x, test.y))
            self._reference = {k: float(np.mean([s[k] for s in scores])) for k in scores[0]}
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.init_seed)
            theta0 = get_flat(build_model(ctx.arch, ctx.act)).to(ctx.device)
        set_flat(model, theta0)
        start = evaluate(model, ctx.arch, test.x, test.y)
        out = []
        for unit in units:
            d = unit.index[0]
            gen = torch.Generator().manual_seed(self.projection_seed * 100_000 + d)
            proj = (torch.randn(theta0.numel(), d, generator=gen) / theta0.numel() ** 0.5).to(
                ctx.device
            )
            t0 = time.perf_counter()
            z, curve = self.train(ctx, train, theta0, proj, optimizer_of(ctx))
            set_flat(model, theta0 + proj @ z)
            end = evaluate(model, ctx.arch, test.x, test.y)
            diverged = not np.isfinite(curve).all() or not np.isfinite(end["loss"])
            out.append(
                {
                    **diverged_status(diverged, optimizer_of(ctx), len(curve)),
                    "d": d,
                    "test_loss": end["loss"],
                    "test_accuracy": end.get("accuracy"),
                    "performance": performance(ctx.arch, end, start),
                    "full_space": self._reference,
                    "full_space_performance": performance(ctx.arch, self._reference, start),
                    "init_test": start,
                    "train_curve": curve,
                    "train_seconds": time.perf_counter() - t0,
                    "init_seed": self.init_seed,
                    "projection_seed": self.projection_seed * 100_000 + d,
                }
            )
        return out

    def train(self, ctx, train, theta0, proj, opt: str) -> tuple[torch.Tensor, list[float]]:
        """z after training in the subspace, and the full train loss after each epoch."""
        z = torch.zeros(proj.shape[1], device=theta0.device, requires_grad=True)
        losses = params_loss_fn(ctx.arch, ctx.act, one_vector=True)  # built once, not per step

        def loss_on(x, y):
            return losses(unflatten(ctx.arch, (theta0 + proj @ z)[None]), x, y)[0]

        curve = []
        if opt == "sgd":
            optim = torch.optim.SGD([z], lr=self.sgd_lr)
            gen = torch.Generator().manual_seed(self.init_seed)
            for _ in range(self.sgd_epochs):
                minibatch_epoch(loss_on, optim, train, self.batch_size, gen)
                with torch.no_grad():
                    curve.append(float(loss_on(train.x, train.y)))
                if not np.isfinite(curve[-1]):
                    break  # diverged: the record says so; more epochs would change nothing
        else:
            optim = LBFGSGSS([z])
            for _ in range(self.lbfgs_iterations):
                curve.append(float(optim.step(lambda: loss_on(train.x, train.y))))
                if not np.isfinite(curve[-1]):
                    break
        return z.detach(), curve


def diverged_status(diverged: bool, opt: str, steps: int) -> dict[str, str]:
    """A record's status: training that reached NaN or inf in the subspace is not a result."""
    if not diverged:
        return {"status": "ok"}
    fix = "lower probe.sgd_lr" if opt == "sgd" else "try another probe.init_seed"
    return {
        "status": "non-finite",
        "message": f"{opt} in the subspace diverged (loss NaN or inf after {steps} "
        f"epochs/iterations): {fix}",
    }


def optimizer_of(ctx) -> str:
    """The set's optimizer trains in the subspace too (a weights file: SGD)."""
    opt = ctx.opt or "sgd"
    if opt not in ("sgd", "lbfgs"):
        raise LosslandError(
            f"the intrinsic probe trains in a subspace with sgd or lbfgs, not {opt}: "
            "probe a set of one of those"
        )
    return opt


def performance(arch: str, score: dict[str, float], start: dict[str, float]) -> float:
    """Accuracy for classifiers; for the autoencoder the loss reduction from theta_0."""
    if is_classifier(arch):
        return float(score["accuracy"])
    return float(1 - score["loss"] / start["loss"])


def d_int90(dims: list[int], perf: list[float], full: float, fraction: float = 0.9) -> int | None:
    """The smallest d whose performance reaches `fraction` of the full-space one (None: none)."""
    reached = [d for d, p in sorted(zip(dims, perf, strict=True)) if p >= fraction * full]
    return reached[0] if reached else None
