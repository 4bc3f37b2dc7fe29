"""The study, declared once: its nets, optimizers, solution sets, landscapes and comparisons.

A study is an entry of the `study` config group (conf/study/<name>.yaml, schema
lossland.core.config.StudyConfig): `python -m lossland.paths study=optimizers ...`, and
`python analysis/aggregate.py study=optimizers`. Everything else is derived here, so a study
with more optimizers is a config edit:

- sets: one per optimizer and weight vector, named `<optimizer label>-<weight label>`
  (lbfgs -> `bfgs-train` from w_train, `bfgs-test` from w_test);
- landscapes: the sets each landscape scores (paper: train scores all, test the test sets);
- height tests: per landscape, per weight label scored there, per contrast (a pair of
  optimizers) the two sets of that label;
- weight-space comparisons (Fig. 5/6, S3/S4): per named comparison and contrast, the first
  optimizer's set of label `a` against the second's of label `b`;
- Table S1's sets and Fig. 2's representative runs.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from lossland.core.conf import CONF_DIR
from lossland.core.config import StudyConfig
from lossland.core.errors import LosslandError

DEFAULT = "paper"


@dataclass(frozen=True)
class SolutionSetSpec:
    """One solution set: the `n_select` best runs of `opt`, their `which` vectors."""

    name: str  # e.g. bfgs-train
    opt: str  # the opt config group's name: runs under train/<arch>/<opt>/
    which: str  # w_train | w_test
    kind: str  # the weight vector's label: train | test
    title: str  # e.g. "BFGS train"
    color: str


@dataclass(frozen=True)
class Comparison:
    """Two sets of one arch compared (by path height on a landscape, or in weight space)."""

    name: str  # the comparison's name (weight space: main | supp; heights: the landscape)
    a: str  # set name, the contrast's first optimizer
    b: str  # set name, its second
    first: bool  # of the study's first contrast (the paper's figures keep their plain keys)


class Study:
    """A study's declaration (StudyConfig) and everything derived from it."""

    def __init__(self, cfg: DictConfig | dict[str, Any]) -> None:
        schema = OmegaConf.structured(StudyConfig)
        c = OmegaConf.merge(schema, cfg)
        self.key = json.dumps(OmegaConf.to_container(c, resolve=True), sort_keys=True)
        self.name: str = c.name
        self.nets: tuple[str, ...] = tuple(c.nets)
        self.net_titles: dict[str, str] = dict(c.net_titles)
        self.optimizers = {o.opt: o for o in c.optimizers}
        self.labels = {o.opt: o.label for o in c.optimizers}
        self.n_select: int = c.n_select
        weights = {w.label: w.file for w in c.weights}
        self.sets: dict[str, SolutionSetSpec] = {}
        for o in c.optimizers:
            for kind, which in weights.items():
                name = f"{o.label}-{kind}"
                color = o.set_colors.get(kind, o.color)
                title = f"{o.set_title or o.label} {kind}"
                self.sets[name] = SolutionSetSpec(name, o.opt, which, kind, title, color)
        self.landscapes: dict[str, tuple[str, ...]] = {
            land: tuple(n for n, s in self.sets.items() if s.kind in kinds)
            for land, kinds in c.landscapes.items()
        }
        pairs = [tuple(p) for p in c.contrasts] or list(itertools.combinations(self.optimizers, 2))
        for p in pairs:
            unknown = [o for o in p if o not in self.optimizers]
            if len(p) != 2 or unknown:
                raise LosslandError(
                    f"study {self.name}: contrast {list(p)} must name two of its optimizers "
                    f"({', '.join(self.optimizers)})"
                )
        self.contrasts: tuple[tuple[str, str], ...] = tuple(pairs)  # type: ignore[arg-type]
        self.height_tests = tuple(
            Comparison(land, self.set_name(a, k), self.set_name(b, k), n == 0)
            for land, kinds in c.landscapes.items()
            for k in kinds
            for n, (a, b) in enumerate(self.contrasts)
        )
        self.weight_comparisons = tuple(
            Comparison(w.name, self.set_name(a, w.a), self.set_name(b, w.b), n == 0)
            for w in c.weight_comparisons
            for n, (a, b) in enumerate(self.contrasts)
        )
        self.figures = {w.name: tuple(w.figures) for w in c.weight_comparisons}
        self.table_s1: tuple[str, ...] = tuple(c.table_s1) or tuple(self.sets)
        self.representative: str = c.representative
        self.curves_net: str = c.curves_net or (self.nets[0] if self.nets else "")
        for name in (
            *self.table_s1,
            *(s for t in self.height_tests + self.weight_comparisons for s in (t.a, t.b)),
        ):
            self.check_set(name)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Study) and other.key == self.key

    def __hash__(self) -> int:  # equal declarations are one study (cached set builds)
        return hash(self.key)

    def set_name(self, opt: str, kind: str) -> str:
        return f"{self.labels[opt]}-{kind}"

    def check_set(self, name: str) -> SolutionSetSpec:
        """The set called `name`, or one line naming the study's sets."""
        if name not in self.sets:
            raise LosslandError(
                f"unknown set {name!r} in study {self.name}: choose one of {', '.join(self.sets)}"
            )
        return self.sets[name]

    def net_title(self, arch: str) -> str:
        return self.net_titles.get(arch, arch)

    def opt_title(self, opt: str, full: bool = False) -> str:
        o = self.optimizers.get(opt)
        if o is None:
            return opt
        return (o.full_title or o.title) if full else o.title

    def set_title(self, name: str) -> str:
        s = self.sets.get(name)
        return s.title if s else name

    def set_color(self, name: str) -> str:
        s = self.sets.get(name)
        return s.color if s else "grey"

    def archs(self, found: set[str]) -> list[str]:
        """The study's nets in its order (a net without records yet shows as a dash / an empty
        panel), then any other net with records (sorted)."""
        return list(self.nets) + sorted(found - set(self.nets))

    def partner(self, name: str) -> str | None:
        """The set a set is compared with in its first contrast (probe interp's cross pairs)."""
        s = self.check_set(name)
        for a, b in self.contrasts:
            if a == s.opt:
                return self.set_name(b, s.kind)
        return None


def study_names() -> list[str]:
    return sorted(p.stem for p in (CONF_DIR / "study").glob("*.yaml"))


@lru_cache(maxsize=16)
def load_study(name: str = DEFAULT) -> Study:
    """The study conf/study/<name>.yaml (outside Hydra: the report, tests, notebooks)."""
    path = Path(CONF_DIR) / "study" / f"{name}.yaml"
    if not path.exists():
        raise LosslandError(f"unknown study {name!r}: choose one of {', '.join(study_names())}")
    cfg = OmegaConf.load(path)
    cfg.pop("defaults", None)
    return Study(cfg)


def study_of(cfg: DictConfig | dict | None) -> Study:
    """The study a composed config names (its `study` node), else the default one."""
    node = None if cfg is None else (cfg.get("study") if hasattr(cfg, "get") else None)
    if node is None:
        return load_study()
    if isinstance(node, str):
        return load_study(node)
    return Study(node)
