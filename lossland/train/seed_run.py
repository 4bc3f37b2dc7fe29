"""One training job (docs/decisions.md#training): arch x optimizer x seed, its curves and minima.

After every epoch (and at epoch 0) the full train and test losses are recorded; w_train is the
weight vector at the minimum of the train curve and w_test at the minimum of the stopping
split's curve (test by default, as in the paper). State (model, optimizer incl. the L-BFGS
history, RNG states, curves and minima so far) is checkpointed every few epochs, and a job
restarted in the same task directory (a requeued Slurm task, a resubmitted sweep) resumes and
ends with the same result, bit for bit on CPU. One task may train several consecutive seeds
(`seeds_per_task`), each in its own task directory.
"""

from __future__ import annotations

import logging
import math
import platform
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig

from lossland import data
from lossland.core import cpu, identity, numerics, storage
from lossland.core.device import resolve_device
from lossland.core.errors import LosslandError
from lossland.core.progress import log, on_terminal, progress
from lossland.core.records import existing_result, job_config
from lossland.nets import archs
from lossland.nets.modules import batch_loss, build_model, evaluate, get_flat
from lossland.train import optimizers

W_TRAIN_FILE = "w_train.npy"
# A finite loss this many times its initial value is a divergence too (SGD at lr 1e4: 1e15).
LOSS_BOUND = 1e3
W_TEST_FILE = "w_test.npy"
LOG_FILE = "train.log"  # as Hydra names the job's log (hydra.job.name = train)


@dataclass
class Minimum:
    """The lowest point of one loss curve and the weights there."""

    loss: float = math.inf
    epoch: int = -1
    w: torch.Tensor | None = None

    def update(self, loss: float, epoch: int, w: torch.Tensor) -> None:
        if loss < self.loss:
            self.loss, self.epoch, self.w = loss, epoch, w.cpu().clone()


@dataclass
class RunState:
    """Everything a resumed job needs besides the model and optimizer."""

    epoch: int = 0
    curves: dict[str, list[float]] = field(default_factory=dict)
    w_train: Minimum = field(default_factory=Minimum)
    w_test: Minimum = field(default_factory=Minimum)
    seconds: float = 0.0
    diverged: bool = False
    reason: str = ""  # why the run diverged (one line)


def seed_runs(cfg: DictConfig) -> list[DictConfig]:
    """The configs of one task's seeds: seed, seed + 1, ..., seed + seeds_per_task - 1."""
    k = cfg.get("seeds_per_task", 1)
    if k < 1:
        raise LosslandError(f"seeds_per_task={k}: need at least 1")
    runs = []
    for seed in range(cfg.seed, cfg.seed + k):
        run = cfg.copy()
        run.seed = seed
        runs.append(run)
    return runs


def run_dir(cfg: DictConfig) -> Path:
    """train/<arch>/<opt>/<sig>/seed=<n>, as Hydra's `${sig:train}` names the job's dir."""
    sig = identity.dir_signature(cfg, "train")
    return storage.train_task_dir(cfg.out_dir, cfg.arch.name, cfg.opt.name, cfg.seed, sig)


