"""Declarative checks for notebook parameters (chapter contract, part 3 "Validation").

A chapter declares its parameters once::

    PARAMS = Spec(order=Int(1, 12), lr=Float(0.0, 1.0, low_open=True),
                  mode=Choice("graph", "pynative"), seed=Int(0), results_path=Optional(Str()))

and its validation cell calls ``P = PARAMS.check(globals())``. Every bad value raises
``ValueError("order must be an int in [1, 12], got 20")``; names that papermill injected but the
chapter does not know are reported as well. Nothing is clipped or coerced silently.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

# Names an IPython kernel puts in a notebook's globals; never parameters.
_KERNEL_NAMES = frozenset({"In", "Out", "exit", "quit", "get_ipython", "open"})
_PLAIN_TYPES = (bool, int, float, str, list, tuple, dict, type(None))


class Check:
    """One parameter's rule: ``describe()`` says what is allowed, ``validate`` enforces it."""

    def describe(self) -> str:
        raise NotImplementedError

    def accepts(self, value: Any) -> bool:
        raise NotImplementedError

    def validate(self, name: str, value: Any) -> Any:
        """Return ``value`` unchanged if allowed, else raise a ValueError naming ``name``."""
        if not self.accepts(value):
            raise ValueError(f"{name} must be {self.describe()}, got {value!r}")
        return value


def _interval(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    if low is None and high is None:
        return ""
    if high is None:
        return f" {'>' if low_open else '>='} {low}"
    if low is None:
        return f" {'<' if high_open else '<='} {high}"
    return f" in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"


def _within(x: float, low: float | None, high: float | None, low_open: bool,
            high_open: bool) -> bool:
    if low is not None and (x <= low if low_open else x < low):
        return False
    return not (high is not None and (x >= high if high_open else x > high))


@dataclass(frozen=True)
class Int(Check):
    """An int (not a bool) in ``[low, high]``; either bound may be None."""

    low: int | None = None
    high: int | None = None

    def describe(self) -> str:
        return "an int" + _interval(self.low, self.high, False, False)

    def accepts(self, value: Any) -> bool:
        return (isinstance(value, int) and not isinstance(value, bool)
                and _within(value, self.low, self.high, False, False))


@dataclass(frozen=True)
class Float(Check):
    """A finite real number (ints allowed) between ``low`` and ``high``; bounds may be open."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def describe(self) -> str:
        return "a number" + _interval(self.low, self.high, self.low_open, self.high_open)

    def accepts(self, value: Any) -> bool:
        return (isinstance(value, (int, float)) and not isinstance(value, bool)
                and math.isfinite(value)
                and _within(value, self.low, self.high, self.low_open, self.high_open))


@dataclass(frozen=True, init=False)
class Choice(Check):
    """One of a fixed set of values (compared with ``==`` and the same type)."""

    options: tuple[Any, ...]

    def __init__(self, *options: Any) -> None:
        if not options:
            raise ValueError("Choice needs at least one option")
        object.__setattr__(self, "options", tuple(options))

    def describe(self) -> str:
        return "one of " + ", ".join(repr(o) for o in self.options)

    def accepts(self, value: Any) -> bool:
        return any(type(value) is type(o) and value == o for o in self.options)


@dataclass(frozen=True)
class Bool(Check):
    """True or False (not 0/1, not "yes")."""

    def describe(self) -> str:
        return "True or False"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, bool)


@dataclass(frozen=True)
class Str(Check):
    """A string, optionally non-empty."""

    nonempty: bool = True

    def describe(self) -> str:
        return "a non-empty string" if self.nonempty else "a string"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, str) and (bool(value) or not self.nonempty)


@dataclass(frozen=True)
class Optional(Check):
    """None, or whatever ``inner`` allows."""

    inner: Check

    def describe(self) -> str:
        return f"None or {self.inner.describe()}"

    def accepts(self, value: Any) -> bool:
        return value is None or self.inner.accepts(value)


@dataclass(frozen=True)
class ListOf(Check):
    """A list (or tuple) of ``min_len``..``max_len`` items, each allowed by ``item``."""

    item: Check
    min_len: int = 1
    max_len: int | None = None

    def describe(self) -> str:
        size = f"{self.min_len}+" if self.max_len is None else f"{self.min_len}-{self.max_len}"
        return f"a list of {size} items, each {self.item.describe()}"

    def accepts(self, value: Any) -> bool:
        return (isinstance(value, (list, tuple))
                and len(value) >= self.min_len
                and (self.max_len is None or len(value) <= self.max_len)
                and all(self.item.accepts(v) for v in value))


class Spec:
    """The declared parameters of one notebook, in the order of its parameters cell."""

    def __init__(self, **checks: Check) -> None:
        for name, check in checks.items():
            if not isinstance(check, Check):
                raise TypeError(f"parameter {name!r} needs a Check such as Int(1, 12), "
                                f"got {check!r}")
        self.checks: Mapping[str, Check] = MappingProxyType(dict(checks))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.checks)

    def unknown_problems(self, names: Iterable[str]) -> list[str]:
        """Messages for every name the spec does not declare, with a close match if any."""
        problems = []
        for name in names:
            if name in self.checks:
                continue
            close = difflib.get_close_matches(name, self.names, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            problems.append(f"unknown parameter {name!r} (allowed: {', '.join(self.names)}){hint}")
        return problems

    def check_values(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Validate a partial mapping (as given on a command line) before any kernel starts."""
        problems = self.unknown_problems(values)
        for name, value in values.items():
            if name in self.checks:
                try:
                    self.checks[name].validate(name, value)
                except ValueError as err:
                    problems.append(str(err))
        if problems:
            raise ValueError("; ".join(problems))
        return dict(values)

    def check(self, namespace: Mapping[str, Any]) -> dict[str, Any]:
        """Validate a notebook's globals: every declared name present and allowed, none unknown.

        Call it right after the parameters cell, before defining other plain-data globals:
        any public int/float/str/list/dict/None global that the spec does not name counts as
        an unknown (papermill-injected) parameter.
        """
        missing = [n for n in self.names if n not in namespace]
        problems = [f"parameter {n!r} is missing from the parameters cell" for n in missing]
        extra = [n for n, v in namespace.items()
                 if not n.startswith("_") and n not in _KERNEL_NAMES
                 and isinstance(v, _PLAIN_TYPES)]
        problems += self.unknown_problems(extra)
        values = {n: namespace[n] for n in self.names if n in namespace}
        for name, value in values.items():
            try:
                self.checks[name].validate(name, value)
            except ValueError as err:
                problems.append(str(err))
        if problems:
            raise ValueError("; ".join(problems))
        return values
