"""Seconds per probe per solution, batched against one by one.

    python benchmarks/probes.py [--images 5000] [--archs fcp,lenet,lstm,ae] [--device auto]

`--images 50000` is the paper's full train set (slow on a CPU: an HVP costs ~3 gradients);
the default 5,000 keeps the run to a few minutes and every cost here is linear in the images.
Each probe is timed by its elementary operation, done `--reps` times both ways:
- hessian: Hessian-vector products; batched = the Hutchinson vectors as rows of one call,
  one by one = one call each. Lanczos' products are sequential by nature, so a solution costs
  n_lanczos sequential products (counted on 1,000 images) + trace_samples batched ones.
- noise: mini-batch gradients; batched = one vmapped call over the batches, one by one = an
  nn.Module forward/backward per batch (128 per solution), plus a Lanczos for lambda_H.
- perturb / interp / slice: losses at points of weight space; batched = the points as rows of
  one vmapped call (`batched_loss_fn`), one by one = an nn.Module forward per point. Per
  solution: 41 points (+ a Lanczos); 31 points x 2 splits per pair; 41 + 441 points.
- intrinsic: one SGD epoch in a d = 100 subspace (nothing to batch: one net per d).
Prints a table and asserts nothing. Timings on a shared machine vary by tens of percent.
"""

from __future__ import annotations

import argparse

import torch
from timing import timed as timed_once  # benchmarks/timing.py, beside this script

from lossland import archs
from lossland.data import load_split
from lossland.functional import batched_loss_fn
from lossland.models import build_model, get_flat, loss_from_outputs, set_flat
from lossland.probes.hessian import spectrum
from lossland.probes.hvp import Curvature
from lossland.probes.noise import batch_gradients
from lossland.report.tables import to_markdown
from lossland.training import resolve_device


def timed(fn, device: torch.device) -> float:
    """Seconds of fn() after one untimed warm-up call (allocations, vmap tracing)."""
    fn()
    return timed_once(fn, device)


POINTS = {"perturb": 41, "interp": 62, "slice": 482}


def weights(arch: str, n: int, device: torch.device) -> torch.Tensor:
    torch.manual_seed(0)
    return torch.stack([get_flat(build_model(arch)) for _ in range(n)]).to(device)


def lanczos_count(arch: str, root: str, device: torch.device) -> int:
    small = load_split(root, "train", device, 1000)
    curv = Curvature.for_arch(arch, "softplus", small.x, small.y)
    return spectrum(curv, weights(arch, 1, device)[0], trace_samples=0)["n_hvp_lanczos"]


def bench(arch: str, args, device: torch.device) -> list[dict]:
    split = load_split(args.root, "train", device, args.images)
    x, y, reps = split.x, split.y, args.reps
    w = weights(arch, reps, device)
    v = torch.randn_like(w)
    curv = Curvature.for_arch(arch, "softplus", x, y, image_chunk=args.image_chunk)
    hvp_b = timed(lambda: curv.hvp(w, v), device) / reps
    hvp_1 = timed(lambda: [curv.hvp(w[k : k + 1], v[k : k + 1]) for k in range(reps)], device)
    hvp_1 /= reps
    n_lanczos = lanczos_count(arch, args.root, device)
    rows = [row(arch, "hessian", "HVP", hvp_b, hvp_1, n_lanczos * hvp_1, 20 * hvp_b, 20 * hvp_1)]

    gen = torch.Generator().manual_seed(0)
    grad_b = timed(lambda: batch_gradients(arch, "softplus", w[0], x, y, 64, reps, gen), device)
    model = build_model(arch).to(device)
    set_flat(model, w[0])

    def looped_grads() -> None:
        for _ in range(reps):
            idx = torch.randint(len(y), (64,), generator=gen).to(device)
            model.zero_grad()
            loss_from_outputs(arch, model(x[idx]), x[idx], y[idx]).backward()

    grad_1 = timed(looped_grads, device) / reps
    lanczos = n_lanczos * hvp_1
    rows.append(
        row(
            arch,
            "noise",
            "batch grad",
            grad_b / reps,
            grad_1,
            lanczos,
            128 * grad_b / reps,
            128 * grad_1,
        )
    )

    loss = batched_loss_fn(arch, "softplus", x, y, chunk=args.image_chunk)
    with torch.no_grad():
        point_b = timed(lambda: loss(w), device) / reps

        def looped_points() -> None:
            for k in range(reps):
                set_flat(model, w[k])
                loss_from_outputs(arch, model(x), x, y)

        point_1 = timed(looped_points, device) / reps
    for probe, n in POINTS.items():
        fixed = lanczos if probe == "perturb" else 0.0
        rows.append(
            row(arch, probe, "loss point", point_b, point_1, fixed, n * point_b, n * point_1)
        )

    from lossland.probes.intrinsic import Intrinsic

    proj = torch.randn(w.shape[1], 100, device=device) / w.shape[1] ** 0.5
    probe = Intrinsic(sgd_epochs=1)

    class Ctx:  # the little of a Landscape that Intrinsic.train uses
        pass

    ctx = Ctx()
    ctx.arch, ctx.act = arch, "softplus"
    epoch = timed(lambda: probe.train(ctx, split, w[0], proj, "sgd"), device)
    rows.append(
        row(arch, "intrinsic", "SGD epoch, d=100", float("nan"), epoch, 0.0, float("nan"), epoch)
    )
    return rows


def row(arch, probe, op, batched, single, fixed, per_sol_b, per_sol_1) -> dict:
    return {
        "arch": arch,
        "probe": probe,
        "op": op,
        "batched s/op": batched,
        "one-by-one s/op": single,
        "s/solution batched": fixed + per_sol_b,
        "s/solution one-by-one": fixed + per_sol_1,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", default="outputs/data")
    p.add_argument("--images", type=int, default=5000)
    p.add_argument("--archs", default=",".join(archs.names()))
    p.add_argument("--reps", type=int, default=4)
    p.add_argument("--image-chunk", type=int, default=5000)
    p.add_argument("--device", default="auto")
    args = p.parse_args()
    device = resolve_device(args.device)
    import pandas as pd

    rows = [r for arch in args.archs.split(",") for r in bench(arch, args, device)]
    print(
        f"{args.images} train images, device {device}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads"
    )
    print(to_markdown(pd.DataFrame(rows)))


if __name__ == "__main__":
    main()
