"""Seconds per FourierPathFinder step: the batched finder against the paper's per-point loop.

    python benchmarks/pathfinder.py [--root outputs/data] [--images 1000] [--device auto]
                                    [--no-loop] [--archs fcp,ae]

For each arch at the settings its path jobs use (conf/paths.yaml's finder.point_chunk and
image_chunk, capped per arch and device by `path_job.point_chunk_for`), one path (M = 50
points, N_F = 10, the paper's defaults) between two freshly initialised nets, scored on the first
`--images` training images. A step is one evaluation of L and dL/db at all M points plus one
Adam update:
- points: `find_paths` on the points formed and scored by `batched_loss_fn` (vmapped, or for
  the LSTM hand-batched), the finder before basis losses; the marginal cost of a step,
  (time(2 + k steps) - time(2 steps)) / k;
- basis: `find_paths` on `basis_loss_fn`, what path jobs run: fcp and ae evaluate their first
  layer once per basis vector (12) instead of once per point (50); for the other nets it forms
  the points as `points` does (not timed twice: `-`);
- loop: `loop_objective` (one nn.Module forward/backward per point) plus the same Adam update.
The sides are interleaved and repeated (`--reps`); the table gives medians and the spread
of the loop/batched ratio, since this machine's load changes from minute to minute.
GFLOP/s is the FLOP count of one `points` step's matrix products and convolutions (torch's
FlopCounterMode, forward and backward) over that step's time; `matmul` is this machine's
plain float32 GEMM rate (n x n, n = 1024) for comparison. Prints a table; nothing is asserted.
"""

from __future__ import annotations

import argparse
import math
import statistics
from pathlib import Path

import torch
from omegaconf import OmegaConf
from timing import timed  # benchmarks/timing.py, beside this script
from torch.utils.flop_counter import FlopCounterMode

from lossland import archs
from lossland.basis_loss import basis_loss_fn, first_layer_plan
from lossland.data import load_split
from lossland.functional import batched_loss_fn
from lossland.models import build_model, get_flat
from lossland.path_job import point_chunk_for
from lossland.pathfinder import N_FOURIER, N_POINTS, find_path, loop_objective, t_grid
from lossland.training import resolve_device


def endpoints(arch: str, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    return get_flat(build_model(arch)).to(device), get_flat(build_model(arch)).to(device)


def batched_step_seconds(
    loss, w_i, w_j, device: torch.device, extra_steps: int, chunk: int | None = None
) -> float:
    """Marginal seconds of one step of `find_path` (setup and the final evaluation cancel)."""

    def run(steps: int) -> float:
        return timed(lambda: find_path(loss, w_i, w_j, steps=steps, chunk=chunk), device)

    run(1)  # warm-up
    return (run(2 + extra_steps) - run(2)) / extra_steps


def loop_step_seconds(arch, x, y, w_i, w_j, device: torch.device, steps: int) -> float:
    """Seconds of one step of the per-point loop: L and dL/db point by point, then Adam."""
    t = t_grid(N_POINTS, device=device)
    b = torch.zeros(N_FOURIER, len(w_i), device=device, requires_grad=True)
    adam = torch.optim.Adam([b], lr=1e-3)

    def step() -> None:
        _, grad, _ = loop_objective(arch, "softplus", x, y, w_i, w_j, b.detach(), t)
        b.grad = grad
        adam.step()

    step()  # warm-up
    return timed(lambda: [step() for _ in range(steps)], device) / steps


def step_flops(loss, w_i, w_j) -> int:
    """Matrix FLOPs of one batched step (forward + backward), as torch counts them.

    Counted one point per call: vmap turns LeNet's convolutions into grouped ones, whose
    backward torch's counter over-counts (by 11x here); the arithmetic is the same either way.
    """

    def count(steps: int) -> int:
        counter = FlopCounterMode(display=False)
        with counter:
            find_path(loss, w_i, w_j, steps=steps, chunk=1)
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
    parser.add_argument("--steps", type=int, default=2, help="steps timed per measurement")
    parser.add_argument("--reps", type=int, default=3, help="interleaved repeats (median)")
    parser.add_argument(
        "--point-chunk", type=int, default=None, help="points per batched call (default: as jobs)"
    )
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--no-loop", action="store_true", help="skip the per-point loop")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    train = load_split(args.root, "train", device, limit=args.images)
    finder = OmegaConf.load(Path(__file__).resolve().parents[1] / "conf" / "paths.yaml").finder
    peak = matmul_gflops(device)
    print(
        f"device {device}, {torch.get_num_threads()} threads, {len(train)} images, "
        f"M = {N_POINTS}, N_F = {N_FOURIER}; plain matmul: {peak:.1f} GFLOP/s; "
        f"median of {args.reps} interleaved repeats, spread = (max - min) / median of the ratio"
    )
    head = f"{'arch':6} {'pts/call':>8} {'points s/step':>14} {'basis s/step':>13}"
    print(
        f"{head} {'points/basis':>13} {'loop s/step':>12} {'loop/points':>12} {'spread':>7}", end=""
    )
    print(f" {'GFLOP/step':>11} {'GFLOP/s':>8} {'%mm':>5}")
    for arch in args.archs.split(","):
        w_i, w_j = endpoints(arch, device)
        chunk = args.point_chunk or point_chunk_for(arch, device, finder.point_chunk)
        loss = batched_loss_fn(arch, "softplus", train.x, train.y, chunk=finder.image_chunk)
        fast = first_layer_plan(arch, "softplus") is not None
        basis = basis_loss_fn(arch, "softplus", train.x, train.y, finder.image_chunk, chunk)
        rows = []
        for _ in range(args.reps):  # interleaved: every side sees the same machine load
            points = batched_step_seconds(loss, w_i, w_j, device, args.steps, chunk)
            on_basis = (
                batched_step_seconds(basis, w_i, w_j, device, args.steps) if fast else math.nan
            )
            loop = math.nan
            if not args.no_loop:
                loop = loop_step_seconds(arch, train.x, train.y, w_i, w_j, device, args.steps)
            rows.append((points, on_basis, loop, points / on_basis, loop / points))
        points, on_basis, loop, gain, ratio = (
            statistics.median(c) for c in zip(*rows, strict=True)
        )
        ratios = [r[4] for r in rows]
        spread = (max(ratios) - min(ratios)) / ratio
        gflop = step_flops(loss, w_i, w_j) / 1e9
        rate = gflop / points
        print(
            f"{arch:6} {chunk or N_POINTS:8d} {points:14.3f} {_or_dash(on_basis, 13, 3)} "
            f"{_or_dash(gain, 13, 2)} {_or_dash(loop, 12, 3)} {_or_dash(ratio, 12, 2)} "
            f"{_or_dash(spread, 7, 2)} {gflop:11.2f} {rate:8.1f} {100 * rate / peak:4.0f}%"
        )


def _or_dash(value: float, width: int, digits: int) -> str:
    return f"{'-':>{width}}" if math.isnan(value) else f"{value:{width}.{digits}f}"


if __name__ == "__main__":
    main()
