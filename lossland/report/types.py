"""The report's shared types, at its bottom: what a record, a set, a figure and the report are.

Every stage of the report (records, sets, tidy, figure_specs, page, claims, ...) takes or
returns these, so they live in a module that imports no other report module: any stage can
name `Report` without an import circle.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from lossland.study.design import Study

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@dataclass
class Problem:
    """A file the report could not use, and why (shown in the report, never raised)."""

    path: str
    reason: str


@dataclass
class Records:
    """One kind of record as tables: `table` (one row each), plus what is expected/missing."""

    table: pd.DataFrame
    problems: list[Problem] = field(default_factory=list)
    curves: pd.DataFrame | None = None  # runs only: long table of loss curves
    expected: pd.DataFrame | None = None  # what should exist (runs: arch x opt x seed)
    notes: list[str] = field(default_factory=list)  # how `expected` was inferred
    configs: dict[tuple, dict] = field(default_factory=dict)  # (arch, opt|set, sig) -> config
    # runs only: (arch, opt, sig, seed) -> the optimizer's diagnostics (result.json's lbfgs)
    diagnostics: dict[tuple, dict] = field(default_factory=dict)


@dataclass
class LoadedSet:
    """One set's weight vectors [n, N_prm] and the seeds they came from (best first)."""

    arch: str
    name: str
    weights: np.ndarray
    seeds: list[int]
    hash: str = ""  # the set record's hash as the path and probe jobs compute it ("" unknown)

    @property
    def n_prm(self) -> int:
        return int(self.weights.shape[1])


@dataclass
class FigureSpec:
    """One figure of the page: its key, file, title and caption, and how to draw it; `absent`
    says why it cannot be drawn (and how to make what it needs) when that is known up front."""

    key: str
    file: str
    title: str
    caption: str
    draw: Callable[[], Figure | None]
    absent: str = ""


@dataclass
class Report:
    """What was written, and what the report found (also usable from a notebook)."""

    out_dir: Path
    report_dir: Path
    index: Path
    n_select: int
    study: Study
    archs: list[str]  # the nets reported, in order (the study's, then others with records)
    runs: Records
    paths: Records
    sets: dict[tuple[str, str], LoadedSet]
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    figures: dict[str, Path] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    comparisons: dict[tuple[Any, str], Any] = field(default_factory=dict)  # -> WeightSpace
    specs: list[FigureSpec] = field(default_factory=list)  # the figures drawn

    @property
    def nets(self) -> dict[str, str]:
        """The reported nets, name -> title (the figures' panels)."""
        return {a: self.study.net_title(a) for a in self.archs}
