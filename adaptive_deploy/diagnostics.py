"""Diagnostics: errors and warnings with a source location and a stable code.

Diagnostics are collected and returned, never raised one at a time, so a user sees every
problem in one run. Codes are stable and documented in README.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


YamlPath = tuple[str | int, ...]


@dataclass(frozen=True)
class Diagnostic:
    """One finding. `path` is the YAML path inside the merged configuration."""

    severity: Severity
    code: str
    message: str
    file: str | None = None
    line: int | None = None
    column: int | None = None
    path: YamlPath = field(default_factory=tuple)

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    @property
    def dotted_path(self) -> str:
        return format_path(self.path)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["severity"] = self.severity.value
        d["path"] = self.dotted_path
        return d

    def format(self) -> str:
        """`FILE:LINE:COL: error[CODE]: message (yaml.path)`."""
        loc = ":".join(str(p) for p in (self.file, self.line, self.column) if p is not None)
        prefix = f"{loc}: " if loc else ""
        suffix = f" ({self.dotted_path})" if self.path else ""
        return f"{prefix}{self.severity.value}[{self.code}]: {self.message}{suffix}"


def format_path(path: YamlPath) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def error(code: str, message: str, **where: Any) -> Diagnostic:
    return Diagnostic(Severity.ERROR, code, message, **where)


def warning(code: str, message: str, **where: Any) -> Diagnostic:
    return Diagnostic(Severity.WARNING, code, message, **where)


def has_errors(diags: Iterable[Diagnostic]) -> bool:
    return any(d.is_error for d in diags)


def sort_key(d: Diagnostic) -> tuple[str, int, int, str]:
    return (d.file or "", d.line or 0, d.column or 0, d.code)


def sorted_diagnostics(diags: Sequence[Diagnostic]) -> list[Diagnostic]:
    """Stable order: by file, line, column, code; duplicates removed."""
    seen: set[Diagnostic] = set()
    out = []
    for d in sorted(diags, key=sort_key):
        if d not in seen:
            seen.add(d)
            out.append(d)
    return out
