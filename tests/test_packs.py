"""SGD packs (lossland.train.packs) against the seeds trained one by one (seed_run.train_one).

Tolerance: the pack computes each seed's losses and gradients in batched GEMMs/convolutions
(bmm, grouped conv) where the run alone uses single ones, so float32 sums are taken in another
order: each loss and gradient differs by a few ulp (~1e-7 relative), and SGD carries that along.
After the few epochs here curves and weights agree to 1e-5 (measured: 2e-7), and the epochs of
the minima are the same. (L-BFGS-GSS only for its first ~20 iterations: then a line-search
decision can flip on such a difference; docs/task.md, Packs.) Resume, skip and divergence are
compared pack with pack, bit for bit.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from lossland.core.config import compose
from lossland.core.storage import CHECKPOINT_FILE, RESULT_FILE
from lossland.train import packs, seed_run, task
from lossland.train.seed_run import W_TEST_FILE, W_TRAIN_FILE
from tests.test_resume import Killed, one_thread, same_result, tiny  # noqa: F401 (fixture)

RTOL = 1e-5
IGNORED = ("train_seconds", "seconds_per_epoch", "curves", "min_train_loss", "min_stop_loss")


def records_close(a: dict, b: dict, rtol: float = RTOL) -> None:
    """Same seed, status, epochs and minima epochs; losses within rtol."""
    for key in ("seed", "status", "epochs_run", "w_train_epoch", "w_test_epoch"):
        assert a[key] == b[key], key
    for name in a["curves"]:
        np.testing.assert_allclose(a["curves"][name], b["curves"][name], rtol=rtol)
    for key in ("min_train_loss", "min_stop_loss", "test_loss_at_w_test", "min_test_loss"):
        assert a[key] == pytest.approx(b[key], rel=rtol), key


def lbfgs_close(a: dict | None, b: dict | None) -> None:
    """L-BFGS-GSS diagnostics: the same counts (evaluations, resets, failed searches, last
    decrease); the last step size within RTOL (it is a quotient of rounded norms)."""
    assert (a is None) == (b is None)
    if a is not None:
        assert a.keys() == b.keys()
        assert {k: v for k, v in a.items() if k != "last_step"} == {
            k: v for k, v in b.items() if k != "last_step"
        }
        assert a["last_step"] == pytest.approx(b["last_step"], rel=RTOL)


def weights_close(dir_a, dir_b) -> None:
    for name in (W_TRAIN_FILE, W_TEST_FILE):
        wa, wb = np.load(dir_a / name), np.load(dir_b / name)
        np.testing.assert_allclose(wa, wb, rtol=RTOL, atol=RTOL * np.abs(wa).max())


def opt_of(opt: str) -> tuple[str, ...]:
    """`lbfgs`: the spec line search; `authors`: the authors' (opt=lbfgs's default)."""
    if opt == "lbfgs":
        return ("opt=lbfgs", "opt.line_search=spec")
    return ("opt=lbfgs", "opt.line_search=authors") if opt == "authors" else (f"opt={opt}",)


def pack_of(mnist_root, out_dir, *overrides: str, k: int = 3):
    cfg = tiny(mnist_root, out_dir, f"seeds_per_task={k}", *overrides)
    return cfg, seed_run.seed_runs(cfg)


EVERY_OPT = [(arch, opt) for arch in ("fcp", "lenet", "lstm", "ae") for opt in ("sgd", "lbfgs")]
EVERY_OPT += [(arch, "authors") for arch in ("fcp", "lenet", "lstm", "ae")]
EVERY_OPT += [(arch, opt) for arch in ("fcp", "lstm") for opt in ("momentum", "adamw")]


@pytest.mark.parametrize(("arch", "opt"), EVERY_OPT)
def test_pack_equals_the_seeds_alone(mnist_root, tmp_path, arch, opt):
    settings = (f"arch={arch}", *opt_of(opt), "opt.epochs=3")
    cfg, runs = pack_of(mnist_root, tmp_path / "pack", *settings, k=2)
    packed = packs.train_pack(runs, torch.device("cpu"))  # also where CPU tasks don't pack
    for run, record in zip(runs, packed, strict=True):
        alone = tiny(mnist_root, tmp_path / "alone", *settings, f"seed={run.seed}")
        expected = seed_run.train_one(alone, seed_run.run_dir(alone))
        records_close(expected, record)
        lbfgs_close(expected.get("lbfgs"), record.get("lbfgs"))
        assert ("lbfgs" in record) == (opt in ("lbfgs", "authors"))
        assert record["numerics"] == expected["numerics"]
        weights_close(seed_run.run_dir(alone), seed_run.run_dir(run))
        assert not (seed_run.run_dir(run) / CHECKPOINT_FILE).exists()


def test_task_packs_sgd_and_skips_finished_seeds(mnist_root, tmp_path, caplog):
    cfg, runs = pack_of(mnist_root, tmp_path, "opt.epochs=2")
    seed_run.train_one(runs[1], seed_run.run_dir(runs[1]))
    before = (seed_run.run_dir(runs[1]) / RESULT_FILE).stat().st_mtime_ns
    with caplog.at_level(logging.INFO, logger="lossland"):
        records = task.train_task(cfg)
    assert "training seeds [0, 2] as one pack" in caplog.text
    assert [r["seed"] for r in records] == [0, 1, 2]
    assert (seed_run.run_dir(runs[1]) / RESULT_FILE).stat().st_mtime_ns == before
    assert task.task_done(cfg)


@pytest.mark.parametrize("opt", ["sgd", "lbfgs", "momentum"])
def test_killed_pack_resumes_to_the_uninterrupted_pack(
    mnist_root, tmp_path, monkeypatch, caplog, opt
):
    _, whole = pack_of(mnist_root, tmp_path / "whole", *opt_of(opt))
    _, broken = pack_of(mnist_root, tmp_path / "broken", *opt_of(opt))
    packs.train_pack(whole, torch.device("cpu"))

    record_epochs = packs.record_epochs

    def dying(pack, which):
        if pack.members[0].state.epoch == 5:
            raise Killed
        record_epochs(pack, which)

    monkeypatch.setattr(packs, "record_epochs", dying)
    with pytest.raises(Killed):
        packs.train_pack(broken, torch.device("cpu"))
    dirs = [seed_run.run_dir(run) for run in broken]
    assert all((d / CHECKPOINT_FILE).exists() and not (d / RESULT_FILE).exists() for d in dirs)
    monkeypatch.setattr(packs, "record_epochs", record_epochs)
    with caplog.at_level(logging.INFO, logger="lossland"):
        packs.train_pack(broken, torch.device("cpu"))
    assert caplog.text.count("from its checkpoint after epoch 3") == 3
    for a, b in zip(whole, broken, strict=True):
        same_result(seed_run.run_dir(a), seed_run.run_dir(b), ("out_dir",))


@pytest.mark.parametrize("opt", ["sgd", "adamw", "authors"])
def test_checkpoints_are_interchangeable_with_a_seed_alone(mnist_root, tmp_path, monkeypatch, opt):
    """A pack's checkpoint resumed by the seed alone (and on to the end) is the seed alone:
    also the optimizer's state (Adam's moments and step count, the L-BFGS-GSS history)."""
    _, runs = pack_of(mnist_root, tmp_path / "pack", *opt_of(opt), k=2)
    record_epochs = packs.record_epochs

    def dying(pack, which):
        if pack.members[0].state.epoch == 4:
            raise Killed
        record_epochs(pack, which)

    monkeypatch.setattr(packs, "record_epochs", dying)
    with pytest.raises(Killed):
        packs.train_pack(runs, torch.device("cpu"))
    resumed = seed_run.train_one(runs[1], seed_run.run_dir(runs[1]))
    alone = tiny(mnist_root, tmp_path / "alone", *opt_of(opt), "seed=1")
    expected = seed_run.train_one(alone, seed_run.run_dir(alone))
    records_close(expected, resumed)
    lbfgs_close(expected.get("lbfgs"), resumed.get("lbfgs"))


def test_stateful_seeds_at_different_epochs_pack_by_epoch(mnist_root, tmp_path, monkeypatch):
    """AdamW seeds resuming from different epochs: one pack per epoch (one step count each),
    each seed's record that of the seed alone."""
    _, runs = pack_of(mnist_root, tmp_path / "pack", "opt=adamw", k=3)
    train_one = seed_run.train_one

    def dying(cfg, task_dir):  # seed 1 alone, killed after its checkpoint at epoch 3
        record_epoch = seed_run.record_epoch

        def die(state, *args):
            if state.epoch == 4:
                raise Killed
            record_epoch(state, *args)

        monkeypatch.setattr(seed_run, "record_epoch", die)
        try:
            return train_one(cfg, task_dir)
        finally:
            monkeypatch.setattr(seed_run, "record_epoch", record_epoch)

    with pytest.raises(Killed):
        dying(runs[1], seed_run.run_dir(runs[1]))
    assert [packs.checkpoint_epoch(r) for r in runs] == [0, 3, 0]
    assert [[r.seed for r in g] for g in packs.pack_groups(runs)] == [[0, 2], [1]]
    records = packs.train_pack(runs, torch.device("cpu"))
    for run, record in zip(runs, records, strict=True):
        alone = tiny(mnist_root, tmp_path / "alone", "opt=adamw", f"seed={run.seed}")
        records_close(seed_run.train_one(alone, seed_run.run_dir(alone)), record)


