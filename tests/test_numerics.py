"""The numerics policy (lossland.core.numerics, docs/decisions.md#numerics): set by every job,
recorded in every record, never mixed in a set, and neutral for every committed record."""

from __future__ import annotations

import json

import pytest
import torch

from lossland.core import identity, numerics
from lossland.core.config import compose
from lossland.core.device import resolve_device
from lossland.core.errors import LosslandError
from lossland.study import sets
from lossland.train import packs
from tests.conftest import REPO

CUDA_TYPE = torch.device("cuda")  # only its type is read: the flags need no GPU to be set


@pytest.fixture(autouse=True)
def restore_flags():
    before = numerics.flags()
    yield
    torch.backends.cuda.matmul.fp32_precision = before["matmul"]
    torch.backends.cudnn.conv.fp32_precision = before["conv"]
    torch.backends.cudnn.rnn.fp32_precision = before["rnn"]


def test_jobs_run_ieee_float32_and_tf32_only_when_asked():
    torch.backends.cudnn.conv.fp32_precision = "tf32"  # this torch build's default
    torch.backends.cudnn.rnn.fp32_precision = "tf32"
    assert numerics.apply(CUDA_TYPE) == numerics.Numerics("cuda", "float32", False)
    assert numerics.flags() == {"matmul": "ieee", "conv": "ieee", "rnn": "ieee"}
    assert numerics.apply(CUDA_TYPE, tf32=True).tf32
    assert set(numerics.flags().values()) == {"tf32"}
    resolve_device("cpu")  # the next job: a TF32 path job never leaks into it
    assert set(numerics.flags().values()) == {"ieee"}
    assert numerics.apply(torch.device("cpu"), tf32=True) == numerics.Numerics()  # no CPU TF32


def test_tf32_is_a_paths_setting_neutral_at_its_default():
    default, asked = compose("paths"), compose("paths", ["tf32=true"])
    assert default.tf32 is False
    assert "tf32" not in identity.result_config(default)
    assert identity.signature(asked) != identity.signature(default)


COMMITTED = sorted(
    p
    for root in ("records", "tests/fixtures")
    for p in (REPO / root).glob("**/*.json")
    if p.name != "pairs.json"
)


def test_every_committed_record_keeps_its_signature():
    """Numerics are not in the signature: every committed record (all CPU float32, made before
    numerics were recorded) still signs to what it says, and reads as cpu/float32."""
    checked = 0
    for path in COMMITTED:
        record = json.loads(path.read_text())
        if not isinstance(record, dict) or "signature" not in record or "config" not in record:
            continue
        if "members" in record:  # a set record signs its set config, not a job's
            continue
        assert identity.signature(record["config"]) == record["signature"], path
        assert numerics.of_record(record).device == "cpu", path
        checked += 1
    assert checked >= 50


def test_committed_runs_still_form_their_set():
    out = REPO / "records" / "fcp-authors"
    runs = sets.select_runs(out, "fcp", "lbfgs", n_select=4, n_runs=1, allow_partial=True)
    assert runs and {numerics.of_record(r).label() for r in runs} == {"cpu/float32"}


def test_a_set_never_mixes_devices():
    old = {"device": "cpu", "config": {"precision": "float32"}}  # before numerics were recorded
    new = {"numerics": numerics.Numerics().record()}
    sets.one_numerics([old, new], "fcp", "sgd")  # the same numerics: pooled
    cuda = {"numerics": numerics.Numerics("cuda").record()}
    with pytest.raises(LosslandError, match=r"different numerics \(1 on cpu/float32, 1 on cuda"):
        sets.one_numerics([old, cuda], "fcp", "sgd")
    tf32 = {"numerics": numerics.Numerics("cuda", tf32=True).record()}
    with pytest.raises(LosslandError, match="cuda/float32/tf32"):
        sets.one_numerics([cuda, tf32], "fcp", "sgd")


def test_a_pack_sets_the_policy_itself(mnist_root, tmp_path):
    """`packs.train_pack` called with a device (not through resolve_device) still runs under
    the policy: the flags a caller left (here this torch build's TF32 default) are reset."""
    from tests.test_packs import pack_of

    torch.backends.cudnn.conv.fp32_precision = "tf32"
    _, runs = pack_of(mnist_root, tmp_path, "opt.epochs=1", k=2)
    records = packs.train_pack(runs, torch.device("cpu"))
    assert numerics.flags() == {"matmul": "ieee", "conv": "ieee", "rnn": "ieee"}
    assert [r["numerics"] for r in records] == [numerics.Numerics().record()] * 2
