"""A path job's chunk sizes: measured values on the CPU, what fits in free memory on CUDA.

Chunks change memory and float32 summation order, never results (they are not in a record's
signature, lossland.core.identity). The CPU keeps the sizes measured on it (conf/paths.yaml,
benchmarks/pathfinder.py). On CUDA a chunk left unset (null) is sized from the memory free
on the device (`torch.cuda.mem_get_info`): one small forward and backward measures the bytes a
row (one weight vector on one image) takes, and a call may use `FRACTION` of the free memory.
Whole data per call is preferred, since an image slice is recomputed in backward: images are
sliced only when one weight vector on all of them does not fit (docs/decisions.md#sizes).
"""

from __future__ import annotations

import torch
from omegaconf import DictConfig, OmegaConf

from lossland.core import memory
from lossland.data import Split
from lossland.nets import archs
from lossland.paths.basis_loss import basis_loss_fn

CPU_POINT_CHUNK = 10  # path points per call: the CPU's cache stays warm (benchmarks/pathfinder.py)
CPU_IMAGE_CHUNK = 5000  # images per call: ~3 GB for lenet/lstm on the CPU
CPU_PAIRS_PER_BATCH = 1
MAX_PAIRS_PER_BATCH = 25  # a shard of the study's path sweep (docs/cluster.md)


def path_sizes(
    arch: str,
    act: str,
    x: torch.Tensor,
    y: torch.Tensor,
    n_points: int,
    finder: dict,
    device: torch.device,
) -> tuple[int, int | None, int | None]:
    """(pairs per batch, points per call, images per call) of a path job: the finder's
    `pairs_per_batch`, `point_chunk` and `image_chunk`, each from the device where null."""
    keys = ("pairs_per_batch", "point_chunk", "image_chunk")
    pairs, points, images = (finder.get(k) for k in keys)
    if device.type != "cuda":
        return (
            pairs or CPU_PAIRS_PER_BATCH,
            CPU_POINT_CHUNK if points is None else points,
            CPU_IMAGE_CHUNK if images is None else images,
        )
    if None not in (pairs, points, images):
        return pairs, points, images
    budget = memory.FRACTION * memory.free_bytes(device) / path_row_bytes(arch, act, x, y)
    if pairs is None:  # as many pairs as have all their points in one call on all images
        pairs = max(1, min(MAX_PAIRS_PER_BATCH, int(budget // (n_points * len(y)))))
    points, images = memory.fit(budget, pairs * n_points, len(y), points, images)
    return pairs, points, images


def path_row_bytes(arch: str, act: str, x: torch.Tensor, y: torch.Tensor) -> float:
    """Bytes one path point on one image takes in a path step's forward and backward."""
    n = min(memory.PROBE_IMAGES, len(y))
    loss = basis_loss_fn(arch, act, x[:n], y[:n])
    phi = torch.full((memory.PROBE_ROWS, 3), 0.5, device=x.device)
    theta = torch.zeros(1, 3, archs.get(arch).n_prm, device=x.device, requires_grad=True)

    def step() -> None:
        loss(phi, theta, 2).sum().backward()

    return memory.peak_bytes(step, x.device) / (memory.PROBE_ROWS * n)


def sized_finder(
    finder: DictConfig, arch: str, act: str, split: Split, device: torch.device
) -> DictConfig:
    """A copy of a finder config with the sizes a path job on `device` takes (`path_sizes`)."""
    sizes = path_sizes(arch, act, split.x, split.y, finder.n_points, finder, device)
    keys = ("pairs_per_batch", "point_chunk", "image_chunk")
    return OmegaConf.merge(finder, dict(zip(keys, sizes, strict=True)))
