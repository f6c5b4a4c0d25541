"""Render diagnostics as text, JSON or GitHub workflow annotations. Renderers never compute:
they take a list of Diagnostic and return a string.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from adaptive_deploy.diagnostics import Diagnostic, Severity, sorted_diagnostics
from adaptive_deploy.render.escape import text as esc

_RED = "\x1b[31m"
_YELLOW = "\x1b[33m"
_BOLD = "\x1b[1m"
_RESET = "\x1b[0m"


def relative_file(file: str | None, cwd: str | Path | None = None) -> str | None:
    """`file` relative to `cwd` (default: the current directory) when it lies below it."""
    if not file:
        return file
    base = Path(cwd) if cwd is not None else Path.cwd()
    path = Path(file)
    if not path.is_absolute():
        return file
    try:
        return os.fspath(path.relative_to(base))
    except ValueError:
        return file


def _relative(diags: Sequence[Diagnostic], cwd: str | Path | None) -> list[Diagnostic]:
    return [replace(d, file=relative_file(d.file, cwd)) for d in sorted_diagnostics(diags)]


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def summary(diags: Sequence[Diagnostic]) -> str:
    """The final line: `N errors, M warnings` when there are errors, else `Configuration is valid.`"""
    errors = sum(1 for d in diags if d.severity is Severity.ERROR)
    warnings = len(diags) - errors
    if errors:
        return f"{_plural(errors, 'error')}, {_plural(warnings, 'warning')}"
    if warnings:
        return f"Configuration is valid ({_plural(warnings, 'warning')})."
    return "Configuration is valid."


def render_text(
    diags: Sequence[Diagnostic], *, color: bool = False, cwd: str | Path | None = None
) -> str:
    """One `FILE:LINE:COL: error[CODE]: message (yaml.path)` line per diagnostic, then a summary."""
    lines = []
    for d in _relative(diags, cwd):
        line = esc(d.format())
        if color:
            tag = f"{d.severity.value}[{d.code}]"
            hue = _RED if d.is_error else _YELLOW
            line = line.replace(tag, f"{_BOLD}{hue}{tag}{_RESET}", 1)
        lines.append(line)
    lines.append(summary(diags))
    return "\n".join(lines) + "\n"


def render_json(diags: Sequence[Diagnostic], *, cwd: str | Path | None = None) -> str:
    """`{"valid": bool, "diagnostics": [{severity, code, message, file, line, column, path}]}`."""
    items = _relative(diags, cwd)
    doc = {
        "valid": not any(d.is_error for d in items),
        "diagnostics": [d.to_dict() for d in items],
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def _escape_data(text: str) -> str:
    # GitHub workflow command escaping: https://github.com/actions/toolkit (command.ts).
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def render_github(diags: Sequence[Diagnostic], *, cwd: str | Path | None = None) -> str:
    """`::error file=F,line=L,col=C,title=CODE::message` per diagnostic, then a summary line."""
    lines = []
    for d in _relative(diags, cwd):
        props = []
        if d.file:
            props.append(f"file={_escape_property(d.file)}")
        if d.line is not None:
            props.append(f"line={d.line}")
        if d.column is not None:
            props.append(f"col={d.column}")
        props.append(f"title={_escape_property(d.code)}")
        message = d.message + (f" ({d.dotted_path})" if d.path else "")
        lines.append(f"::{d.severity.value} {','.join(props)}::{_escape_data(message)}")
    lines.append(summary(diags))
    return "\n".join(lines) + "\n"


def render_markdown(diags: Sequence[Diagnostic], *, cwd: str | Path | None = None) -> str:
    """The summary in bold, then one list item per diagnostic (the plan comment's style)."""
    from adaptive_deploy.render import gfm
    from adaptive_deploy.render.escape import md_text

    items = [d.to_dict() for d in _relative(diags, cwd)]
    lines = [f"**{md_text(summary(diags))}**", "", *gfm.diagnostics(items)]
    return "\n".join(lines).rstrip("\n") + "\n"
