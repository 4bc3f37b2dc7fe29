"""Predicted device-hours of the paper's whole study on this device, from measured unit costs.

    python benchmarks/study_cost.py [--k 75] [--images N] [--path-images N] [--device auto]

Unit costs, measured here: one training epoch per arch x optimizer as its task runs it (a pack
of k seeds, or seeds one by one where `packs.why_sequential` says so), and one FourierPathFinder
step per arch at the point chunk its path jobs use. Each is measured on `--images` /
`--path-images` training images and scaled linearly to the study's 50,000 (train landscape) and
10,000 (test landscape, and every epoch's test loss) images; on a GPU the defaults are the full
sizes. The study: 4 archs x 2 optimizers x 75
seeds at the default budgets (conf/opt/*.yaml), and 300 paths per set for 4 sets on the train
landscape and 2 on the test one (7,200 paths) at conf/paths.yaml's finder settings, once per
finder mode (exact: the paper's finder as before issue 19; savings: the endpoints once; fast:
conf/preset/fast_paths.yaml; benchmarks/pathfinder.py): one "whole study" line per mode.
Prints a table; nothing is asserted.
"""

from __future__ import annotations

import argparse
import statistics

import torch
from omegaconf import OmegaConf
from pathfinder import MODES, mode_unit_seconds, path_seconds  # benchmarks/, beside this
from train_throughput import OPT, median_seconds, pack_epoch, seq_epoch

from lossland.core import cpu
from lossland.core.config import compose
from lossland.core.device import resolve_device
from lossland.data import load_split
from lossland.nets import archs
from lossland.nets.modules import build_model, get_flat
from lossland.paths.basis_loss import basis_loss_fn
from lossland.paths.job import point_chunk_for
from lossland.paths.sizing import sized_finder
from lossland.study.design import load_study
from lossland.train import packs

SEEDS, N_TRAIN, N_TEST, PAIRS = 75, 50_000, 10_000, 300
SETS = {land: len(names) for land, names in load_study().landscapes.items()}  # sets per landscape


def epoch_seconds(arch: str, opt: str, k: int, images: int, device) -> tuple[float, str]:
    """Seconds per seed-epoch (as measured on `images` train images) and how it was run."""
    train = load_split(ARGS.root, "train", device, images)
    test = load_split(ARGS.root, "test", device, max(1, images * N_TEST // N_TRAIN))
    cfg = OmegaConf.create({"opt": OPT[opt], "arch": {"name": arch}})
    if packs.why_sequential(cfg, device) is None:
        (s,) = median_seconds([pack_epoch(arch, opt, k, train, test, device)], device, ARGS.reps)
        return s / k, f"pack of {k}"
    (s,) = median_seconds([seq_epoch(arch, opt, train, test, device)], device, ARGS.reps)
    return s, "one by one"


def path_units(arch: str, images: int, finder, device) -> tuple[dict[str, float], int | None]:
    """Seconds of each mode's step and of a full evaluation (one pair, M points) on `images`
    train images, as jobs run them (the median of --reps)."""
    split = load_split(ARGS.root, "train", device, images)
    finder = sized_finder(finder, arch, "softplus", split, device)  # as path jobs size it
    chunk = point_chunk_for(arch, device, finder.point_chunk)
    loss = basis_loss_fn(arch, "softplus", split.x, split.y, finder.image_chunk, chunk)
    torch.manual_seed(0)
    w_i, w_j = (get_flat(build_model(arch)).to(device) for _ in range(2))
    runs = [mode_unit_seconds(loss, w_i, w_j, device) for _ in range(ARGS.reps)]
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}, chunk


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", default="outputs/data")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--archs", default=",".join(archs.names()))
    parser.add_argument("--k", type=int, default=None, help="SGD pack size (cuda 75, cpu 16)")
    parser.add_argument("--images", type=int, default=None, help="cuda 50000, cpu 2000")
    parser.add_argument("--path-images", type=int, default=None, help="cuda 10000, cpu 1000")
    parser.add_argument("--reps", type=int, default=2, help="timed epochs / steps per unit")
    global ARGS
    ARGS = args = parser.parse_args()
    cpu.tune()  # as every entry point does (lossland.launch.cli)
    device = resolve_device(args.device)
    gpu = device.type == "cuda"
    k = args.k or (75 if gpu else 16)
    images = args.images or (N_TRAIN if gpu else 2000)
    path_images = args.path_images or (N_TEST if gpu else 1000)
    name = torch.cuda.get_device_name(device) if gpu else f"cpu, {torch.get_num_threads()} threads"
    finder = compose("paths").finder  # conf/paths.yaml with its default finder (fourier)
    budgets = {opt: compose("train", [f"opt={opt}"]).opt.epochs for opt in OPT}
    print(f"device {device} ({name}); unit costs on {images} / {path_images} images, scaled")
    print(f"{'stage':21} {'arch':6} {'unit s':>9} {'how':>12} {'units':>9} {'hours':>8}")
    total: dict[str, float] = {}

    def row(stage: str, arch: str, unit: float, how: str, units: int) -> None:
        hours = unit * units / 3600
        total[stage] = total.get(stage, 0.0) + hours
        print(f"{stage:21} {arch:6} {unit:9.3g} {how:>12} {units:9d} {hours:8.2f}")

    for arch in args.archs.split(","):
        for opt in OPT:
            s, how = epoch_seconds(arch, opt, k, images, device)
            row(f"train {opt}", arch, s * N_TRAIN / images, how, SEEDS * budgets[opt])
        unit, chunk = path_units(arch, path_images, finder, device)
        for landscape, n in (("train", N_TRAIN), ("test", N_TEST)):
            path = path_seconds(unit, path_images, n)
            for mode in MODES:  # one path per unit
                units = SETS[landscape] * PAIRS
                row(f"paths {landscape} {mode}", arch, path[mode], f"{chunk} pts/call", units)
    training = sum(h for stage, h in total.items() if stage.startswith("train"))
    for stage, hours in total.items():
        print(f"{'total ' + stage:28} {'':>25} {hours:8.2f}")
    for mode in MODES:  # the path stage in each finder mode (benchmarks/pathfinder.py)
        paths = sum(h for stage, h in total.items() if stage.endswith(f" {mode}"))
        print(f"{'whole study, ' + mode:28} {'':>25} {training + paths:8.2f} device-hours ({name})")


ARGS: argparse.Namespace

if __name__ == "__main__":
    main()
