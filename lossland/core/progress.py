"""Progress for long work: a bar on a terminal, plain log lines in batch logs (Slurm)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")
log = logging.getLogger("lossland")


def on_terminal() -> bool:
    return sys.stderr.isatty()


def progress(items: Iterable[T], total: int, desc: str) -> Iterator[T]:
    """Iterate with a tqdm bar when attached to a terminal, silently otherwise."""
    yield from tqdm(items, total=total, desc=desc, disable=not on_terminal(), leave=False)
