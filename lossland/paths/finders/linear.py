"""The straight line w(t) = (1 - t) w_i + t w_j: the reference every finder is compared with."""

from __future__ import annotations

import torch
from torch import Tensor

from lossland.paths.basis_loss import BasisLoss
from lossland.paths.finders import Finder, PathResult, line_phi, path_results, straight_profiles


class StraightLine(Finder):
    """No parameters and no optimisation: theta = (w_i, w_j), phi = (1 - t, t)."""

    def find(
        self, loss: BasisLoss, w_i: Tensor, w_j: Tensor, t: Tensor, seed: int = 0
    ) -> list[PathResult]:
        profile = straight_profiles(loss, w_i, w_j, t)
        theta = torch.stack([w_i, w_j], 1)
        history: list[list[float]] = [[] for _ in range(len(w_i))]
        return path_results(
            t,
            line_phi(t),
            theta,
            profile,
            profile,
            objective=None,
            best_step=0,
            steps=0,
            history=history,
        )
