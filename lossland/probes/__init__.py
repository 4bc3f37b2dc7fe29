"""Landscape probes: each module is one probe, a class that Hydra builds from conf/probe/<name>.

A probe says what its units are (one per solution, per pair, or per subspace dimension) and
turns a batch of units into one result dict each; `lossland.probes.job` does the rest (which
units are done, records, chunks). A new probe is a yaml file plus a small module here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor

from lossland.core.ranges import Choice, Float, Int, Spec
from lossland.data import Split
from lossland.probes.hvp import Curvature

# What the Lanczos probes share (their yaml entries hold each; declared here once).
LANCZOS: dict[str, Spec] = {
    "tol": Float(0),
    "maxiter": Int(1),
    "landscape": Choice((None, "train", "test")),
    "seed": Int(0),
}


@dataclass(frozen=True)
class Unit:
    """One record's worth of work: `key` names its file (`<key>.json`)."""

    key: str
    index: tuple[int, ...]  # solution index, (i, j) of a pair, or (d,)
    info: dict[str, Any] = field(default_factory=dict)  # written into the record (seeds, ...)


@dataclass
class Landscape:
    """What a probe sees: a set's weights on the device, its data, its arch."""

    arch: str
    act: str
    set_name: str
    weights: Tensor  # [n, N_prm] float32 on `device`
    seeds: list[int | None]
    device: torch.device
    landscape: str  # the split curvature probes use by default (train | test)
    image_chunk: int | None
    data: Callable[[str], Split]  # split name -> its images (limit applied), loaded lazily
    partner: Callable[[], tuple[str, np.ndarray, list[int]] | None] = lambda: None
    opt: str | None = None  # the set's optimizer (the study says); None for a weights file

    def curvature(self, split: str | None = None) -> Curvature:
        data = self.data(split or self.landscape)
        return Curvature.for_arch(self.arch, self.act, data.x, data.y, self.image_chunk)


class Probe:
    """Base: one unit per solution of the set, `batch` solutions per call of `run`.

    `SETTINGS` declares the range of every setting of the probe's yaml entry (checked with
    `limits` by lossland.launch.checks before anything runs or is submitted)."""

    batch: int = 1
    SETTINGS: ClassVar[dict[str, Spec]] = {}

    @classmethod
    def limits(cls, s: dict[str, Any], n_prm: int, images: dict[str, int]) -> list[str]:
        """The settings that are out of range for this net and data (`images`: split -> image
        count, "job" -> the job's landscape's), one `probe.key=value (why)` each."""
        return []

    def units(self, ctx: Landscape) -> list[Unit]:
        return [
            Unit(f"solution={k}", (k,), {"k": k, "seed": ctx.seeds[k]})
            for k in range(len(ctx.weights))
        ]

    def run(self, ctx: Landscape, units: list[Unit]) -> list[dict[str, Any]]:
        raise NotImplementedError


def finite_or_none(x: float) -> float | None:
    """JSON has no NaN: non-finite numbers are written as null."""
    return float(x) if np.isfinite(x) else None


def not_converged(ok: bool, what: str, maxiter: int, tol: float) -> dict[str, str]:
    """The record's message when the Lanczos for `what` stopped at maxiter (empty when ok)."""
    if ok:
        return {}
    return {"message": f"Lanczos for {what} did not converge within maxiter={maxiter} (tol={tol})"}
