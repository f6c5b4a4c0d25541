"""The drift report (`adaptive_deploy.drift.build_report`) as text, JSON or markdown.

Renderers only format the report document; they never compute findings. Markdown is written
as a GitHub issue body (`.github/workflows/drift.yml` posts it): a title line, a summary, a
table of findings and how to fix them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from adaptive_deploy.render import _plan_common as fmt

_KIND_TITLE = {
    "drift": "Changed outside adaptive-deploy (live differs from the last applied value)",
    "both": "Changed outside adaptive-deploy and in the configuration",
    "pending": "Pending in the configuration (edited, not applied yet)",
}
_KIND_LABEL = {"drift": "drift", "both": "both", "pending": "pending"}
MAX_MARKDOWN_CHARS = 60_000


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
            lines.append(f"  [{_KIND_LABEL[kind]}] {_finding_text(f)}")
            if f.get("field") is not None and f.get("message"):
                lines.append(f"      {f['message']}")
            elif f.get("field") is None:
                lines.append(
                    f"      last applied {_value(f.get('last_applied'))}; live "
                    f"{_value(f.get('live'))}; config {_value(f.get('desired'))}"
                )
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
        lines.append(f"Unmanaged live objects (not drift; `adaptive-deploy import` adopts them): "
                     f"{', '.join(unmanaged)}")
        lines.append("")
    lines.append(summary_line(report))
    if findings:
        lines.append("")
        lines.extend(_fix_lines(directory))
    return "\n".join(lines) + "\n"


def render_markdown(report: Mapping[str, Any], *, directory: str = ".",
                    max_chars: int = MAX_MARKDOWN_CHARS) -> str:
    """A GitHub issue body: title line, summary, findings table, how to fix."""
    findings: Sequence[Mapping[str, Any]] = report.get("findings") or []
    workspace = report.get("workspace") or "?"
    title = (f"## Drift detected in workspace `{_inline(str(workspace))}`" if findings
             else f"## No drift in workspace `{_inline(str(workspace))}`")
    out = [title, "", summary_line(report)]
    checked = report.get("checked_at")
    if checked:
        out[-1] += f" Checked at {checked}."
    out.append("")
    rows: list[str] = []
    if findings:
        rows += [
            "| kind | address | field | last applied | live | config | note |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for f in findings:
            observable = f.get("observable", True)
            live = _cell(f.get("live")) if observable else "_not observable_"
            rows.append(
                f"| {f['kind']} | `{_inline(f['address'])}` | "
                f"{_code(f['field']) if f.get('field') else '_resource_'} | "
                f"{_cell(f.get('last_applied'))} | {live} | {_cell(f.get('desired'))} | "
                f"{_inline(str(f.get('message', '')))} |"
            )
        rows.append("")
    tail: list[str] = []
    unobservable = report.get("unobservable") or []
    if unobservable:
        tail += ["### Not observable on the platform", "",
                 "Write-only fields: compared with the last applied value only, not counted "
                 "as drift.", ""]
        tail += [f"- `{_inline(u['address'])}` `{u['field']}`: last applied "
                 f"{_cell(u.get('last_applied'))}" for u in unobservable]
        tail.append("")
    diags = report.get("diagnostics") or []
    if diags:
        tail += ["### Diagnostics", ""] + [f"- {_inline(fmt.diagnostic(d))}" for d in diags]
        tail.append("")
    unmanaged = report.get("unmanaged") or []
    if unmanaged:
        tail += [f"Unmanaged live objects (not drift; `adaptive-deploy import` adopts them): "
                 f"{', '.join(f'`{_inline(a)}`' for a in unmanaged)}", ""]
    if findings:
        tail += [
            "### How to fix", "",
            f"- **Restore the configuration**: run `adaptive-deploy apply {directory}`; it "
            "reverts changes made outside adaptive-deploy and applies pending edits.",
            "- **Accept the live value**: edit the configuration to match the live column, "
            "then apply (or `adaptive-deploy apply --refresh-only` to record live values in "
            "state).",
            "",
        ]
    return _fit(out, rows, tail, max_chars)


def _fit(head: list[str], rows: list[str], tail: list[str], max_chars: int) -> str:
    """Keep the issue body under GitHub's limit: drop table rows, never the how-to-fix."""
    full = "\n".join(head + rows + tail) + "\n"
    if len(full) <= max_chars:
        return full
    budget = max_chars - len("\n".join(head + tail)) - 300
    kept: list[str] = []
    size = 0
    for row in rows:
        if size + len(row) + 1 > budget:
            break
        kept.append(row)
        size += len(row) + 1
    omitted = len(rows) - len(kept)
    kept += ["", f"_{omitted} more rows omitted; run `adaptive-deploy drift --format json` "
             "for the full report._", ""]
    return "\n".join(head + kept + tail) + "\n"


def _cell(v: Any) -> str:
    return _code(fmt.value(v)) if v is not None else "—"


def _code(text: str) -> str:
    text = text.replace("|", "\\|").replace("\n", " ")
    return f"`` {text} ``" if "`" in text else f"`{text}`"


def _inline(text: str) -> str:
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;").replace("\n", " ")
