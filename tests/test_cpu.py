"""cpu.keep_freed_memory: large tensors come from glibc's heap, checked by glibc's own count
of mapped bytes (mallinfo2.hblkhd), not by timing."""

from __future__ import annotations

import ctypes
import subprocess
import sys

import pytest
import torch

from lossland.core import cpu
from tests.conftest import REPO


class MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
            "fsmblks", "uordblks", "fordblks", "keepcost",
        )
    ]  # fmt: skip


def mapped_bytes() -> int:
    """Bytes malloc holds in mmapped blocks (glibc >= 2.33)."""
    mallinfo2 = ctypes.CDLL("libc.so.6").mallinfo2
    mallinfo2.restype = MallInfo2
    return mallinfo2().hblkhd


def newly_mapped(n_bytes: int) -> int:
    before = mapped_bytes()
    tensor = torch.empty(n_bytes // 4)
    grown = mapped_bytes() - before
    del tensor
    return grown


def test_large_tensors_come_from_the_heap():
    """In a fresh interpreter (an entry point run in this one may have tuned it already)."""
    try:
        ctypes.CDLL("libc.so.6").mallinfo2  # noqa: B018
    except (OSError, AttributeError):
        pytest.skip("not glibc >= 2.33")
    big = 64 * 2**20  # bytes: above glibc's default (and largest dynamic) mmap threshold
    script = (
        "from tests.test_cpu import newly_mapped; from lossland.core import cpu; "
        f"print(newly_mapped({big}), cpu.keep_freed_memory(), newly_mapped({big}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True
    )
    default, tuned, after = done.stdout.split()
    assert int(default) >= big  # glibc's default: a fresh mapping per large tensor
    assert tuned == "True"
    assert int(after) < big  # tuned: from the heap


def test_entry_points_tune(monkeypatch):
    from lossland.launch import cli

    calls = []
    monkeypatch.setattr(cpu, "keep_freed_memory", lambda: calls.append("memory") or True)
    monkeypatch.setattr(cpu, "flush_denormals", lambda: calls.append("denormals") or True)
    assert cli.run_reporting_errors(lambda: 7) == 7
    assert sorted(calls) == ["denormals", "memory"]
