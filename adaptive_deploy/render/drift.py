"""The drift report (`adaptive_deploy.drift.build_report`) as text, JSON or markdown.

Renderers only format the report document; they never compute findings. Markdown is written
as a GitHub issue body (`.github/workflows/drift.yml` posts it): a title line, a summary, a
table of findings and how to fix them.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

from adaptive_deploy.render import _plan_common as fmt
from adaptive_deploy.render import gfm
from adaptive_deploy.render.escape import md_code, md_text
from adaptive_deploy.render.escape import text as esc

_KIND_TITLE = {
    "drift": "Changed outside adaptive-deploy (live differs from the last applied value)",
    "both": "Changed outside adaptive-deploy and in the configuration",
    "pending": "Pending in the configuration (edited, not applied yet)",
}
_ICON = {"drift": "🔀", "both": "⚠️", "pending": "📝"}
_KIND_LABEL = {"drift": "drift", "both": "both", "pending": "pending"}
MAX_MARKDOWN_CHARS = gfm.MAX_CHARS


def render(report: Mapping[str, Any], fmt_name: str, *, directory: str = ".") -> str:
    """Render in `text`, `json` or `markdown`; `directory` is shown in the how-to-fix hints."""
    if fmt_name == "json":
        return render_json(report)
    if fmt_name == "markdown":
        return render_markdown(report, directory=directory)
    return render_text(report, directory=directory)


def render_json(report: Mapping[str, Any]) -> str:
    """The report document as indented JSON (versioned by its `format_version`)."""
    return json.dumps(report, indent=2, sort_keys=False, default=str) + "\n"


def summary_line(report: Mapping[str, Any]) -> str:
    """`Drift: N changed outside, M pending, K both.` or the no-drift sentence."""
    s = report.get("summary") or {}
    if not report.get("findings"):
        return "No drift. The platform matches the last applied state and the configuration."
    return (
        f"Drift: {s.get('drift', 0)} changed outside adaptive-deploy, "
        f"{s.get('pending', 0)} pending in the configuration, {s.get('both', 0)} both."
    )


def _value(v: Any) -> str:
    return fmt.value(v)


def _finding_text(f: Mapping[str, Any]) -> str:
    if f.get("field") is None:
        return f"{f['address']}: {f.get('message', '')}"
    live = _value(f.get("live")) if f.get("observable", True) else "(not observable)"
    return (
        f"{f['address']} {f['field']}: last applied {_value(f.get('last_applied'))}, "
        f"live {live}, config {_value(f.get('desired'))}"
    )


def _split_values(f: Mapping[str, Any]) -> list[str]:
    live = _value(f.get("live")) if f.get("observable", True) else "(not observable)"
    return [f"last applied {_value(f.get('last_applied'))}", f"live {live}",
            f"config {_value(f.get('desired'))}"]


def _fix_lines(directory: str) -> list[str]:
    return [
        f"To restore the configuration on the platform: adaptive-deploy apply {directory}",
        "To keep a live value instead: edit the configuration to match it, then apply "
        "(or `adaptive-deploy apply --refresh-only` to record live values in state).",
    ]


def render_text(report: Mapping[str, Any], *, directory: str = ".") -> str:
    """Human text: findings grouped by kind, write-only fields, then the summary line."""
    lines: list[str] = []
    findings: Sequence[Mapping[str, Any]] = report.get("findings") or []
    for kind in ("drift", "both", "pending"):
        group = [f for f in findings if f.get("kind") == kind]
        if not group:
            continue
        lines.append(f"{_KIND_TITLE[kind]}:")
        lines.append("")
        for f in group:
            line = f"  [{_KIND_LABEL[kind]}] {_finding_text(f)}"
            if len(line) > fmt.WIDTH and f.get("field") is not None:
                # Too wide for 80 columns: the values go on their own line.
                head, _, values = line.partition(": ")
                lines.append(head)
                if len(values) + 6 <= fmt.WIDTH:
                    lines.append(f"      {values}")
                else:
                    lines += [f"      {part}" for part in _split_values(f)]
            else:
                lines.append(line)
            if f.get("field") is not None and f.get("message"):
                lines.append(f"      {f['message']}")
            elif f.get("field") is None:
                parts = [f"last applied {_value(f.get('last_applied'))}",
                         f"live {_value(f.get('live'))}", f"config {_value(f.get('desired'))}"]
                joined = "      " + "; ".join(parts)
                lines += [joined] if len(joined) <= fmt.WIDTH else [f"      {v}" for v in parts]
        lines.append("")
    unobservable = report.get("unobservable") or []
    if unobservable:
        lines.append("Not observable on the platform (write-only; compared with the last "
                     "applied value only, not counted as drift):")
        for u in unobservable:
            lines.append(f"  {u['address']} {u['field']}: last applied "
                         f"{_value(u.get('last_applied'))}")
        lines.append("")
    for d in report.get("diagnostics") or []:
        lines.append(fmt.diagnostic(d))
    if report.get("diagnostics"):
        lines.append("")
    unmanaged = report.get("unmanaged") or []
    if unmanaged:
        lines += fmt.wrap_list(
            "Unmanaged live objects (not drift; `adaptive-deploy import` adopts them):",
            list(unmanaged))
        lines.append("")
    lines.append(summary_line(report))
    if findings:
        lines.append("")
        for fix in _fix_lines(directory):
            lines += textwrap.wrap(fix, width=fmt.WIDTH, subsequent_indent="  ",
                                   break_long_words=False, break_on_hyphens=False)
    return "\n".join(esc(line) for line in lines) + "\n"


def render_markdown(report: Mapping[str, Any], *, directory: str = ".",
                    max_chars: int = MAX_MARKDOWN_CHARS) -> str:
    """A GitHub issue body: title line, summary, diagnostics, one narrow table per kind of
    finding (resource, field, last applied → live, config), how to fix."""
    findings: Sequence[Mapping[str, Any]] = report.get("findings") or []
    workspace = md_code(str(report.get("workspace") or "?"))
    title = (f"## Drift detected in workspace {workspace}" if findings
             else f"## No drift in workspace {workspace}")
    summary = f"**{md_text(summary_line(report))}**"
    checked = report.get("checked_at")
    if checked:
        summary += f" Checked at {md_text(checked)}."
    blocks = [title + "\n", summary + "\n"]
    blocks.append("\n".join(gfm.diagnostics(report.get("diagnostics") or [])))
    for kind in ("drift", "both", "pending"):
        group = [f for f in findings if f.get("kind") == kind]
        if not group:
            continue
        rows = []
        notes = []
        for f in group:
            resource = md_code(f["address"])
            field = md_code(f["field"]) if f.get("field") else "_whole resource_"
            live = (_cell(f.get("live")) if f.get("observable", True) else "_not observable_")
            rows.append([resource, field, f"{_cell(f.get('last_applied'))} → {live}",
                         _cell(f.get("desired"))])
            if f.get("message"):
                notes.append(f"- {resource} {field}: {md_text(f['message'])}")
        block = [f"### {_ICON[kind]} {_KIND_TITLE[kind]}", "",
                 *gfm.table(["resource", "field", "last applied → live", "config"], rows)]
        block += gfm.details(f"Notes ({len(notes)})", notes) if notes else []
        blocks.append("\n".join(block))
    unobservable = report.get("unobservable") or []
    if unobservable:
        blocks.append("\n".join(
            ["### Not observable on the platform", "",
             "Write-only fields: compared with the last applied value only, not counted "
             "as drift.", ""]
            + [f"- {md_code(u['address'])} {md_code(u['field'])}: last applied "
               f"{_cell(u.get('last_applied'))}" for u in unobservable] + [""]))
    unmanaged = report.get("unmanaged") or []
    if unmanaged:
        blocks.append("\n".join(gfm.details(
            f"Unmanaged live objects (not drift; <code>adaptive-deploy import</code> adopts "
            f"them): {len(unmanaged)}", [f"- {md_code(a)}" for a in unmanaged])))
    if findings:
        blocks.append("\n".join([
            "### How to fix", "",
            f"- **Restore the configuration**: run {md_code('adaptive-deploy apply ' + directory)}; "
            "it reverts changes made outside adaptive-deploy and applies pending edits.",
            "- **Accept the live value**: edit the configuration to match the live column, "
            "then apply (or `adaptive-deploy apply --refresh-only` to record live values in "
            "state).",
            "",
        ]))
    # The how-to-fix stays: truncation cuts the findings, then says so.
    tail = blocks.pop() if findings else ""
    hint = "Run `adaptive-deploy drift --format json` for the full report."
    body = gfm.truncate([b for b in blocks if b], max_chars - len(tail) - 1, hint)
    return body + (tail + "\n" if tail else "")


def _cell(v: Any) -> str:
    return md_code(fmt.value(v)) if v is not None else "—"
