"""Seconds per FourierPathFinder step: the batched finder as path jobs run it, against the
paper's per-point loop.

    python benchmarks/pathfinder.py [--root outputs/data] [--images 1000] [--device auto]
                                    [--reps 5] [--archs fcp,ae] [--point-chunk K]

For each arch at the settings its path jobs use (`basis_loss.basis_loss_fn` with conf/paths.yaml's
image_chunk and the point chunk of `path_job.point_chunk_for`, which sets it per arch and
device), one path (M = 50 points, N_F = 10, the paper's defaults) between two freshly initialised
nets, scored on the first `--images` training images. A step is one evaluation of L and dL/db at
all M points plus one Adam update:
- job: `find_path` on `basis_loss_fn`, what path jobs run (fcp and ae evaluate their first
  layer once per basis vector, 12, instead of once per point, 50; the other nets form the
  points and evaluate them `pts/call` at a time), timed between its iterates (`callback`);
- loop: `loop_objective` (one nn.Module forward/backward per point) plus the same Adam update.
The two sides alternate (job, loop, job, loop, ...) `--reps` times, each timing `--steps` steps;
the table gives the median seconds per step and the median loop/job ratio with its spread
((max - min) / median over the repeats), so one busy minute moves one repeat, not the table.
GFLOP/s is the matrix FLOP count of one job step (torch's FlopCounterMode, forward and
backward) over its time; `matmul` is this machine's plain float32 GEMM rate (n x n, n = 1024).
Prints a table; nothing is asserted.
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

from lossland import archs, cpu, sizing
from lossland.basis_loss import basis_loss_fn
from lossland.data import load_split
from lossland.models import build_model, get_flat
from lossland.path_job import point_chunk_for
from lossland.pathfinder import N_FOURIER, N_POINTS, find_path, loop_objective, t_grid
from lossland.training import resolve_device


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
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cpu.tune()  # as every entry point does (lossland.cli)
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
    for arch in args.archs.split(","):
        w_i, w_j = endpoints(arch, device)
        finder = sizing.sized_finder(unsized, arch, "softplus", train, device)  # as jobs size it
        chunk = args.point_chunk or point_chunk_for(arch, device, finder.point_chunk)
        job = basis_loss_fn(arch, "softplus", train.x, train.y, finder.image_chunk, chunk)
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


def _or_dash(value: float, width: int, digits: int) -> str:
    return f"{'-':>{width}}" if math.isnan(value) else f"{value:{width}.{digits}f}"


if __name__ == "__main__":
    main()
