"""Optimizer families: what one training epoch is. An opt entry (conf/opt/<name>.yaml) names
its family by `_target_`; `trainer(cfg.opt)` builds it.

- `Minibatch`: any torch.optim optimizer (`optimizer`, a dotted class name) stepping on
  `batch_size`-image mini-batches of the train set, reshuffled every epoch by the job's own
  generator. Every other key of the entry (lr, momentum, weight_decay, ...) is a keyword of
  the optimizer. Entries: sgd, momentum, adamw.
- `FullBatchLBFGSGSS`: one full-batch L-BFGS-GSS iteration per epoch (lossland.train.lbfgs_gss).
  Entries: lbfgs, lbfgs_authors.

The job around the epochs (curves, minima, records, checkpoints of the optimizer's
state_dict, resume) is the same for every family: lossland.train.task.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import torch
from hydra.utils import get_class
from omegaconf import DictConfig
from torch import Tensor

from lossland import data
from lossland.core.errors import LosslandError
from lossland.train.lbfgs_gss import LBFGSGSS

BatchLoss = Callable[[Tensor, Tensor], Tensor]  # (images, labels) -> the model's mean loss


class Trainer(Protocol):
    def __init__(self, opt: DictConfig) -> None: ...

    def optimizer(self, params) -> torch.optim.Optimizer: ...

    def epoch(
        self, loss: BatchLoss, optimizer, train: data.Split, shuffle: torch.Generator
    ) -> None: ...


def trainer(opt: DictConfig) -> Trainer:
    """The family the entry names (`opt._target_`), holding the entry's settings."""
    try:
        family = get_class(str(opt._target_))
    except (ImportError, ValueError) as e:
        raise LosslandError(
            f"opt={opt.name}: _target_ {opt._target_} is not an optimizer family "
            "(lossland.train.optimizers.Minibatch or lossland.train.optimizers.FullBatchLBFGSGSS)"
        ) from e
    return family(opt)


class Minibatch:
    """A torch.optim optimizer on mini-batches (paper Sec. III.1: SGD, 64 images)."""

    OWN_KEYS = ("_target_", "name", "optimizer", "batch_size", "epochs")  # not the optimizer's

    def __init__(self, opt: DictConfig) -> None:
        self.opt = opt

    def optimizer(self, params) -> torch.optim.Optimizer:
        settings = {k: self.opt[k] for k in self.opt if k not in self.OWN_KEYS}
        return get_class(str(self.opt.optimizer))(params, **settings)

    def epoch(self, loss: BatchLoss, optimizer, train: data.Split, shuffle) -> None:
        minibatch_epoch(loss, optimizer, train, self.opt.batch_size, shuffle)


class FullBatchLBFGSGSS:
    """L-BFGS-GSS (paper Algorithm 1) on the whole train set: one iteration per epoch."""

    def __init__(self, opt: DictConfig) -> None:
        self.opt = opt

    def optimizer(self, params) -> LBFGSGSS:
        opt = self.opt
        line_search = str(opt.get("line_search", "spec"))
        return LBFGSGSS(params, opt.history_size, opt.max_evals, opt.initial_step, line_search)

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
