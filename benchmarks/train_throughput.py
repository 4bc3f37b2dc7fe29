"""Seed-epochs per second: a pack of k seeds (lossland.train.packs) against the one-seed loop.

    python benchmarks/train_throughput.py [--archs fcp,ae] [--opts sgd] [--ks 1,4,16,75]
                                          [--epochs 2] [--images 50000] [--device auto]

An epoch is what a training task does per epoch: the SGD pass over `--images` training images
(64-image steps; L-BFGS-GSS: one iteration) plus the full train and test losses it records.
`seq` trains seeds one by one (`optimizers.minibatch_epoch` / `full_batch_epoch` and
`models.evaluate`); `pack`
trains k seeds as one batched model (`packs.sgd_pack_epoch` or `lbfgs_pack.lbfgs_pack_step`,
then one batched evaluation). Seq and pack epochs are
interleaved and repeated (`--epochs`); rates are medians. `task uses` is what a task with
seeds_per_task=k does on this device (`packs.why_sequential`): where it says seq, the pack is
not used. The last lines time
one full-data forward+backward at a deep (L-BFGS-GSS) minimum with and without
`torch.set_flush_denormal(True)`. Prints tables; nothing is asserted.
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable

import torch
from omegaconf import OmegaConf
from pathfinder import matmul_gflops  # benchmarks/pathfinder.py, beside this script
from timing import timed

from lossland.core import cpu
from lossland.core.device import resolve_device
from lossland.data import load_split
from lossland.nets.batched import batched_loss_fn, packed_loss_fn, unflatten, widest_layer
from lossland.nets.modules import batch_loss, build_model, evaluate, get_flat, loss_from_outputs
from lossland.train import optimizers, packs
from lossland.train.lbfgs_gss import LBFGSGSS
from lossland.train.lbfgs_pack import lbfgs_pack_step
from lossland.train.optimizers import full_batch_epoch, minibatch_epoch
from lossland.train.packs import eval_chunk

OPT = {
    "sgd": OmegaConf.create(
        {
            "_target_": "lossland.train.optimizers.Minibatch",
            "name": "sgd",
            "optimizer": "torch.optim.SGD",
            "lr": 0.01,
            "batch_size": 64,
            "epochs": 1,
        }
    ),
    "lbfgs": OmegaConf.create(
        {
            "_target_": "lossland.train.optimizers.FullBatchLBFGSGSS",
            "name": "lbfgs",
            "history_size": 10,
            "max_evals": 6,
            "initial_step": 1.0,
            "epochs": 1,
            "line_search": "authors",  # the study's (conf/opt/lbfgs.yaml), not the spec search
        }
    ),
}


def seq_epoch(arch: str, opt: str, train, test, device) -> Callable[[], object]:
    """One seed's epoch as `training.train_one` runs it (fresh net, so no subnormals)."""
    torch.manual_seed(0)
    model = build_model(arch).to(device)
    if opt == "sgd":
        optim, gen = torch.optim.SGD(model.parameters(), lr=0.01), torch.Generator().manual_seed(0)
        step = lambda: minibatch_epoch(batch_loss(model, arch), optim, train, 64, gen)  # noqa: E731
    else:
        optim = LBFGSGSS(model.parameters(), line_search=OPT["lbfgs"].line_search)
        step = lambda: full_batch_epoch(batch_loss(model, arch), optim, train)  # noqa: E731
    return lambda: (step(), [evaluate(model, arch, s.x, s.y) for s in (train, test)])


