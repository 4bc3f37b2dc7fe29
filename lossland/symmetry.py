"""Hidden-unit permutations: the symmetry each registry entry declares (conf/arch/<name>.yaml).

Renumbering a layer's hidden units (with everything that reads them) leaves the function a net
computes unchanged, so two solutions can lie apart in weight space only because their units are
numbered differently (Entezari et al. 2021; Ainsworth et al. 2023). An entry declares its
groups under `symmetry:`, each a number of units and the axes they move along, in the flat
vector's layout (the module's parameters in order):

- `3.weight[1]`: axis 1 of parameter `3.weight` has one entry per unit;
- `7.weight[1]*25`: axis 1 holds each unit's block of 25 consecutive entries (LeNet's fc1
  reads conv2's 16 channels as 16 blocks of 5 x 5 positions);
- `lstm.weight_ih_l0[0]/4`: axis 0 holds 4 copies of the units one after the other (the
  LSTM's gates i, f, g, o): unit k owns entries k, n + k, 2n + k, 3n + k.

`symmetry: []` declares a net without one; an entry without the key has not been asked
(tests/test_symmetry.py fails for it). A permutation is one index tensor per group: unit k of
the permuted net is unit perm[k] of the original.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np
import torch
from torch import Tensor

from lossland.errors import LosslandError

Permutation = dict[str, Tensor]  # group name -> [size] long tensor
AXIS = re.compile(r"^(?P<param>[\w.]+)\[(?P<axis>\d+)\](?:\*(?P<block>\d+)|/(?P<gates>\d+))?$")


@dataclass(frozen=True)
class Axis:
    """One axis a group's units move along (see the module docstring for the notation)."""

    param: str
    axis: int
    block: int = 1  # unit k owns entries [k * block, (k + 1) * block)
    gates: int = 1  # unit k owns entries k, n + k, ..., (gates - 1) n + k

    @classmethod
    def parse(cls, text: str) -> Axis:
        m = AXIS.match(text.strip())
        if m is None:
            raise LosslandError(
                f"symmetry axis {text!r} is not PARAM[AXIS], PARAM[AXIS]*BLOCK or "
                "PARAM[AXIS]/GATES (e.g. 3.weight[1])"
            )
        return cls(m["param"], int(m["axis"]), int(m["block"] or 1), int(m["gates"] or 1))

    def length(self, size: int) -> int:
        return size * self.block * self.gates

    def positions(self, perm: Tensor) -> Tensor:
        """The old positions along the axis, in the permuted order."""
        size = len(perm)
        if self.gates > 1:
            return (torch.arange(self.gates)[:, None] * size + perm[None, :]).reshape(-1)
        return (perm[:, None] * self.block + torch.arange(self.block)).reshape(-1)

    def units(self, p: Tensor, size: int) -> Tensor:
        """The parameter as [size, rest]: row k is everything unit k owns along this axis."""
        x = p.movedim(self.axis, 0)
        if self.gates > 1:
            return x.reshape(self.gates, size, -1).transpose(0, 1).reshape(size, -1)
        return x.reshape(size, -1)


@dataclass(frozen=True)
class Group:
    """Units that are renumbered together, and every axis that reads or writes them."""

    name: str
    size: int
    axes: tuple[Axis, ...]


def parse_groups(entries: Sequence[Mapping] | None) -> tuple[Group, ...] | None:
    """The `symmetry:` list of a registry entry (None: not declared)."""
    if entries is None:
        return None
    return tuple(
        Group(str(g["name"]), int(g["size"]), tuple(Axis.parse(a) for a in g["axes"]))
        for g in entries
    )


class Symmetry:
    """An arch's permutation groups on its flat weight vector [..., N_prm]."""

    def __init__(self, arch: str, groups: tuple[Group, ...]) -> None:
        from lossland.functional import param_shapes

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
    from lossland import archs

    groups = archs.get(arch).symmetry
    if groups is None:
        raise LosslandError(
            f"arch {arch} declares no permutation symmetry: add `symmetry:` to its registry "
            "entry (conf/arch/<name>.yaml, lossland/symmetry.py), `symmetry: []` if it has none"
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
