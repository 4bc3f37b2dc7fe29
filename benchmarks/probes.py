"""Seconds per probe per solution at full data (50,000 train images), batched against one by one.

    python benchmarks/probes.py [--images 50000] [--timed-images 5000] [--reps 2]
                                [--lanczos 80] [--lanczos-top1 20] [--archs fcp,lenet,lstm,ae]
                                [--shard 0] [--shard-reps 3] [--only-shard]

Bounded time (233 s, run once on this project's shared 2-core CPU, one thread: noisy; most of
it LeNet). Every probe processes its data in slices of `image_chunk` = 5,000 images, one call
per slice, so a full-data operation is `--images / --timed-images` slice calls: one slice is
timed and the count multiplies it (`--timed-images 50000` times whole passes instead: hours for
LeNet on a CPU). Only `--reps` (2) solutions are timed each way, and no Lanczos is run: it is
counted, `--lanczos` sequential products for a solution's Hessian (top 3 and the most negative
eigenvalue; the small study's records, `n_hvp_lanczos`, hold 42 to 92) and `--lanczos-top1`
for a top eigenvalue alone (noise, perturb).
Each probe is timed by its elementary operation, both ways, after one untimed warm-up call:
- hessian: a Hessian-vector product. Lanczos (scipy eigsh) is sequential, one solution at a
  time: batched n/a. Hutchinson's 20 vectors: batched = rows of one call (what the probe does).
- noise: 128 mini-batch gradients; batched = one vmapped call (the probe), one by one = an
  nn.Module forward/backward per batch; plus a top-1 Lanczos.
- perturb / interp / slice: losses at points of weight space; batched = the points as rows of
  one vmapped call (the probes), one by one = an nn.Module forward per point. Per solution: 41
  points (+ a top-1 Lanczos); 31 points on train and test per pair; 41 + 441 points.
- intrinsic: SGD steps in a d = 100 subspace (batch 64, so a step's cost does not depend on the
  images); per unit d = 10 epochs of `--images` (the default budget). One net per d: batched n/a.
With `--shard N` (0: off) a second table times the Hessian probe's Lanczos itself (top 3 and
the most negative eigenvalue, no trace) on a shard of N solutions (fcp's initialisations
scaled by 1..2), eigsh one solution at a time against solver=batched (one batched product per
step for all N), `--shard-reps` rounds interleaved (eigsh, batched, eigsh, ...), each on
`--timed-images` images without scaling: medians with [min, max] of the seconds per solution,
the products per solution and the largest relative difference of the eigenvalues found.
Prints the table and asserts nothing. The machine's load moves these numbers by tens of
percent (noisy): compare rows of one run, not runs.
"""

from __future__ import annotations

import argparse
import math

import torch
from timing import timed as timed_once  # benchmarks/timing.py, beside this script

from lossland.core.device import resolve_device
from lossland.data import load_split
from lossland.nets import archs
from lossland.nets.batched import batched_loss_fn
from lossland.nets.modules import build_model, get_flat, loss_from_outputs, set_flat
from lossland.probes.hessian import spectra, spectrum
from lossland.probes.hvp import Curvature
from lossland.probes.intrinsic import Intrinsic
from lossland.probes.noise import batch_gradients
from lossland.report.tables import to_markdown

TEST_IMAGES = 10_000  # interp scores the test split too
POINTS = {"perturb": 41, "slice": 41 + 21 * 21}
NAN = float("nan")


def timed(fn, device: torch.device) -> float:
    """Seconds of fn() after one untimed warm-up call (allocations, vmap tracing)."""
    fn()
    return timed_once(fn, device)


def weights(arch: str, n: int, device: torch.device) -> torch.Tensor:
    torch.manual_seed(0)
    return torch.stack([get_flat(build_model(arch)) for _ in range(n)]).to(device)


def row(arch, probe, op, n_ops, batched, single, fixed=0.0, used="batched") -> dict:
    """One table row; s/op are full-data seconds, `fixed` the sequential part (Lanczos)."""
    return {
        "arch": arch,
        "probe": probe,
        "op": op,
        "ops/solution": n_ops,
        "batched s/op": batched,
        "one-by-one s/op": single,
        "s/solution batched": fixed + n_ops * batched if not math.isnan(batched) else NAN,
        "s/solution one-by-one": fixed + n_ops * single,
        "probe uses": used,
    }


