"""The hidden-unit groups a registry entry declares (conf/arch/<name>.yaml): its symmetry.

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

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from lossland.core.errors import LosslandError

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
