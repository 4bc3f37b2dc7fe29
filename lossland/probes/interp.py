"""Linear interpolation (report 004, probe 5): train and test loss along (1 - a) w_i + a w_j.

Units are the set's pairs (drawn as the path jobs draw them) and, for a BFGS set, each BFGS
solution with its nearest (Euclidean) member of the SGD set of the same kind. The barrier is
the largest excess over the straight line between the end losses, max over a in [0, 1] of
L(a) - ((1 - a) L(0) + a L(1)) (0 when the path is convex).

`align=weight` permutes each unit's second endpoint to match its first (lossland.nets.matching)
before the profile is taken; such records carry the alignment and name their set
`<set>@<method>`, as aligned path records' directories do, so that the report never pools
them with unaligned ones.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from lossland.core.errors import LosslandError
from lossland.core.identity import aligned_name
from lossland.core.ranges import Bool, Choice, Int, Number
from lossland.nets.batched import batched_loss_fn
from lossland.nets.matching import METHODS, align, check_setting
from lossland.probes import Landscape, Probe, Unit
from lossland.study.sets import draw_pairs


class Interp(Probe):
    SETTINGS = {
        "alpha_min": Number(),
        "alpha_max": Number(),
        "n_alpha": Int(2),
        "n_pairs": Int(1),
        "pair_seed": Int(0),
        "cross": Bool(),
        "align": Choice(tuple(METHODS)),
    }

    @classmethod
    def limits(cls, s: dict[str, Any], n_prm: int, images: dict[str, int]) -> list[str]:
        why = grid_problem(s["alpha_min"], s["alpha_max"], s["n_alpha"])
        return [why] if why else []

    def __init__(
        self,
        alpha_min: float = -1.0,
        alpha_max: float = 2.0,
        n_alpha: int = 31,
        n_pairs: int = 300,
        pair_seed: int = 0,
        cross: bool = True,
        align: str = "none",
    ) -> None:
        self.alpha = alpha_grid(alpha_min, alpha_max, n_alpha)
        why = grid_problem(alpha_min, alpha_max, n_alpha)
        if why:
            raise LosslandError(f"interp: {why}")
        self.n_pairs, self.pair_seed, self.cross, self.align = n_pairs, pair_seed, cross, align
        self.partner: tuple[str, torch.Tensor, list[int]] | None = None

    def units(self, ctx: Landscape) -> list[Unit]:
        check_setting(ctx.arch, self.align)
        n = len(ctx.weights)
        units = [
            Unit(f"pair={i}-{j}", (i, j), pair_info("pair", ctx.seeds, i, j))
            for i, j in draw_pairs(n, self.n_pairs, self.pair_seed, ctx.set_name)
        ]
        other = ctx.partner() if self.cross else None
        if other is not None:
            name, weights, seeds = other
            w_other = torch.from_numpy(weights).to(ctx.device)
            self.partner = (name, w_other, seeds)
            nearest = torch.cdist(ctx.weights, w_other).argmin(1).tolist()
            for i, j in enumerate(nearest):
                info = {"kind": "cross", "i": i, "j": j, "seed_i": ctx.seeds[i]}
                info |= {"partner_set": name, "seed_j": seeds[j]}
                units.append(Unit(f"cross={i}-{j}", (i, j), info))
        return units

    def run(self, ctx: Landscape, units: list[Unit]) -> list[dict[str, Any]]:
        out = []
        for unit in units:
            i, j = unit.index
            wb = self.partner[1][j] if unit.key.startswith("cross") else ctx.weights[j]
            if self.align == "none":
                out.append(self.profile(ctx, ctx.weights[i], wb))
                continue
            match = align(ctx.arch, self.align, ctx.weights[i], wb)
            aligned = {
                "set": aligned_name(ctx.set_name, self.align),
                "align": match.info(self.align),
            }
            out.append(self.profile(ctx, ctx.weights[i], match.aligned) | aligned)
        return out

    @torch.no_grad()
    def profile(self, ctx: Landscape, wa: torch.Tensor, wb: torch.Tensor) -> dict[str, Any]:
        a = torch.as_tensor(self.alpha, dtype=torch.float32, device=wa.device)[:, None]
        points = (1 - a) * wa[None] + a * wb[None]
        result: dict[str, Any] = {
            "alpha": self.alpha.tolist(),
            "distance": float(torch.linalg.vector_norm(wb - wa)),
        }
        for split in ("train", "test"):
            data = ctx.data(split)
            loss = batched_loss_fn(ctx.arch, ctx.act, data.x, data.y, chunk=ctx.image_chunk)
            profile = loss(points).cpu().numpy()
            result[split] = profile.tolist()
            result[f"barrier_{split}"] = barrier(self.alpha, profile)
        return result


def barrier(alpha: np.ndarray, loss: np.ndarray) -> float:
    """max over a in [0, 1] of loss(a) minus the chord between loss(0) and loss(1)."""
    inside = (alpha >= 0) & (alpha <= 1)
    a, prof = alpha[inside], loss[inside]
    chord = (1 - a) * loss[alpha == 0][0] + a * loss[alpha == 1][0]
    return float(np.max(prof - chord))


def pair_info(kind: str, seeds: list, i: int, j: int) -> dict[str, Any]:
    return {"kind": kind, "i": i, "j": j, "seed_i": seeds[i], "seed_j": seeds[j]}


def alpha_grid(alpha_min: float, alpha_max: float, n_alpha: int) -> np.ndarray:
    return np.round(np.linspace(alpha_min, alpha_max, n_alpha), 10)


def grid_problem(alpha_min: float, alpha_max: float, n_alpha: int) -> str | None:
    """Why the grid cannot give a barrier (None: it can): it must hold a = 0 and a = 1."""
    if not {0.0, 1.0} <= set(alpha_grid(alpha_min, alpha_max, n_alpha).tolist()):
        return (
            f"probe.n_alpha={n_alpha} (the grid of {n_alpha} points in [{alpha_min}, "
            f"{alpha_max}] misses a = 0 or a = 1, which the barrier needs: change probe.n_alpha)"
        )
    return None
