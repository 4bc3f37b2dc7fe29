"""Declared ranges of settings: each says what a value must be (one line) and, for the generated
tests, a few values it must refuse. A probe declares its settings' ranges once, in its class
(`Probe.SETTINGS`); lossland.launch.checks applies them before anything runs or is submitted."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


@dataclass(frozen=True)
class Int:
    """An integer in [low, high] (high None: no upper bound)."""

    low: int
    high: int | None = None

    def ok(self, v: Any) -> bool:
        return _is_int(v) and self.low <= v and (self.high is None or v <= self.high)

    @property
    def text(self) -> str:
        return f"an integer >= {self.low}" + (f" and <= {self.high:,}" if self.high else "")

    def bad(self) -> list[Any]:
        return [self.low - 1, 1.5, "x", *([self.high + 1] if self.high is not None else [])]


@dataclass(frozen=True)
class Float:
    """A finite number above `low` (or at it, strict=False)."""

    low: float
    strict: bool = True

    def ok(self, v: Any) -> bool:
        return _is_number(v) and (v > self.low if self.strict else v >= self.low)

    @property
    def text(self) -> str:
        return f"a number {'>' if self.strict else '>='} {self.low:g}"

    def bad(self) -> list[Any]:
        return [self.low - 1, *([self.low] if self.strict else []), "x"]


@dataclass(frozen=True)
class Number:
    """Any finite number."""

    text = "a finite number"

    def ok(self, v: Any) -> bool:
        return _is_number(v)

    def bad(self) -> list[Any]:
        return ["x", float("inf")]


@dataclass(frozen=True)
class Choice:
    """One of `choices` (None among them: null allowed)."""

    choices: tuple[Any, ...]

    def ok(self, v: Any) -> bool:
        return (v is None and None in self.choices) or (isinstance(v, str) and v in self.choices)

    @property
    def text(self) -> str:
        return "one of " + ", ".join("null" if c is None else str(c) for c in self.choices)

    def bad(self) -> list[Any]:
        return ["valid", 3]


@dataclass(frozen=True)
class Bool:
    def ok(self, v: Any) -> bool:
        return isinstance(v, bool)

    text = "true or false"

    def bad(self) -> list[Any]:
        return [2, "x"]


@dataclass(frozen=True)
class IntList:
    """A non-empty list of distinct integers, each >= low."""

    low: int

    def ok(self, v: Any) -> bool:
        items = list(v) if isinstance(v, list | tuple) else None
        return (
            bool(items)
            and all(_is_int(x) and x >= self.low for x in items)
            and (len(set(items)) == len(items))
        )

    @property
    def text(self) -> str:
        return f"a non-empty list of distinct integers >= {self.low}"

    def bad(self) -> list[Any]:
        return [[], [self.low - 1], [self.low, self.low], 5]


Spec = Int | Float | Number | Choice | Bool | IntList