def pack_epoch(arch: str, opt: str, k: int, train, test, device) -> Callable[[], object]:
    """k seeds' epoch as `packs.Pack` runs it: batched SGD steps or L-BFGS-GSS calls, eval."""
    torch.manual_seed(0)
    w = torch.stack([get_flat(build_model(arch)) for _ in range(k)]).to(device)
    gens = [torch.Generator().manual_seed(s) for s in range(k)]
    step_losses = packed_loss_fn(arch, "softplus")
    cpu_chunk = max(256, packs.EVAL_FLOATS // (k * widest_layer(arch)))
    evals = [
        batched_loss_fn(arch, "softplus", s.x, s.y, eval_chunk(arch, "softplus", s, k, cpu_chunk))
        for s in (train, test)
    ]
    line_search = OPT["lbfgs"].line_search
    states = [LBFGSGSS([torch.zeros(1)], line_search=line_search)._state for _ in range(k)]

    def epoch() -> None:
        if opt == "sgd":
            steps = packs.StackedOptimizer(optimizers.trainer(OPT["sgd"]), {})  # fresh state
            batch = int(OPT["sgd"].batch_size)
            packs.sgd_pack_epoch(unflatten(arch, w), step_losses, train, batch, steps, gens)
        else:
            lbfgs_pack_step(w, states, evals[0], OPT["lbfgs"])
        with torch.no_grad():
            [fn(w) for fn in evals]

    return epoch


def median_seconds(fns: list, device, reps: int) -> list[float]:
    """Each fn timed `reps` times, interleaved (a, b, a, b, ...), after one warm-up each."""
    for fn in fns:
        fn()
    times = [[] for _ in fns]
    for _ in range(reps):
        for t, fn in zip(times, fns, strict=True):
            t.append(timed(fn, device))
    return [statistics.median(t) for t in times]


def denormal_lines(root: str, device, iters: int) -> None:
    """fcp trained by L-BFGS-GSS on 1,000 images to a deep minimum, then timed both ways there."""
    small = load_split(root, "train", device, 1000)
    torch.manual_seed(0)
    model = build_model("fcp").to(device)
    opt = LBFGSGSS(model.parameters())
    for _ in range(iters):
        full_batch_epoch(batch_loss(model, "fcp"), opt, small)

    def fwd_bwd() -> float:
        model.zero_grad()
        loss = loss_from_outputs("fcp", model(small.x), small.x, small.y)
        loss.backward()
        return loss.item()

    print(f"\nfcp after {iters} L-BFGS-GSS iterations on its 1,000 training images, there:")
    print(f"{'flush_denormal':15} {'fwd+bwd s':>10} {'loss':>12}")
    for flush in (False, True):
        torch.set_flush_denormal(flush)
        loss = fwd_bwd()
        seconds = statistics.median(timed(fwd_bwd, device) for _ in range(10))
        print(f"{str(flush):15} {seconds:10.4f} {loss:12.5g}")
    torch.set_flush_denormal(False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", default="outputs/data")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--archs", default="fcp,lenet,lstm,ae")
    parser.add_argument("--opts", default="sgd,lbfgs")
    parser.add_argument("--ks", default="1,4,16,75", help="pack sizes")
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs per side (median)")
    parser.add_argument("--images", type=int, default=50_000, help="train images per epoch")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--denormal-iters", type=int, default=60, help="0: skip that part")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cpu.tune()  # as every entry point does (lossland.launch.cli)
    device = resolve_device(args.device)
    train = load_split(args.root, "train", device, args.images)
    test = load_split(args.root, "test", device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(
        f"device {device} ({name}), {torch.get_num_threads()} threads, {len(train)} train + "
        f"{len(test)} test images per epoch, median of {args.epochs} interleaved epochs; "
        f"plain matmul: {matmul_gflops(device):.1f} GFLOP/s"
    )
    print(f"{'arch':6} {'opt':6} {'k':>4} {'seq seed-ep/s':>14} {'pack seed-ep/s':>15} ", end="")
    print(f"{'pack/seq':>9} {'task uses':>10}")
    for arch in args.archs.split(","):
        for opt in args.opts.split(","):
            cfg = OmegaConf.create({"opt": OPT[opt], "arch": {"name": arch}})
            seq = seq_epoch(arch, opt, train, test, device)
            for k in map(int, args.ks.split(",")):
                s, p = median_seconds(
                    [seq, pack_epoch(arch, opt, k, train, test, device)], device, args.epochs
                )
                uses = "seq" if packs.why_sequential(cfg, device) else "pack"
                print(
                    f"{arch:6} {opt:6} {k:4d} {1 / s:14.3f} {k / p:15.3f} {s * k / p:9.2f} "
                    f"{uses:>10}"
                )
    if args.denormal_iters:
        denormal_lines(args.root, device, args.denormal_iters)


if __name__ == "__main__":
    main()
