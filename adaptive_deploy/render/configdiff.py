"""Render a config-to-config diff (`ConfigDiff.to_dict()`) as text, JSON or Markdown.

Renderers only format the document; they never compute. The Markdown form is meant for a
pull-request comment: a summary line, one table of field changes, one table of memory impact.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

_SYMBOL = {"add": "+", "change": "~", "remove": "-"}
_FIELD_SYMBOL = {"added": "+", "changed": "~", "removed": "-"}
_COLOR = {"add": "green", "change": "yellow", "remove": "red",
          "added": "green", "changed": "yellow", "removed": "red"}
_KIND_OF = {"add": "added", "change": "changed", "remove": "removed"}
_VERDICT_COLOR = {"fits": "green", "tight": "yellow", "does-not-fit": "red"}

Style = Callable[[str, str], str]


def _plain(text: str, _color: str) -> str:
    return text


def _ansi(text: str, color: str) -> str:
    import click

    return click.style(text, fg=color)


def value_text(value: Any) -> str:
    """A config value the way it reads in YAML flow style: `[pool-1, pool-2]`, `{tp: 2}`."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, list):
        return "[" + ", ".join(value_text(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {value_text(v)}" for k, v in value.items()) + "}"
    return str(value)


def _field_line(f: Mapping[str, Any]) -> str:
    if f["kind"] == "added":
        return f"{f['path']}: {value_text(f['after'])}"
    if f["kind"] == "removed":
        return f"{f['path']}: {value_text(f['before'])} (removed)"
    return f"{f['path']}: {value_text(f['before'])} → {value_text(f['after'])}"


def _gib(value: Any) -> str:
    return f"{float(value):.1f}" if isinstance(value, int | float) else "?"


def memory_line(m: Mapping[str, Any]) -> str:
    """`59.5 → 71.3 GiB of 71.3 usable per H100-80GB, tight (was fits)` and the one-sided forms."""
    before, after = m.get("before"), m.get("after")
    gpu = m.get("gpu") or "unknown GPU"
    if after is None and before is not None:
        return f"no longer placed here (was {_gib(before.get('total_gib'))} GiB per {gpu})"
    if after is None:
        return "no memory rows"
    verdict = str(after.get("verdict", "?"))
    if verdict == "unchecked":
        return f"not checked on {gpu} (unknown architecture or GPU)"
    total = _gib(after.get("total_gib"))
    if before is not None and before.get("total_gib") is not None:
        total = f"{_gib(before.get('total_gib'))} → {total}"
    line = f"{total} GiB of {_gib(after.get('usable_gib'))} usable per {gpu}, {verdict}"
    if before is not None and before.get("verdict") not in (None, verdict):
        line += f" (was {before['verdict']})"
    if before is None:
        line += " (newly placed)"
    max_kv = after.get("max_kv_cache_len")
    if verdict == "does-not-fit" and isinstance(max_kv, int) and max_kv > 0:
        line += f"; largest kv_cache_len that fits: {max_kv}"
    return line


def _summary_text(summary: Mapping[str, int]) -> str:
    return (f"{summary.get('add', 0)} to add, {summary.get('change', 0)} to change, "
            f"{summary.get('remove', 0)} to remove")


def render_text(doc: Mapping[str, Any], *, color: bool = False) -> str:
    """Human-readable diff, in the style of a plan: one block per address, then memory."""
    style: Style = _ansi if color else _plain
    base, head = doc["base"], doc["head"]
    if not doc["changes"]:
        return f"No differences. The configuration matches {base}.\n"
    lines = [f"Configuration differences: {base} → {head}", ""]
    for change in doc["changes"]:
        action = change["action"]
        lines.append(style(f"  {_SYMBOL[action]} {change['address']}", _COLOR[action]))
        for f in change["fields"]:
            mark = " *" if f.get("affects_memory") else ""
            text = f"      {_FIELD_SYMBOL[f['kind']]} {_field_line(f)}{mark}"
            lines.append(style(text, _COLOR[f["kind"]]))
    if doc["memory"]:
        lines += ["", "Memory impact per GPU (* marks fields that affect memory):"]
        for m in doc["memory"]:
            verdict = str((m.get("after") or {}).get("verdict", ""))
            head_line = f"  {m['deployment']} on {m['pool']}: {memory_line(m)}"
            lines.append(style(head_line, _VERDICT_COLOR.get(verdict, "white")))
            lines += [f"      because {cause}" for cause in m["causes"]]
    lines += [f"Note: {n}" for n in doc.get("notes", [])]
    lines += ["", f"Diff: {_summary_text(doc['summary'])}."]
    return "\n".join(lines) + "\n"


def render_json(doc: Mapping[str, Any]) -> str:
    """The document itself, indented."""
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def _md_cell(value: str) -> str:
    # A pipe ends a table cell and a newline ends the row; backticks would end the code span.
    return value.replace("|", "\\|").replace("\n", " ").replace("`", "'")


def _md_code(value: str) -> str:
    return f"`{_md_cell(value)}`" if value else ""


def render_markdown(doc: Mapping[str, Any], *, title: str | None = None) -> str:
    """A pull-request comment: heading, summary, field table, memory table."""
    base = doc["base"]
    lines = [f"### {title or 'adaptive-deploy diff'} against `{_md_cell(str(base))}`", ""]
    if not doc["changes"]:
        lines.append(f"No differences. The configuration matches `{_md_cell(str(base))}`.")
        return "\n".join(lines) + "\n"
    lines += [f"**{_summary_text(doc['summary'])}.**", ""]
    lines += ["| | address | field | before | after |", "|---|---|---|---|---|"]
    for change in doc["changes"]:
        symbol = _SYMBOL[change["action"]]
        fields: Sequence[Mapping[str, Any]] = change["fields"] or [
            {"path": "", "kind": _KIND_OF[change["action"]], "before": None, "after": None}
        ]
        for f in fields:
            before = "" if f["kind"] == "added" or f["path"] == "" else value_text(f["before"])
            after = "" if f["kind"] == "removed" or f["path"] == "" else value_text(f["after"])
            mark = " 🧮" if f.get("affects_memory") else ""
            lines.append(
                f"| {symbol} | {_md_code(change['address'])} | {_md_code(f['path'])}{mark} "
                f"| {_md_code(before)} | {_md_code(after)} |"
            )
    if doc["memory"]:
        lines += ["", "#### Memory impact per GPU", "",
                  "| deployment | pool | GPU | need (GiB) | usable (GiB) | verdict | because |",
                  "|---|---|---|---|---|---|---|"]
        for m in doc["memory"]:
            old_row, new_row = m.get("before") or {}, m.get("after") or {}
            need = _gib(new_row.get("total_gib")) if new_row else "—"
            if old_row and new_row:
                need = f"{_gib(old_row.get('total_gib'))} → {need}"
            verdict = str(new_row.get("verdict", "removed")) if new_row else "removed"
            if old_row and new_row and old_row.get("verdict") != new_row.get("verdict"):
                verdict = f"{old_row.get('verdict')} → {verdict}"
            icon = {"fits": "✅", "tight": "⚠️", "does-not-fit": "❌"}.get(
                str(new_row.get("verdict")) if new_row else "", "")
            because = "<br>".join(_md_cell(c) for c in m["causes"])
            lines.append(
                f"| {_md_code(m['deployment'])} | {_md_code(m['pool'])} | "
                f"{_md_cell(str(m.get('gpu') or '?'))} | {need} | "
                f"{_gib(new_row.get('usable_gib')) if new_row else '—'} | {icon} {verdict} | "
                f"{because} |"
            )
    for note in doc.get("notes", []):
        lines += ["", f"_Note: {_md_cell(note)}_"]
    lines += ["", "🧮 marks fields that affect GPU memory. Generated offline by "
              "`adaptive-deploy diff` (no platform access)."]
    return "\n".join(lines) + "\n"