def train_one(cfg: DictConfig, task_dir: str | Path) -> dict[str, Any]:
    """Run (or resume, or skip) one training job; returns its result record."""
    task_dir = Path(task_dir)
    config = job_config(cfg)
    done = existing_result(task_dir, config)
    if done is not None:
        log.info("skipping %s: result exists", task_dir)
        return done

    device = resolve_device(cfg.device)
    dtype = training_dtype(cfg)
    arch, opt = str(config["arch"]["name"]), cfg.opt
    stop_on = str(config["stop_on"])
    root = str(cfg.dataset.root)
    train = data.cached_split(root, "train", str(device), cfg.dataset.n_train)
    evals = {
        "train": train,
        "test": data.cached_split(root, "test", str(device), cfg.dataset.n_eval),
    }
    if stop_on == "valid":
        evals["valid"] = data.cached_split(root, "valid", str(device), cfg.dataset.n_eval)
    if dtype != torch.float32:
        evals = {k: data.Split(v.x.to(dtype), v.y) for k, v in evals.items()}
        train = evals["train"]

    archs.register(cfg.arch)  # also an entry from outside conf/arch (a Hydra search path)
    trainer = optimizers.trainer(opt)
    torch.manual_seed(cfg.seed)
    model = build_model(arch, str(config["arch"]["act"])).to(device, dtype)
    optimizer = trainer.optimizer(model.parameters())
    shuffle = torch.Generator().manual_seed(cfg.seed)
    state = RunState(curves={name: [] for name in evals})
    checkpoint = task_dir / storage.CHECKPOINT_FILE
    if checkpoint.exists():
        state = restore(checkpoint, config, model, optimizer, shuffle)
        log.info("resuming %s from its checkpoint after epoch %d", task_dir, state.epoch)
    else:
        record_epoch(state, model, arch, evals, stop_on)

    epochs = range(state.epoch + 1, opt.epochs + 1)
    for epoch in progress(epochs, total=len(epochs), desc=f"{arch}/{opt.name}/seed={cfg.seed}"):
        if state.diverged:
            break
        start = time.perf_counter()
        trainer.epoch(batch_loss(model, arch), optimizer, train, shuffle)
        state.seconds += time.perf_counter() - start
        state.epoch = epoch
        record_epoch(state, model, arch, evals, stop_on)
        if not on_terminal() and (epoch % cfg.log_every == 0 or epoch == opt.epochs):
            curves = state.curves
            log.info(
                "epoch %d train %.4g test %.4g", epoch, curves["train"][-1], curves["test"][-1]
            )
        if epoch % cfg.checkpoint_every == 0 and epoch < opt.epochs:
            save_checkpoint(checkpoint, config, state, model, optimizer, shuffle)

    result = finish(task_dir, state, config, device, optimizer)
    checkpoint.unlink(missing_ok=True)
    return result


def record_epoch(state: RunState, model, arch: str, evals: dict[str, data.Split], stop_on: str):
    """Append the full-set losses of this epoch and move the minima."""
    for name, split in evals.items():
        state.curves[name].append(evaluate(model, arch, split.x, split.y)["loss"])
    w = get_flat(model)
    train_loss, stop_loss = state.curves["train"][-1], state.curves[stop_on][-1]
    if not (math.isfinite(train_loss) and torch.isfinite(w).all()):
        state.diverged = True
        state.reason = f"train loss {train_loss:.4g} or a weight at epoch {state.epoch} not finite"
        return
    initial = state.curves["train"][0]
    if train_loss > LOSS_BOUND * initial:
        state.diverged = True
        state.reason = (
            f"train loss {train_loss:.4g} at epoch {state.epoch} grew past {LOSS_BOUND:g} x its "
            f"initial {initial:.4g}"
        )
        return
    state.w_train.update(train_loss, state.epoch, w)
    state.w_test.update(stop_loss, state.epoch, w)


def training_dtype(cfg: DictConfig) -> torch.dtype:
    """float32 or float64 (`precision=`); also flushes denormals (`cpu.flush_denormals`: near a
    minimum they make a CPU step ~7x slower), for callers that bypass the entry points."""
    cpu.flush_denormals()
    return torch.float64 if str(cfg.get("precision", "float32")) == "float64" else torch.float32


