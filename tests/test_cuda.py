"""The CUDA half of the checks (benchmarks/gpu_check.sh runs these on a GPU machine).

Skipped without a GPU. On CUDA, batched and single kernels (and cuDNN's algorithm choice) sum
in other orders and are not bit-reproducible run to run, so everything is compared within
tolerances: 1e-4 relative after a few epochs (fcp and lstm: no convolutions, whose TF32
default would need more).
"""

from __future__ import annotations

import pytest
import torch

from lossland import packs, training
from lossland.data import load_split
from lossland.functional import batched_loss_fn
from lossland.models import build_model, get_flat, loss_from_outputs
from tests.test_packs import Killed, opt_of, pack_of, records_close, tiny

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU")
CUDA = torch.device("cuda") if torch.cuda.is_available() else None
RTOL = 1e-4


@pytest.mark.parametrize("opt", ["sgd", "lbfgs"])
@pytest.mark.parametrize("arch", ["fcp", "lstm"])
def test_pack_equals_the_seeds_alone_on_cuda(mnist_root, tmp_path, arch, opt):
    settings = (f"arch={arch}", *opt_of(opt), "opt.epochs=3", "device=cuda")
    _, runs = pack_of(mnist_root, tmp_path / "pack", *settings, k=3)
    packed = packs.train_pack(runs, CUDA)
    for run, record in zip(runs, packed, strict=True):
        alone = tiny(mnist_root, tmp_path / "alone", *settings, f"seed={run.seed}")
        expected = training.train_one(alone, training.run_dir(alone))
        assert record["device"] == expected["device"] == "cuda"
        records_close(expected, record, rtol=RTOL)


@pytest.mark.parametrize("arch", ["fcp", "lenet", "lstm", "ae"])
def test_batched_path_loss_equals_the_loop_on_cuda(mnist_root, arch):
    split = load_split(mnist_root, "train", CUDA, limit=500)
    torch.manual_seed(0)
    models = [build_model(arch).to(CUDA) for _ in range(4)]
    w = torch.stack([get_flat(m) for m in models])
    with torch.no_grad():
        batched = batched_loss_fn(arch, "softplus", split.x, split.y, chunk=200)(w)
        loop = [loss_from_outputs(arch, m(split.x), split.x, split.y) for m in models]
    torch.testing.assert_close(batched, torch.stack(loop), rtol=1e-3, atol=1e-6)


def test_killed_pack_resumes_on_cuda(mnist_root, tmp_path, monkeypatch):
    _, whole = pack_of(mnist_root, tmp_path / "whole", "device=cuda")
    _, broken = pack_of(mnist_root, tmp_path / "broken", "device=cuda")
    expected = packs.train_pack(whole, CUDA)
    record_epochs = packs.record_epochs

    def dying(pack, which):
        if pack.members[0].state.epoch == 5:
            raise Killed
        record_epochs(pack, which)

    monkeypatch.setattr(packs, "record_epochs", dying)
    with pytest.raises(Killed):
        packs.train_pack(broken, CUDA)
    monkeypatch.setattr(packs, "record_epochs", record_epochs)
    for a, b in zip(expected, packs.train_pack(broken, CUDA), strict=True):
        records_close(a, b, rtol=RTOL)