def test_a_diverged_seed_leaves_the_pack_and_the_others_go_on(mnist_root, tmp_path, monkeypatch):
    _, clean = pack_of(mnist_root, tmp_path / "clean")
    _, hit = pack_of(mnist_root, tmp_path / "hit")
    packs.train_pack(clean, torch.device("cpu"))
    sgd_epoch = packs.Pack.sgd_epoch

    def poisoned(pack):
        sgd_epoch(pack)
        if pack.members[0].state.epoch == 1:  # during epoch 2 seed 1's weights blow up
            pack.w[1, 0] = float("inf")

    monkeypatch.setattr(packs.Pack, "sgd_epoch", poisoned)
    records = packs.train_pack(hit, torch.device("cpu"))
    assert [r["status"] for r in records] == ["done", "diverged", "done"]
    assert records[1]["epochs_run"] == 2 and not np.isfinite(records[1]["curves"]["train"][2])
    assert np.isfinite(np.load(seed_run.run_dir(hit[1]) / W_TRAIN_FILE)).all()
    for i in (0, 2):
        same_result(seed_run.run_dir(clean[i]), seed_run.run_dir(hit[i]), ("out_dir",))


def test_divergence_is_the_same_record_as_alone(mnist_root, tmp_path):
    _, runs = pack_of(mnist_root, tmp_path / "pack", "opt.lr=1e30", k=2)
    packed = packs.train_pack(runs, torch.device("cpu"))
    alone = tiny(mnist_root, tmp_path / "alone", "opt.lr=1e30", "seed=1")
    record = seed_run.train_one(alone, seed_run.run_dir(alone))
    assert packed[1]["status"] == record["status"] == "diverged"
    assert packed[1]["epochs_run"] == record["epochs_run"]
    assert packed[1]["min_train_loss"] == pytest.approx(record["min_train_loss"], rel=RTOL)


