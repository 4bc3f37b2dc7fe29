"""Many seeds, one batched model: a task's seeds trained as one pack.

Our nets are tiny, so one seed leaves the device idle between kernel launches (GPU) or runs
GEMMs too narrow to reach the matmul rate (CPU, 64-image steps). A pack stacks the weights of
its k seeds into W [k, N_prm] and takes every SGD step for all of them in one batched
loss/gradient call (`functional.packed_loss_fn`), each seed on its own mini-batch; L-BFGS-GSS
seeds share the full-batch calls of their iterations and line searches (`lbfgs_pack`). Each seed
keeps what makes it the run alone: its init (`torch.manual_seed(seed)` then `build_model`), its
own shuffling generator, its directory, checkpoint, curves, minima and record, all written by
the per-seed functions of `training`. The result equals the seeds trained one by one up to
float32 reduction order (batched GEMMs sum in another order than the single ones).

A seed that diverges is recorded as such and leaves the pack; finished seeds are skipped; a
resumed seed starts from its own checkpoint (the format of `training.train_one`, so the two
are interchangeable), and seeds at different epochs share the pack until each is done.
Where the pack is not faster, or does not support the optimizer settings, the task trains its
seeds one after another and says why (`why_sequential`).
"""

from __future__ import annotations

import math
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig

from lossland import data, storage, trainers, training
from lossland.functional import PackedLoss, batched_loss_fn, packed_loss_fn, unflatten, widest_layer
from lossland.lbfgs_gss import LBFGSGSS
from lossland.lbfgs_pack import lbfgs_pack_step
from lossland.models import build_model, get_flat, set_flat
from lossland.progress import log, on_terminal, progress

MINIBATCH, LBFGS = trainers.Minibatch, trainers.FullBatchLBFGSGSS
KNOWN_KEYS = {  # the settings a pack knows how to apply, per optimizer family
    MINIBATCH: {"_target_", "name", "optimizer", "lr", "batch_size", "epochs"},
    LBFGS: {
        "_target_",
        "name",
        "history_size",
        "max_evals",
        "initial_step",
        "epochs",
        "line_search",
    },
}
PACKED_OPTIMIZER = "torch.optim.SGD"  # the minibatch pack applies plain SGD's update by hand
# Measured with benchmarks/train_throughput.py (docs/speed.md) on the idle 2-core CPU, full
# 50,000-image epochs: SGD packs of 16 ran at 3.1x the loop's seed-epochs/s for fcp and 2.5x
# for ae; the lstm's at 0.8-1.0x and lenet's (vmapped convolutions are grouped ones) at 0.8x;
# L-BFGS-GSS packs at 0.9-1.0x (its full-batch GEMMs are already wide). Where not faster, the
# CPU keeps the loop. L-BFGS-GSS keeps it anyway on the CPU: packed, a seed leaves the
# trajectory of the run alone after ~20 iterations (a line-search decision flips on a float32
# rounding difference), so there the loop keeps records bit for bit. On CUDA (where runs are
# not bitwise reproducible anyway) every arch and optimizer is packed.
SLOWER_PACKED = {
    (arch, "cpu", family) for arch in ("lenet", "lstm") for family in (MINIBATCH, LBFGS)
} | {(arch, "cpu", LBFGS) for arch in ("fcp", "ae")}
EVAL_FLOATS = 2**26  # activations alive per batched evaluation call (256 MB of float32)


def why_sequential(cfg: DictConfig, device: torch.device) -> str | None:
    """Why this task's seeds cannot (or should not) be packed; None when they can."""
    opt = cfg.opt
    family = type(trainers.trainer(opt))
    if family not in KNOWN_KEYS:
        return f"opt={opt.name} ({opt._target_}) is not packed"
    if opt.get("optimizer", PACKED_OPTIMIZER) != PACKED_OPTIMIZER:
        return f"opt.optimizer={opt.optimizer} is not packed (a pack applies plain SGD's update)"
    unknown = sorted(set(opt.keys()) - KNOWN_KEYS[family])
    if unknown:
        return f"opt.{unknown[0]} is not supported by packs"
    if opt.get("line_search", "spec") != "spec":
        return f"opt.line_search={opt.line_search} is not packed (only the spec search is)"
    if cfg.get("precision", "float32") != "float32":
        return f"precision={cfg.precision} is not packed"
    if (cfg.arch.name, device.type, family) in SLOWER_PACKED:
        return f"a {opt.name} pack of {cfg.arch.name} is not faster than the loop on {device.type}"
    return None


@dataclass
class Member:
    """One seed of the pack: its run config and everything `training.finish` needs."""

    cfg: DictConfig
    config: dict[str, Any]
    task_dir: Path
    state: training.Progress
    shuffle: torch.Generator
    opt_state: dict[str, Any]  # L-BFGS-GSS: LBFGSGSS's own state dict; minibatch SGD: empty


