"""Hessian spectrum at each solution: top-k eigenvalues, the most negative one, the trace.

Lanczos (ARPACK's eigsh) on Hessian-vector products gives the k largest eigenvalues. The most
negative one is the largest-magnitude eigenvalue of H - lambda_max I (whose spectrum lies in
[lambda_min - lambda_max, 0]), which converges far faster than asking eigsh for the smallest
algebraic one. The trace is Hutchinson's estimate. A solver that does not converge within
`maxiter` is recorded as such (with what it found), never waited for.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from scipy.sparse.linalg import LinearOperator

from lossland.core.ranges import Bool, Int
from lossland.probes import LANCZOS, Landscape, Probe, Unit, finite_or_none
from lossland.probes.hvp import Curvature, extreme_eigs, hessian_operator, hutchinson_trace


class Hessian(Probe):
    SETTINGS = LANCZOS | {
        "k": Int(1),
        "negative": Bool(),
        "trace_samples": Int(0),
        "trace_batch": Int(1),
    }

    @classmethod
    def limits(cls, s: dict[str, Any], n_prm: int, images: dict[str, int]) -> list[str]:
        """Lanczos finds fewer eigenvalues than the net has weights (scipy eigsh: k < N)."""
        if s["k"] >= n_prm:
            return [f"probe.k={s['k']} (must be < N_prm = {n_prm:,} of this net)"]
        return []

    def __init__(
        self,
        k: int = 3,
        tol: float = 1e-3,
        maxiter: int = 300,
        negative: bool = True,
        trace_samples: int = 20,
        trace_batch: int = 10,
        landscape: str | None = None,
        seed: int = 0,
    ) -> None:
        self.k, self.tol, self.maxiter, self.negative = k, tol, maxiter, negative
        self.trace_samples, self.trace_batch = trace_samples, trace_batch
        self.landscape, self.seed = landscape, seed

    def run(self, ctx: Landscape, units: list[Unit]) -> list[dict[str, Any]]:
        curv = ctx.curvature(self.landscape)
        return [self.one(curv, ctx.weights[u.index[0]]) for u in units]

    def one(self, curv: Curvature, w: torch.Tensor) -> dict[str, Any]:
        return spectrum(
            curv,
            w,
            self.k,
            self.tol,
            self.maxiter,
            self.negative,
            self.trace_samples,
            self.trace_batch,
            self.seed,
        )


def spectrum(
    curv: Curvature,
    w: torch.Tensor,
    k: int = 3,
    tol: float = 1e-3,
    maxiter: int = 300,
    negative: bool = True,
    trace_samples: int = 20,
    trace_batch: int = 10,
    seed: int = 0,
) -> dict[str, Any]:
    """The Hessian probe's numbers at one weight vector w [N]."""
    loss = float(curv.loss(w[None])[0])
    if not np.isfinite(loss):
        return {"status": "non-finite", "message": f"loss is {loss} at this solution", "loss": None}
    curv.n_hvp = 0
    op = hessian_operator(curv, w)
    top, _, top_ok = extreme_eigs(op, k, "LA", tol, maxiter, seed)
    out: dict[str, Any] = {
        "status": "ok",
        "loss": loss,
        "top": [float(x) for x in top],
        "top_converged": top_ok,
        "lambda_max": finite_or_none(top[0]) if len(top) else None,
    }
    if negative and len(top):
        shift = float(top[0])
        shifted = LinearOperator(op.shape, matvec=lambda v: op.matvec(v) - shift * v, dtype=float)
        low, _, low_ok = extreme_eigs(shifted, 1, "LM", tol, maxiter, seed + 1)
        out["lambda_min"] = finite_or_none(low[0] + shift) if len(low) else None
        out["min_converged"] = low_ok
    out["n_hvp_lanczos"] = curv.n_hvp
    if trace_samples:
        out["trace"], out["trace_se"] = hutchinson_trace(
            curv, w, trace_samples, trace_batch, seed + 2
        )
    out["n_hvp"] = curv.n_hvp
    values = [out.get("lambda_max"), out.get("lambda_min"), out.get("trace")]
    if not all(v is None or np.isfinite(v) for v in values) or any(
        not np.isfinite(x) for x in out["top"]
    ):
        out["status"] = "non-finite"
        out["message"] = "a Hessian-vector product was NaN or inf"
    elif not (top_ok and out.get("min_converged", True)):
        out["status"] = "not-converged"
        out["message"] = f"Lanczos did not converge within maxiter={maxiter} (tol={tol})"
    return out
