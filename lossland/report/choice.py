"""Which group of records a table or figure takes when records were made under different settings.

Records of one stage made under different result-relevant settings live in sibling directories
(`.../<sig>/`) and are never pooled. The report keeps the group whose settings are the study's
defaults (conf/<stage>.yaml and its config groups' yaml), or the settings the user names
(`prefer=["finder.n_points=2"]`), counted over the settings in which the groups differ: the
group with the fewest of them off the reference wins. Never the larger group, never the hash
order: when two groups are equally far off, none is kept and every one is named with the fix.
Each group left out is named (where, its distinguishing settings, its record count, why).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import yaml
from omegaconf import OmegaConf

from lossland.core.conf import CONF_DIR
from lossland.core.errors import LosslandError
from lossland.core.identity import DIR_KEYS, flat, result_config, without


@dataclass(frozen=True)
class Group:
    """One directory signature's records: where they are, their config, how many."""

    sig: str
    where: str
    config: dict
    count: int


def _yaml(path: str) -> dict:
    """A conf yaml as a plain dict, without its defaults list (interpolations left as text)."""
    cfg = OmegaConf.to_container(OmegaConf.load(CONF_DIR / path), resolve=False)
    cfg.pop("defaults", None)
    cfg.pop("hydra", None)
    return cfg


@lru_cache(maxsize=64)
def _reference(stage: str, entries: tuple[tuple[str, str], ...], prefer: tuple[str, ...]) -> dict:
    cfg = _yaml(f"{stage}.yaml")
    cfg["dataset"] = _yaml("dataset/mnist.yaml")
    for group, name in entries:
        path = CONF_DIR / group / f"{name}.yaml"
        entry = _yaml(f"{group}/{name}.yaml") if path.exists() else {}
        cfg[group] = OmegaConf.to_container(
            OmegaConf.merge(cfg.get(group) or {}, entry), resolve=False
        )
    tuned = CONF_DIR / "tuned" / f"{dict(entries).get('arch')}_{dict(entries).get('opt')}.yaml"
    if stage == "train" and tuned.exists():  # a net's own setting of an optimizer (train.yaml)
        cfg = OmegaConf.to_container(OmegaConf.merge(cfg, _yaml(f"tuned/{tuned.name}")))
    for item in prefer:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise LosslandError(f"prefer={item!r}: write KEY=VALUE, e.g. finder.n_points=2")
        node = cfg
        *heads, last = key.split(".")
        for head in heads:
            node = node.setdefault(head, {})
        node[last] = yaml.safe_load(value)
    out = flat(result_config(cfg))
    return {k: v for k, v in out.items() if not (isinstance(v, str) and "${" in v)}


def reference(stage: str, entries: dict[str, str], prefer: Sequence[str] = ()) -> dict[str, Any]:
    """The flat result-relevant default settings of `stage` (train, paths, probe) with its
    config groups' entries `entries` (e.g. {"finder": "fourier"}), and the user's `prefer`."""
    return _reference(stage, tuple(sorted(entries.items())), tuple(prefer))


def choose(
    groups: list[Group], ref: dict[str, Any], kind: str
) -> tuple[Group | None, list[tuple[Group, str]]]:
    """The group to report (None when two are equally close to `ref`) and each group left out,
    with one line saying why. `kind` (train, paths, probe): the keys its directories name
    (set, landscape, ...) are no setting of a group."""
    if len(groups) < 2:
        return (groups[0] if groups else None), []
    flats = {g.sig: flat(without(result_config(g.config), DIR_KEYS[kind])) for g in groups}
    keys = sorted({k for f in flats.values() for k in f})
    differ = [k for k in keys if len({repr(f.get(k)) for f in flats.values()}) > 1]

    def settings(g: Group) -> str:
        return ", ".join(f"{k}={flats[g.sig].get(k)}" for k in differ) or "no setting differs"

    off = {
        g.sig: [k for k in differ if flats[g.sig].get(k) != ref.get(k, object())] for g in groups
    }
    best = min(len(v) for v in off.values())
    winners = [g for g in groups if len(off[g.sig]) == best]
    if len(winners) > 1:
        example = f"{differ[0]}={flats[winners[0].sig].get(differ[0])}" if differ else "KEY=VALUE"
        why = (
            f"{len(winners)} groups are equally close to the defaults, none reported: name the "
            f"settings to report with prefer=KEY=VALUE (e.g. prefer={example})"
        )
        return None, [
            (g, f"left out {g.count} record(s) with {settings(g)}: {why}") for g in groups
        ]
    kept = winners[0]
    how = "the defaults (or prefer=)" if best == 0 else "closest to the defaults (or prefer=)"
    return kept, [
        (
            g,
            f"left out {g.count} record(s) with {settings(g)}: the report uses {kept.where} "
            f"({settings(kept)}, {how})",
        )
        for g in groups
        if g is not kept
    ]


def scope(set_name: str, study_sets: Collection[str]) -> str:
    """Which records share one config: all of the study's sets (`*`: compared with each other),
    while any other source (a weights file, an aligned set) is a scope of its own."""
    return "*" if set_name in study_sets else set_name
