"""The optimizer registry's contract, for every conf/opt/*.yaml on disk (a new entry is tested
with no new test): fcp trained for 2 epochs on 256 real MNIST images gives a finite record with
the keys every record has, a job killed after its epoch-1 checkpoint resumes to the same
result bit for bit (CPU: the optimizer's state, e.g. momentum buffers or Adam's moments, is
restored), and for the minibatch family two steps equal the torch.optim update written out by
hand from its documented formula (float64, rtol 1e-12; the two differ in rounding only).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf
from torch.nn.utils import parameters_to_vector

from lossland.core.config import compose
from lossland.core.errors import LosslandError
from lossland.core.storage import CHECKPOINT_FILE, RESULT_FILE
from lossland.data import Split, load_split
from lossland.launch import checks
from lossland.nets.modules import batch_loss, build_model
from lossland.train import optimizers, seed_run
from tests.conftest import REPO
from tests.test_resume import Killed, one_thread, same_result, tiny  # noqa: F401 (fixture)

ENTRIES = sorted(p.stem for p in (REPO / "conf" / "opt").glob("*.yaml"))
RECORD_KEYS = {
    "arch", "opt", "seed", "status", "epochs_run", "min_train_loss", "w_train_epoch", "stop_on",
    "min_stop_loss", "w_test_epoch", "test_loss_at_w_test", "min_test_loss", "curves",
    "train_seconds", "seconds_per_epoch", "device", "device_name", "torch", "files", "config",
    "signature", "inputs", "code", "record_hash", "numerics",
}  # fmt: skip


def two_epochs(mnist_root, out: Path, entry: str):
    return tiny(mnist_root, out, "arch=fcp", f"opt={entry}", "opt.epochs=2", "checkpoint_every=1")


def is_minibatch(entry: str) -> bool:
    opt = OmegaConf.load(REPO / "conf" / "opt" / f"{entry}.yaml")
    return opt._target_ == "lossland.train.optimizers.Minibatch"


@pytest.mark.parametrize("entry", ENTRIES)
def test_entry_trains_fcp_to_a_finite_record(mnist_root, tmp_path, entry):
    cfg = two_epochs(mnist_root, tmp_path, entry)
    record = seed_run.train_one(cfg, seed_run.run_dir(cfg))
    full_batch = isinstance(optimizers.trainer(cfg.opt), optimizers.FullBatchLBFGSGSS)
    assert set(record) == RECORD_KEYS | ({"lbfgs"} if full_batch else set())
    assert (
        record["status"] == "done" and record["epochs_run"] == 2 and record["opt"] == cfg.opt.name
    )
    for curve in record["curves"].values():
        assert len(curve) == 3 and all(math.isfinite(v) for v in curve)
    assert record["min_train_loss"] < record["curves"]["train"][0]  # it learned something


@pytest.mark.parametrize("entry", ENTRIES)
def test_entry_resumes_from_its_checkpoint_to_the_same_result(
    mnist_root, tmp_path, monkeypatch, entry
):
    cfg = two_epochs(mnist_root, tmp_path, entry)
    whole, broken = tmp_path / "whole", tmp_path / "broken"
    seed_run.train_one(cfg, whole)
    record_epoch = seed_run.record_epoch

    def dying(state, *args):
        if state.epoch == 2:  # after the checkpoint of epoch 1
            raise Killed
        record_epoch(state, *args)

    monkeypatch.setattr(seed_run, "record_epoch", dying)
    with pytest.raises(Killed):
        seed_run.train_one(cfg, broken)
    assert (broken / CHECKPOINT_FILE).exists() and not (broken / RESULT_FILE).exists()
    monkeypatch.setattr(seed_run, "record_epoch", record_epoch)
    seed_run.train_one(cfg, broken)
    same_result(whole, broken)


def sgd_by_hand(w, grad, steps: int, opt) -> torch.Tensor:
    """torch.optim.SGD's documented update (dampening 0, no Nesterov): b = mu b + g, w -= lr b."""
    mu, wd, buf = opt.get("momentum", 0.0), opt.get("weight_decay", 0.0), None
    for k in range(steps):
        g = grad(w, k) + wd * w
        buf = g if buf is None else mu * buf + g
        w = w - opt.lr * buf
    return w


