"""One builder for every registry (conf/opt, conf/finder, conf/probe; conf/arch resolves its
class here too): an entry names its class by `_target_`, and the class holds the entry's facts.

An entry class declares
- `SETTINGS`: the range (lossland.core.ranges) of every setting it takes, which the checks
  before submission (lossland.launch.checks), the generated contract tests and the builder read;
- `JOB_SETTINGS` (optional): keys of the group's node that the job reads itself or that every
  entry of the group is given (a finder's common grid, a preset's `steps` for the straight line),
  range-checked but passed to the class only where its signature takes them;
- what it supports (e.g. an optimizer family's `PACKABLE`), read by the code that needs it.

`build(group, node)` refuses, in one line, a `_target_` that cannot be imported and any key that
the class does not accept (its signature, or its `accepts(node)` where it takes more, as a
torch.optim family takes its optimizer's keywords), and keeps a constructor's own TypeError or
ValueError to one line. `name` and `_target_` are never passed.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from hydra.utils import get_class
from omegaconf import DictConfig, OmegaConf

from lossland.core.errors import LosslandError
from lossland.core.ranges import Spec

FIXED = ("name", "_target_")  # an entry's identity, not a setting of its class


def plain(node: Mapping | DictConfig) -> dict[str, Any]:
    """A node as a plain, resolved dict (an enum as its value's string)."""
    if isinstance(node, DictConfig):
        return dict(OmegaConf.to_container(node, resolve=True, enum_to_str=True))
    return dict(node)


def target(group: str, node: Mapping | DictConfig) -> type:
    """The class an entry names by `_target_`; a missing or unimportable one is one line."""
    name, dotted = node.get("name", "?"), node.get("_target_")
    if not dotted:
        raise LosslandError(f"{group}={name} has no _target_: name its class (conf/{group}/)")
    try:
        return get_class(str(dotted))
    except Exception as e:  # noqa: BLE001 - a wrong _target_ in a yaml: name it, in one line
        cause = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise LosslandError(f"{group}={name}: cannot import its _target_ {dotted} ({cause})") from e


def settings_of(cls: type) -> dict[str, Spec]:
    """The ranges an entry class declares: its own settings and the group's job settings."""
    return {**getattr(cls, "JOB_SETTINGS", {}), **getattr(cls, "SETTINGS", {})}


def accepted(cls: type, node: Mapping | None = None) -> frozenset[str]:
    """The settings `cls` takes as keyword arguments: its `accepts(node)` where it has one,
    else its signature's named parameters."""
    if hasattr(cls, "accepts"):
        return frozenset(cls.accepts(dict(node or {})))
    params = inspect.signature(cls).parameters.values()
    return frozenset(
        p.name for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD, p.POSITIONAL_ONLY)
    )


def unknown_keys(cls: type, node: Mapping) -> list[str]:
    """The node's keys that neither the class nor the group's job takes."""
    takes = accepted(cls, node) | set(getattr(cls, "JOB_SETTINGS", {})) | set(FIXED)
    return sorted(k for k in node if k not in takes)


def out_of_range(group: str, cls: type, node: Mapping) -> list[str]:
    """`group.key=value (must be ...)` for each declared setting of the node out of range."""
    specs = settings_of(cls)
    return [
        f"{group}.{k}={v} (must be {specs[k].text})"
        for k, v in node.items()
        if k in specs and not specs[k].ok(v)
    ]


def build(group: str, node: Mapping | DictConfig) -> Any:
    """The entry's class built with its settings (those it accepts; JOB_SETTINGS it does not
    take are left to the job); a key it does not accept is one LosslandError naming it."""
    settings = plain(node)
    name = settings.get("name", "?")
    cls = target(group, settings)
    takes = accepted(cls, settings)
    unknown = unknown_keys(cls, settings)
    if unknown:
        valid = sorted((takes | set(getattr(cls, "JOB_SETTINGS", {}))) - set(FIXED))
        raise LosslandError(
            f"{group}={name} has no setting {', '.join(unknown)}: use {', '.join(valid)}"
        )
    try:
        return cls(**{k: v for k, v in settings.items() if k in takes and k not in FIXED})
    except (TypeError, ValueError) as e:  # the class's own refusal, kept in one line
        raise LosslandError(f"{group}={name}: {str(e).splitlines()[0]}") from e