def test_unpackable_settings_fall_back_and_say_so(mnist_root, tmp_path, caplog):
    cpu = torch.device("cpu")
    cfg, _ = pack_of(mnist_root, tmp_path, "arch=ae", *opt_of("lbfgs"), "opt.epochs=1", k=2)
    with caplog.at_level(logging.INFO, logger="lossland"):
        records = task.train_task(cfg)
    assert "one after another: a lbfgs pack of ae is not faster than the loop on cpu" in caplog.text
    assert [r["seed"] for r in records] == [0, 1]
    lenet, _ = pack_of(mnist_root, tmp_path, "arch=lenet")
    cuda = torch.device("cuda")  # only its type is read: no GPU needed
    authors, _ = pack_of(mnist_root, tmp_path, "opt=lbfgs")  # the default line search
    assert "not faster than the loop on cpu" in packs.why_sequential(authors, cpu)
    assert "not faster than the loop on cpu" in packs.why_sequential(lenet, cpu)
    for name in ("momentum", "adamw"):
        stateful, _ = pack_of(mnist_root, tmp_path, f"opt={name}")
        assert "was not measured faster than the loop on cpu" in packs.why_sequential(stateful, cpu)
        assert packs.why_sequential(stateful, cuda) is None
    for every in (authors, lenet):
        assert packs.why_sequential(every, cuda) is None
    rmsprop, _ = pack_of(mnist_root, tmp_path, "opt=adamw", "opt.optimizer=torch.optim.RMSprop")
    assert "opt.optimizer=torch.optim.RMSprop is not packed" in packs.why_sequential(rmsprop, cpu)
    OmegaConf.set_struct(cfg, False)
    lbfgs = OmegaConf.to_container(compose("train", ["opt=lbfgs"]).opt, enum_to_str=True)
    cfg.opt = {**lbfgs, "extra": "x"}
    assert packs.why_sequential(cfg, cuda) == "opt.extra is not supported by packs"


