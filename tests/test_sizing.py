"""Chunk sizes from the device (lossland.paths.sizing, lossland.core.memory): the CPU keeps
its measured sizes; on CUDA the free memory decides, all images per call whenever one weight vector
on all of them fits."""

from __future__ import annotations

import pytest
import torch

from lossland.core import identity, memory
from lossland.core.config import compose
from lossland.data import load_split
from lossland.paths import sizing
from lossland.train import packs, seed_run


@pytest.mark.parametrize(
    ("budget", "rows", "points", "images", "expected"),
    [
        (1e9, 500, None, None, (500, None)),  # everything at once
        (50_000 * 12, 500, None, None, (12, None)),  # all images, 12 points per call
        (30_000, 500, None, None, (1, 30_000)),  # one point: image slices (recomputed)
        (0.2, 500, None, None, (1, 1)),  # never below one
        (1e9, 500, None, 5000, (500, 5000)),  # a size given is kept...
        (50_000, 500, None, 5000, (10, 5000)),  # ...and the other fills the budget
        (1e9, 500, 10, None, (10, None)),
        (200_000, 500, 10, None, (10, 20_000)),
        (1e9, 500, 10, 5000, (10, 5000)),
    ],
)
def test_fit(budget, rows, points, images, expected):
    assert memory.fit(budget, rows, 50_000, points, images) == expected


def test_the_cpu_keeps_its_measured_path_sizes(mnist_root):
    split = load_split(mnist_root, "test", limit=100)
    cpu = torch.device("cpu")
    unset = {"pairs_per_batch": None, "point_chunk": None, "image_chunk": None}
    assert sizing.path_sizes("lstm", "softplus", split.x, split.y, 50, unset, cpu) == (1, 10, 5000)
    given = {"pairs_per_batch": 3, "point_chunk": 7, "image_chunk": 200}
    assert sizing.path_sizes("lstm", "softplus", split.x, split.y, 50, given, cpu) == (3, 7, 200)
    assert packs.eval_chunk("fcp", "softplus", split, 4, 1234) == 1234
    finder = sizing.sized_finder(compose("paths").finder, "fcp", "softplus", split, cpu)
    assert (finder.pairs_per_batch, finder.point_chunk, finder.image_chunk) == (1, 10, 5000)
    assert finder.n_points == 50 and finder.name == "fourier"


def test_sizes_are_unset_by_default_and_never_in_the_signature():
    default = compose("paths")
    assert [default.finder[k] for k in ("pairs_per_batch", "point_chunk", "image_chunk")] == [
        None
    ] * 3
    sized = compose(
        "paths", ["finder.pairs_per_batch=1", "finder.point_chunk=10", "finder.image_chunk=5000"]
    )
    assert identity.signature(sized) == identity.signature(default)


def test_on_cuda_the_free_memory_decides(monkeypatch):
    """The CUDA branch with the device's answers given: 1 kB per (point x image), half the
    free memory per call; pairs as many as have all 50 points on all 50,000 images at once."""
    cuda = torch.device("cuda")  # only its type is read here
    monkeypatch.setattr(sizing, "path_row_bytes", lambda *args: 1000.0)
    x, y = torch.zeros(50_000, 1), torch.zeros(50_000)
    unset = {"pairs_per_batch": None, "point_chunk": None, "image_chunk": None}

    def sizes(free_rows: float, finder: dict = unset) -> tuple:
        monkeypatch.setattr(memory, "free_bytes", lambda device: free_rows * 1000 / memory.FRACTION)
        return sizing.path_sizes("fcp", "softplus", x, y, 50, finder, cuda)

    assert sizes(4.5 * 50 * 50_000) == (4, 200, None)
    assert sizes(1e12) == (sizing.MAX_PAIRS_PER_BATCH, 25 * 50, None)
    assert sizes(20 * 50_000) == (1, 20, None)
    assert sizes(30_000) == (1, 1, 30_000)
    assert sizes(30_000, unset | {"pairs_per_batch": 2, "point_chunk": 4}) == (2, 4, 7500)


def test_the_gpu_preset_packs_the_75_seeds_in_three_tasks(mnist_root):
    cfg = compose("train", ["preset=gpu"], hydra=True)
    params = cfg.hydra.sweeper.params
    assert cfg.seeds_per_task == 25 and params.arch == "fcp,lenet,lstm,ae"
    seeds = []
    for start in str(params.seed).split(","):
        task = compose("train", ["preset=gpu", f"seed={start}", f"dataset.root={mnist_root}"])
        seeds += [run.seed for run in seed_run.seed_runs(task)]
    assert seeds == list(range(75))
    alone = compose("train", ["seed=50", f"dataset.root={mnist_root}"])
    assert identity.signature(task) == identity.signature(alone)  # packing changes no result
