"""The numerics policy (docs/decisions.md#numerics), set at run time by `apply`.

torch's defaults differ by device and backend: this build runs cuDNN convolutions and RNNs in
TF32 (10-bit mantissa) unless told otherwise, while L-BFGS-GSS runs go below 1e-8 in loss and
the Hessian probes resolve small eigenvalues. So every job sets the policy itself instead of
inheriting it: float32 (IEEE) for every matmul, convolution and RNN on CUDA; TF32 only where a
job asks for it explicitly (`tf32=true`, path finding only, off by default). The CPU has no
TF32 (its matmuls are IEEE float32 already), so `apply` changes nothing there.

What a job ran under goes into its record (`Numerics.record`), and solution sets never mix
records made under different numerics (lossland.study.sets).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

IEEE, TF32 = "ieee", "tf32"


@dataclass(frozen=True)
class Numerics:
    """Where and in what precision a result was computed: part of its identity."""

    device: str = "cpu"  # the device type: cpu | cuda
    dtype: str = "float32"
    tf32: bool = False  # TF32 matmuls / convolutions / RNNs (CUDA only)

    def record(self) -> dict[str, str | bool]:
        return asdict(self)

    def label(self) -> str:
        return f"{self.device}/{self.dtype}" + ("/tf32" if self.tf32 else "")


def apply(device: torch.device, dtype: torch.dtype = torch.float32, tf32: bool = False) -> Numerics:
    """Set the policy for the jobs that follow in this process; returns what it set.

    Only torch's new precision API is used (mixing it with `allow_tf32` is an error in torch
    >= 2.9). The flags are process-wide: every entry point calls this (via
    `device.resolve_device`), so a TF32 path job never leaks into the next job."""
    tf32 = bool(tf32) and device.type == "cuda"
    precision = TF32 if tf32 else IEEE
    backends = torch.backends
    backends.cuda.matmul.fp32_precision = precision
    backends.cudnn.conv.fp32_precision = precision
    backends.cudnn.rnn.fp32_precision = precision
    return in_force(device, dtype)


def flags() -> dict[str, str]:
    """The precision flags now in force."""
    backends = torch.backends
    return {
        "matmul": backends.cuda.matmul.fp32_precision,
        "conv": backends.cudnn.conv.fp32_precision,
        "rnn": backends.cudnn.rnn.fp32_precision,
    }


def in_force(device: torch.device, dtype: torch.dtype | str = torch.float32) -> Numerics:
    """What a job on `device` runs under now: what its record says."""
    tf32 = device.type == "cuda" and TF32 in flags().values()
    return Numerics(device.type, str(dtype).removeprefix("torch."), tf32)


def of_record(record: dict) -> Numerics:
    """A record's numerics; records made before they were recorded were all CPU float32 runs
    without TF32 (the device they name, float64 where their config says so)."""
    saved = record.get("numerics")
    if isinstance(saved, dict):
        return Numerics(**saved)
    config = record.get("config") or {}
    dtype = str(config.get("precision") or "float32")
    return Numerics(str(record.get("device", "cpu")), dtype, False)
