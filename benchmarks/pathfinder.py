"""Seconds per FourierPathFinder step: the batched finder as path jobs run it, against the
paper's per-point loop.

    python benchmarks/pathfinder.py [--root outputs/data] [--images 1000] [--device auto]
                                    [--reps 5] [--archs fcp,ae] [--point-chunk K]
                                    [--first-layer auto|on|off]

For each arch at the settings its path jobs use (`basis_loss.basis_loss_fn` with conf/paths.yaml's
image_chunk and the point chunk of `path_job.point_chunk_for`, which sets it per arch and
device), one path (M = 50 points, N_F = 10, the paper's defaults) between two freshly initialised
nets, scored on the first `--images` training images. A step is one evaluation of L and dL/db at
all M points plus one Adam update:
- job: `find_path` on `basis_loss_fn`, what path jobs run (fcp and ae evaluate their first
  layer once per basis vector, 12, instead of once per point, 50; with `--first-layer on`
  LeNet's first convolution and the LSTM's input projection as well, which jobs do not take
  (`basis_loss.CONV_LSTM_BY_DEFAULT`); the rest of the net `pts/call` points at a time),
  timed between its iterates (`callback`);
- loop: `loop_objective` (one nn.Module forward/backward per point) plus the same Adam update.
The two sides alternate (job, loop, job, loop, ...) `--reps` times, each timing `--steps` steps;
the table gives the median seconds per step and the median loop/job ratio with its spread
((max - min) / median over the repeats), so one busy minute moves one repeat, not the table.
GFLOP/s is the matrix FLOP count of one job step (torch's FlopCounterMode, forward and
backward) over its time; `matmul` is this machine's plain float32 GEMM rate (n x n, n = 1024).

Then, per arch, the seconds of one full-data path (50,000 images, M = 50, 100 steps; each mode's
step and full evaluation timed here on `--images` images, the modes interleaved `--reps` times,
and scaled linearly in the images) for the finder's modes (docs/paths.md#modes):
- exact: the paper's Algorithm 2 as the finder ran it before issue 19 (all M points every step,
  each point's weight vector formed and put through the whole net: `basis_loss_fn` with
  `first_layer=False` at the job's `pts/call`);
- savings: the same numbers, exact savings only: the endpoints' losses once per path (M - 2
  points a step) and the first layer once per basis vector (`basis_loss_fn`, as jobs run);
- fast: conf/preset/fast_paths.yaml, each step on 5,000 random images (timed on min(5,000,
  `--images`)), the full landscape evaluated at steps 0, 50 and 100;
with the image-point forward passes of a path (each image through the net at one path point;
in savings and fast the first layer runs once per basis vector instead) and the spread
((max - min) / median of the repeats). Prints tables; nothing is asserted.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from pathlib import Path

import torch
from omegaconf import OmegaConf
from timing import timed  # benchmarks/timing.py, beside this script
from torch.utils.flop_counter import FlopCounterMode

from lossland.core import cpu
from lossland.core.device import resolve_device
from lossland.data import load_split
from lossland.nets import archs
from lossland.nets.modules import build_model, get_flat
from lossland.paths import sizing
from lossland.paths.basis_loss import basis_loss_fn
from lossland.paths.finders.fourier import (
    LAM,
    N_FOURIER,
    N_POINTS,
    STEPS,
    find_path,
    fourier_phi,
    full_objective,
    loop_objective,
    path_objective,
    sampled_objective,
    t_grid,
)
from lossland.paths.job import point_chunk_for


def endpoints(arch: str, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    return get_flat(build_model(arch)).to(device), get_flat(build_model(arch)).to(device)


def job_step_seconds(loss, w_i, w_j, device: torch.device, steps: int) -> float:
    """Median seconds of one `find_path` step, timed between its iterates (the last iterate is
    only evaluated, so `steps + 1` iterates give `steps` whole steps)."""
    stamps: list[float] = []

    def stamp(step: int, objective: torch.Tensor) -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()
        stamps.append(time.perf_counter())

    find_path(loss, w_i, w_j, steps=steps + 1, callback=stamp)
    return statistics.median(b - a for a, b in zip(stamps[:-2], stamps[1:-1], strict=True))


def loop_step_seconds(arch, x, y, w_i, w_j, device: torch.device, steps: int) -> float:
    """Median seconds of one step of the per-point loop: L and dL/db point by point, then Adam."""
    t = t_grid(N_POINTS, device=device)
    b = torch.zeros(N_FOURIER, len(w_i), device=device, requires_grad=True)
    adam = torch.optim.Adam([b], lr=1e-3)

    def step() -> None:
        _, grad, _ = loop_objective(arch, "softplus", x, y, w_i, w_j, b.detach(), t)
        b.grad = grad
        adam.step()

    step()  # warm-up (the module is new)
    return statistics.median(timed(step, device) for _ in range(steps))


def step_flops(loss, w_i, w_j) -> int:
    """Matrix FLOPs of one job step (forward + backward), as torch counts them."""

    def count(steps: int) -> int:
        counter = FlopCounterMode(display=False)
        with counter:
            find_path(loss, w_i, w_j, steps=steps)
        return counter.get_total_flops()

    return count(2) - count(1)  # the setup and the final evaluation without gradient cancel


FULL, FAST_IMAGES, FAST_EVALS = 50_000, 5_000, 3  # conf/preset/fast_paths.yaml: steps 0, 50, 100
MODES = ("exact", "savings", "fast")
FIRST_LAYER = {"auto": None, "on": True, "off": False}  # `basis_loss_fn(first_layer=...)`


def mode_unit_seconds(loss, points, w_i, w_j, device: torch.device) -> dict[str, float]:
    """Seconds of one step of each mode and of one full evaluation, on the loss's images (the
    fast step on min(5,000, all) of them: the same per-call sizes as on the full data); exact
    on `points` (the points formed), the others on `loss` (the job's)."""
    phi = fourier_phi(t_grid(N_POINTS, device=device), N_FOURIER)
    theta = torch.zeros(1, N_FOURIER + 2, len(w_i), device=device)
    theta[0, 0], theta[0, 1] = w_i, w_j
    b = theta[:, 2:].clone().requires_grad_(True)
    adam = torch.optim.Adam([b], lr=1e-3)
    ends = loss(phi[[0, -1]][:, :2], theta[:, :2], n_fixed=2).detach()
    n = int(loss.n_images)
    subset = loss.on_images(torch.randperm(n)[: min(FAST_IMAGES, n)].sort().values)

    def step(objective) -> None:
        adam.zero_grad()
        objective(torch.cat([theta[:, :2], b], 1)).sum().backward()
        adam.step()

    units = {
        "exact": lambda: step(lambda th: path_objective(points, phi, th, LAM)[0]),
        "savings": lambda: step(lambda th: full_objective(loss, phi, th, LAM, ends)[0]),
        "fast": lambda: step(lambda th: sampled_objective(subset, phi, th, LAM, None)),
    }

    def evaluate(on) -> None:
        with torch.no_grad():
            full_objective(on, phi, torch.cat([theta[:, :2], b], 1), LAM, ends)

    evals = (("eval", lambda: evaluate(loss)), ("eval exact", lambda: evaluate(points)))
    return {k: timed(f, device) for k, f in (*units.items(), *evals)}


def path_seconds(unit: dict[str, float], images: int, n: int = FULL) -> dict[str, float]:
    """One path's seconds per mode on `n` images, from unit seconds measured on `images`."""
    scale, fast = n / images, min(FAST_IMAGES, n) / min(FAST_IMAGES, images)
    return {
        "exact": STEPS * unit["exact"] * scale + unit["eval exact"] * scale,
        "savings": STEPS * unit["savings"] * scale + unit["eval"] * scale,
        "fast": STEPS * unit["fast"] * fast + FAST_EVALS * unit["eval"] * scale,
    }


def forward_passes(n: int = FULL) -> dict[str, int]:
    """Image-point forward passes of one path per mode (each with its backward in a step)."""
    inner = N_POINTS - 2
    return {
        "exact": (STEPS + 1) * N_POINTS * n,
        "savings": 2 * n + (STEPS + 1) * inner * n,
        "fast": 2 * n + STEPS * inner * min(FAST_IMAGES, n) + FAST_EVALS * inner * n,
    }


def matmul_gflops(device: torch.device, n: int = 1024, reps: int = 20) -> float:
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    a @ b  # warm-up
    seconds = timed(lambda: [a @ b for _ in range(reps)], device)
    return 2 * n**3 * reps / seconds / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", default="outputs/data")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--archs", default=",".join(archs.names()))
    parser.add_argument("--images", type=int, default=1000, help="training images scored")
    parser.add_argument("--steps", type=int, default=2, help="steps timed per repeat")
    parser.add_argument("--reps", type=int, default=5, help="alternating repeats (median)")
    parser.add_argument(
        "--point-chunk", type=int, default=None, help="points per batched call (default: as jobs)"
    )
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--no-loop", action="store_true", help="skip the per-point loop")
    parser.add_argument("--no-modes", action="store_true", help="skip the per-mode path table")
    parser.add_argument(
        "--first-layer",
        choices=tuple(FIRST_LAYER),
        default="auto",
        help="the job's first layer once per basis vector: as jobs (auto), for every net (on)",
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cpu.tune()  # as every entry point does (lossland.launch.cli)
    device = resolve_device(args.device)
    train = load_split(args.root, "train", device, limit=args.images)
    unsized = OmegaConf.load(Path(__file__).resolve().parents[1] / "conf" / "paths.yaml").finder
    peak = matmul_gflops(device)
    print(
        f"device {device}, {torch.get_num_threads()} threads, {len(train)} images, "
        f"M = {N_POINTS}, N_F = {N_FOURIER}; plain matmul: {peak:.1f} GFLOP/s; "
        f"medians of {args.reps} alternating repeats of {args.steps} steps"
    )
    print(
        f"{'arch':6} {'pts/call':>8} {'job s/step':>11} {'loop s/step':>12} {'loop/job':>9} "
        f"{'spread':>7} {'GFLOP/step':>11} {'GFLOP/s':>8} {'%mm':>5}"
    )
    losses = {}
    for arch in args.archs.split(","):
        w_i, w_j = endpoints(arch, device)
        finder = sizing.sized_finder(unsized, arch, "softplus", train, device)  # as jobs size it
        chunk = args.point_chunk or point_chunk_for(arch, device, finder.point_chunk)
        data = (train.x, train.y, finder.image_chunk, chunk)
        job = basis_loss_fn(arch, "softplus", *data, first_layer=FIRST_LAYER[args.first_layer])
        points = basis_loss_fn(arch, "softplus", *data, first_layer=False)  # before issue 19
        losses[arch] = job, points
        find_path(job, w_i, w_j, steps=1)  # warm-up
        rows = []
        for _ in range(args.reps):  # alternating: both sides see the same machine load
            seconds = job_step_seconds(job, w_i, w_j, device, args.steps)
            loop = math.nan
            if not args.no_loop:
                loop = loop_step_seconds(arch, train.x, train.y, w_i, w_j, device, args.steps)
            rows.append((seconds, loop, loop / seconds))
        seconds, loop, ratio = (statistics.median(c) for c in zip(*rows, strict=True))
        ratios = [r[2] for r in rows]
        spread = (max(ratios) - min(ratios)) / ratio
        gflop = step_flops(job, w_i, w_j) / 1e9
        rate = gflop / seconds
        print(
            f"{arch:6} {chunk or N_POINTS:8d} {seconds:11.3f} {_or_dash(loop, 12, 3)} "
            f"{_or_dash(ratio, 9, 2)} {_or_dash(spread, 7, 2)} {gflop:11.2f} {rate:8.1f} "
            f"{100 * rate / peak:4.0f}%"
        )
    if not args.no_modes:
        mode_table(losses, device, len(train), args.reps)


def mode_table(losses: dict, device: torch.device, images: int, reps: int) -> None:
    """Seconds per full-data path per arch and mode (medians of interleaved repeats)."""
    passes = forward_passes()
    print(
        f"\nseconds per full-data path ({FULL:,} images, M = {N_POINTS}, {STEPS} steps), "
        f"scaled from {images} images; medians of {reps} interleaved repeats"
    )
    print(
        f"{'arch':6} "
        + " ".join(f"{m + ' s':>10} {'spread':>7}" for m in MODES)
        + f" {'savings x':>9} {'fast x':>7} "
        + " ".join(f"{m + ' fwd':>12}" for m in MODES)
    )
    for arch, (loss, points) in losses.items():
        w_i, w_j = endpoints(arch, device)
        runs = [
            path_seconds(mode_unit_seconds(loss, points, w_i, w_j, device), images)
            for _ in range(reps)
        ]
        med = {m: statistics.median(r[m] for r in runs) for m in MODES}
        spread = {m: (max(r[m] for r in runs) - min(r[m] for r in runs)) / med[m] for m in MODES}
        print(
            f"{arch:6} "
            + " ".join(f"{med[m]:10.1f} {spread[m]:7.2f}" for m in MODES)
            + f" {med['exact'] / med['savings']:9.2f} {med['exact'] / med['fast']:7.2f} "
            + " ".join(f"{passes[m]:12.3g}" for m in MODES)
        )


def _or_dash(value: float, width: int, digits: int) -> str:
    return f"{'-':>{width}}" if math.isnan(value) else f"{value:{width}.{digits}f}"


if __name__ == "__main__":
    main()
