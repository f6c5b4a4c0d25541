"""The plan as a pull-request comment (GitHub-flavoured Markdown).

First line: the summary. Then a destroy warning, drift, a table of changes, one `<details>`
per resource with its field diff, the memory table and diagnostics. Comments are capped (GitHub
refuses bodies over 65,536 characters): past `max_chars` the rest is cut at a block boundary
and a note says how much was omitted and how to see the full plan.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adaptive_deploy.plan.model import redact
from adaptive_deploy.render import _plan_common as fmt

MAX_CHARS = 60_000


def render(plan: Mapping[str, Any], *, max_chars: int = MAX_CHARS) -> str:
    """The plan document as Markdown of at most about `max_chars` characters."""
    doc = redact(dict(plan))
    blocks = _blocks(doc)
    return _fit(blocks, max_chars)


def _summary(doc: Mapping[str, Any]) -> str:
    s = doc.get("summary") or {}
    if not doc.get("has_changes", any(s.values())):
        return "**Plan:** no changes. The platform matches the configuration."
    line = f"**Plan:** {s.get('add', 0)} to add, {s.get('change', 0)} to change, " \
           f"{s.get('destroy', 0)} to destroy"
    if s.get("run"):
        line += f", {s['run']} to run"
    if s.get("forget"):
        line += f", {s['forget']} to forget"
    return line


def _blocks(doc: Mapping[str, Any]) -> list[str]:
    out = [_summary(doc) + f" — workspace `{doc.get('workspace')}`\n"]
    changes = doc.get("changes") or []
    destroys = [c for c in changes if c["action"] == "delete"]
    if destroys:
        names = ", ".join(f"`{c['address']}`" for c in destroys)
        out.append(f"> ⚠️ **This plan destroys {len(destroys)} resource(s):** {names}\n")
    models = doc.get("deleted_models") or []
    if models:
        names = ", ".join(f"`{m}`" for m in models)
        out.append(f"> ⚠️ **This plan deletes model(s) {names} from storage:** it removes their "
                   "last project binding, and the platform then deletes the model (unless "
                   "published organisation-wide).\n")
    if not doc.get("applyable", True):
        out.append("> ❌ **This plan cannot be applied:** see the diagnostics below.\n")
    for note in doc.get("notes") or []:
        out.append(f"> {_inline(note)}\n")
    drift = doc.get("drift") or []
    if drift:
        out.append("### Changed outside adaptive-deploy\n\n"
                   "| address | field | last applied | live |\n| --- | --- | --- | --- |")
        for item in drift:
            if item.get("path") is None:
                out.append(f"| `{item['address']}` | — | {_cell(item.get('before'))} | "
                           f"{_inline(str(item.get('message', '')).lower())} |")
            else:
                out.append(f"| `{item['address']}` | `{item['path']}` | "
                           f"{_cell(item.get('before'))} | {_cell(item.get('after'))} |")
        out.append("")
    active = [c for c in changes if c["action"] != "no-op"]
    if active:
        out.append("### Changes\n\n| action | address | fields |\n| --- | --- | --- |")
        for c in active:
            action = "restart in place" if c.get("replace") else c["action"]
            fields = ", ".join(f"`{d['path']}`" for d in c.get("diff", [])) or "—"
            if c.get("deletes_model"):
                fields += f" — **deletes model `{c['deletes_model']}`**"
            out.append(f"| `{c['symbol']}` {action} | `{c['address']}` | {fields} |")
        out.append("")
        for c in active:
            out.append(_details(c))
    rows = doc.get("memory") or []
    if rows:
        out.append("### GPU memory\n\n| " + " | ".join(fmt.MEMORY_HEADER) + " |\n|"
                   + " --- |" * len(fmt.MEMORY_HEADER))
        for r in rows:
            out.append("| " + " | ".join(_inline(x) for x in fmt.memory_cells(r)) + " |")
        out.append("")
    diags = doc.get("diagnostics") or []
    if diags:
        out.append("### Diagnostics\n")
        for d in diags:
            icon = "❌" if d.get("severity") == "error" else "⚠️"
            out.append(f"- {icon} {_code(fmt.diagnostic(d))}")
        out.append("")
    if doc.get("unmanaged"):
        out.append("<sub>Unmanaged (left alone): "
                   + ", ".join(f"`{a}`" for a in doc["unmanaged"]) + "</sub>\n")
    return out


def _details(c: Mapping[str, Any]) -> str:
    lines = [f"<details><summary><code>{c['symbol']} {c['address']}</code></summary>", "",
             "```diff"]
    if c.get("deletes_model"):
        lines.append(f"- {fmt.deletes_model_text(c)}")
    for d in c.get("diff", []):
        remark = fmt.field_remark(d)
        # diff fences colour lines by their first character: + green, - red, ! orange
        sym = {"+": "+", "-": "-", "~": "!"}[fmt.field_symbol(d)]
        lines.append(f"{sym} {fmt.field_text(d)}" + (f"  {remark}" if remark else ""))
    for note in c.get("notes", []):
        lines.append(f"# {note}")
    # Every line inside the fence starts with a symbol, so no value can close the fence.
    lines += ["```", "", "</details>", ""]
    return "\n".join(lines)


def _fit(blocks: list[str], max_chars: int) -> str:
    full = "\n".join(blocks) + "\n"
    if len(full) <= max_chars:
        return full
    reserve = 400  # room for the truncation note
    kept: list[str] = []
    size = 0
    for block in blocks:
        if size + len(block) + 1 > max_chars - reserve:
            break
        kept.append(block)
        size += len(block) + 1
    omitted = len(full) - size
    kept.append(
        f"\n> ✂️ **Output truncated:** {omitted:,} of {len(full):,} characters omitted. "
        "Run `adaptive-deploy plan` locally, or use `--format json` / `--out FILE` "
        "(e.g. as a CI artifact) to see the full plan.\n"
    )
    return "\n".join(kept) + "\n"


def _cell(v: Any) -> str:
    return _code(fmt.value(v))


def _code(text: str) -> str:
    """A code span safe in a table cell: pipes escaped, backticks fenced by double ones."""
    text = text.replace("|", "\\|")
    return f"`` {text} ``" if "`" in text else f"`{text}`"


def _inline(text: str) -> str:
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")
