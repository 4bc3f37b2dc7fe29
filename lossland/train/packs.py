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
resumed seed starts from its own checkpoint (the format of `seed_run.train_one`, so the two
are interchangeable), and seeds at different epochs share the pack until each is done.
Where the pack is not faster, or does not support the optimizer settings, the task trains its
seeds one after another and says why (`why_sequential`). L-BFGS-GSS packs (either line search)
run each seed's own iteration (`lbfgs_pack`); minibatch packs step torch's own optimizer on the
stacked parameters (`StackedOptimizer`), each seed's optimizer state its own row.
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

from lossland import data
from lossland.core import memory, numerics, registry, storage
from lossland.core.device import resolve_device
from lossland.core.progress import log, on_terminal, progress
from lossland.core.records import existing_result, job_config
from lossland.data import Split
from lossland.nets import archs
from lossland.nets.batched import (
    PackedLoss,
    batched_loss_fn,
    packed_loss_fn,
    unflatten,
    widest_layer,
)
from lossland.nets.modules import build_model, get_flat, set_flat
from lossland.train import optimizers, seed_run
from lossland.train.lbfgs_pack import lbfgs_pack_step

MINIBATCH, LBFGS = optimizers.Minibatch, optimizers.FullBatchLBFGSGSS
# torch.optim.SGD without momentum or other settings: no optimizer state.
PLAIN_SGD_KEYS = {*registry.FIXED, *MINIBATCH.OWN_KEYS, "lr"}
# Measured with benchmarks/train_throughput.py (docs/speed.md) on the idle 2-core CPU, full
# 50,000-image epochs: SGD packs of 16 ran at 3.1x the loop's seed-epochs/s for fcp and 2.5x
# for ae; the lstm's at 0.8-1.0x and lenet's (vmapped convolutions are grouped ones) at 0.8x;
# L-BFGS-GSS packs at 0.9-1.0x (its full-batch GEMMs are already wide). Where not faster, the
# CPU keeps the loop. L-BFGS-GSS keeps it anyway on the CPU: packed, a seed leaves the
# trajectory of the run alone after ~20 iterations (a line-search decision flips on a float32
# rounding difference), so there the loop keeps records bit for bit. Momentum and AdamW packs
# were not measured on the CPU, so the CPU keeps the loop for them too (`CPU_MEASURED`). On
# CUDA (where runs are not bitwise reproducible anyway) every arch and optimizer is packed.
SLOWER_PACKED = {
    (arch, "cpu", family) for arch in ("lenet", "lstm") for family in (MINIBATCH, LBFGS)
} | {(arch, "cpu", LBFGS) for arch in ("fcp", "ae")}
EVAL_FLOATS = 2**26  # activations alive per batched evaluation call on the CPU (256 MB);
# on CUDA the chunks come from the free memory (eval_chunk)


def why_sequential(cfg: DictConfig, device: torch.device) -> str | None:
    """Why this task's seeds cannot (or should not) be packed; None when they can."""
    opt = cfg.opt
    family = registry.target("opt", opt)
    if not getattr(family, "PACKABLE", False):  # the family says whether a pack trains it
        return f"opt={opt.name} ({opt._target_}) is not packed"
    refusal = family.pack_refusal(registry.plain(opt))
    if refusal:
        return refusal
    if cfg.get("precision", "float32") != "float32":
        return f"precision={cfg.precision} is not packed"
    if (cfg.arch.name, device.type, family) in SLOWER_PACKED:
        return f"a {opt.name} pack of {cfg.arch.name} is not faster than the loop on {device.type}"
    if device.type == "cpu" and family is MINIBATCH and not plain_sgd(opt):
        return f"a {opt.name} pack was not measured faster than the loop on cpu"
    return None


def plain_sgd(opt: DictConfig) -> bool:
    """torch.optim.SGD without momentum or other settings: no optimizer state."""
    return opt.optimizer == "torch.optim.SGD" and set(opt.keys()) <= PLAIN_SGD_KEYS


@dataclass
class Member:
    """One seed of the pack: its run config and everything `seed_run.finish` needs."""

    cfg: DictConfig
    config: dict[str, Any]
    task_dir: Path
    state: seed_run.RunState
    shuffle: torch.Generator
    optimizer: torch.optim.Optimizer  # the seed's own, as alone: L-BFGS-GSS keeps its state here
    param_state: dict[str, dict[str, Any]]  # minibatch: the optimizer's state per parameter name


