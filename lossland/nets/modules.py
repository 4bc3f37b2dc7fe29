"""The paper's four nets (docs/decisions.md#architectures), their losses and flat weight vectors.

Which module and loss an arch name stands for is the registry's word (lossland.nets.archs,
conf/arch/*.yaml). The flat vector is `model.parameters()` concatenated in module order: the
layout of the authors' published [n, N_prm] float32 .npy weight files.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn.utils import parameters_to_vector, vector_to_parameters

from lossland.core.config import Loss
from lossland.core.errors import LosslandError
from lossland.nets import archs

ACTIVATIONS = {"softplus": nn.Softplus, "relu": nn.ReLU}
LSTM_PERMUTATION_SEED = 1234


def activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise LosslandError(f"unknown activation {name!r}: choose one of {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


def lstm_permutation() -> torch.Tensor:
    """The fixed pixel permutation of the sequential-MNIST LSTM (Le et al. 2015)."""
    return torch.randperm(784, generator=torch.Generator().manual_seed(LSTM_PERMUTATION_SEED))


class FCP(nn.Sequential):
    """Fully connected perceptron: 784-50-50-10, no biases."""

    def __init__(self, act: str = "softplus") -> None:
        super().__init__(
            nn.Flatten(),
            nn.Linear(784, 50, bias=False),
            activation(act),
            nn.Linear(50, 50, bias=False),
            activation(act),
            nn.Linear(50, 10, bias=False),
        )


class LeNet(nn.Sequential):
    """LeNet-5 with average pooling and biases."""

    def __init__(self, act: str = "softplus") -> None:
        super().__init__(
            nn.Conv2d(1, 6, 5, padding=2),
            activation(act),
            nn.AvgPool2d(2),
            nn.Conv2d(6, 16, 5),
            activation(act),
            nn.AvgPool2d(2),
            nn.Flatten(),
            nn.Linear(400, 120),
            activation(act),
            nn.Linear(120, 84),
            activation(act),
            nn.Linear(84, 10),
        )


class PixelLSTM(nn.Module):
    """Permuted-pixel LSTM: 28 steps of 28 features, hidden 48, last hidden state -> 10 classes."""

    def __init__(self, act: str = "softplus") -> None:
        super().__init__()  # `act` is accepted for a uniform signature; the LSTM has its own gates
        self.register_buffer("permutation", lstm_permutation(), persistent=False)
        self.lstm = nn.LSTM(28, 48, batch_first=True)
        self.head = nn.Linear(48, 10, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        seq = x.flatten(1)[:, self.permutation].reshape(-1, 28, 28)
        _, (h, _) = self.lstm(seq)
        return self.head(h[-1])


class AutoEncoder(nn.Sequential):
    """784-32-32-32-784 autoencoder, no biases, sigmoid output."""

    def __init__(self, act: str = "softplus") -> None:
        super().__init__(
            nn.Flatten(),
            nn.Linear(784, 32, bias=False),
            activation(act),
            nn.Linear(32, 32, bias=False),
            activation(act),
            nn.Linear(32, 32, bias=False),
            activation(act),
            nn.Linear(32, 784, bias=False),
            nn.Sigmoid(),
        )


LOSSES = {  # (outputs, images, labels) -> the mean loss
    Loss.cross_entropy: lambda out, x, y: nn.functional.cross_entropy(out, y),
    Loss.mse: lambda out, x, y: nn.functional.mse_loss(out, x.flatten(1)),
}


def build_model(arch: str, act: str = "softplus") -> nn.Module:
    """A freshly initialised net (torch's default init, from the global RNG)."""
    return archs.get(arch).module(act=act)


def is_classifier(arch: str) -> bool:
    return archs.get(arch).is_classifier


def loss_from_outputs(
    arch: str, out: torch.Tensor, x: torch.Tensor, y: torch.Tensor
) -> torch.Tensor:
    """The arch's mean loss: cross-entropy (classifiers) or squared reconstruction error."""
    return LOSSES[archs.get(arch).loss](out, x, y)


def batch_loss(model: nn.Module, arch: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """(images, labels) -> the model's mean loss on them: what a trainer steps on."""
    return lambda x, y: loss_from_outputs(arch, model(x), x, y)


def get_flat(model: nn.Module) -> torch.Tensor:
    return parameters_to_vector(model.parameters()).detach()


def set_flat(model: nn.Module, w: torch.Tensor) -> None:
    """The model's parameters become a copy of w: views of w itself would alias it, and a
    checkpoint of a view saves its whole storage (a pack's row: all k seeds' weights)."""
    n = sum(p.numel() for p in model.parameters())
    if w.ndim != 1 or w.numel() != n:
        raise LosslandError(f"weight vector has shape {tuple(w.shape)}, the model needs [{n}]")
    with torch.no_grad():
        vector_to_parameters(w.to(next(model.parameters()), copy=True), model.parameters())


@torch.no_grad()
def evaluate(
    model: nn.Module, arch: str, x: torch.Tensor, y: torch.Tensor, batch_size: int = 10_000
) -> dict[str, float]:
    """Loss (and accuracy for classifiers) over a whole split, in chunks to bound memory."""
    loss_sum, correct = 0.0, 0
    for i in range(0, len(y), batch_size):
        xb, yb = x[i : i + batch_size], y[i : i + batch_size]
        out = model(xb)
        loss_sum += float(loss_from_outputs(arch, out, xb, yb)) * len(yb)
        if is_classifier(arch):
            correct += int((out.argmax(1) == yb).sum())
    result = {"loss": loss_sum / len(y)}
    if is_classifier(arch):
        result["accuracy"] = correct / len(y)
    return result


def load_weight_file(path: str | Path, arch: str) -> np.ndarray:
    """Read an [n, N_prm] float32 .npy file of weight vectors; bad files get one clear line."""
    n_prm = archs.get(arch).n_prm
    try:
        w = np.load(path, allow_pickle=False)
    except FileNotFoundError as e:
        raise LosslandError(f"weights file {path} does not exist") from e
    except (ValueError, OSError, EOFError) as e:
        raise LosslandError(
            f"{path} is not a .npy array file: save one [n, {n_prm}] float32 array with np.save"
        ) from e
    if not isinstance(w, np.ndarray):
        raise LosslandError(
            f"{path} holds several arrays: save one [n, {n_prm}] array with np.save"
        )
    if w.dtype != np.float32:
        raise LosslandError(
            f"{path} has dtype {w.dtype}, expected float32: convert with w.astype(np.float32)"
        )
    if w.ndim == 1 and w.shape[0] == n_prm:
        w = w[None, :]
    if w.ndim != 2 or w.shape[1] != n_prm:
        raise LosslandError(
            f"{path} has shape {list(w.shape)}, expected [n, {n_prm}] for arch {arch}: "
            "is it the right arch?"
        )
    return w
