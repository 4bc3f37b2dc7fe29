"""Hidden-unit permutations of a registry entry's flat weight vectors (lossland.nets.unit_groups
declares the groups): apply one, invert it, hash it."""

from __future__ import annotations

import hashlib
import math
from functools import cache

import numpy as np
import torch
from torch import Tensor

from lossland.core.errors import LosslandError
from lossland.nets import archs
from lossland.nets.batched import param_shapes
from lossland.nets.unit_groups import Group

Permutation = dict[str, Tensor]  # group name -> [size] long tensor


class Symmetry:
    """An arch's permutation groups on its flat weight vector [..., N_prm]."""

    def __init__(self, arch: str, groups: tuple[Group, ...]) -> None:
        self.arch, self.groups = arch, groups
        self.shapes = dict(param_shapes(arch))
        self.offsets, start = {}, 0
        for name, shape in self.shapes.items():
            self.offsets[name] = start
            start += math.prod(shape)
        self.n_prm = start
        self._check()

    def _check(self) -> None:
        seen = set()
        for g in self.groups:
            for ax in g.axes:
                where = f"arch {self.arch}, symmetry group {g.name}, axis {ax.param}[{ax.axis}]"
                shape = self.shapes.get(ax.param)
                if shape is None:
                    raise LosslandError(f"{where}: no parameter {ax.param!r} ({list(self.shapes)})")
                if ax.axis >= len(shape) or shape[ax.axis] != ax.length(g.size):
                    raise LosslandError(
                        f"{where}: parameter shape {list(shape)} has no axis of length "
                        f"{ax.length(g.size)} there"
                    )
                if (ax.param, ax.axis) in seen:
                    raise LosslandError(f"{where}: moved by two groups")
                seen.add((ax.param, ax.axis))

    def identity(self) -> Permutation:
        return {g.name: torch.arange(g.size) for g in self.groups}

    def random(self, generator: torch.Generator) -> Permutation:
        return {g.name: torch.randperm(g.size, generator=generator) for g in self.groups}

    def index(self, perm: Permutation) -> Tensor:
        """The gather index [N_prm]: permuted = w[..., index]."""
        parts = []
        for name, shape in self.shapes.items():
            idx = torch.arange(math.prod(shape)).reshape(shape) + self.offsets[name]
            for g in self.groups:
                for ax in g.axes:
                    if ax.param == name:
                        idx = idx.index_select(ax.axis, ax.positions(perm[g.name].cpu()))
            parts.append(idx.reshape(-1))
        return torch.cat(parts)

    def permute(self, w: Tensor, perm: Permutation) -> Tensor:
        """w [..., N_prm] with every group's units renumbered: unit k <- unit perm[k]."""
        return w[..., self.index(perm).to(w.device)]

    def param(self, w: Tensor, name: str) -> Tensor:
        """One parameter of a flat vector [N_prm], shaped as in the module."""
        start = self.offsets[name]
        return w[start : start + math.prod(self.shapes[name])].reshape(self.shapes[name])


@cache
def _of(arch: str, groups: tuple[Group, ...]) -> Symmetry:
    return Symmetry(arch, groups)


def of(arch: str) -> Symmetry:
    """The arch's declared symmetry; one clear line where its registry entry declares none."""
    groups = archs.get(arch).symmetry
    if groups is None:
        raise LosslandError(
            f"arch {arch} declares no permutation symmetry: add `symmetry:` to its registry "
            "entry (conf/arch/<name>.yaml, lossland/nets/unit_groups.py), `symmetry: []` if it "
            "has none"
        )
    if not groups:
        raise LosslandError(
            f"arch {arch} has no permutation symmetry (symmetry: []): nothing to align"
        )
    return _of(arch, groups)


def permutation_hash(perm: Permutation) -> str:
    """A short hash of a permutation (group names and indices), for records."""
    text = ";".join(
        f"{k}:{','.join(map(str, np.asarray(v).tolist()))}" for k, v in sorted(perm.items())
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]