def train_pack_or_none(cfg: DictConfig) -> list[dict[str, Any]] | None:
    """Train the task's seeds as one pack; None (and a log line why) when they must not be."""
    device = training.resolve_device(cfg.device)
    reason = why_sequential(cfg, device)
    if reason is not None:
        log.info("seeds_per_task=%d trained one after another: %s", cfg.seeds_per_task, reason)
        return None
    return train_pack(training.seed_runs(cfg), device)


def train_pack(runs: list[DictConfig], device: torch.device) -> list[dict[str, Any]]:
    """Skip the finished seeds, train the others together; records in seed order."""
    records: dict[int, dict[str, Any]] = {}
    todo = []
    for run in runs:
        done = training.existing_result(training.run_dir(run), training.job_config(run))
        if done is None:
            todo.append(run)
        else:
            log.info("skipping %s: result exists", training.run_dir(run))
            records[run.seed] = done
    if len(todo) == 1:  # nothing to batch: the run alone
        records[todo[0].seed] = training.train_one(todo[0], training.run_dir(todo[0]))
    elif todo:
        with ExitStack() as logs:
            for run in runs[1:]:  # the first seed's dir holds the Hydra job's own train.log
                logs.enter_context(training.also_logging_to(training.run_dir(run) / "train.log"))
            log.info("training seeds %s as one pack on %s", [r.seed for r in todo], device)
            records |= Pack(todo, device).train()
    return [records[run.seed] for run in runs]


