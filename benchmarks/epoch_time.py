"""Wall time per epoch of each arch and optimizer on the full 50,000-image train set.

    python benchmarks/epoch_time.py [--root outputs/data] [--device auto] [--threads N]

An epoch is one pass of 64-image SGD steps, or one L-BFGS-GSS iteration (a gradient and up to
6 line-search evaluations); `eval` is the per-epoch bookkeeping (full train + test loss).
Prints a table; nothing is asserted.
"""

from __future__ import annotations

import argparse

import torch
from timing import timed  # benchmarks/timing.py, beside this script

from lossland.core.device import resolve_device
from lossland.data import load_split
from lossland.nets.modules import batch_loss, build_model, evaluate
from lossland.train.lbfgs_gss import LBFGSGSS
from lossland.train.optimizers import full_batch_epoch, minibatch_epoch


def time_arch(arch: str, train, test, device: torch.device, lbfgs_iters: int) -> dict[str, float]:
    """Seconds for: evaluating both curves, one SGD epoch, one L-BFGS-GSS iteration."""
    torch.manual_seed(0)
    model = build_model(arch).to(device)
    eval_s = timed(lambda: [evaluate(model, arch, s.x, s.y) for s in (train, test)], device)
    sgd = torch.optim.SGD(model.parameters(), lr=0.01)
    gen = torch.Generator().manual_seed(0)
    sgd_s = timed(lambda: minibatch_epoch(batch_loss(model, arch), sgd, train, 64, gen), device)
    lbfgs = LBFGSGSS(model.parameters())
    # warm-up: the first iteration has no history
    full_batch_epoch(batch_loss(model, arch), lbfgs, train)
    iters = [lambda: full_batch_epoch(batch_loss(model, arch), lbfgs, train)] * lbfgs_iters
    lbfgs_s = timed(lambda: [it() for it in iters], device) / lbfgs_iters
    return {"eval": eval_s, "sgd": sgd_s, "lbfgs": lbfgs_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", default="outputs/data")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--archs", default="fcp,lenet,lstm,ae")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--lbfgs-iters", type=int, default=3, help="iterations averaged")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    train, test = load_split(args.root, "train", device), load_split(args.root, "test", device)
    print(f"device {device}, {torch.get_num_threads()} threads, {len(train)} train images")
    print(f"{'arch':6} {'opt':6} {'step s/epoch':>13} {'eval s/epoch':>13} {'total s/epoch':>14}")
    for arch in args.archs.split(","):
        t = time_arch(arch, train, test, device, args.lbfgs_iters)
        for opt in ("sgd", "lbfgs"):
            print(f"{arch:6} {opt:6} {t[opt]:13.2f} {t['eval']:13.2f} {t[opt] + t['eval']:14.2f}")


if __name__ == "__main__":
    main()
