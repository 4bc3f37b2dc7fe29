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
from scipy.linalg import eigh_tridiagonal, eigvalsh_tridiagonal
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
        # the products in the weights' dtype (float32 in a job; float64 in the tests)
        vt = torch.as_tensor(np.asarray(v).reshape(1, n), device=w.device).to(w.dtype)
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


BatchedMatvec = Callable[[Tensor, Tensor], Tensor]  # (rows of the batch [A], V [A, N]) -> [A, N]


def batched_lanczos(
    matvec: BatchedMatvec,
    v0: Tensor,
    k: int,
    which: str,
    tol: float,
    maxiter: int,
) -> list[tuple[np.ndarray, bool, int]]:
    """B independent Lanczos recurrences in lock-step, one batched product per step.

    `eigsh` runs one operator at a time, so a shard's solutions leave a GPU idle; here row b
    of `v0` [B, N] starts the recurrence of operator b, and each step calls `matvec` once on
    the rows still running. Without restarts the basis is kept (float64, up to [B, maxiter, N])
    and every new vector is reorthogonalised against it twice (full reorthogonalisation).
    Row b stops once each of its k wanted Ritz values theta_i (`which`: "LA" largest
    algebraic, "LM" largest magnitude) has |beta_j s_{j,i}| <= tol |theta_i| (ARPACK's
    test), on an invariant subspace (beta ~ 0), or after `maxiter` steps.
    Returns per row (wanted Ritz values that passed the test, largest first: all k when
    converged, like ArpackNoConvergence's partial results otherwise; converged; steps).
    """
    n_rows, n = v0.shape
    dev, f64 = v0.device, torch.float64
    m = min(maxiter, n)
    # of the running rows only, grown by doubling (most rows stop long before maxiter)
    basis = torch.empty(n_rows, min(m, 32), n, dtype=f64, device=dev)
    alpha, beta = np.zeros((n_rows, m)), np.zeros((n_rows, m))
    q = v0.to(f64) / torch.linalg.vector_norm(v0.to(f64), dim=1, keepdim=True)
    prev_beta = torch.zeros(n_rows, dtype=f64, device=dev)
    rows = list(range(n_rows))  # the running rows of v0
    results: list[tuple[np.ndarray, bool, int] | None] = [None] * n_rows
    for j in range(m):
        if j == basis.shape[1]:
            more = torch.empty(len(rows), min(m, 2 * j) - j, n, dtype=f64, device=dev)
            basis = torch.cat([basis, more], 1)
        basis[:, j] = q
        z = matvec(torch.tensor(rows, device=dev), q).to(f64)
        a = (q * z).sum(1)
        z = z - a[:, None] * q
        if j:
            z = z - prev_beta[:, None] * basis[:, j - 1]
        known = basis[:, : j + 1]  # [A, j+1, N], a view
        before = torch.linalg.vector_norm(z, dim=1)
        for again in range(2):  # twice is enough (Kahan, Parlett); once if the norm held (DGKS)
            z = z - torch.einsum("ajn,aj->an", known, torch.einsum("ajn,an->aj", known, z))
            b = torch.linalg.vector_norm(z, dim=1)
            if not again and bool((b > 0.7 * before).all()):
                break
        a_np, b_np = a.cpu().numpy(), b.cpu().numpy()
        keep = []
        for r, row in enumerate(rows):
            alpha[row, j], beta[row, j] = a_np[r], b_np[r]
            if not (np.isfinite(a_np[r]) and np.isfinite(b_np[r])):  # a NaN product: stop
                results[row] = (np.full(1, np.nan), False, j + 1)
                continue
            found, ok, invariant = _ritz_test(
                alpha[row, : j + 1], beta[row, : j + 1], k, which, tol
            )
            if ok or invariant or j + 1 == m:
                results[row] = (found, ok, j + 1)
            else:
                keep.append(r)
        if not keep:
            break
        if len(keep) < len(rows):  # compact: finished rows cost no more products nor memory
            keep_t = torch.tensor(keep, device=dev)
            basis, z, b = basis[keep_t, : j + 1], z[keep_t], b[keep_t]
            rows = [rows[r] for r in keep]
        prev_beta = b
        q = z / b[:, None]
    return [r for r in results if r is not None]


def _ritz_test(
    alpha: np.ndarray, beta: np.ndarray, k: int, which: str, tol: float
) -> tuple[np.ndarray, bool, bool]:
    """The wanted Ritz values of T_j (alpha [j], beta [j]: beta[-1] is the residual norm) that
    pass |beta_j s_{j,i}| <= tol |theta_i|, largest first; whether all k did; whether the
    basis is invariant (beta ~ 0: exact, nothing more to find). As ARPACK (ncv > k), a basis
    of no more than k vectors is not tested unless it is invariant."""
    j = len(alpha)
    theta = eigvalsh_tridiagonal(alpha, beta[:-1]) if j > 1 else alpha.copy()
    breakdown = abs(beta[-1]) <= np.finfo(float).eps * max(float(np.abs(theta).max()), 1e-300)
    if j < k and breakdown:  # fewer eigenvalues in reach than wanted: exact, not converged
        return np.sort(theta)[::-1], False, True
    if j < k or (j == k and not breakdown):
        return np.zeros(0), False, False
    order = np.argsort(theta if which == "LA" else np.abs(theta))[::-1][:k]
    if breakdown:
        ok = np.ones(k, dtype=bool)
    else:  # last components of the wanted eigenvectors of T_j only
        last = np.array([_last_component(alpha, beta[:-1], int(i)) for i in order])
        ok = abs(beta[-1]) * np.abs(last) <= tol * np.abs(theta[order])
    return np.sort(theta[order][ok])[::-1], bool(ok.all()), breakdown


def _last_component(alpha: np.ndarray, off: np.ndarray, i: int) -> float:
    """Last entry of the unit eigenvector of the tridiagonal (alpha, off) for eigenvalue i
    (ascending order)."""
    if len(alpha) == 1:
        return 1.0
    _, vec = eigh_tridiagonal(alpha, off, select="i", select_range=(i, i))
    return float(vec[-1, 0])


def rademacher(shape: tuple[int, ...], seed: int, device: torch.device) -> Tensor:
    gen = torch.Generator().manual_seed(seed)
    return (torch.randint(0, 2, shape, generator=gen) * 2 - 1).float().to(device)


def hutchinson_trace(curv: Curvature, w: Tensor, samples: int, batch: int, seed: int):
    """tr H(w) ~ mean of v^T H v over Rademacher v; the samples go `batch` at a time as rows
    of one batched call. Returns (estimate, standard error)."""
    values = []
    for start in range(0, samples, batch):
        m = min(batch, samples - start)
        v = rademacher((m, w.numel()), seed + start, w.device).to(w.dtype)
        values.append((curv.hvp(w.expand(m, -1), v) * v).sum(1).double().cpu())
    vals = torch.cat(values).numpy()
    se = float(vals.std(ddof=1) / np.sqrt(len(vals))) if len(vals) > 1 else float("nan")
    return float(vals.mean()), se
