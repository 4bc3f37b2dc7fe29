"""Declared ranges of settings: each says what a value must be (one line) and, for the generated
tests, a few values it must refuse. Every registry entry (an optimizer family, a finder, a probe)
declares its settings' ranges once, in its class (`SETTINGS`, lossland.core.registry);
lossland.launch.checks applies them before anything runs or is submitted."""

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
    """An integer in [low, high] (high None: no upper bound; null: None allowed too)."""

    low: int
    high: int | None = None
    null: bool = False

    def ok(self, v: Any) -> bool:
        if v is None:
            return self.null
        return _is_int(v) and self.low <= v and (self.high is None or v <= self.high)

    @property
    def text(self) -> str:
        text = f"an integer >= {self.low}" + (f" and <= {self.high:,}" if self.high else "")
        return text + (" (or null)" if self.null else "")

    def bad(self) -> list[Any]:
        return [self.low - 1, 1.5, "x", *([self.high + 1] if self.high is not None else [])]


@dataclass(frozen=True)
class Float:
    """A finite number above `low` (or at it, strict=False; null: None allowed too)."""

    low: float
    strict: bool = True
    null: bool = False

    def ok(self, v: Any) -> bool:
        if v is None:
            return self.null
        return _is_number(v) and (v > self.low if self.strict else v >= self.low)

    @property
    def text(self) -> str:
        text = f"a number {'>' if self.strict else '>='} {self.low:g}"
        return text + (" (or null)" if self.null else "")

    def bad(self) -> list[Any]:
        return [self.low - 1, *([self.low] if self.strict else []), "x"]


@dataclass(frozen=True)
class Below:
    """A finite number in [low, high): e.g. a momentum, which must stay below 1."""

    low: float
    high: float

    def ok(self, v: Any) -> bool:
        return _is_number(v) and self.low <= v < self.high

    @property
    def text(self) -> str:
        return f"a number in [{self.low:g}, {self.high:g})"

    def bad(self) -> list[Any]:
        return [self.low - 1, self.high, "x"]


@dataclass(frozen=True)
class Text:
    """A non-empty string (a dotted class name, a path)."""

    text = "a non-empty string"

    def ok(self, v: Any) -> bool:
        return isinstance(v, str) and v.strip() != ""

    def bad(self) -> list[Any]:
        return ["", 3]


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


Spec = Int | Float | Below | Text | Number | Choice | Bool | IntList