def adamw_by_hand(w, grad, steps: int, opt) -> torch.Tensor:
    """torch.optim.AdamW's documented update (Loshchilov & Hutter), torch's default betas/eps."""
    (b1, b2), eps, m, v = (0.9, 0.999), 1e-8, 0.0, 0.0
    for t in range(1, steps + 1):
        g = grad(w, t - 1)
        w = w * (1 - opt.lr * opt.weight_decay)
        m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g
        w = w - opt.lr * (m / (1 - b1**t)) / ((v / (1 - b2**t)).sqrt() + eps)
    return w


BY_HAND = {"torch.optim.SGD": sgd_by_hand, "torch.optim.AdamW": adamw_by_hand}


def fcp_by_hand(w: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """fcp's logits from its flat vector: 784-50-50-10, softplus, no biases."""
    w1, w2, w3 = w[: 50 * 784], w[50 * 784 : 50 * 834], w[50 * 834 :]
    h = F.softplus(x.flatten(1) @ w1.view(50, 784).T)
    h = F.softplus(h @ w2.view(50, 50).T)
    return h @ w3.view(10, 50).T


@pytest.mark.parametrize("entry", [e for e in ENTRIES if is_minibatch(e)])
def test_two_minibatch_steps_are_the_torch_update_by_hand(mnist_root, entry):
    opt = two_epochs(mnist_root, "/unused", entry).opt
    assert opt.optimizer in BY_HAND, f"add a by-hand reference of {opt.optimizer} to this test"
    split = load_split(mnist_root, "train", limit=2 * opt.batch_size)  # one epoch = two steps
    train = Split(split.x.double(), split.y)
    torch.manual_seed(0)
    model = build_model("fcp").double()
    w0 = parameters_to_vector(model.parameters()).detach()
    trainer = optimizers.trainer(opt)
    optimizer = trainer.optimizer(model.parameters())
    trainer.epoch(batch_loss(model, "fcp"), optimizer, train, torch.Generator().manual_seed(5))

    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(5))
    batches = order.view(2, opt.batch_size)

    def grad(w: torch.Tensor, k: int) -> torch.Tensor:  # on the k-th mini-batch
        w = w.detach().requires_grad_()
        idx = batches[k]
        (g,) = torch.autograd.grad(F.cross_entropy(fcp_by_hand(w, train.x[idx]), train.y[idx]), w)
        return g

    expected = BY_HAND[opt.optimizer](w0, grad, 2, opt)
    trained = parameters_to_vector(model.parameters()).detach()
    assert not torch.equal(trained, w0)
    torch.testing.assert_close(trained, expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize(
    "overrides",
    [["opt=adamw", "opt.weight_decy=0.1"], ["opt=sgd", "opt.momentum=0.9"], ["opt=momentm"]],
)
def test_a_typo_in_an_opt_setting_fails_as_the_config_is_composed(overrides):
    with pytest.raises(ConfigCompositionException):
        compose("train", overrides)


@pytest.mark.parametrize(
    "overrides", [["opt=momentum", "opt.momentum=1.0"], ["opt=adamw", "opt.weight_decay=-0.1"]]
)
def test_out_of_range_optimizer_settings_are_refused(overrides):
    key = overrides[1].split("=")[0]
    with pytest.raises(LosslandError, match=f"bad value: {key}="):
        checks.check_values(compose("train", overrides), "train")


def test_a_net_can_tune_an_optimizer():
    """conf/tuned/<arch>_<opt>.yaml (the LSTM's SGD rate) applies to that pair only; a command
    line override still wins."""
    assert compose("train", ["arch=lstm", "opt=sgd"]).opt.lr == 1.0
    assert compose("train", ["arch=fcp", "opt=sgd"]).opt.lr == 0.1
    assert compose("train", ["arch=lstm", "opt=momentum"]).opt.lr == 0.01
    assert compose("train", ["arch=lstm", "opt=sgd", "opt.lr=0.1"]).opt.lr == 0.1
