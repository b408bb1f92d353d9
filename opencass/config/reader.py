"""Strict reading of TOML tables: typed getters that record every problem, unknown keys found.

A ``Table`` wraps one parsed TOML table.  Each getter names the key it reads, checks the
value's type and records a ``Problem`` (file, dotted key, reason) instead of raising, so a whole
file is checked in one pass; ``close()`` then reports every key that was never read as unknown,
with a suggestion when it looks like a misspelling.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypeVar, cast

from opencass.errors import ConfigurationError

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong in the configuration: the file, the dotted key and why."""

    file: str  # relative to the config directory, "/" separated
    key: str  # "" when the problem is the file itself
    reason: str

    def __str__(self) -> str:
        return (
            f"{self.file}: {self.key}: {self.reason}" if self.key else f"{self.file}: {self.reason}"
        )


class ConfigError(ConfigurationError):
    """The configuration cannot be used; ``problems`` lists everything wrong with it."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


# --- reading TOML tables --------------------------------------------------------------------


def _toml_type(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, datetime):
        return "local date-time" if value.tzinfo is None else "offset date-time"
    names = {str: "string", int: "integer", float: "float", date: "date", list: "array"}
    for kind, name in names.items():
        if isinstance(value, kind):
            return name
    return "table" if isinstance(value, dict) else type(value).__name__


_EXPECTED = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "true or false",
    date: "a date (YYYY-MM-DD)",
    datetime: "a local date-time without offset (YYYY-MM-DDTHH:MM:SS)",
    list: "an array",
    dict: "a table",
}


def _is(value: object, kind: type) -> bool:
    if kind in (int, float) and isinstance(value, bool):
        return False
    if kind is float:
        return isinstance(value, int | float)
    if kind is date:
        return isinstance(value, date) and not isinstance(value, datetime)
    if kind is datetime:
        return isinstance(value, datetime) and value.tzinfo is None
    return isinstance(value, kind)


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class Table:
    """A TOML table being read: typed getters that record problems; keys never read are unknown."""

    def __init__(self, problems: list[Problem], file: str, data: dict[str, Any], key: str) -> None:
        self.problems, self.file, self.data, self.prefix = problems, file, data, key
        self.read: set[str] = set()
        self.children: list[Table] = []

    def key(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def add(self, key: str, reason: str) -> None:
        self.problems.append(Problem(self.file, key, reason))

    def problem(self, name: str, reason: str) -> None:
        self.add(self.key(name), reason)

    def _check(self, key: str, value: object, kind: type) -> bool:
        if _is(value, kind):
            return True
        found = f"{_toml_type(value)} {_shown(value)}"
        self.add(key, f"must be {_EXPECTED.get(kind, kind.__name__)}, found {found}")
        return False

    def raw(self, name: str, kind: type, *, required: bool) -> Any:
        self.read.add(name)
        if name not in self.data:
            if required:
                self.problem(name, "missing")
            return None
        value = self.data[name]
        if not self._check(self.key(name), value, kind):
            return None
        return float(value) if kind is float else value

    def req(self, name: str, kind: type[T]) -> T | None:
        return cast("T | None", self.raw(name, kind, required=True))

    def opt(self, name: str, kind: type[T], default: T) -> T:
        value = self.raw(name, kind, required=False)
        return default if value is None else cast(T, value)

    def text(self, name: str) -> str | None:
        """A required string that must not be blank."""
        value = self.req(name, str)
        if value is not None and not value.strip():
            self.problem(name, "must not be empty")
        return value

    def items(self, name: str, kind: type[T], *, required: bool = False) -> list[tuple[str, T]]:
        """The elements of an array, each with its key (``name[i]``); bad elements reported."""
        values = self.raw(name, list, required=required) or []
        keys = (f"{self.key(name)}[{i}]" for i in range(len(values)))
        return [(k, v) for k, v in zip(keys, values, strict=True) if self._check(k, v, kind)]

    def names(self, name: str, allowed: Sequence[str]) -> tuple[str, ...]:
        """An array of names from ``allowed``, each once, in the file's order (an unknown
        name is a problem; an absent array is empty)."""
        out: list[str] = []
        for key, value in self.items(name, str):
            if value not in allowed:
                self.add(key, f"{value!r} is not one of {', '.join(allowed)}")
            elif value not in out:
                out.append(value)
        return tuple(out)

    def table(self, name: str, *, required: bool = False) -> Table:
        data = self.raw(name, dict, required=required) or {}
        child = Table(self.problems, self.file, data, self.key(name))
        self.children.append(child)
        return child

    def tables(self, name: str) -> list[Table]:
        """An array of tables (``[[name]]``)."""
        out = []
        for key, data in self.items(name, dict):
            out.append(Table(self.problems, self.file, data, key))
            self.children.append(out[-1])
        return out

    def close(self) -> None:
        """Report every key that was never read, here and in the tables read from here."""
        for name in self.data:
            if name not in self.read:
                hint = difflib.get_close_matches(name, self.read, n=1)
                self.problem(
                    name, "unknown key" + (f" (did you mean {hint[0]!r}?)" if hint else "")
                )
        for child in self.children:
            child.close()