@pytest.mark.parametrize("arch", ["fcp", "lenet", "lstm", "ae"])
def test_packed_loss_is_each_module_on_its_own_images(mnist_root, arch):
    """The batched step's losses and gradients against nn.Module forward/backward, seed by seed."""
    from lossland.data import load_split
    from lossland.nets.batched import packed_loss_fn, unflatten
    from lossland.nets.modules import build_model, get_flat, loss_from_outputs

    train = load_split(mnist_root, "train", limit=200)
    torch.manual_seed(0)
    models = [build_model(arch) for _ in range(3)]
    idx = torch.stack([torch.randperm(200)[:16] for _ in models])
    w = torch.stack([get_flat(m) for m in models]).requires_grad_()
    losses = packed_loss_fn(arch, "softplus")(unflatten(arch, w), train.x[idx], train.y[idx])
    (grad,) = torch.autograd.grad(losses.sum(), w)
    for i, model in enumerate(models):
        xb, yb = train.x[idx[i]], train.y[idx[i]]
        loss = loss_from_outputs(arch, model(xb), xb, yb)
        loss.backward()
        ref = torch.cat([p.grad.reshape(-1) for p in model.parameters()])
        assert float(losses[i]) == pytest.approx(float(loss), rel=1e-5)
        torch.testing.assert_close(grad[i], ref, rtol=1e-4, atol=1e-6)


def test_line_searches_side_by_side_are_the_search_alone():
    """lbfgs_pack's generator searches, run together, against lbfgs_gss.golden_section_search."""
    from lossland.train.lbfgs_gss import golden_section_search, golden_section_steps
    from lossland.train.lbfgs_pack import run_searches

    fs = [
        lambda u: (u - 0.3) ** 2,  # minimum inside the first trial step: shrink
        lambda u: (u - 7.0) ** 2,  # far beyond it: expand
        lambda u: -u,  # no minimum: expansion runs out of evaluations
        lambda u: float("nan") if u > 0.5 else (u - 0.2) ** 2,  # non-finite values
        lambda u: u,  # nothing beats f(0)
    ]
    calls = []

    def trial(seeds, steps):
        calls.append(len(seeds))
        return [fs[i](u) for i, u in zip(seeds, steps, strict=True)]

    for max_evals in (1, 3, 6, 12):
        searches = [golden_section_steps(f(0.0), 1.0, max_evals) for f in fs]
        together = run_searches(searches, trial)
        assert together == [golden_section_search(f, f(0.0), 1.0, max_evals) for f in fs]
    assert set(calls) == {len(fs)}  # every round: one call for all (each spends its budget)
    assert len(calls) == 1 + 3 + 6 + 12
