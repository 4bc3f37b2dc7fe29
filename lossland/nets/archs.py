"""The net registry: each conf/arch/<name>.yaml says what its net is made of.

An entry names
- `_target_`: the nn.Module class, built as `_target_(act=...)` (torch's default init; resolved
  and checked to take `act` by lossland.core.registry, the builder of every registry);
- `loss`: `cross_entropy` (a classifier: logits against labels) or `mse` (a net that
  reconstructs its input: outputs against the flattened images);
- `n_prm`: the length of its flat weight vector (checked against the module by the tests);
- `batched` (optional): a hand-written batched twin, for a module that torch.func.vmap cannot
  map (nn.LSTM); without one, the batched form is the vmapped functional_call of the module
  itself (lossland.nets.batched);
- `symmetry`: its hidden-unit permutation groups on the flat vector (lossland.nets.symmetry), `[]`
  for a net without any; tests/test_symmetry.py fails for an entry that does not say.

Everything else asks this module by the arch's name; no code compares arch names.
tests/test_arch_registry.py checks every entry found in conf/arch. An entry outside conf/arch
(a yaml on a Hydra search path) is known once a job registers its composed `cfg.arch`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hydra.utils import get_object
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException
from torch import nn

from lossland.core import registry
from lossland.core.conf import CONF_DIR
from lossland.core.config import ArchConfig, Loss
from lossland.core.errors import LosslandError
from lossland.nets.unit_groups import Group, parse_groups

ARCH_DIR = CONF_DIR / "arch"  # the one conf location: found in a wheel install too


@dataclass(frozen=True)
class Arch:
    """One registry entry, its dotted names resolved."""

    name: str
    module: type[nn.Module]
    loss: Loss
    n_prm: int
    batched: Any | None  # the twin (see lossland.nets.batched.PixelLSTMTwin), or None: vmap
    symmetry: tuple[Group, ...] | None = None  # None: not declared (lossland.nets.symmetry)

    @property
    def is_classifier(self) -> bool:
        return self.loss == Loss.cross_entropy


_known: dict[str, Arch] = {}


def names() -> tuple[str, ...]:
    """The shipped entries: the stems of conf/arch/*.yaml."""
    return tuple(sorted(p.stem for p in ARCH_DIR.glob("*.yaml")))


def get(name: str) -> Arch:
    """The entry of `name`: registered in this process, else read from conf/arch/<name>.yaml."""
    if name not in _known:
        path = ARCH_DIR / f"{name}.yaml"
        if not path.is_file():
            raise LosslandError(
                f"unknown arch {name!r}: choose one of {', '.join(names())}, or add "
                f"conf/arch/{name}.yaml (docs/extending.md)"
            )
        register(OmegaConf.load(path))
    return _known[name]


def register(entry: Mapping | DictConfig) -> Arch:
    """Check an entry (a composed `cfg.arch` or a loaded yaml) and make it known by its name."""
    fields = {k: v for k, v in entry.items() if k != "defaults"}
    name = fields.get("name", "?")
    try:
        node = OmegaConf.merge(OmegaConf.structured(ArchConfig), fields)
        module, batched = registry.target("arch", node), node.batched
        if "act" not in registry.accepted(module):  # built as _target_(act=...)
            raise LosslandError(f"its _target_ {node._target_} takes no act argument")
        arch = Arch(
            name=str(node.name),
            module=module,
            loss=Loss(node.loss),
            n_prm=int(node.n_prm),
            batched=get_object(batched) if batched else None,
            symmetry=parse_groups(node.symmetry),
        )
    except (OmegaConfBaseException, ImportError, ValueError, LosslandError) as e:
        first = str(e).splitlines()[0]
        raise LosslandError(f"arch entry {name!r} is not valid: {first}") from e
    _known[arch.name] = arch
    return arch
