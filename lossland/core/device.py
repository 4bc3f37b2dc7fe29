"""The device a job runs on, chosen at run time, and the numerics policy that goes with it."""

from __future__ import annotations

import torch

from lossland.core import numerics
from lossland.core.errors import LosslandError


def resolve_device(name: str, tf32: bool = False) -> torch.device:
    """`auto` picks CUDA when present; anything else is passed to torch as it is. Also sets
    the numerics policy for the job (`numerics.apply`: IEEE float32, TF32 only if asked)."""
    if name == "auto":
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        try:
            device = torch.device(name)
        except RuntimeError as e:
            raise LosslandError(f"unknown device {name!r}: use auto, cpu or cuda") from e
    if device.type == "cuda" and not torch.cuda.is_available():
        raise LosslandError("device=cuda asked for, but no GPU is visible: use device=auto or cpu")
    numerics.apply(device, tf32=tf32)
    return device
