"""CPU reference values for the CUDA tests, and the script that makes them.

    OMP_NUM_THREADS=1 python -m tests.cuda_refs    # rewrites tests/data/cuda_refs.npz

For each of the four nets, from fixed seeds on a small fixed batch (the first 256 MNIST
training images), under the numerics policy (IEEE float32): the loss and gradient through the
net's own module and through its batched form (two weight vectors in one call), three
L-BFGS-GSS iterations (the authors' search: losses, evaluation counts, the weights reached), two
steps of the Fourier path finder between the two vectors (its profile and objective), and one
Hessian-vector product. tests/test_cuda.py computes the same on CUDA and compares it with this
file within the tolerances of `TOLERANCES`; tests/test_cuda_refs.py recomputes it on the CPU and
checks the file has not drifted from the code.

A vector (gradient, weights, H v) is kept as its norm, its dot product with a fixed unit
direction and 256 fixed coordinates: the whole vectors of four nets would be ~3 MB.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from lossland.core import numerics
from lossland.data import load_split
from lossland.nets.batched import batched_loss_fn
from lossland.nets.modules import build_model, get_flat, loss_from_outputs, set_flat
from lossland.paths.basis_loss import basis_loss_fn
from lossland.paths.finders.fourier import find_path
from lossland.probes.hvp import Curvature
from lossland.train.lbfgs_gss import LBFGSGSS

ARCHS = ("fcp", "lenet", "lstm", "ae")
N_IMAGES = 256
SEEDS = (0, 1)  # the two weight vectors: torch.manual_seed(seed), then build_model
LBFGS_ITERS = 3
PATH = {"n_points": 7, "steps": 2, "lr": 1e-3}
N_COORDS = 256
FILE = Path(__file__).resolve().parent / "data" / "cuda_refs.npz"
# What CUDA (IEEE float32, TF32 off) may differ from the CPU by, per kind of value: float32
# sums in another order (cuBLAS/cuDNN kernels, atomics), a few ulp per operation (~1e-7
# relative), grown through the computation. Losses of one call: 1e-5 relative. Gradients and
# H v: 1e-4 relative (the dot product with a fixed direction: 1e-4 of the norm; a coordinate
# also 1e-4 of the largest kept coordinate: a tiny one is a difference of large terms). Three
# L-BFGS-GSS iterations and two Adam steps of a path carry differences along (Adam divides by
# the gradient's root mean square): 1e-3; the line searches' evaluation counts equal (a
# decision flipping on a rounding difference would fail it, and is what this test should show
# if it happens that early). For scale: the same values computed in float64 differ from the
# file's float32 ones by at most 2.4e-7 of the largest (tests/test_cuda_refs.py).
TOLERANCES = {"loss": 1e-5, "vector": 1e-4, "carried": 1e-3}
KIND = {  # which tolerance each stored value gets
    "loss_module": "loss",
    "loss_batched": "loss",
    "grad_module": "vector",
    "grad_batched": "vector",
    "lbfgs_losses": "carried",
    "lbfgs_w": "carried",
    "path_profile": "carried",
    "path_straight": "loss",
    "path_objective": "carried",
    "hvp": "vector",
    "vhv": "vector",
}
EXACT = ("lbfgs_evals",)
SUMMARIES = ("grad_module", "grad_batched", "lbfgs_w", "hvp")  # `summary` of a vector


def summary(v: torch.Tensor, probe: dict[str, torch.Tensor]) -> np.ndarray:
    """[norm, v . direction, v[coords]...] as float64 (computed on the CPU, in float64)."""
    v = v.detach().cpu().double()
    head = [torch.linalg.vector_norm(v), v @ probe["direction"]]
    return torch.cat([torch.stack(head), v[probe["coords"]]]).numpy()


def probes_for(n_prm: int) -> dict[str, torch.Tensor]:
    """The fixed direction and coordinates a vector of n_prm is summarised by."""
    gen = torch.Generator().manual_seed(n_prm)
    direction = torch.randn(n_prm, generator=gen, dtype=torch.float64)
    coords = torch.randperm(n_prm, generator=gen)[:N_COORDS].sort().values
    return {"direction": direction / direction.norm(), "coords": coords}


def weights(
    arch: str, device: torch.device, dtype: torch.dtype = torch.float32
) -> list[torch.Tensor]:
    """The nets of SEEDS, initialised on the CPU (as training does) and moved."""
    out = []
    for seed in SEEDS:
        torch.manual_seed(seed)
        out.append(get_flat(build_model(arch)).to(device, dtype))
    return out


def module_of(arch: str, w: torch.Tensor) -> torch.nn.Module:
    model = build_model(arch).to(w.device, w.dtype)
    set_flat(model, w)  # a copy: the optimizer steps below leave w as it is
    return model


def compute(
    arch: str, root: str | Path, device: torch.device, dtype: torch.dtype = torch.float32
) -> dict[str, np.ndarray]:
    """Every reference value of one net on `device` (what the file holds for `arch`);
    `dtype=torch.float64` computes them in double precision instead (a check of the file)."""
    numerics.apply(device)  # IEEE float32: the policy every job sets
    split = load_split(root, "train", device, limit=N_IMAGES)
    x, y = split.x.to(dtype), split.y
    w0, w1 = weights(arch, device, dtype)
    probe = probes_for(w0.numel())
    out: dict[str, np.ndarray] = {}

    model = module_of(arch, w0)
    loss = loss_from_outputs(arch, model(x), x, y)
    grads = torch.autograd.grad(loss, list(model.parameters()))
    out["loss_module"] = np.array([loss.item()])
    out["grad_module"] = summary(torch.cat([g.reshape(-1) for g in grads]), probe)

    w = torch.stack([w0, w1]).requires_grad_()
    losses = batched_loss_fn(arch, "softplus", x, y)(w)
    (grad,) = torch.autograd.grad(losses.sum(), w)
    out["loss_batched"] = losses.detach().cpu().double().numpy()
    out["grad_batched"] = summary(grad[0], probe)

    model = module_of(arch, w0)
    opt = LBFGSGSS(model.parameters(), line_search="authors")

    def closure() -> torch.Tensor:
        return loss_from_outputs(arch, model(x), x, y)

    out["lbfgs_losses"] = np.array([opt.step(closure).item() for _ in range(LBFGS_ITERS)])
    out["lbfgs_evals"] = np.array([opt.diagnostics()["n_evals"]])
    out["lbfgs_w"] = summary(get_flat(model), probe)

    path = find_path(basis_loss_fn(arch, "softplus", x, y), w0, w1, **PATH)
    out["path_profile"] = path.profile.cpu().double().numpy()
    out["path_straight"] = path.straight_profile.cpu().double().numpy()
    out["path_objective"] = np.array([path.objective])

    v = probe["direction"].to(device=device, dtype=dtype)
    hv = Curvature.for_arch(arch, "softplus", x, y).hvp(w0[None], v[None])[0]
    out["hvp"] = summary(hv, probe)
    out["vhv"] = np.array([float(hv.double() @ v.double())])
    return out


def compute_all(root: str | Path, device: torch.device) -> dict[str, np.ndarray]:
    return {f"{arch}/{k}": v for arch in ARCHS for k, v in compute(arch, root, device).items()}


def load() -> dict[str, np.ndarray]:
    with np.load(FILE) as saved:
        return dict(saved)


def mismatches(
    got: dict[str, np.ndarray], ref: dict[str, np.ndarray], scale: float = 1.0
) -> list[str]:
    """The values of `got` outside their tolerance (TOLERANCES times `scale`) of `ref`."""
    bad = []
    if sorted(got) != sorted(ref):
        return [f"keys differ: {sorted(set(got) ^ set(ref))}"]
    for key, ref_value in ref.items():
        name = key.split("/", 1)[1]
        value = got[key]
        if name in EXACT:
            ok = np.array_equal(value, ref_value)
        elif value.shape != ref_value.shape:
            ok = False
        elif name in SUMMARIES:  # [norm, dot, coordinates]: each part on its own scale
            tol = TOLERANCES[KIND[name]] * scale
            coords = np.abs(ref_value[2:]).max()
            ok = (
                np.allclose(value[0], ref_value[0], tol, 0.0)
                and abs(value[1] - ref_value[1]) <= tol * ref_value[0]
                and np.allclose(value[2:], ref_value[2:], tol, tol * coords)
            )
        else:
            tol = TOLERANCES[KIND[name]] * scale
            atol = tol * np.abs(ref_value).max() if KIND[name] != "loss" else 0.0
            ok = np.allclose(value, ref_value, tol, atol)
        if not ok:
            bad.append(f"{key}: {value[:4]} vs the CPU's {ref_value[:4]}")
    return bad


def main() -> None:
    root = os.environ.get("LOSSLAND_DATA_ROOT", "outputs/data")
    torch.set_num_threads(1)
    refs = compute_all(root, torch.device("cpu"))
    FILE.parent.mkdir(parents=True, exist_ok=True)
    tmp = FILE.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, **refs)
    tmp.replace(FILE)
    print(f"wrote {FILE} ({FILE.stat().st_size} bytes, {len(refs)} arrays)")


if __name__ == "__main__":
    main()
