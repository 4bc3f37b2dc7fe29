"""Gradient noise (report 004, probe 2): the top eigenvalue lambda_C of the covariance of
mini-batch gradients at a solution, and its ratio to the top Hessian eigenvalue lambda_H.

The covariance C = G^T G / (B - 1) of B centred mini-batch gradients G [B, N] has the same
nonzero eigenvalues as the B x B Gram matrix G G^T / (B - 1) (the Gram trick), so N never
appears squared. The B gradients come from one vmapped call over the batches (torch.func).
"""

from __future__ import annotations

from typing import Any

import torch
from torch.func import grad, vmap

from lossland.core.ranges import Int
from lossland.nets.batched import params_loss_fn, unflatten
from lossland.probes import LANCZOS, Landscape, Probe, Unit, not_converged
from lossland.probes.hvp import extreme_eigs, hessian_operator


class Noise(Probe):
    SETTINGS = LANCZOS | {"batch_size": Int(1), "n_batches": Int(2), "vmap_chunk": Int(1)}

    @classmethod
    def limits(cls, s: dict[str, Any], n_prm: int, images: dict[str, int]) -> list[str]:
        """A mini-batch of the whole split has no noise: lambda_C would be rounding error."""
        split = s.get("landscape") or "job"
        if s["batch_size"] >= images[split]:
            return [
                f"probe.batch_size={s['batch_size']} (must be < the {images[split]:,} images of "
                "the landscape it samples: a batch of all of them has no noise)"
            ]
        return []

    def __init__(
        self,
        batch_size: int = 64,
        n_batches: int = 128,
        vmap_chunk: int = 32,
        tol: float = 1e-3,
        maxiter: int = 300,
        landscape: str | None = None,
        seed: int = 0,
    ) -> None:
        self.batch_size, self.n_batches, self.vmap_chunk = batch_size, n_batches, vmap_chunk
        self.tol, self.maxiter, self.landscape, self.seed = tol, maxiter, landscape, seed

    def run(self, ctx: Landscape, units: list[Unit]) -> list[dict[str, Any]]:
        split = self.landscape or ctx.landscape
        data = ctx.data(split)
        curv = ctx.curvature(split)
        out = []
        for unit in units:
            k = unit.index[0]
            w = ctx.weights[k]
            gen = torch.Generator().manual_seed(self.seed * 100_000 + k)
            grads = batch_gradients(
                ctx.arch,
                ctx.act,
                w,
                data.x,
                data.y,
                self.batch_size,
                self.n_batches,
                gen,
                self.vmap_chunk,
            )
            lam_c = top_covariance_eigenvalue(grads)
            vals, _, ok = extreme_eigs(
                hessian_operator(curv, w), 1, "LA", self.tol, self.maxiter, self.seed
            )
            lam_h = float(vals[0]) if len(vals) else None
            out.append(
                {
                    "status": "ok" if ok else "not-converged",
                    **not_converged(ok, "lambda_h", self.maxiter, self.tol),
                    "lambda_c": lam_c,
                    "lambda_h": lam_h,
                    "ratio": lam_c / lam_h if lam_h else None,
                    "grad_norm_mean": float(grads.norm(dim=1).mean()),
                    "batch_size": self.batch_size,
                    "n_batches": len(grads),
                }
            )
        return out


def batch_gradients(
    arch: str,
    act: str,
    w: torch.Tensor,
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int,
    n_batches: int,
    gen: torch.Generator,
    vmap_chunk: int | None = None,
) -> torch.Tensor:
    """[n_batches, N]: the gradient at w of each of n_batches random mini-batches (each drawn
    without replacement; batches may overlap), all in one vmapped call."""
    idx = torch.stack(
        [torch.randperm(len(y), generator=gen)[:batch_size] for _ in range(n_batches)]
    )
    idx = idx.to(y.device)

    losses = params_loss_fn(arch, act, twice=True, one_vector=True)

    def loss(wv: torch.Tensor, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        return losses(unflatten(arch, wv[None]), xb, yb)[0]

    # randomness="same": the only random calls inside are seeded setup (the LSTM's fixed
    # permutation, a `meta` module's init), not sampling
    per_batch = vmap(grad(loss), in_dims=(None, 0, 0), chunk_size=vmap_chunk, randomness="same")
    return per_batch(w, x[idx], y[idx])


def top_covariance_eigenvalue(grads: torch.Tensor) -> float:
    """Largest eigenvalue of the sample covariance of the rows, by the B x B Gram matrix."""
    g = (grads - grads.mean(0)).double()
    gram = g @ g.T / (len(g) - 1)
    return float(torch.linalg.eigvalsh(gram)[-1])