class Pack:
    """The stacked weights W [k, N_prm] of the seeds still training, and their members."""

    def __init__(self, runs: list[DictConfig], device: torch.device) -> None:
        cfg = runs[0]
        self.arch, self.act, self.opt = cfg.arch.name, cfg.arch.act, cfg.opt
        self.trainer = trainers.trainer(cfg.opt)
        self.epoch = {MINIBATCH: self.sgd_epoch, LBFGS: self.lbfgs_epoch}[type(self.trainer)]
        self.device, self.stop_on = device, str(cfg.stop_on)
        self.checkpoint_every, self.log_every = cfg.checkpoint_every, cfg.log_every
        root = str(cfg.dataset.root)
        self.train_split = training.cached_split(root, "train", str(device), cfg.dataset.n_train)
        self.evals = {
            "train": self.train_split,
            "test": training.cached_split(root, "test", str(device), cfg.dataset.n_eval),
        }
        if self.stop_on == "valid":
            self.evals["valid"] = training.cached_split(
                root, "valid", str(device), cfg.dataset.n_eval
            )
        chunk = max(256, EVAL_FLOATS // (len(runs) * widest_layer(self.arch)))
        self.eval_losses = {
            name: batched_loss_fn(self.arch, self.act, s.x, s.y, chunk)
            for name, s in self.evals.items()
        }
        self.step_losses = packed_loss_fn(self.arch, self.act)
        self.members: list[Member] = []
        rows, fresh = [], []
        for run in runs:
            member, w, resumed = self.start(run)
            self.members.append(member)
            rows.append(w)
            fresh.append(not resumed)
        self.w = torch.stack(rows)
        if any(fresh):  # epoch 0 of the fresh seeds (resumed ones recorded it before)
            record_epochs(self, fresh)

    def start(self, run: DictConfig) -> tuple[Member, torch.Tensor, bool]:
        """The seed's own init and generator, as in `training.train_one`, or its checkpoint."""
        config, task_dir = training.job_config(run), training.run_dir(run)
        torch.manual_seed(run.seed)
        model = build_model(self.arch, self.act).to(self.device)
        shuffle = torch.Generator().manual_seed(run.seed)
        state = training.Progress(curves={name: [] for name in self.evals})
        checkpoint = task_dir / storage.CHECKPOINT_FILE
        resumed = checkpoint.exists()
        optimizer = self.trainer.optimizer(model.parameters())
        if resumed:
            state = training.restore(checkpoint, config, model, optimizer, shuffle)
            log.info("resuming %s from its checkpoint after epoch %d", task_dir, state.epoch)
        opt_state = optimizer._state if isinstance(optimizer, LBFGSGSS) else {}
        member = Member(run, config, task_dir, state, shuffle, opt_state)
        return member, get_flat(model), resumed

    def train(self) -> dict[int, dict[str, Any]]:
        records = {}
        remaining = self.opt.epochs - min(m.state.epoch for m in self.members)
        desc = f"{self.arch}/{self.opt.name}/pack of {len(self.members)}"
        for _ in progress(range(remaining), total=remaining, desc=desc):
            records |= self.retire()
            if not self.members:
                break
            start = time.perf_counter()
            self.epoch()
            seconds = (time.perf_counter() - start) / len(self.members)
            for m in self.members:
                m.state.seconds += seconds
                m.state.epoch += 1
            record_epochs(self, [True] * len(self.members))
            self.log_and_checkpoint()
        return records | self.retire()

    def sgd_epoch(self) -> None:
        shuffles = [m.shuffle for m in self.members]
        params = unflatten(self.arch, self.w)  # views: the steps update self.w in place
        sgd_pack_epoch(params, self.step_losses, self.train_split, self.opt, shuffles)

    def lbfgs_epoch(self) -> None:
        states = [m.opt_state for m in self.members]
        lbfgs_pack_step(self.w, states, self.eval_losses["train"], self.opt)

    def retire(self) -> dict[int, dict[str, Any]]:
        """Finish the members that diverged or ran all epochs; the others stay in the pack."""
        records, keep = {}, []
        for i, m in enumerate(self.members):
            if m.state.diverged or m.state.epoch >= self.opt.epochs:
                records[m.cfg.seed] = training.finish(m.task_dir, m.state, m.config, self.device)
                (m.task_dir / storage.CHECKPOINT_FILE).unlink(missing_ok=True)
            else:
                keep.append(i)
        if len(keep) < len(self.members):
            self.members = [self.members[i] for i in keep]
            self.w = self.w[keep]
        return records

    def log_and_checkpoint(self) -> None:
        for i, m in enumerate(self.members):
            epoch = m.state.epoch
            if not on_terminal() and (epoch % self.log_every == 0 or epoch == self.opt.epochs):
                curves = m.state.curves
                log.info(
                    "seed %d epoch %d train %.4g test %.4g",
                    m.cfg.seed,
                    epoch,
                    curves["train"][-1],
                    curves["test"][-1],
                )
            if epoch % self.checkpoint_every == 0 and epoch < self.opt.epochs:
                self.save(i, m)

    def save(self, i: int, m: Member) -> None:
        """`training.train_one`'s checkpoint of this seed alone: either can resume it."""
        torch.manual_seed(m.cfg.seed)
        model = build_model(self.arch, self.act).to(self.device)
        set_flat(model, self.w[i])
        optimizer = self.trainer.optimizer(model.parameters())
        if m.opt_state:  # L-BFGS-GSS: its state lives under the first parameter
            optimizer.state[next(iter(model.parameters()))].update(m.opt_state)
        path = m.task_dir / storage.CHECKPOINT_FILE
        training.save_checkpoint(path, m.config, m.state, model, optimizer, m.shuffle)


def sgd_pack_epoch(
    params: dict[str, torch.Tensor],
    step_losses: PackedLoss,
    train: data.Split,
    opt: DictConfig,
    shuffles: list[torch.Generator],
) -> None:
    """One pass over the train set for every seed, each in its own order; `params` [k, ...]
    (views of the pack's W) are updated in place."""
    x, y = train.x, train.y
    orders = torch.stack([torch.randperm(len(y), generator=g) for g in shuffles]).to(x.device)
    own = {name: p.detach().clone() for name, p in params.items()}  # contiguous: faster steps
    rows = x.flatten(1)  # index_select on rows: 2x faster than x[idx] on the CPU
    for i in range(0, orders.shape[1], opt.batch_size):
        idx = orders[:, i : i + opt.batch_size]  # [k, b]: each seed's own mini-batch
        images = rows.index_select(0, idx.flatten()).view(*idx.shape, *x.shape[1:])
        leaves = {name: p.detach().requires_grad_() for name, p in own.items()}
        losses = step_losses(leaves, images, y[idx])
        grads = torch.autograd.grad(losses.sum(), list(leaves.values()))
        for p, grad in zip(own.values(), grads, strict=True):
            p.add_(grad, alpha=-opt.lr)  # torch.optim.SGD's update, row by row
    for p, trained in zip(params.values(), own.values(), strict=True):
        p.copy_(trained)


@torch.no_grad()
def record_epochs(pack: Pack, which: list[bool]) -> None:
    """`training.record_epoch` for the chosen members: one batched loss call per split."""
    losses = {name: fn(pack.w).tolist() for name, fn in pack.eval_losses.items()}
    for i, m in enumerate(pack.members):
        if not which[i]:
            continue
        for name in pack.evals:
            m.state.curves[name].append(losses[name][i])
        w, state = pack.w[i], m.state
        train_loss, stop_loss = state.curves["train"][-1], state.curves[pack.stop_on][-1]
        if not (math.isfinite(train_loss) and torch.isfinite(w).all()):
            state.diverged = True
            continue
        state.w_train.update(train_loss, state.epoch, w)
        state.w_test.update(stop_loss, state.epoch, w)