def train_pack_or_none(cfg: DictConfig) -> list[dict[str, Any]] | None:
    """Train the task's seeds as one pack; None (and a log line why) when they must not be."""
    device = resolve_device(cfg.device)
    reason = why_sequential(cfg, device)
    if reason is not None:
        log.info("seeds_per_task=%d trained one after another: %s", cfg.seeds_per_task, reason)
        return None
    return train_pack(seed_run.seed_runs(cfg), device)


def train_pack(runs: list[DictConfig], device: torch.device) -> list[dict[str, Any]]:
    """Skip the finished seeds, train the others together; records in seed order."""
    numerics.apply(device)  # the policy, also where a caller passes the device itself
    records: dict[int, dict[str, Any]] = {}
    todo = []
    for run in runs:
        done = existing_result(seed_run.run_dir(run), job_config(run))
        if done is None:
            todo.append(run)
        else:
            log.info("skipping %s: result exists", seed_run.run_dir(run))
            records[run.seed] = done
    with ExitStack() as logs:
        for run in runs[1:]:  # the first seed's dir holds the Hydra job's own train.log
            logs.enter_context(seed_run.also_logging_to(seed_run.run_dir(run) / "train.log"))
        for group in pack_groups(todo):
            if len(group) == 1:  # nothing to batch: the run alone
                records[group[0].seed] = seed_run.train_one(group[0], seed_run.run_dir(group[0]))
                continue
            log.info("training seeds %s as one pack on %s", [r.seed for r in group], device)
            records |= Pack(group, device).train()
    return [records[run.seed] for run in runs]


def pack_groups(runs: list[DictConfig]) -> list[list[DictConfig]]:
    """The seeds that can share one pack: all of them, except for an optimizer with state
    (momentum, Adam's moments and step count) when they resume from different epochs: then
    one pack per epoch, so that the stacked state is one step count's."""
    if not runs or type(optimizers.trainer(runs[0].opt)) is LBFGS or plain_sgd(runs[0].opt):
        return [runs] if runs else []
    by_epoch: dict[int, list[DictConfig]] = {}
    for run in runs:
        by_epoch.setdefault(checkpoint_epoch(run), []).append(run)
    return list(by_epoch.values())


def checkpoint_epoch(run: DictConfig) -> int:
    """The epoch the seed's checkpoint is at (0: none)."""
    path = seed_run.run_dir(run) / storage.CHECKPOINT_FILE
    return int(storage.read_torch(path)["progress"]["epoch"]) if path.exists() else 0


