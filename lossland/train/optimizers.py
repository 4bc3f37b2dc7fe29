"""Optimizer families: what one training epoch is. An opt entry (conf/opt/<name>.yaml) names
its family by `_target_`; `trainer(cfg.opt)` builds it (lossland.core.registry). A family declares
its settings' ranges (`SETTINGS`, checked before submission by lossland.launch.checks) and
whether a pack trains it (`PACKABLE`, `pack_refusal`, read by lossland.train.packs).

- `Minibatch`: any torch.optim optimizer (`optimizer`, a dotted class name) stepping on
  `batch_size`-image mini-batches of the train set, reshuffled every epoch by the job's own
  generator. Every other key of the entry (lr, momentum, weight_decay, ...) is a keyword of
  the optimizer (any other key is refused, lossland.core.registry). Entries: sgd, momentum, adamw.
- `FullBatchLBFGSGSS`: one full-batch L-BFGS-GSS iteration per epoch (lossland.train.lbfgs_gss).
  Entries: lbfgs, lbfgs_authors.

The job around the epochs (curves, minima, records, checkpoints of the optimizer's
state_dict, resume) is the same for every family: lossland.train.task.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, ClassVar, Protocol

import torch
from hydra.utils import get_class
from omegaconf import DictConfig
from torch import Tensor

from lossland import data
from lossland.core import registry
from lossland.core.errors import LosslandError
from lossland.core.ranges import Below, Choice, Float, Int, Spec, Text
from lossland.train.lbfgs_gss import LBFGSGSS, LINE_SEARCHES

BatchLoss = Callable[[Tensor, Tensor], Tensor]  # (images, labels) -> the model's mean loss


class Trainer(Protocol):
    SETTINGS: ClassVar[dict[str, Spec]]
    PACKABLE: ClassVar[bool]

    def optimizer(self, params) -> torch.optim.Optimizer: ...

    def epoch(
        self, loss: BatchLoss, optimizer, train: data.Split, shuffle: torch.Generator
    ) -> None: ...


def trainer(opt: DictConfig) -> Trainer:
    """The family the entry names (`opt._target_`), built with the entry's settings by the one
    registry builder (a key the family does not take is one line)."""
    return registry.build("opt", opt)


class Minibatch:
    """A torch.optim optimizer on mini-batches (paper Sec. III.1: SGD, 64 images)."""

    # The ranges of the entries' settings; any other keyword of `optimizer` is taken unchecked.
    SETTINGS: ClassVar[dict[str, Spec]] = {
        "optimizer": Text(),
        "lr": Float(0),
        "batch_size": Int(1),
        "epochs": Int(1),
        "momentum": Below(0, 1),
        "weight_decay": Float(0, strict=False),
    }
    OWN_KEYS = ("optimizer", "batch_size", "epochs")  # the family's; the rest: the optimizer's
    PACKABLE: ClassVar[bool] = True  # lossland.train.packs steps its optimizer on stacked seeds
    # A pack steps torch's own optimizer on the stacked parameters [k, *shape]: these optimizers'
    # updates are elementwise, so row i gets seed i's update from seed i's state (its momentum
    # buffer, its Adam moments in row i of the stacked state), whatever their settings.
    PACKED_OPTIMIZERS = ("torch.optim.SGD", "torch.optim.Adam", "torch.optim.AdamW")

    def __init__(
        self,
        optimizer: str = "torch.optim.SGD",
        batch_size: int = 64,
        epochs: int = 1,
        **settings: Any,
    ) -> None:
        self.optimizer_class, self.batch_size, self.epochs = optimizer, batch_size, epochs
        self.settings = settings  # the optimizer's keywords (lr, momentum, weight_decay, ...)

    @classmethod
    def accepts(cls, settings: dict[str, Any]) -> set[str]:
        """The family's own keys and the keywords of the entry's torch optimizer."""
        name = str(settings.get("optimizer", "torch.optim.SGD"))
        try:
            optimizer = get_class(name)
        except Exception as e:  # noqa: BLE001 - a wrong class name in a yaml: name it
            why = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise LosslandError(f"opt.optimizer={name} (cannot be imported: {why})") from e
        return {*cls.OWN_KEYS, *inspect.signature(optimizer).parameters} - {"params"}

    @classmethod
    def pack_refusal(cls, settings: dict[str, Any]) -> str | None:
        """Why a pack cannot train these settings (None: it can)."""
        name = settings.get("optimizer", "torch.optim.SGD")
        if name not in cls.PACKED_OPTIMIZERS:
            return (
                f"opt.optimizer={name} is not packed (packs step "
                f"{', '.join(cls.PACKED_OPTIMIZERS)}: elementwise updates)"
            )
        return None

    def optimizer(self, params) -> torch.optim.Optimizer:
        return get_class(str(self.optimizer_class))(params, **self.settings)

    def epoch(self, loss: BatchLoss, optimizer, train: data.Split, shuffle) -> None:
        minibatch_epoch(loss, optimizer, train, self.batch_size, shuffle)


class FullBatchLBFGSGSS:
    """L-BFGS-GSS (paper Algorithm 1) on the whole train set: one iteration per epoch."""

    SETTINGS: ClassVar[dict[str, Spec]] = {
        "history_size": Int(1),
        "max_evals": Int(1),
        "initial_step": Float(0),
        "epochs": Int(1),
        "line_search": Choice(LINE_SEARCHES),
    }
    PACKABLE: ClassVar[bool] = True  # lossland.train.lbfgs_pack: each seed's own iteration

    def __init__(
        self,
        history_size: int = 10,
        max_evals: int = 6,
        initial_step: float = 1.0,
        epochs: int = 1000,
        line_search: str = "spec",
    ) -> None:
        self.history_size, self.max_evals, self.initial_step = history_size, max_evals, initial_step
        self.epochs, self.line_search = epochs, str(line_search)

    @classmethod
    def pack_refusal(cls, settings: dict[str, Any]) -> str | None:
        """A pack applies exactly the declared settings (`lbfgs_gss.iteration`)."""
        unknown = sorted(set(settings) - set(cls.SETTINGS) - set(registry.FIXED))
        return f"opt.{unknown[0]} is not supported by packs" if unknown else None

    def optimizer(self, params) -> LBFGSGSS:
        return LBFGSGSS(
            params, self.history_size, self.max_evals, self.initial_step, self.line_search
        )

    def epoch(self, loss: BatchLoss, optimizer, train: data.Split, shuffle) -> None:
        full_batch_epoch(loss, optimizer, train)


def minibatch_epoch(
    loss: BatchLoss, optimizer, train: data.Split, batch_size: int, shuffle: torch.Generator
) -> None:
    """One pass over the reshuffled train set in mini-batches."""
    order = torch.randperm(len(train), generator=shuffle).to(train.x.device)
    for i in range(0, len(order), batch_size):
        idx = order[i : i + batch_size]
        optimizer.zero_grad(set_to_none=True)
        loss(train.x[idx], train.y[idx]).backward()
        optimizer.step()


def full_batch_epoch(loss: BatchLoss, optimizer: LBFGSGSS, train: data.Split) -> None:
    """One full-batch L-BFGS-GSS iteration."""
    optimizer.step(lambda: loss(train.x, train.y))
