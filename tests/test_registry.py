"""Issue 18: one place for each registry entry's facts, one builder for every registry.

Generated from the registries on disk (conf/opt, conf/finder, conf/probe; a new entry is tested
without a new test): each entry builds through lossland.core.registry.build with every key of
its yaml passed to its class unchanged, its class declares the range of every key (SETTINGS,
JOB_SETTINGS) and takes every setting it declares, and each value the declaration says it must
refuse is refused by the checks before submission, in one line that names the key. The builder
itself: an unknown `_target_`, a key the class does not take and a constructor's own refusal are
one line each. `_target_` is not part of a record's identity: changing only it leaves the
signature unchanged (records are found by their entry's name).
"""

from __future__ import annotations

import dataclasses
import functools
from functools import cache

import pytest
import torch
from omegaconf import DictConfig, OmegaConf, open_dict

from lossland.core import config, identity, registry
from lossland.core.conf import CONF_DIR
from lossland.core.config import compose
from lossland.core.errors import LosslandError
from lossland.launch import checks
from lossland.nets import archs
from lossland.paths.finders import MODE, TRAINED, Finder
from lossland.probes import Probe
from lossland.probes import job as probe_job
from lossland.train import optimizers, packs

# group -> (the command whose config holds it, the kind of checks it gets)
GROUPS = {"opt": ("train", "train"), "finder": ("paths", "paths"), "probe": ("probe", "probe")}
ENTRIES = [(g, p.stem) for g in GROUPS for p in sorted((CONF_DIR / g).glob("*.yaml"))]
IDS = [f"{g}={e}" for g, e in ENTRIES]


@cache
def composed(group: str, entry: str) -> DictConfig:
    """The task's config with this entry, as plain (untyped) nodes: a bad value can be set."""
    cfg = compose(GROUPS[group][0], [f"{group}={entry}"])
    return OmegaConf.create(OmegaConf.to_container(cfg, resolve=True, enum_to_str=True))


def node(group: str, entry: str) -> dict:
    return registry.plain(composed(group, entry)[group])


def yaml_keys(group: str, entry: str) -> set[str]:
    own = OmegaConf.load(CONF_DIR / group / f"{entry}.yaml")
    return {k for k in own if k not in ("defaults", *registry.FIXED)}


def test_every_registry_has_entries():
    assert {g for g, _ in ENTRIES} == set(GROUPS)
    assert {e for g, e in ENTRIES if g == "probe"} >= {"hessian", "interp", "slice"}


@pytest.mark.parametrize(("group", "entry"), ENTRIES, ids=IDS)
def test_the_entry_declares_the_range_of_every_key_it_holds(group, entry):
    cls = registry.target(group, node(group, entry))
    declared = registry.settings_of(cls)
    held = set(node(group, entry)) - set(registry.FIXED)
    assert held <= set(declared), f"{cls.__name__} declares no range for {held - set(declared)}"
    assert yaml_keys(group, entry) <= set(cls.SETTINGS) | held
    takes = registry.accepted(cls, node(group, entry))
    assert held <= takes | set(getattr(cls, "JOB_SETTINGS", {}))
    if not hasattr(cls, "accepts"):  # a declared setting is an argument of the class
        assert set(cls.SETTINGS) <= takes
    checks.check_values(composed(group, entry), GROUPS[group][1])  # the shipped values pass


@pytest.mark.parametrize(("group", "entry"), ENTRIES, ids=IDS)
def test_the_entry_builds_with_every_setting_passed_unchanged(group, entry, monkeypatch):
    settings = node(group, entry)
    cls = registry.target(group, settings)
    built = registry.build(group, settings)
    assert type(built) is cls
    base = {"opt": object, "finder": Finder, "probe": Probe}[group]
    assert isinstance(built, base)
    passed: dict = {}

    @functools.wraps(cls.__init__)  # its signature kept: the builder checks against it
    def spy(self, **kw):
        passed.update(kw)

    takes = registry.accepted(cls, settings)
    monkeypatch.setattr(cls, "__init__", spy)
    registry.build(group, settings)
    assert passed == {k: v for k, v in settings.items() if k in takes and k != "name"}
    assert set(passed) >= yaml_keys(group, entry)  # nothing of the yaml is dropped


CASES = [
    (group, entry, key, bad)
    for group, entry in ENTRIES
    for key, spec in registry.settings_of(registry.target(group, node(group, entry))).items()
    if key in node(group, entry)
    for bad in spec.bad()
]


@pytest.mark.parametrize(
    ("group", "entry", "key", "bad"), CASES, ids=[f"{g}={e}-{k}={b}" for g, e, k, b in CASES]
)
def test_every_out_of_range_value_is_refused_in_one_line(group, entry, key, bad):
    cfg = composed(group, entry).copy()
    with open_dict(cfg):
        cfg[group][key] = bad
    with pytest.raises(LosslandError) as e:
        checks.check_values(cfg, GROUPS[group][1])
    assert "\n" not in str(e.value) and f"{group}.{key}={bad} (must be " in str(e.value)


@pytest.mark.parametrize("entry", [e for g, e in ENTRIES if g == "probe"])
def test_a_probe_job_refuses_an_out_of_range_setting_before_it_runs(entry, tmp_path):
    """Before any set is read: there is none in the empty out_dir, and nothing is written."""
    key, spec = next(iter(registry.target("probe", node("probe", entry)).SETTINGS.items()))
    cfg = composed("probe", entry).copy()
    with open_dict(cfg):
        cfg.probe[key], cfg.out_dir = spec.bad()[0], str(tmp_path)
    with pytest.raises(LosslandError, match=rf"^bad value: probe\.{key}=") as e:
        probe_job.plan(cfg)
    assert "\n" not in str(e.value) and not any(tmp_path.iterdir())


