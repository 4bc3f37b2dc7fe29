"""Chunk sizes from the device: measured values on the CPU, what fits in free memory on CUDA.

Chunks change memory and float32 summation order, never results (they are not in a record's
signature, lossland.identity). The CPU keeps the sizes measured on it (conf/paths.yaml,
benchmarks/pathfinder.py). On CUDA a chunk left unset (null) is sized from the memory free
on the device (`torch.cuda.mem_get_info`): one small forward and backward measures the bytes a
row (one weight vector on one image) takes, and a call may use `FRACTION` of the free memory.
Whole data per call is preferred, since an image slice is recomputed in backward: images are
sliced only when one weight vector on all of them does not fit (docs/decisions.md#sizes).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from omegaconf import DictConfig, OmegaConf

from lossland import archs
from lossland.basis_loss import basis_loss_fn
from lossland.data import Split
from lossland.functional import batched_loss_fn

CPU_POINT_CHUNK = 10  # path points per call: the CPU's cache stays warm (benchmarks/pathfinder.py)
CPU_IMAGE_CHUNK = 5000  # images per call: ~3 GB for lenet/lstm on the CPU
CPU_PAIRS_PER_BATCH = 1
MAX_PAIRS_PER_BATCH = 25  # a shard of the study's path sweep (docs/cluster.md)
FRACTION = 0.5  # of the free device memory one call may take: allocator slack, Adam's state
PROBE_IMAGES, PROBE_ROWS = 512, 4  # the measuring call: 4 weight vectors on 512 images


def free_bytes(device: torch.device) -> int:
    """Memory free on the CUDA device now."""
    return torch.cuda.mem_get_info(device)[0]


def peak_bytes(fn: Callable[[], object], device: torch.device) -> int:
    """CUDA memory `fn()` allocates at its peak, above what was allocated before it."""
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    start = torch.cuda.memory_allocated(device)
    fn()
    torch.cuda.synchronize(device)
    return torch.cuda.max_memory_allocated(device) - start


def fit(
    budget: float, rows: int, n_images: int, point_chunk: int | None, image_chunk: int | None
) -> tuple[int, int | None]:
    """(weight vectors per call, images per call; None: all) for `rows` vectors on `n_images`
    images when `budget` (vector x image) pairs fit at once; a size given is kept. All images
    whenever one vector on all fits (nothing recomputed), as many vectors as then fit."""
    budget = max(1.0, budget)
    if image_chunk is not None:
        per_call = min(image_chunk, n_images)
        return point_chunk or max(1, min(rows, int(budget // per_call))), image_chunk
    if point_chunk is not None:
        fits = point_chunk * n_images <= budget
        return point_chunk, None if fits else max(1, int(budget // point_chunk))
    if budget >= n_images:
        return max(1, min(rows, int(budget // n_images))), None
    return 1, int(budget)


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
    budget = FRACTION * free_bytes(device) / path_row_bytes(arch, act, x, y)
    if pairs is None:  # as many pairs as have all their points in one call on all images
        pairs = max(1, min(MAX_PAIRS_PER_BATCH, int(budget // (n_points * len(y)))))
    points, images = fit(budget, pairs * n_points, len(y), points, images)
    return pairs, points, images


def path_row_bytes(arch: str, act: str, x: torch.Tensor, y: torch.Tensor) -> float:
    """Bytes one path point on one image takes in a path step's forward and backward."""
    n = min(PROBE_IMAGES, len(y))
    loss = basis_loss_fn(arch, act, x[:n], y[:n])
    phi = torch.full((PROBE_ROWS, 3), 0.5, device=x.device)
    theta = torch.zeros(1, 3, archs.get(arch).n_prm, device=x.device, requires_grad=True)

    def step() -> None:
        loss(phi, theta, 2).sum().backward()

    return peak_bytes(step, x.device) / (PROBE_ROWS * n)


def eval_chunk(arch: str, act: str, split: Split, k: int, cpu_chunk: int) -> int | None:
    """Images per batched loss call of k weight vectors (a pack's curves and its L-BFGS-GSS
    gradient): `cpu_chunk` on the CPU; on CUDA all (None) when they fit, else what fits."""
    x, y = split.x, split.y
    if x.device.type != "cuda":
        return cpu_chunk
    n = min(PROBE_IMAGES, len(y))
    losses = batched_loss_fn(arch, act, x[:n], y[:n])
    w = torch.zeros(PROBE_ROWS, archs.get(arch).n_prm, device=x.device, requires_grad=True)
    per_row = peak_bytes(lambda: losses(w).sum().backward(), x.device) / (PROBE_ROWS * n)
    budget = FRACTION * free_bytes(x.device) / per_row
    return fit(budget, k, len(y), k, None)[1]


def sized_finder(
    finder: DictConfig, arch: str, act: str, split: Split, device: torch.device
) -> DictConfig:
    """A copy of a finder config with the sizes a path job on `device` takes (`path_sizes`)."""
    sizes = path_sizes(arch, act, split.x, split.y, finder.n_points, finder, device)
    keys = ("pairs_per_batch", "point_chunk", "image_chunk")
    return OmegaConf.merge(finder, dict(zip(keys, sizes, strict=True)))
