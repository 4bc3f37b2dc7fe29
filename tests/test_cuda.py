"""The CUDA half of the checks (benchmarks/gpu_check.sh runs these on a GPU machine).

Skipped without a GPU. Everything on CUDA is compared with the CPU, never with CUDA alone (a
difference both CUDA runs share would cancel): with the CPU reference values shipped in
tests/data/cuda_refs.npz (made by `python -m tests.cuda_refs`, tolerances in
`tests.cuda_refs.TOLERANCES`), or with the same job run on the CPU here. Jobs run under the
numerics policy (IEEE float32, TF32 off for cuDNN too); batched and single kernels sum in other
orders, so packs are compared with the seeds alone within 1e-4 relative after a few epochs
(L-BFGS-GSS: 3 iterations, before a line-search decision could flip on a rounding difference),
path heights within 1e-3 (Adam carries differences along), Hessian eigenvalues within 1e-3.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from lossland.core import memory, numerics, storage
from lossland.core.storage import CHECKPOINT_FILE, RESULT_FILE
from lossland.data import load_split
from lossland.nets.batched import batched_loss_fn
from lossland.nets.modules import build_model, get_flat, loss_from_outputs
from lossland.paths import sizing
from lossland.paths.basis_loss import basis_loss_fn
from lossland.paths.finders.fourier import find_path
from lossland.paths.job import run_paths, set_dir_of
from lossland.probes.job import run_probe
from lossland.train import packs, seed_run
from tests import cuda_refs
from tests.test_packs import EVERY_OPT, Killed, lbfgs_close, opt_of, pack_of, records_close, tiny
from tests.test_path_job import paths_cfg
from tests.test_probe_job import probe_cfg

PATH = {"n_points": 6, "steps": 2, "lr": 1e-3}

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU")
CUDA = torch.device("cuda") if torch.cuda.is_available() else None
CPU = torch.device("cpu")
RTOL = 1e-4  # packs and resumed runs against the CPU or the seeds alone, after a few epochs
CARRIED = 1e-3  # path heights after Adam steps, Hessian eigenvalues (Lanczos to tol 1e-3)


@pytest.mark.parametrize("arch", cuda_refs.ARCHS)
def test_cuda_computes_the_cpu_reference_values(mnist_root, arch):
    """Losses, gradients (module and batched), three L-BFGS-GSS iterations, a path step and a
    Hessian-vector product of every net: the shipped CPU values, within TOLERANCES."""
    got = {f"{arch}/{k}": v for k, v in cuda_refs.compute(arch, mnist_root, CUDA).items()}
    ref = {k: v for k, v in cuda_refs.load().items() if k.startswith(f"{arch}/")}
    assert cuda_refs.mismatches(got, ref) == []


@pytest.mark.parametrize(("arch", "opt"), EVERY_OPT)
def test_pack_equals_the_seeds_alone_on_cuda(mnist_root, tmp_path, arch, opt):
    """Every optimizer, the authors' search included; diagnostics as the seed alone's."""
    settings = (f"arch={arch}", *opt_of(opt), "opt.epochs=3", "device=cuda")
    _, runs = pack_of(mnist_root, tmp_path / "pack", *settings, k=3)
    packed = packs.train_pack(runs, CUDA)
    for run, record in zip(runs, packed, strict=True):
        alone = tiny(mnist_root, tmp_path / "alone", *settings, f"seed={run.seed}")
        expected = seed_run.train_one(alone, seed_run.run_dir(alone))
        assert record["device"] == expected["device"] == "cuda"
        assert record["numerics"] == expected["numerics"] == numerics.Numerics("cuda").record()
        records_close(expected, record, rtol=RTOL)
        lbfgs_close(expected.get("lbfgs"), record.get("lbfgs"))


@pytest.mark.parametrize("arch", ["fcp", "lenet", "lstm", "ae"])
def test_batched_path_loss_equals_the_loop_on_cuda(mnist_root, arch):
    split = load_split(mnist_root, "train", CUDA, limit=500)
    torch.manual_seed(0)
    models = [build_model(arch).to(CUDA) for _ in range(4)]
    w = torch.stack([get_flat(m) for m in models])
    with torch.no_grad():
        batched = batched_loss_fn(arch, "softplus", split.x, split.y, chunk=200)(w)
        loop = [loss_from_outputs(arch, m(split.x), split.x, split.y) for m in models]
    torch.testing.assert_close(batched, torch.stack(loop), rtol=1e-5, atol=1e-7)


def dying_at(epoch: int):
    """`packs.record_epochs` that raises Killed when the pack records `epoch`."""
    record_epochs = packs.record_epochs

    def dying(pack, which):
        if pack.members[0].state.epoch == epoch:
            raise Killed
        record_epochs(pack, which)

    return dying


@pytest.mark.parametrize("opt", ["sgd", "adamw", "authors"])
def test_killed_pack_resumes_on_cuda(mnist_root, tmp_path, monkeypatch, opt):
    _, whole = pack_of(mnist_root, tmp_path / "whole", *opt_of(opt), "device=cuda")
    _, broken = pack_of(mnist_root, tmp_path / "broken", *opt_of(opt), "device=cuda")
    expected = packs.train_pack(whole, CUDA)
    record_epochs = packs.record_epochs
    monkeypatch.setattr(packs, "record_epochs", dying_at(5))
    with pytest.raises(Killed):
        packs.train_pack(broken, CUDA)
    assert all((seed_run.run_dir(r) / CHECKPOINT_FILE).exists() for r in broken)
    monkeypatch.setattr(packs, "record_epochs", record_epochs)
    for a, b in zip(expected, packs.train_pack(broken, CUDA), strict=True):
        records_close(a, b, rtol=RTOL)
        lbfgs_close(a.get("lbfgs"), b.get("lbfgs"))


@pytest.mark.parametrize(("first", "then"), [("cpu", "cuda"), ("cuda", "cpu")])
@pytest.mark.parametrize("opt", ["sgd", "authors"])
def test_a_checkpoint_resumes_on_the_other_device(
    mnist_root, tmp_path, monkeypatch, opt, first, then
):
    """Killed on one device after its checkpoint at epoch 3, resumed on the other: the run
    uninterrupted on the CPU, within RTOL."""
    cfg = tiny(mnist_root, tmp_path, *opt_of(opt), f"device={first}")
    whole = tmp_path / "whole"
    expected = seed_run.train_one(tiny(mnist_root, tmp_path, *opt_of(opt), "device=cpu"), whole)
    broken = tmp_path / "broken"
    record_epoch = seed_run.record_epoch

    def dying(state, *args):
        if state.epoch == 5:
            raise Killed
        record_epoch(state, *args)

    monkeypatch.setattr(seed_run, "record_epoch", dying)
    with pytest.raises(Killed):
        seed_run.train_one(cfg, broken)
    monkeypatch.setattr(seed_run, "record_epoch", record_epoch)
    resumed = seed_run.train_one(tiny(mnist_root, tmp_path, *opt_of(opt), f"device={then}"), broken)
    assert resumed["device"] == then and not (broken / CHECKPOINT_FILE).exists()
    records_close(expected, resumed, rtol=RTOL)


def copy_of_runs(sweep: Path, out: Path) -> Path:
    """The sweep's training runs alone, under a fresh out_dir (records of a job on one
    device must not be taken as done by the same job on the other)."""
    shutil.copytree(sweep / "train", out / "train")
    return out


def close(a, b, rtol: float, path: str = "") -> None:
    """Every number in two JSON values within rtol (and 1e-6 absolute); the rest equal."""
    if isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            close(a[k], b[k], rtol, f"{path}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            close(x, y, rtol, f"{path}[{i}]")
    elif isinstance(a, float) and not isinstance(a, bool) and math.isfinite(a):
        assert b == pytest.approx(a, rel=rtol, abs=1e-6), path
    else:
        assert a == b, path


def test_a_path_job_on_cuda_is_the_cpu_job_and_resumes(mnist_root, tiny_sweep, tmp_path):
    heights = {}
    for device in ("cpu", "cuda"):
        out = copy_of_runs(tiny_sweep, tmp_path / device)
        cfg = paths_cfg(mnist_root, out, "set=bfgs-train", "n_pairs=3", f"device={device}")
        assert run_paths(cfg)["found"] == 3
        records = sorted(set_dir_of(cfg).glob("pair=*.json"))
        heights[device] = {p.name: json.loads(p.read_text()) for p in records}
        if device == "cuda":  # killed with one pair in flight: the rerun finds that one only
            records[0].unlink()
            assert run_paths(cfg) == {"pairs": 3, "skipped": 2, "found": 1}
            again = json.loads(records[0].read_text())
            np.testing.assert_allclose(
                again["profile"], heights["cuda"][records[0].name]["profile"], rtol=RTOL
            )
    assert heights["cpu"].keys() == heights["cuda"].keys()
    for name, cpu in heights["cpu"].items():
        cuda = heights["cuda"][name]
        assert cuda["numerics"] == numerics.Numerics("cuda").record()
        for key in ("profile", "straight_profile"):
            np.testing.assert_allclose(cuda[key], cpu[key], rtol=CARRIED)
        assert cuda["height"] == pytest.approx(cpu["height"], rel=CARRIED)


def test_a_probe_job_on_cuda_is_the_cpu_job(mnist_root, tiny_sweep, tmp_path):
    found = {}
    for device in ("cpu", "cuda"):
        out = copy_of_runs(tiny_sweep, tmp_path / device)
        over = ("probe=hessian", "set=bfgs-train", "probe.trace_samples=4", f"device={device}")
        assert run_probe(probe_cfg(mnist_root, out, *over))["probed"] == 3
        records = sorted(out.glob("probes/fcp/bfgs-train/hessian/*/solution=*.json"))
        found[device] = {p.name: json.loads(p.read_text()) for p in records}
    assert found["cpu"].keys() == found["cuda"].keys() and len(found["cpu"]) == 3
    for name, cpu in found["cpu"].items():
        cuda = found["cuda"][name]
        assert cuda["numerics"] == numerics.Numerics("cuda").record()
        assert cuda["status"] == cpu["status"] == "ok"
        for key in ("loss", "top", "lambda_max", "trace"):  # lambda_min ~ 0: no relative test
            close(cpu[key], cuda[key], CARRIED, key)


def test_checkpoints_hold_no_cuda_state(mnist_root, tmp_path, monkeypatch):
    """A CUDA checkpoint loads where no GPU is (map_location) and names no CUDA RNG."""
    cfg = tiny(mnist_root, tmp_path, "device=cuda")
    record_epoch = seed_run.record_epoch

    def dying(state, *args):
        if state.epoch == 5:
            raise Killed
        record_epoch(state, *args)

    monkeypatch.setattr(seed_run, "record_epoch", dying)
    with pytest.raises(Killed):
        seed_run.train_one(cfg, tmp_path / "run")
    saved = storage.read_torch(tmp_path / "run" / CHECKPOINT_FILE)
    assert "cuda_rng" not in saved and not (tmp_path / "run" / RESULT_FILE).exists()


@pytest.mark.parametrize("arch", ["fcp", "lenet"])
def test_chunks_from_free_memory_find_the_same_path(mnist_root, monkeypatch, arch):
    """Unset chunks on CUDA: all 2,000 images per call (they fit); with the free memory made
    scarce, one point on 500 images per call (slices recomputed in backward): the same path."""
    split = load_split(mnist_root, "train", CUDA, limit=2000)
    unset = {"pairs_per_batch": None, "point_chunk": None, "image_chunk": None}
    pairs, points, images = sizing.path_sizes(arch, "softplus", split.x, split.y, 6, unset, CUDA)
    assert images is None and pairs >= 1 and points >= 6 * pairs
    per_row = sizing.path_row_bytes(arch, "softplus", split.x, split.y)
    monkeypatch.setattr(memory, "free_bytes", lambda device: 500.5 * per_row / memory.FRACTION)
    scarce = sizing.path_sizes(arch, "softplus", split.x, split.y, 6, unset, CUDA)
    assert scarce == (1, 1, 500)
    w0, w1 = cuda_refs.weights(arch, CUDA)
    found = [
        find_path(basis_loss_fn(arch, "softplus", split.x, split.y, i, p), w0, w1, **PATH)
        for p, i in ((points, images), scarce[1:])
    ]
    np.testing.assert_allclose(found[0].profile.cpu(), found[1].profile.cpu(), rtol=CARRIED)
    assert packs.eval_chunk(arch, "softplus", split, 75, 256) is None  # 75 seeds fit
