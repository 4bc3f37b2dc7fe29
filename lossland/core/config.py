"""Structured configs: Hydra checks every override against these, so a typo fails at once.

Each dataclass mirrors one config group under conf/; the YAML files hold the values and
comments that cite the paper, these hold the types and the allowed choices.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, OmegaConf

from lossland.core import identity
from lossland.core.conf import CONF_DIR


class Activation(str, Enum):
    softplus = "softplus"
    relu = "relu"


class StopOn(str, Enum):
    """Early-stopping split for w_test: the paper stops on the test set."""

    test = "test"
    valid = "valid"


class LineSearch(str, Enum):
    """L-BFGS-GSS line search: the spec reading or the authors' notebook's (docs/decisions.md)."""

    spec = "spec"
    authors = "authors"


class Loss(str, Enum):
    """A net's loss: classes (logits vs labels) or the reconstruction of its input (images)."""

    cross_entropy = "cross_entropy"
    mse = "mse"


class Precision(str, Enum):
    """Training dtype: float32 (as the paper's code) or float64 (below float32's resolution)."""

    float32 = "float32"
    float64 = "float64"


@dataclass
class SymmetryGroupConfig:
    """One group of hidden units that permute together (lossland.nets.symmetry)."""

    name: str = MISSING
    size: int = MISSING
    axes: list[str] = field(default_factory=list)  # PARAM[AXIS], PARAM[AXIS]*BLOCK, .../GATES


@dataclass
class ArchConfig:
    """A net registry entry (lossland.nets.archs). Besides name and act, its keys are fixed by the
    entry's name, so they are not part of a record's signature (identity.NON_RESULT_KEYS)."""

    name: str = MISSING  # set by the group file: arch=fcp|lenet|lstm|ae
    act: Activation = Activation.softplus
    _target_: str = MISSING  # the nn.Module class, built as _target_(act=act)
    loss: Loss = Loss.cross_entropy
    n_prm: int = MISSING  # length of the flat weight vector
    batched: str | None = None  # a hand-written batched twin; None: vmap of the module
    # hidden-unit permutations (lossland.nets.symmetry); [] = none; None = not declared
    symmetry: list[SymmetryGroupConfig] | None = None


@dataclass
class MinibatchConfig:
    """A torch.optim optimizer on mini-batches (lossland.train.optimizers.Minibatch); every key but
    _target_, name, optimizer, batch_size and epochs is a keyword of the optimizer."""

    _target_: str = "lossland.train.optimizers.Minibatch"
    name: str = MISSING  # the entry's: its records go to train/<arch>/<name>/
    optimizer: str = "torch.optim.SGD"
    lr: float = MISSING
    batch_size: int = 64
    epochs: int = MISSING


@dataclass
class MomentumConfig(MinibatchConfig):
    momentum: float = MISSING


@dataclass
class AdamWConfig(MinibatchConfig):
    weight_decay: float = MISSING


@dataclass
class LBFGSConfig:
    _target_: str = "lossland.train.optimizers.FullBatchLBFGSGSS"
    name: str = "lbfgs"
    history_size: int = 10
    max_evals: int = 6
    initial_step: float = 1.0
    epochs: int = 1000
    line_search: LineSearch = LineSearch.spec


@dataclass
class DatasetConfig:
    name: str = "mnist"
    root: str = "outputs/data"
    n_train: int | None = None  # None = all 50,000; a small number for quick local runs
    n_eval: int | None = None  # None = whole test/valid split


@dataclass
class TrainConfig:
    arch: ArchConfig = field(default_factory=ArchConfig)
    opt: Any = MISSING
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    seed: int = 0
    device: str = "auto"
    out_dir: str = "outputs"
    stop_on: StopOn = StopOn.test
    checkpoint_every: int = 10
    log_every: int = 10
    seeds_per_task: int = 1  # a task trains seeds seed .. seed + seeds_per_task - 1
    precision: Precision = Precision.float32


class SplitName(str, Enum):
    train = "train"
    valid = "valid"
    test = "test"


@dataclass
class EvaluateConfig:
    arch: ArchConfig = field(default_factory=ArchConfig)
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    weights: str = MISSING
    split: SplitName = SplitName.test
    output: str | None = None
    device: str = "auto"


@dataclass
class AlignConfig:
    """`python -m lossland.align`: a weights file's rows aligned to a reference's."""

    arch: ArchConfig = field(default_factory=ArchConfig)
    weights: str = MISSING
    reference: str = MISSING
    out: str = MISSING
    overwrite: bool = False
    method: str = "weight"
    seed: int = 0


@dataclass
class StudyOptimizer:
    """One optimizer of a study: its runs, the label its sets carry, how the report names it."""

    opt: str = MISSING  # the opt config group's entry (runs under train/<arch>/<opt>/)
    label: str = MISSING  # its sets: <label>-<weight label>, e.g. bfgs-train
    title: str = MISSING  # Table 1 columns, legends (e.g. L-BFGS)
    full_title: str = ""  # Table S1, Fig. 2 (e.g. L-BFGS-GSS); empty: the title
    set_title: str = ""  # its sets' titles: "<set_title> train" (e.g. BFGS); empty: the label
    color: str = "grey"  # Fig. 2 curves; a set's colour where set_colors has none
    set_colors: dict[str, str] = field(default_factory=dict)  # weight label -> its set's colour


