"""1D and 2D slices of the loss around a solution along filter-normalized random directions
(Li et al. 2018, "Visualizing the loss landscape of neural nets").

A direction is Gaussian, then each filter (row of a weight matrix or conv kernel: one output
unit) is scaled to the norm of the same filter of the solution, so that the slice is comparable
across nets and scale-invariant layers; 1-D parameters (biases) get no direction, as in Li et
al. The directions' seed is recorded: seed * 100000 + k for solution k (torch.Generator).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from lossland.core.ranges import Float, Int
from lossland.nets.batched import batched_loss_fn, param_shapes
from lossland.probes import LANCZOS, Landscape, Probe, Unit


class Slice(Probe):
    SETTINGS = {
        "radius": Float(0),
        "n_1d": Int(2),
        "n_2d": Int(2),
        "point_chunk": Int(1),
        "landscape": LANCZOS["landscape"],
        "seed": Int(0),
    }

    def __init__(
        self,
        radius: float = 1.0,
        n_1d: int = 41,
        n_2d: int = 21,
        point_chunk: int = 50,
        landscape: str | None = None,
        seed: int = 0,
    ) -> None:
        self.t1 = np.linspace(-radius, radius, n_1d)
        self.t2 = np.linspace(-radius, radius, n_2d)
        self.point_chunk, self.landscape, self.seed = point_chunk, landscape, seed

    def run(self, ctx: Landscape, units: list[Unit]) -> list[dict[str, Any]]:
        data = ctx.data(self.landscape or ctx.landscape)
        loss = batched_loss_fn(ctx.arch, ctx.act, data.x, data.y, chunk=ctx.image_chunk)
        out = []
        for unit in units:
            k = unit.index[0]
            w = ctx.weights[k]
            seed = direction_seed(self.seed, k)
            gen = torch.Generator().manual_seed(seed)
            d1, d2 = (filter_normalized(ctx.arch, w, gen) for _ in range(2))
            t1 = torch.as_tensor(self.t1, dtype=torch.float32, device=w.device)
            a, b = torch.meshgrid(
                *(torch.as_tensor(self.t2, dtype=torch.float32, device=w.device),) * 2,
                indexing="ij",
            )
            line = w[None] + t1[:, None] * d1[None]
            grid = w[None] + a.reshape(-1, 1) * d1[None] + b.reshape(-1, 1) * d2[None]
            out.append(
                {
                    "t": self.t1.tolist(),
                    "loss_1d": self.losses(loss, line).tolist(),
                    "a": self.t2.tolist(),
                    "b": self.t2.tolist(),
                    "loss_2d": self.losses(loss, grid).reshape(len(self.t2), -1).tolist(),
                    "direction_seed": seed,
                    "landscape": self.landscape or ctx.landscape,
                }
            )
        return out

    @torch.no_grad()
    def losses(self, loss, points: Tensor) -> np.ndarray:
        step = max(1, self.point_chunk)
        return (
            torch.cat([loss(points[i : i + step]) for i in range(0, len(points), step)])
            .cpu()
            .numpy()
        )


def direction_seed(seed: int, k: int) -> int:
    return seed * 100_000 + k


def filter_normalized(arch: str, w: Tensor, gen: torch.Generator) -> Tensor:
    """A Gaussian direction [N] whose every filter has the norm of w's same filter."""
    d = torch.randn(w.numel(), generator=gen).to(w.device)
    pieces, start = [], 0
    for _, shape in param_shapes(arch):
        size = int(np.prod(shape))
        if len(shape) < 2:
            pieces.append(torch.zeros(size, device=w.device))
        else:
            dp = d[start : start + size].reshape(shape[0], -1)
            wp = w[start : start + size].reshape(shape[0], -1)
            scale = wp.norm(dim=1, keepdim=True) / dp.norm(dim=1, keepdim=True).clamp_min(1e-12)
            pieces.append((dp * scale).flatten())
        start += size
    return torch.cat(pieces)