class Pack:
    """The stacked weights W [k, N_prm] of the seeds still training, and their members."""

    def __init__(self, runs: list[DictConfig], device: torch.device) -> None:
        cfg = runs[0]
        self.arch, self.act, self.opt = cfg.arch.name, cfg.arch.act, cfg.opt
        self.trainer = optimizers.trainer(cfg.opt)
        self.epoch = {MINIBATCH: self.sgd_epoch, LBFGS: self.lbfgs_epoch}[type(self.trainer)]
        self.device, self.stop_on = device, str(cfg.stop_on)
        self.checkpoint_every, self.log_every = cfg.checkpoint_every, cfg.log_every
        root = str(cfg.dataset.root)
        self.train_split = data.cached_split(root, "train", str(device), cfg.dataset.n_train)
        self.evals = {
            "train": self.train_split,
            "test": data.cached_split(root, "test", str(device), cfg.dataset.n_eval),
        }
        if self.stop_on == "valid":
            self.evals["valid"] = data.cached_split(root, "valid", str(device), cfg.dataset.n_eval)
        cpu_chunk = max(256, EVAL_FLOATS // (len(runs) * widest_layer(self.arch)))
        self.eval_losses = {}
        for name, s in self.evals.items():
            chunk = eval_chunk(self.arch, self.act, s, len(runs), cpu_chunk)
            self.eval_losses[name] = batched_loss_fn(self.arch, self.act, s.x, s.y, chunk)
        self.step_losses = packed_loss_fn(self.arch, self.act)
        self.batch_size = int(cfg.opt.get("batch_size", 0))  # read once, not per step
        self.members: list[Member] = []
        rows, fresh = [], []
        for run in runs:
            member, w, resumed = self.start(run)
            self.members.append(member)
            rows.append(w)
            fresh.append(not resumed)
        self.w = torch.stack(rows)
        self.stacked = stack_states([m.param_state for m in self.members])
        if any(fresh):  # epoch 0 of the fresh seeds (resumed ones recorded it before)
            record_epochs(self, fresh)

    def start(self, run: DictConfig) -> tuple[Member, torch.Tensor, bool]:
        """The seed's own init and generator, as in `seed_run.train_one`, or its checkpoint."""
        config, task_dir = job_config(run), seed_run.run_dir(run)
        torch.manual_seed(run.seed)
        model = build_model(self.arch, self.act).to(self.device)
        shuffle = torch.Generator().manual_seed(run.seed)
        state = seed_run.RunState(curves={name: [] for name in self.evals})
        checkpoint = task_dir / storage.CHECKPOINT_FILE
        resumed = checkpoint.exists()
        optimizer = self.trainer.optimizer(model.parameters())
        if resumed:
            state = seed_run.restore(checkpoint, config, model, optimizer, shuffle)
            log.info("resuming %s from its checkpoint after epoch %d", task_dir, state.epoch)
        param_state = {}
        if type(self.trainer) is MINIBATCH:  # a resumed seed's momentum / Adam moments
            named = model.named_parameters()
            param_state = {name: optimizer.state[p] for name, p in named if optimizer.state[p]}
        member = Member(run, config, task_dir, state, shuffle, optimizer, param_state)
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
        steps = StackedOptimizer(self.trainer, self.stacked)
        sgd_pack_epoch(params, self.step_losses, self.train_split, self.batch_size, steps, shuffles)

    def lbfgs_epoch(self) -> None:
        states = [m.optimizer._state for m in self.members]  # type: ignore[attr-defined]
        lbfgs_pack_step(self.w, states, self.eval_losses["train"], self.opt)

    def retire(self) -> dict[int, dict[str, Any]]:
        """Finish the members that diverged or ran all epochs; the others stay in the pack."""
        records, keep = {}, []
        for i, m in enumerate(self.members):
            if m.state.diverged or m.state.epoch >= self.opt.epochs:
                records[m.cfg.seed] = seed_run.finish(
                    m.task_dir, m.state, m.config, self.device, m.optimizer
                )
                (m.task_dir / storage.CHECKPOINT_FILE).unlink(missing_ok=True)
            else:
                keep.append(i)
        if len(keep) < len(self.members):
            self.members = [self.members[i] for i in keep]
            self.w = self.w[keep]
            self.stacked = rows_of(self.stacked, keep)
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
        """`seed_run.train_one`'s checkpoint of this seed alone: either can resume it."""
        torch.manual_seed(m.cfg.seed)
        model = build_model(self.arch, self.act).to(self.device)
        set_flat(model, self.w[i])
        optimizer = m.optimizer
        if type(self.trainer) is MINIBATCH:  # row i of the stacked state, as alone
            optimizer = self.trainer.optimizer(model.parameters())
            row = rows_of(self.stacked, [i])
            for name, p in model.named_parameters():
                if name in row:
                    optimizer.state[p] = {k: unstack(v) for k, v in row[name].items()}
        path = m.task_dir / storage.CHECKPOINT_FILE
        seed_run.save_checkpoint(path, m.config, m.state, model, optimizer, m.shuffle)


def stack_states(states: list[dict[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """The members' optimizer states (per parameter name) as one state of the stacked
    parameters: per-weight tensors stacked on a new first dim; a scalar (Adam's step count,
    the same for all: `pack_groups`) and None (no momentum) kept once."""
    if not any(states):
        return {}
    out: dict[str, dict[str, Any]] = {}
    for name in states[0]:
        keys = states[0][name]
        out[name] = {}
        for key in keys:
            values = [s[name][key] for s in states]
            first = values[0]
            if isinstance(first, torch.Tensor) and first.ndim > 0:
                out[name][key] = torch.stack(values)
            else:
                out[name][key] = first.clone() if isinstance(first, torch.Tensor) else first
    return out


def rows_of(stacked: dict[str, dict[str, Any]], keep: list[int]) -> dict[str, dict[str, Any]]:
    """The stacked state of the members `keep` only."""
    return {
        name: {
            k: v[keep] if isinstance(v, torch.Tensor) and v.ndim > 1 else v
            for k, v in state.items()
        }
        for name, state in stacked.items()
    }


def unstack(value: Any) -> Any:
    """One member's value of a one-row stacked state (`rows_of(stacked, [i])`)."""
    if isinstance(value, torch.Tensor):
        return value[0].clone() if value.ndim > 1 else value.clone()
    return value


class StackedOptimizer:
    """The task's own torch optimizer over the stacked parameters [k, *shape] of one epoch,
    its state carried from epoch to epoch in `stacked` (the pack's, updated in place)."""

    def __init__(self, trainer: optimizers.Minibatch, stacked: dict[str, dict[str, Any]]) -> None:
        self.trainer, self.stacked = trainer, stacked

    def over(self, own: dict[str, torch.Tensor]) -> torch.optim.Optimizer:
        optimizer = self.trainer.optimizer(list(own.values()))
        for name, p in own.items():
            if name in self.stacked:
                optimizer.state[p] = self.stacked[name]
        return optimizer

    def keep(self, optimizer: torch.optim.Optimizer, own: dict[str, torch.Tensor]) -> None:
        for name, p in own.items():
            if optimizer.state[p]:
                self.stacked[name] = optimizer.state[p]


def sgd_pack_epoch(
    params: dict[str, torch.Tensor],
    step_losses: PackedLoss,
    train: data.Split,
    batch_size: int,
    steps: StackedOptimizer,
    shuffles: list[torch.Generator],
) -> None:
    """One pass over the train set for every seed, each in its own order; `params` [k, ...]
    (views of the pack's W) are updated in place by the task's optimizer (`steps`). No config
    lookups and no host syncs per step."""
    x, y = train.x, train.y
    orders = torch.stack([torch.randperm(len(y), generator=g) for g in shuffles]).to(x.device)
    own = {name: p.detach().clone() for name, p in params.items()}  # contiguous: faster steps
    optimizer = steps.over(own)
    rows = x.flatten(1)  # index_select on rows: 2x faster than x[idx] on the CPU
    for i in range(0, orders.shape[1], batch_size):
        idx = orders[:, i : i + batch_size]  # [k, b]: each seed's own mini-batch
        images = rows.index_select(0, idx.flatten()).view(*idx.shape, *x.shape[1:])
        leaves = {name: p.detach().requires_grad_() for name, p in own.items()}
        losses = step_losses(leaves, images, y[idx])
        grads = torch.autograd.grad(losses.sum(), list(leaves.values()))
        for p, grad in zip(own.values(), grads, strict=True):
            p.grad = grad
        optimizer.step()  # elementwise: row by row, each seed's own update
    steps.keep(optimizer, own)
    for p, trained in zip(params.values(), own.values(), strict=True):
        p.copy_(trained)


@torch.no_grad()
def record_epochs(pack: Pack, which: list[bool]) -> None:
    """`seed_run.record_epoch` for the chosen members: one batched loss call per split."""
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


def eval_chunk(arch: str, act: str, split: Split, k: int, cpu_chunk: int) -> int | None:
    """Images per batched loss call of k weight vectors (a pack's curves and its L-BFGS-GSS
    gradient): `cpu_chunk` on the CPU; on CUDA all (None) when they fit, else what fits."""
    x, y = split.x, split.y
    if x.device.type != "cuda":
        return cpu_chunk
    n = min(memory.PROBE_IMAGES, len(y))
    losses = batched_loss_fn(arch, act, x[:n], y[:n])
    w = torch.zeros(memory.PROBE_ROWS, archs.get(arch).n_prm, device=x.device, requires_grad=True)
    per_row = memory.peak_bytes(lambda: losses(w).sum().backward(), x.device)
    per_row /= memory.PROBE_ROWS * n
    budget = memory.FRACTION * memory.free_bytes(x.device) / per_row
    return memory.fit(budget, k, len(y), k, None)[1]