def bench(arch: str, args, device: torch.device) -> list[dict]:
    split = load_split(args.root, "train", device, args.timed_images)
    x, y, reps = split.x, split.y, args.reps
    scale = args.images / args.timed_images  # slice calls per full-data operation
    w = weights(arch, reps, device)
    v = torch.randn_like(w)
    curv = Curvature.for_arch(arch, "softplus", x, y, image_chunk=args.timed_images)
    hvp_b = timed(lambda: curv.hvp(w, v), device) / reps * scale
    hvp_1 = timed_once(lambda: [curv.hvp(w[k : k + 1], v[k : k + 1]) for k in range(reps)], device)
    hvp_1 *= scale / reps
    lanczos, top1 = args.lanczos * hvp_1, args.lanczos_top1 * hvp_1
    rows = [
        row(arch, "hessian", "HVP, Lanczos", args.lanczos, NAN, hvp_1, used="one by one"),
        row(arch, "hessian", "HVP, Hutchinson (20)", 20, hvp_b, hvp_1, lanczos),
    ]

    gen = torch.Generator().manual_seed(0)
    grad_b = timed(lambda: batch_gradients(arch, "softplus", w[0], x, y, 64, 16, gen), device)
    model = build_model(arch).to(device)
    set_flat(model, w[0])

    def looped_grads() -> None:
        for _ in range(16):
            idx = torch.randint(len(y), (64,), generator=gen).to(device)
            model.zero_grad()
            loss_from_outputs(arch, model(x[idx]), x[idx], y[idx]).backward()

    grad_1 = timed(looped_grads, device) / 16
    rows.append(row(arch, "noise", "batch gradient (128)", 128, grad_b / 16, grad_1, top1))

    loss = batched_loss_fn(arch, "softplus", x, y, chunk=args.timed_images)
    with torch.no_grad():
        point_b = timed(lambda: loss(w), device) / reps * scale

        def looped_points() -> None:
            for k in range(reps):
                set_flat(model, w[k])
                loss_from_outputs(arch, model(x), x, y)

        point_1 = timed(looped_points, device) / reps * scale
    rows.append(row(arch, "perturb", "loss at a point", 41, point_b, point_1, top1))
    both = 31 * (args.images + TEST_IMAGES) / args.images  # a pair's points, train + test
    rows.append(row(arch, "interp", "loss at a point", round(both, 1), point_b, point_1))
    rows.append(row(arch, "slice", "loss at a point", POINTS["slice"], point_b, point_1))

    proj = torch.randn(w.shape[1], 100, device=device) / w.shape[1] ** 0.5
    steps = 20
    probe = Intrinsic(sgd_epochs=1, batch_size=64)

    class Ctx:  # the little of a Landscape that Intrinsic.train uses
        arch, act = "", "softplus"

    ctx = Ctx()
    ctx.arch = arch
    few = load_split(args.root, "train", device, 64 * steps)
    step = timed(lambda: probe.train(ctx, few, w[0], proj, "sgd"), device) / steps
    per_d = 10 * math.ceil(args.images / 64)  # the default budget: 10 epochs
    rows.append(row(arch, "intrinsic", "SGD step, d=100 (per d)", per_d, NAN, step, used="-"))
    return rows


def bench_shard(arch: str, args, device: torch.device) -> dict:
    """eigsh one by one against batched Lanczos on a shard of `--shard` solutions."""
    split = load_split(args.root, "train", device, args.timed_images)
    curv = Curvature.for_arch(arch, "softplus", split.x, split.y)
    w = weights(arch, args.shard, device)
    w = w * torch.linspace(1, 2, args.shard, device=device)[:, None]  # different spectra
    kw = dict(k=3, tol=1e-3, maxiter=300, trace_samples=0)
    seconds: dict[str, list[float]] = {"eigsh": [], "batched": []}
    found: dict[str, list[dict]] = {}

    def eigsh_all() -> None:
        found["eigsh"] = [spectrum(curv, row, **kw) for row in w]

    def batched_all() -> None:
        found["batched"] = spectra(curv, w, **kw)

    batched_all()  # warm-up (allocations)
    for _ in range(args.shard_reps):  # interleaved: the machine's load hits both alike
        seconds["eigsh"].append(timed_once(eigsh_all, device) / args.shard)
        seconds["batched"].append(timed_once(batched_all, device) / args.shard)

    def spread(xs: list[float]) -> str:
        xs = sorted(xs)
        return f"{xs[len(xs) // 2]:.3g} [{xs[0]:.3g}, {xs[-1]:.3g}]"

    def hvps(kind: str) -> float:
        return sum(r["n_hvp_lanczos"] for r in found[kind]) / args.shard

    def values(r: dict) -> list:
        return [*r["top"], r.get("lambda_min")]

    diff = max(
        abs(x - y) / abs(x)
        for a, b in zip(found["eigsh"], found["batched"], strict=True)
        for x, y in zip(values(a), values(b), strict=False)  # fewer when not converged
        if x is not None and y is not None
    )
    return {
        "arch": arch,
        "solutions": args.shard,
        "images": args.timed_images,
        "eigsh s/solution": spread(seconds["eigsh"]),
        "batched s/solution": spread(seconds["batched"]),
        "eigsh HVPs/solution": hvps("eigsh"),
        "batched HVPs/solution": hvps("batched"),
        "max rel. diff": f"{diff:.1e}",
        "all ok": all(r["status"] == "ok" for rs in found.values() for r in rs),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", default="outputs/data")
    p.add_argument("--images", type=int, default=50_000)
    p.add_argument("--timed-images", type=int, default=5000)
    p.add_argument("--archs", default=",".join(archs.names()))
    p.add_argument("--reps", type=int, default=2)
    p.add_argument("--lanczos", type=int, default=80)
    p.add_argument("--lanczos-top1", type=int, default=20)
    p.add_argument("--device", default="auto")
    p.add_argument("--shard", type=int, default=0)
    p.add_argument("--shard-reps", type=int, default=3)
    p.add_argument("--only-shard", action="store_true", help="skip the per-operation table")
    args = p.parse_args()
    device = resolve_device(args.device)
    import pandas as pd

    if args.shard:
        shard = [bench_shard(arch, args, device) for arch in args.archs.split(",")]
        print(
            f"Hessian Lanczos on a shard: seconds per solution, median [min, max] of "
            f"{args.shard_reps} interleaved rounds, device {device}, torch {torch.__version__}, "
            f"{torch.get_num_threads()} threads; noisy"
        )
        print(to_markdown(pd.DataFrame(shard)))
        if args.only_shard:
            return
    rows = []
    for arch in args.archs.split(","):
        rows += bench(arch, args, device)
        print(f"{arch} done", flush=True)
    print(
        f"seconds at {args.images} train images (timed on {args.timed_images}, scaled by the "
        f"slice count), {args.reps} solutions, device {device}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads; noisy"
    )
    print(to_markdown(pd.DataFrame(rows)))


if __name__ == "__main__":
    main()
