"""Device memory: what is free on a CUDA device, what a call takes at its peak, and how many
weight vectors and images one call may then hold (`fit`). Chunk sizes change memory and float32
summation order, never results (they are not in a record's signature, lossland.core.identity);
the CPU keeps the sizes measured on it (docs/decisions.md#sizes).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

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
