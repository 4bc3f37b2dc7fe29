"""Hessian spectrum at each solution: top-k eigenvalues, the most negative one, the trace.

Lanczos (ARPACK's eigsh) on Hessian-vector products gives the k largest eigenvalues. The most
negative one is the largest-magnitude eigenvalue of H - lambda_max I (whose spectrum lies in
[lambda_min - lambda_max, 0]), which converges far faster than asking eigsh for the smallest
algebraic one. The trace is Hutchinson's estimate. A solver that does not converge within
`maxiter` is recorded as such (with what it found), never waited for.

`solver: batched` runs the same computation for many solutions at once (a GPU shard): B
Lanczos recurrences in lock-step with full reorthogonalisation, one batched Hessian-vector
product per step for all B (`hvp.batched_lanczos`), and Hutchinson's vectors of all B as rows
of one call. Its `maxiter` bounds the Lanczos steps (eigsh's bounds restarts); its records
have the same keys.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from scipy.sparse.linalg import LinearOperator

from lossland.core.ranges import Bool, Choice, Int
from lossland.probes import LANCZOS, Landscape, Probe, Unit, finite_or_none
from lossland.probes.hvp import (
    Curvature,
    batched_lanczos,
    extreme_eigs,
    hessian_operator,
    hutchinson_trace,
    rademacher,
)

BATCHED_UNITS = 48  # solutions per `run` call with solver=batched (a whole paper set)
BASIS_BYTES = 4 << 30  # bound on a batched Lanczos basis (float64 [B, maxiter, N_prm])


class Hessian(Probe):
    SETTINGS = LANCZOS | {
        "k": Int(1),
        "negative": Bool(),
        "trace_samples": Int(0),
        "trace_batch": Int(1),
        "solver": Choice(("eigsh", "batched")),
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
        solver: str = "eigsh",
    ) -> None:
        self.k, self.tol, self.maxiter, self.negative = k, tol, maxiter, negative
        self.trace_samples, self.trace_batch = trace_samples, trace_batch
        self.landscape, self.seed, self.solver = landscape, seed, solver
        self.batch = 1 if solver == "eigsh" else BATCHED_UNITS

    def run(self, ctx: Landscape, units: list[Unit]) -> list[dict[str, Any]]:
        curv = ctx.curvature(self.landscape)
        if self.solver == "eigsh":
            return [self.one(curv, ctx.weights[u.index[0]]) for u in units]
        n = ctx.weights.shape[1]
        per_call = max(1, BASIS_BYTES // (min(self.maxiter, n) * n * 8))
        out: list[dict[str, Any]] = []
        for start in range(0, len(units), per_call):
            rows = [u.index[0] for u in units[start : start + per_call]]
            out += spectra(
                curv,
                ctx.weights[rows],
                self.k,
                self.tol,
                self.maxiter,
                self.negative,
                self.trace_samples,
                self.trace_batch,
                self.seed,
            )
        return out

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
    return with_status(out, top_ok, tol, maxiter)


def with_status(out: dict[str, Any], top_ok: bool, tol: float, maxiter: int) -> dict[str, Any]:
    """`out` with its status: non-finite, not-converged (with a message), or ok as it was."""
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


def spectra(
    curv: Curvature,
    w: torch.Tensor,
    k: int = 3,
    tol: float = 1e-3,
    maxiter: int = 300,
    negative: bool = True,
    trace_samples: int = 20,
    trace_batch: int = 10,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """`spectrum` of each row of w [B, N] at once (same keys, same start vectors and
    Rademacher vectors): batched Lanczos with full reorthogonalisation, `maxiter` steps at
    most; the shifted run for lambda_min, as in `spectrum`, on H_b - lambda_max_b I."""
    losses = curv.loss(w).double().cpu().numpy()
    outs: list[dict[str, Any]] = [
        {"status": "non-finite", "message": f"loss is {x} at this solution", "loss": None}
        for x in losses
    ]
    live = [b for b, x in enumerate(losses) if np.isfinite(x)]
    if not live:
        return outs
    wl, n = w[live], w.shape[1]

    def start(s: int) -> torch.Tensor:  # eigsh's v0 (`extreme_eigs`), one per row
        v0 = torch.as_tensor(np.random.default_rng(s).standard_normal(n), device=w.device)
        return v0.expand(len(live), n)

    def hv(rows: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return curv.hvp(wl[rows], v.to(w.dtype)).double()

    tops = batched_lanczos(hv, start(seed), k, "LA", tol, maxiter)
    counts: dict[int, int] = {}  # products per solution
    for b, (top, top_ok, steps) in zip(live, tops, strict=True):
        outs[b] = {
            "status": "ok",
            "loss": float(losses[b]),
            "top": [float(x) for x in top],
            "top_converged": top_ok,
            "lambda_max": finite_or_none(top[0]) if len(top) else None,
        }
        counts[b] = steps
    if negative:
        ran = [r for r, (top, _, _) in enumerate(tops) if len(top)]
        if ran:
            shift = torch.tensor([tops[r][0][0] for r in ran], dtype=torch.float64)
            shift, ran_t = shift.to(w.device), torch.tensor(ran, device=w.device)

            def shifted(rows: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
                return hv(ran_t[rows], v) - shift[rows, None] * v

            lows = batched_lanczos(shifted, start(seed + 1)[: len(ran)], 1, "LM", tol, maxiter)
            for r, (low, low_ok, steps) in zip(ran, lows, strict=True):
                out = outs[live[r]]
                out["lambda_min"] = finite_or_none(low[0] + tops[r][0][0]) if len(low) else None
                out["min_converged"] = low_ok
                counts[live[r]] += steps
    traces = batched_trace(curv, wl, trace_samples, trace_batch, seed + 2)
    for r, b in enumerate(live):
        out = outs[b]
        out["n_hvp_lanczos"] = counts[b]
        if trace_samples:
            out["trace"], out["trace_se"] = traces[r]
        out["n_hvp"] = counts[b] + -(-trace_samples // trace_batch)
        outs[b] = with_status(out, out["top_converged"], tol, maxiter)
    return outs


def batched_trace(
    curv: Curvature, w: torch.Tensor, samples: int, batch: int, seed: int
) -> list[tuple[float, float]]:
    """`hutchinson_trace` of each row of w [B, N] (the same Rademacher vectors), the vectors
    of several solutions as rows of one call: at most max(B, batch) rows a call."""
    if not samples:
        return []
    per_call = max(1, max(len(w), batch) // batch)
    values = []
    for start in range(0, samples, batch):
        m = min(batch, samples - start)
        v = rademacher((m, w.shape[1]), seed + start, w.device).to(w.dtype)
        part = []
        for lo in range(0, len(w), per_call):
            rows = w[lo : lo + per_call]
            vs = v.repeat(len(rows), 1)
            hv = curv.hvp(rows.repeat_interleave(m, 0), vs)
            part.append((hv * vs).sum(1).double().cpu().reshape(len(rows), m))
        values.append(torch.cat(part))
    vals = torch.cat(values, 1).numpy()
    se = vals.std(1, ddof=1) / np.sqrt(vals.shape[1]) if vals.shape[1] > 1 else None
    return [
        (float(vals[b].mean()), float(se[b]) if se is not None else float("nan"))
        for b in range(len(w))
    ]
