"""Loss along the top Hessian eigenvector (report 004, probe 3): theta + eps v over an eps grid.

The curvature fitted to the profile near eps = 0 (a parabola through the points with |eps| <=
fit_radius) equals lambda_max for a quadratic bowl; where they differ, the landscape is not
quadratic on that scale (a "sharp" minimum by Hessian can be wide by loss, and vice versa).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from lossland.core.ranges import Float, Int
from lossland.probes import LANCZOS, Landscape, Probe, Unit, not_converged
from lossland.probes.hvp import extreme_eigs, hessian_operator


class Perturb(Probe):
    SETTINGS = LANCZOS | {"eps_max": Float(0), "n_eps": Int(3), "fit_radius": Float(0)}

    @classmethod
    def limits(cls, s: dict[str, Any], n_prm: int, images: dict[str, int]) -> list[str]:
        """The parabola needs 3 grid points within fit_radius (fitted_curvature)."""
        eps = np.linspace(-s["eps_max"], s["eps_max"], s["n_eps"])
        near = int((np.abs(eps) <= s["fit_radius"] + 1e-12).sum())
        if near < 3:
            return [
                f"probe.n_eps={s['n_eps']} (the grid over [-{s['eps_max']}, {s['eps_max']}] has "
                f"{near} point(s) within fit_radius={s['fit_radius']}; the fit needs 3: raise "
                "probe.n_eps or probe.fit_radius)"
            ]
        return []

    def __init__(
        self,
        eps_max: float = 1.0,
        n_eps: int = 41,
        fit_radius: float = 0.15,
        tol: float = 1e-3,
        maxiter: int = 300,
        landscape: str | None = None,
        seed: int = 0,
    ) -> None:
        self.eps = np.linspace(-eps_max, eps_max, n_eps)
        self.fit_radius, self.tol, self.maxiter = fit_radius, tol, maxiter
        self.landscape, self.seed = landscape, seed

    def run(self, ctx: Landscape, units: list[Unit]) -> list[dict[str, Any]]:
        curv = ctx.curvature(self.landscape)
        out = []
        for unit in units:
            w = ctx.weights[unit.index[0]]
            vals, vecs, ok = extreme_eigs(
                hessian_operator(curv, w), 1, "LA", self.tol, self.maxiter, self.seed
            )
            if not len(vals):
                msg = f"Lanczos found no eigenvector within maxiter={self.maxiter}"
                out.append({"status": "not-converged", "message": msg})
                continue
            v = torch.as_tensor(vecs[:, 0], dtype=torch.float32, device=w.device)
            eps = torch.as_tensor(self.eps, dtype=torch.float32, device=w.device)
            losses = curv.loss(w[None] + eps[:, None] * v[None]).cpu().numpy()
            out.append(
                {
                    "status": "ok" if ok else "not-converged",
                    **not_converged(ok, "v", self.maxiter, self.tol),
                    "eps": self.eps.tolist(),
                    "profile": losses.tolist(),
                    "lambda_max": float(vals[0]),
                    "fitted_curvature": fitted_curvature(self.eps, losses, self.fit_radius),
                    "fit_radius": self.fit_radius,
                }
            )
        return out


def fitted_curvature(eps: np.ndarray, loss: np.ndarray, radius: float) -> float | None:
    """Second derivative of the least-squares parabola through the points with |eps| <= radius."""
    near = (np.abs(eps) <= radius + 1e-12) & np.isfinite(loss)
    if near.sum() < 3:
        return None
    return float(2 * np.polyfit(eps[near], loss[near], 2)[0])
