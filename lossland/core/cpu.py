"""CPU settings every entry point applies (`tune`): they change speed, never a result."""

from __future__ import annotations

import ctypes

import torch

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters (malloc.h)


def tune() -> None:
    flush_denormals()
    keep_freed_memory()


def flush_denormals() -> bool:
    """Subnormal floats to zero: near a deep minimum CPU arithmetic on them is up to 10x slower,
    and they are far below the resolution of any loss or weight we record
    (tests/test_denormals.py: training, path finding and evaluation results unchanged).
    False where the CPU cannot (then nothing changes)."""
    return torch.set_flush_denormal(True)


def keep_freed_memory() -> bool:
    """glibc's malloc serves large blocks from its heap and keeps what torch frees, instead of
    mapping fresh pages per tensor and unmapping them after: a fresh page costs a page fault per
    4 KiB, and a path step allocates and frees tens of MB per point. Measured: the LSTM's
    per-point path step 1.9 s -> 1.2 s (docs/speed.md). The process then keeps its peak memory
    until it ends. False where the C library is not glibc (then nothing changes)."""
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, 2**30)) and bool(mallopt(M_TRIM_THRESHOLD, 2**31 - 1))
