"""The plan as Terraform-like text, rendered from the plan document (`Plan.to_dict()`).

Order: notes, "Changed outside adaptive-deploy" (drift), the changes (destroys first, as the
plan lists them), the memory table, diagnostics, unmanaged objects, the summary line.
Sensitive values read "(sensitive)". Colour (ANSI, through rich) only when `color=True`.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

from adaptive_deploy.plan.model import redact
from adaptive_deploy.render import _plan_common as fmt
from adaptive_deploy.render.escape import text as esc

# A line is a list of (text, style) spans; style "" is plain.
Line = list[tuple[str, str]]

_STYLE = {"+": "green", "~": "yellow", "-": "red", "-/+": "red", ">": "cyan", "/": "magenta"}
_VERDICT_STYLE = {"fits": "green", "tight": "yellow", "does-not-fit": "red", "removed": "dim"}
_ACTION_WORD = {"delete": "delete", "forget": "forget", "run": "run", "create": "create",
                "update": "update"}


def render(plan: Mapping[str, Any], *, color: bool = False) -> str:
    """The plan document as text ending with the summary line and a newline."""
    doc = redact(dict(plan))
    lines: list[Line] = []
    for note in doc.get("notes", []):
        lines += [[(f"Note: {note}", "bold")], []]
    _drift(doc, lines)
    _changes(doc, lines)
    _memory(doc, lines)
    _diagnostics(doc, lines)
    if doc.get("unmanaged"):
        wrapped = fmt.wrap_list("Unmanaged (not in this workspace; left alone):",
                                list(doc["unmanaged"]))
        lines += [[(line, "dim")] for line in wrapped]
        lines.append([])
    if not doc.get("applyable", True):
        lines += [[("This plan cannot be applied: fix the errors above.", "bold red")], []]
    lines.append([(fmt.summary_line(doc), "bold")])
    return _emit(lines, color)


def _drift(doc: Mapping[str, Any], lines: list[Line]) -> None:
    items = doc.get("drift") or []
    if not items:
        return
    lines.append([("Changed outside adaptive-deploy", "bold"),
                  (" (last applied → live):", "")])
    lines.append([])
    current = None
    for item in items:
        if item.get("path") is None:
            lines.append([("  - ", "red"), (item["address"], "bold"),
                          (f": {str(item.get('message', '')).lower()}", "")])
            current = None
            continue
        if item["address"] != current:
            current = item["address"]
            lines.append([("  ~ ", "yellow"), (current, "bold")])
        lines.append([("      ~ ", "yellow"), (fmt.drift_text(item), "")])
    lines.append([])


def _changes(doc: Mapping[str, Any], lines: list[Line]) -> None:
    changes = [c for c in doc.get("changes", []) if c.get("action") != "no-op"]
    quiet = [c for c in doc.get("changes", []) if c.get("action") == "no-op" and c.get("notes")]
    models = doc.get("deleted_models") or []
    if models:
        warning = fmt.wrap_text(
            f"Warning: this plan removes the last project binding of {fmt.model_list(models)}: "
            "the platform then deletes it from storage (unless published organisation-wide).")
        lines += [[(line, "red")] for line in warning]
        lines.append([])
    if changes:
        lines.append([("adaptive-deploy will perform the following actions:", "")])
        lines.append([])
    for c in changes:
        sym = c.get("symbol") or "?"
        head: Line = [(f"  {sym} ", _STYLE.get(sym, "")), (c["address"], "bold")]
        if c.get("replace"):
            head.append(("  (restart in place)", "dim"))
        elif c["action"] != "update":
            head.append((f"  ({_ACTION_WORD.get(c['action'], c['action'])})", "dim"))
        lines.append(head)
        if c.get("deletes_model"):
            lines.append([("      ! ", "red"), (fmt.deletes_model_text(c), "red")])
        for d in c.get("diff", []):
            fsym = fmt.field_symbol(d)
            line: Line = [(f"      {fsym} ", _STYLE.get(fsym, "")), (fmt.field_text(d), "")]
            remark = fmt.field_remark(d)
            if remark and len(f"      {fsym} {fmt.field_text(d)}  {remark}") > fmt.WIDTH:
                # Wider than 80 columns: the remark goes on its own line below the field.
                lines += [line, [(f"          {remark}", "dim")]]
                continue
            if remark:
                line.append((f"  {remark}", "dim"))
            lines.append(line)
        for note in c.get("notes", []):
            lines += [[(line, "dim")] for line in fmt.wrap_text(note, prefix="      # ",
                                                                 indent="        ")]
        lines.append([])
    if quiet:
        lines.append([("No platform change needed:", "")])
        for c in quiet:
            lines.append([(f"    {c['address']}: ", ""), ("; ".join(c["notes"]), "dim")])
        lines.append([])


def _memory(doc: Mapping[str, Any], lines: list[Line]) -> None:
    rows = doc.get("memory") or []
    if not rows:
        return
    lines.append([("GPU memory of the deployments this plan touches:", "")])
    lines.append([])
    table = [fmt.MEMORY_HEADER] + [fmt.memory_cells(r) for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(fmt.MEMORY_HEADER))]
    # A deployment name too long for an 80-column row goes on its own line above its numbers.
    rest = 2 + sum(widths[1:]) + 2 * (len(widths) - 1)
    widths[0] = max(len(fmt.MEMORY_HEADER[0]), min(widths[0], fmt.WIDTH - rest))
    for n, row in enumerate(table):
        if len(row[0]) > widths[0]:
            lines.append([(f"  {row[0]}", "")])
            row = ["", *row[1:]]
        spans: Line = [("  ", "")]
        for i, cell in enumerate(row):
            # numbers right-aligned, text left-aligned
            text = cell.rjust(widths[i]) if i in (2, 3) else cell.ljust(widths[i])
            style = "bold" if n == 0 else (_VERDICT_STYLE.get(cell, "") if i == 4 else "")
            spans.append((text, style))
            if i < len(row) - 1:
                spans.append(("  ", ""))
        lines.append(_rstrip(spans))
    lines.append([])


def _diagnostics(doc: Mapping[str, Any], lines: list[Line]) -> None:
    diags = doc.get("diagnostics") or []
    if not diags:
        return
    for d in diags:
        style = "red" if d.get("severity") == "error" else "yellow"
        lines.append([(fmt.diagnostic(d), style)])
    lines.append([])


def _rstrip(spans: Line) -> Line:
    while spans and not spans[-1][0].strip():
        spans.pop()
    if spans:
        spans[-1] = (spans[-1][0].rstrip(), spans[-1][1])
    return spans


def _emit(lines: list[Line], color: bool) -> str:
    # Every span is escaped here, once: no value can start a line or send a control sequence.
    lines = [[(esc(t), style) for t, style in line] for line in lines]
    if not color:
        return "".join("".join(t for t, _ in line) + "\n" for line in lines)
    from rich.console import Console
    from rich.text import Text

    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, color_system="standard", width=10_000,
                      highlight=False, soft_wrap=True)
    for line in lines:
        text = Text()
        for t, style in line:
            text.append(t, style=style or None)
        console.print(text)
    return buf.getvalue()