@pytest.mark.parametrize("group", list(GROUPS))
def test_a_key_the_class_does_not_take_is_one_line(group):
    entry = next(e for g, e in ENTRIES if g == group)
    with pytest.raises(LosslandError, match=f"^{group}={entry} has no setting nosuch: use ") as e:
        registry.build(group, node(group, entry) | {"nosuch": 1})
    assert "\n" not in str(e.value)
    cfg = composed(group, entry).copy()
    with open_dict(cfg):
        cfg[group].nosuch = 1
    with pytest.raises(LosslandError, match=rf"{group}\.nosuch=1 \(not a setting of {group} "):
        checks.check_values(cfg, GROUPS[group][1])


def test_an_unknown_target_and_a_constructor_refusal_are_one_line():
    with pytest.raises(LosslandError, match=r"^probe=x: cannot import its _target_ no\.such\.C "):
        registry.build("probe", {"name": "x", "_target_": "no.such.C"})
    with pytest.raises(LosslandError, match="^opt=y has no _target_"):
        registry.build("opt", {"name": "y"})
    with pytest.raises(LosslandError, match=r"^probe=p: k must be >= 0$"):
        registry.build("probe", {"name": "p", "_target_": f"{__name__}.Picky", "k": -1})
    # a class's own LosslandError is its one line already
    with pytest.raises(LosslandError, match=r"^interp: probe\.n_alpha=31 \(the grid"):
        registry.build("probe", node("probe", "interp") | {"alpha_min": 0.5, "alpha_max": 0.2})


class Picky:
    """A class that refuses a value itself, in two lines."""

    def __init__(self, k: int = 1) -> None:
        if k < 0:
            raise ValueError("k must be >= 0\n(a second line)")


def test_a_minibatch_entry_takes_its_optimizers_keywords_and_no_other():
    nesterov = node("opt", "momentum") | {"nesterov": True}
    assert optimizers.trainer(OmegaConf.create(nesterov)).settings["nesterov"] is True
    with pytest.raises(LosslandError, match="has no setting betas: "):  # SGD has no betas
        registry.build("opt", node("opt", "momentum") | {"betas": [0.9, 0.99]})
    assert "betas" in registry.accepted(optimizers.Minibatch, node("opt", "adamw"))


def test_packs_read_what_the_family_supports(monkeypatch):
    """The pack asks the entry's family (PACKABLE, pack_refusal), not a list of its own."""
    cfg = compose("train", ["opt=sgd"])
    assert packs.why_sequential(cfg, torch.device("cuda")) is None
    monkeypatch.setattr(optimizers.Minibatch, "PACKABLE", False)
    assert "is not packed" in packs.why_sequential(cfg, torch.device("cuda"))


def test_an_arch_class_that_takes_no_act_is_one_line():
    entry = OmegaConf.load(CONF_DIR / "arch" / "fcp.yaml")
    entry = {k: v for k, v in entry.items() if k != "defaults"}
    with pytest.raises(LosslandError, match="takes no act argument"):
        archs.register(entry | {"name": "bad", "_target_": "torch.nn.Identity"})
    with pytest.raises(LosslandError, match="cannot import its _target_"):
        archs.register(entry | {"name": "bad", "_target_": "no.such.Net"})


SIGNED = [  # (command, group, entry): a registry whose `_target_` is a non-result key
    ("train", "arch", "fcp"),
    ("train", "opt", "sgd"),
    ("train", "opt", "lbfgs"),
    ("paths", "arch", "lenet"),
    ("paths", "finder", "fourier"),
    ("paths", "finder", "linear"),
]


@pytest.mark.parametrize(("command", "group", "entry"), SIGNED)
def test_changing_only_a_target_leaves_the_signature_unchanged(command, group, entry):
    assert f"{group}._target_" in identity.NON_RESULT_KEYS
    base = identity.plain(compose(command, [f"{group}={entry}"]))
    moved = base | {group: base[group] | {"_target_": "elsewhere.Moved"}}
    assert identity.signature(moved) == identity.signature(base)
    other = base | {group: base[group] | {"name": "other"}}  # the name is identity
    assert identity.signature(other) != identity.signature(base)


@pytest.mark.parametrize(
    ("schema", "family"),
    [
        (config.MinibatchConfig, optimizers.Minibatch),
        (config.MomentumConfig, optimizers.Minibatch),
        (config.AdamWConfig, optimizers.Minibatch),
        (config.LBFGSConfig, optimizers.FullBatchLBFGSGSS),
    ],
)
def test_the_opt_schemas_type_only_what_the_family_declares(schema, family):
    """The schemas (lossland.core.config) give Hydra the types, so a typo fails as the config is
    composed; the ranges stay in the family: every typed key has one."""
    typed = {f.name for f in dataclasses.fields(schema)} - set(registry.FIXED)
    assert typed <= set(family.SETTINGS)
    assert family.__name__ == schema._target_.rsplit(".", 1)[1]


def test_the_shared_finder_keys_are_the_ones_finders_declare():
    """identity.SHARED_KEYS (dropped from the signature where a finder does not take them) are
    the settings a preset gives every finder (Finder.JOB_SETTINGS: TRAINED and MODE)."""
    assert set(identity.SHARED_KEYS) == set(TRAINED) | set(MODE)
    assert set(identity.SHARED_KEYS) <= set(Finder.JOB_SETTINGS)
