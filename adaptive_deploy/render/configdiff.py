"""Render a config-to-config diff (`ConfigDiff.to_dict()`) as text, JSON or Markdown.

Renderers only format the document; they never compute. The Markdown form is meant for a
pull-request comment: a summary line, one table of field changes, one table of memory impact.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from adaptive_deploy.render import gfm
from adaptive_deploy.render.escape import md_code, md_text
from adaptive_deploy.render.escape import text as esc

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
        return esc(f"No differences. The configuration matches {base}.") + "\n"
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
    return "\n".join(esc(line) for line in lines) + "\n"


def render_json(doc: Mapping[str, Any]) -> str:
    """The document itself, indented."""
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def render_markdown(doc: Mapping[str, Any], *, title: str | None = None,
                    max_chars: int = gfm.MAX_CHARS) -> str:
    """A pull-request comment in the plan comment's style: heading, bold summary, a narrow
    field table, the memory impact per GPU and, on lines of their own, its causes."""
    base = md_code(str(doc["base"]))
    blocks = [f"### {md_text(title or 'adaptive-deploy diff')} against {base}\n"]
    if not doc["changes"]:
        blocks.append(f"**No differences.** The configuration matches {base}.\n")
        return "\n".join(blocks)
    blocks.append(f"**Diff: {md_text(_summary_text(doc['summary']))}.**\n")
    rows = []
    for change in doc["changes"]:
        symbol = f"`{_SYMBOL[change['action']]}`"
        fields: Sequence[Mapping[str, Any]] = change["fields"] or [
            {"path": "", "kind": _KIND_OF[change["action"]], "before": None, "after": None}
        ]
        for f in fields:
            before = "" if f["kind"] == "added" or f["path"] == "" else value_text(f["before"])
            after = "" if f["kind"] == "removed" or f["path"] == "" else value_text(f["after"])
            mark = " 🧮" if f.get("affects_memory") else ""
            if f["path"] == "":
                values = f"_{_KIND_OF[change['action']]}_"
            elif f["kind"] == "added":
                values = f"{md_code(after)} _(added)_"
            elif f["kind"] == "removed":
                values = f"{md_code(before)} _(removed)_"
            else:
                values = f"{md_code(before)} → {md_code(after)}"
            rows.append([symbol, md_code(change["address"]), md_code(f["path"]) + mark, values])
    blocks.append("\n".join(["#### Changes", "",
                             *gfm.table(["", "resource", "field", "before → after"], rows)]))
    if doc["memory"]:
        mem_rows = []
        causes = []
        for m in doc["memory"]:
            old_row, new_row = m.get("before") or {}, m.get("after") or {}
            if old_row and new_row:
                need = f"{_gib(old_row.get('total_gib'))} → {_gib(new_row.get('total_gib'))}"
            elif new_row:
                need = f"new {_gib(new_row.get('total_gib'))}"
            else:
                need = f"{_gib(old_row.get('total_gib'))} → removed"
            usable = _gib(new_row.get("usable_gib")) if new_row else "-"
            verdict = str(new_row.get("verdict", "removed")) if new_row else "removed"
            cell = gfm.verdict(verdict)
            if old_row and new_row and old_row.get("verdict") != verdict:
                cell = f"{gfm.verdict(verdict)} (was {md_text(old_row.get('verdict'))})"
            name = md_code(str(m["deployment"]).removeprefix("deployment."))
            pool = f"{md_code(m['pool'])} {md_text(m.get('gpu') or '?')}"
            mem_rows.append([name, pool, f"{need} / {usable}", cell])
            max_kv = new_row.get("max_kv_cache_len") if new_row else None
            extra = (f" Largest `kv_cache_len` that fits: {max_kv:,}."
                     if verdict == "does-not-fit" and isinstance(max_kv, int) and max_kv > 0
                     else "")
            causes.append(f"- {name} on {md_code(m['pool'])}: because "
                          + "; ".join(md_text(c) for c in m["causes"]) + "." + extra)
        blocks.append("\n".join(
            ["#### Memory impact per GPU", "",
             *gfm.table(["deployment", "pool (GPU)", "GiB per GPU / usable", "verdict"],
                        mem_rows),
             *causes, ""]))
    for note in doc.get("notes", []):
        blocks.append(f"> ℹ️ {md_text(note)}\n")  # noqa: RUF001 (the information sign is meant)
    blocks.append("🧮 marks fields that affect GPU memory. Generated offline by "
                  "`adaptive-deploy diff` (no platform access).")
    return gfm.truncate(blocks, max_chars,
                        "Run `adaptive-deploy diff --format json` for the full diff.")