def finish(
    task_dir: Path, state: RunState, config: dict, device: torch.device, optimizer=None
) -> dict[str, Any]:
    """Write both weight vectors, then the record last: its presence means the job is done."""
    storage.write_npy(task_dir / W_TRAIN_FILE, state.w_train.w.numpy().astype(np.float32))
    storage.write_npy(task_dir / W_TEST_FILE, state.w_test.w.numpy().astype(np.float32))
    test_curve = state.curves["test"]
    status, reason = run_status(state)
    result = {
        "arch": config["arch"]["name"],
        "opt": config["opt"]["name"],
        "seed": config["seed"],
        "status": status,
        **({"reason": reason} if reason else {}),
        "epochs_run": state.epoch,
        "min_train_loss": state.w_train.loss,
        "w_train_epoch": state.w_train.epoch,
        "stop_on": config["stop_on"],
        "min_stop_loss": state.w_test.loss,
        "w_test_epoch": state.w_test.epoch,
        "test_loss_at_w_test": test_curve[state.w_test.epoch],
        "min_test_loss": min(test_curve),
        "curves": state.curves,
        "train_seconds": state.seconds,
        "seconds_per_epoch": state.seconds / max(state.epoch, 1),
        "device": device.type,
        "device_name": device_name(device),
        "numerics": numerics.in_force(device, str(config.get("precision", "float32"))).record(),
        "torch": torch.__version__,
        "files": {"w_train": W_TRAIN_FILE, "w_test": W_TEST_FILE},
        "config": config,
    }
    if hasattr(optimizer, "diagnostics"):  # L-BFGS-GSS: evaluations, resets, failed searches
        result["lbfgs"] = optimizer.diagnostics()
    identity.stamp(result, config)  # signature, code version, record_hash
    storage.write_json(task_dir / storage.RESULT_FILE, result)
    logging.getLogger("lossland").info(
        "%s: %s, min train %.4g (epoch %d), test at w_test %.4g (epoch %d)",
        task_dir,
        result["status"],
        result["min_train_loss"],
        result["w_train_epoch"],
        result["test_loss_at_w_test"],
        result["w_test_epoch"],
    )
    return result


def run_status(state: RunState) -> tuple[str, str]:
    """`done`, `diverged` (non-finite, or past LOSS_BOUND), or `stalled`: the train loss never
    fell below its initial value, so w_train is the untrained init. Both rank after every done
    run in a set (lossland.study.sets); the reason is one line."""
    if state.diverged:
        return "diverged", state.reason or "a loss or weight became non-finite"
    if state.epoch >= 1 and state.w_train.epoch == 0:
        initial = state.curves["train"][0]
        return "stalled", (
            f"train loss never fell below its initial {initial:.4g} in {state.epoch} epoch(s): "
            "w_train is the untrained init (lower opt.lr?)"
        )
    return "done", ""


def device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()


def without_run_keys(config: dict) -> dict:
    """Settings that change a job's result: not where it runs or reads and writes (so outputs
    and data can move), not how it logs and packs (lossland.core.identity.NON_RESULT_KEYS)."""
    return identity.result_config(config)


def save_checkpoint(
    path: Path, config: dict, state: RunState, model, optimizer, shuffle: torch.Generator
) -> None:
    """Everything a restarted job needs to go on exactly where this one stands."""
    storage.write_torch(
        path,
        {
            "config": config,
            "progress": state.__dict__
            | {"w_train": state.w_train.__dict__, "w_test": state.w_test.__dict__},
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "shuffle_rng": shuffle.get_state(),
            "torch_rng": torch.get_rng_state(),  # training draws no CUDA randomness: no CUDA RNG
        },
    )


def restore(path: Path, config: dict, model, optimizer, shuffle: torch.Generator) -> RunState:
    saved = storage.read_torch(path)
    if without_run_keys(saved.get("config", {})) != without_run_keys(config):
        raise LosslandError(
            f"{path} was saved under another config: delete it to start this job anew"
        )
    model.load_state_dict(saved["model"])
    optimizer.load_state_dict(saved["optimizer"])
    shuffle.set_state(saved["shuffle_rng"])
    torch.set_rng_state(saved["torch_rng"])  # older checkpoints' "cuda_rng" is ignored
    p = dict(saved["progress"])
    p["w_train"], p["w_test"] = Minimum(**p["w_train"]), Minimum(**p["w_test"])
    return RunState(**p)


@contextmanager
def also_logging_to(path: Path | None) -> Iterator[None]:
    """Copy the log lines of the block into `path` too (a packed seed's own train.log)."""
    if path is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("[%(asctime)s][%(levelname)s] %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)
        handler.close()
