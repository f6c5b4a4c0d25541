"""Where every node of the merged configuration came from: file, line and column.

Positions are 1-based. Each mapping entry has two positions: its key (where a reader looks for
"unknown key" or "duplicate") and its value (where a wrong type is). Sequence items have one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from adaptive_deploy.diagnostics import Diagnostic, Severity, YamlPath


class Location(NamedTuple):
    """A position in a configuration file (1-based line and column).

    A named tuple, not a frozen dataclass: the loader makes one per key and value (over
    100,000 at 10,000 deployments) and a tuple is built several times faster."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass
class SourceMap:
    """YAML path → location of the key and of the value.

    `files` maps a top-level key to the file that defined it, so an error about a missing child
    of an empty node still names a file.
    """

    keys: dict[YamlPath, Location] = field(default_factory=dict)
    values: dict[YamlPath, Location] = field(default_factory=dict)
    default_file: str | None = None

    def add(self, path: YamlPath, value: Location, key: Location | None = None) -> None:
        """Record the position of the node at `path` (and of its key, for a mapping entry)."""
        self.values[path] = value
        if key is not None:
            self.keys[path] = key

    def pack(self) -> tuple[Any, ...]:
        """The positions as plain tuples (path, line, column), file names left out: what
        `unpack` rebuilds for the same bytes read under another name (config.loader's reuse
        of an unchanged file's parse)."""
        return (tuple((p, loc.line, loc.column) for p, loc in self.keys.items()),
                tuple((p, loc.line, loc.column) for p, loc in self.values.items()),
                self.default_file is not None)

    @classmethod
    def unpack(cls, packed: tuple[Any, ...], file: str) -> SourceMap:
        """A source map of `file` from `pack()`'s tuples."""
        keys, values, has_default = packed
        return cls({p: Location(file, line, col) for p, line, col in keys},
                   {p: Location(file, line, col) for p, line, col in values},
                   file if has_default else None)

    def find(self, path: YamlPath, *, value: bool = False) -> Location | None:
        """Location of `path` or its nearest recorded ancestor; None when nothing is known.

        `value=False` prefers the key position of a mapping entry, `value=True` the value's.
        """
        p = tuple(path)
        while True:
            if value:
                loc = self.values.get(p) or self.keys.get(p)
            else:
                loc = self.keys.get(p) or self.values.get(p)
            if loc is not None:
                return loc
            if not p:
                return None
            p = p[:-1]

    def locate(
        self, path: YamlPath, *, value: bool = False
    ) -> tuple[str | None, int | None, int | None]:
        """`(file, line, column)` of `path`, or of its nearest existing ancestor."""
        loc = self.find(path, value=value)
        if loc is None:
            return (self.default_file, None, None)
        return (loc.file, loc.line, loc.column)

    def diagnostic(
        self,
        severity: Severity | str,
        code: str,
        message: str,
        path: YamlPath,
        *,
        value: bool = False,
    ) -> Diagnostic:
        """A Diagnostic located at `path` (see `locate`)."""
        file, line, column = self.locate(path, value=value)
        return Diagnostic(Severity(severity), code, message, file, line, column, tuple(path))
