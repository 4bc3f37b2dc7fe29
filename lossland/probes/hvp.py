"""Losses, gradients and Hessian-vector products of many weight vectors at once.

Every probe that needs curvature goes through `Curvature`: B weight vectors [B, N_prm] and B
directions [B, N_prm] give the B products H_b v_b in one batched call (rows are independent,
so the gradient of the summed losses holds each row's own gradient). Double backward is used
(the batched LSTM is its plain-ops twin, `batched_loss_fn(..., twice=True)`), and the images
are processed in slices so that memory stays bounded at full data.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigsh
from torch import Tensor

from lossland.nets.batched import batched_loss_fn

BatchedLoss = Callable[[Tensor], Tensor]


class Curvature:
    """Loss, gradient and H v of the mean loss over weighted slices of the data."""

    def __init__(
        self,
        slices: Sequence[tuple[BatchedLoss, float]],
        one_slices: Sequence[tuple[BatchedLoss, float]] | None = None,
    ) -> None:
        self.slices = list(slices)  # (loss of one image slice, its share of the data)
        # the same, for one vector per call (`functional.params_loss_fn(one_vector=True)`):
        # Lanczos' products, never compared with a batched call's values
        self.one_slices = list(one_slices) if one_slices is not None else self.slices
        self.n_hvp = 0  # products computed, per weight vector

    @classmethod
    def for_arch(
        cls, arch: str, act: str, x: Tensor, y: Tensor, image_chunk: int | None = None
    ) -> Curvature:
        step = image_chunk or len(y)

        def slices(one_vector: bool) -> list[tuple[BatchedLoss, float]]:
            return [
                (
                    batched_loss_fn(
                        arch, act, x[i : i + step], y[i : i + step], twice=True,
                        one_vector=one_vector,
                    ),
                    len(y[i : i + step]) / len(y),
                )
                for i in range(0, len(y), step)
            ]  # fmt: skip

        return cls(slices(False), slices(True))

    @torch.no_grad()
    def loss(self, w: Tensor) -> Tensor:
        """[B, N] -> [B] mean losses."""
        return sum(f(w) * share for f, share in self.slices)

    def loss_grad(self, w: Tensor) -> tuple[Tensor, Tensor]:
        """[B, N] -> losses [B], gradients [B, N]."""
        w = w.detach().requires_grad_(True)
        loss, grad = torch.zeros(len(w), device=w.device), torch.zeros_like(w)
        for f, share in self.slices:
            part = f(w)
            (g,) = torch.autograd.grad(part.sum(), w)
            loss, grad = loss + part.detach() * share, grad + g * share
        return loss, grad

    def hvp(self, w: Tensor, v: Tensor) -> Tensor:
        """[B, N], [B, N] -> H(w_b) v_b, [B, N], by double backward slice by slice."""
        w = w.detach().requires_grad_(True)
        out = torch.zeros_like(w)
        for f, share in self.one_slices if len(w) == 1 else self.slices:
            (g,) = torch.autograd.grad(f(w).sum(), w, create_graph=True)
            (hv,) = torch.autograd.grad(g, w, grad_outputs=v)
            out += hv.detach() * share
        self.n_hvp += 1
        return out


def hessian_operator(curv: Curvature, w: Tensor) -> LinearOperator:
    """H(w) of one vector w [N] as a float64 scipy operator (the eigensolver's side)."""
    n = w.numel()

    def matvec(v: np.ndarray) -> np.ndarray:
        vt = torch.as_tensor(np.asarray(v, dtype=np.float32).reshape(1, n), device=w.device)
        return curv.hvp(w[None], vt)[0].double().cpu().numpy()

    return LinearOperator((n, n), matvec=matvec, dtype=np.float64)


def extreme_eigs(
    op: LinearOperator, k: int, which: str, tol: float, maxiter: int, seed: int
) -> tuple[np.ndarray, np.ndarray, bool]:
    """Lanczos (ARPACK eigsh): k eigenpairs, largest first; non-convergence is returned, not
    raised, with whatever converged (possibly nothing)."""
    v0 = np.random.default_rng(seed).standard_normal(op.shape[0])
    try:
        vals, vecs = eigsh(op, k=k, which=which, tol=tol, maxiter=maxiter, v0=v0)
        converged = True
    except ArpackNoConvergence as e:
        vals, vecs, converged = e.eigenvalues, e.eigenvectors, False
    order = np.argsort(vals)[::-1]
    return vals[order], vecs[:, order], converged


def rademacher(shape: tuple[int, ...], seed: int, device: torch.device) -> Tensor:
    gen = torch.Generator().manual_seed(seed)
    return (torch.randint(0, 2, shape, generator=gen) * 2 - 1).float().to(device)


def hutchinson_trace(curv: Curvature, w: Tensor, samples: int, batch: int, seed: int):
    """tr H(w) ~ mean of v^T H v over Rademacher v; the samples go `batch` at a time as rows
    of one batched call. Returns (estimate, standard error)."""
    values = []
    for start in range(0, samples, batch):
        m = min(batch, samples - start)
        v = rademacher((m, w.numel()), seed + start, w.device)
        values.append((curv.hvp(w.expand(m, -1), v) * v).sum(1).double().cpu())
    vals = torch.cat(values).numpy()
    se = float(vals.std(ddof=1) / np.sqrt(len(vals))) if len(vals) > 1 else float("nan")
    return float(vals.mean()), se