@dataclass
class StudyWeights:
    """Which weight vector of a run a set takes, and the label its sets carry."""

    file: str = MISSING  # w_train | w_test (a run's files)
    label: str = MISSING  # train | test


@dataclass
class WeightComparison:
    """A weight-space comparison (Fig. 5 / 6): per contrast (a, b), a's `a` set vs b's `b` set."""

    name: str = MISSING
    a: str = MISSING  # weight label of the first optimizer's set
    b: str = MISSING  # weight label of the second optimizer's set
    figures: list[str] = field(default_factory=list)  # [lengths figure, kPCA figure] keys


@dataclass
class StudyConfig:
    """conf/study/<name>.yaml: the study every stage and the report read (lossland.study.design)."""

    name: str = MISSING
    nets: list[str] = field(default_factory=list)  # in the report's order
    net_titles: dict[str, str] = field(default_factory=dict)
    optimizers: list[StudyOptimizer] = field(default_factory=list)
    weights: list[StudyWeights] = field(default_factory=list)
    n_select: int = 48  # runs of lowest train loss per set (the `n_select` default)
    landscapes: dict[str, list[str]] = field(default_factory=dict)  # -> weight labels scored
    contrasts: list[list[str]] = field(default_factory=list)  # optimizer pairs; [] = all pairs
    weight_comparisons: list[WeightComparison] = field(default_factory=list)
    table_s1: list[str] = field(default_factory=list)  # its sets in column order; [] = all
    representative: str = "train"  # Fig. 2: the median member of each optimizer's <this> set
    curves_net: str = ""  # Fig. 2's net (the others: Fig. S1); empty: the first net


@dataclass
class SetJobConfig:
    """What path and probe jobs share: a shard of one set's (or weights file's) solutions,
    scored on one landscape (lossland.core.records, lossland.study.sets.source_set)."""

    arch: ArchConfig = field(default_factory=ArchConfig)
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    study: StudyConfig = field(default_factory=StudyConfig)
    set: str = "bfgs-train"  # one of the study's sets (lossland.study.design)
    weights: str | None = None  # an [n, N_prm] float32 .npy file instead of a set
    landscape: str = "train"  # train | test: whose loss the job scores
    shard: int = 0  # this job's share of the set's pairs or units: [shard * shard_size, ...)
    n_select: int = 48
    n_runs: int = 75
    allow_partial: bool = False
    train_sig: str | None = None  # which training config's runs (train/<arch>/<opt>/<sig>/)
    device: str = "auto"
    out_dir: str = "outputs"


@dataclass
class PathsConfig(SetJobConfig):
    """`python -m lossland.paths`: paths between a shard of one set's pairs."""

    # conf/finder/<name>.yaml (name, _target_, its settings) + conf/paths.yaml's shared keys;
    # lossland.paths.finders.build_finder names any key the finder does not take
    finder: Any = MISSING
    shard_size: int = 300
    n_pairs: int = 300
    pair_seed: int = 0
    align: str = "none"  # none | weight: each pair's second endpoint aligned to its first
    tf32: bool = False  # TF32 path finding on CUDA (docs/decisions.md#numerics); off: IEEE fp32


def config_groups(*groups: str) -> str:
    """`group: option, ...` per named group of conf/ (a command's --help lists only the groups
    it takes, not every group under conf/)."""
    lines = []
    for group in groups:
        names = sorted(p.stem for p in (Path(CONF_DIR) / group).glob("*.yaml"))
        lines.append(f"{group}: {', '.join(names)}")
    return "\n".join(lines)


def register_configs() -> None:
    """Put the schemas where conf/*.yaml find them (as `/schema/<group>/<name>`)."""
    identity.register_resolver()  # ${sig:train} / ${sig:paths} in the task directory names
    if not OmegaConf.has_resolver("groups"):
        OmegaConf.register_new_resolver("groups", config_groups)  # a command's --help
    cs = ConfigStore.instance()
    cs.store(name="train_schema", node=TrainConfig)
    cs.store(name="evaluate_schema", node=EvaluateConfig)
    cs.store(name="align_schema", node=AlignConfig)
    cs.store(name="paths_schema", node=PathsConfig)
    cs.store(name="probe_schema", node=ProbeJobConfig)
    cs.store(group="schema/arch", name="arch", node=ArchConfig)
    cs.store(group="schema/opt", name="minibatch", node=MinibatchConfig)
    cs.store(group="schema/opt", name="momentum", node=MomentumConfig)
    cs.store(group="schema/opt", name="adamw", node=AdamWConfig)
    cs.store(group="schema/opt", name="lbfgs", node=LBFGSConfig)
    cs.store(group="schema/dataset", name="mnist", node=DatasetConfig)
    cs.store(group="schema/study", name="study", node=StudyConfig)


@dataclass
class ProbeJobConfig(SetJobConfig):
    """`python -m lossland.probes`: one probe on a shard of one set's (or file's) solutions."""

    probe: Any = MISSING  # conf/probe/<name>.yaml: name, _target_ and the probe's settings
    shard_size: int = 48
    image_chunk: int | None = 5000


def compose(config_name: str, overrides: Sequence[str] = (), hydra: bool = False) -> Any:
    """The config a command line would compose (e.g. `compose("paths", ["arch=ae"])`), without
    running Hydra's job machinery; `hydra=True` keeps Hydra's node (its run and sweep dirs)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    register_configs()
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        return hydra_compose(config_name, overrides=list(overrides), return_hydra_config=hydra)
