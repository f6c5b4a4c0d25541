"""Shared GitHub-flavoured Markdown building blocks for the plan comment, the drift issue and
the config-diff comment, so the three read alike and escape alike.

Layout rules (a reviewer reads these at GitHub's comment width, about 760 px):
- a bold summary line first, then warnings and diagnostics, then details;
- tables have at most four or five short columns; long explanations go on their own line
  (inside a code block as `#` lines, or as a list item), never in a wide cell;
- verdicts and severities carry an icon as well as a word (`⚠️ tight`, `❌ does-not-fit`);
- per-resource detail sits in `<details>`, one per resource, or one per kind of change when
  there are many resources.

Every value goes through `adaptive_deploy.render.escape`. Nothing here computes plan content.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from adaptive_deploy.render._plan_common import need_text
from adaptive_deploy.render.escape import md_code, md_fence, md_html, md_text

MAX_CHARS = 60_000          # GitHub refuses comment and issue bodies over 65,536 characters
MANY = 10                   # more changes than this: one <details> per kind of change

VERDICT_ICON = {"fits": "✅", "tight": "⚠️", "does-not-fit": "❌", "unchecked": "❔",
                "removed": "🗑️"}
SEVERITY_ICON = {"error": "❌", "warning": "⚠️"}


def verdict(word: str) -> str:
    """`✅ fits`, `⚠️ **tight**`, `❌ **does-not-fit**`: problems stand out in bold."""
    icon = VERDICT_ICON.get(word, "")
    label = md_text(word)
    if word in ("tight", "does-not-fit"):
        label = f"**{label}**"
    return f"{icon} {label}".strip()


def gib(v: Any) -> str:
    return f"{float(v):.1f}" if isinstance(v, int | float) and not isinstance(v, bool) else "-"


def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    """A GFM table; header and cells must already be escaped."""
    out = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return [*out, ""]


def details(summary_html: str, body: Sequence[str], *, open_: bool = False) -> list[str]:
    """A collapsible section; `summary_html` must already be HTML-escaped."""
    head = "<details open>" if open_ else "<details>"
    return [f"{head}<summary>{summary_html}</summary>", "", *body, "", "</details>", ""]


def code_summary(text: str) -> str:
    """An escaped `<code>` element for a `<summary>`."""
    return f"<code>{md_html(text)}</code>"


def diagnostics(diags: Sequence[Mapping[str, Any]]) -> list[str]:
    """One list item per diagnostic: icon, severity and code first, location on its own line."""
    if not diags:
        return []
    out = ["#### Diagnostics", ""]
    for d in diags:
        sev = str(d.get("severity") or "")
        icon = SEVERITY_ICON.get(sev, "")
        out.append(f"- {icon} **{md_text(sev)}** {md_code(d.get('code') or '')}: "
                   f"{md_text(d.get('message') or '')}")
        loc = ":".join(str(d[k]) for k in ("file", "line", "column") if d.get(k) is not None)
        where = [md_code(loc)] if loc else []
        path = d.get("path")
        if path:
            where.append(md_code(".".join(map(str, path)) if isinstance(path, list | tuple)
                                 else path))
        if where:
            out.append(f"  <br>at {' '.join(where)}")
    return [*out, ""]


def memory_table(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The plan's memory rows (`address, pool, gpu, before_gib, after_gib, usable_gib,
    verdict`) as a four-column table: deployment, pool (GPU), GiB per GPU of usable, verdict.
    A row without a before value is a new placement and reads `new 59.5`."""
    if not rows:
        return []
    body = []
    for r in rows:
        body.append([
            md_code(str(r.get("address", "")).removeprefix("deployment.")),
            f"{md_code(r.get('pool', ''))} {md_text(r.get('gpu') or '?')}",
            f"{need_text(r)} / {gib(r.get('usable_gib'))}",
            verdict(str(r.get("verdict", ""))),
        ])
    return table(["deployment", "pool (GPU)", "GiB per GPU / usable", "verdict"], body)


def fence(lines: Sequence[str], info: str = "") -> list[str]:
    return [md_fence(list(lines), info)]


def truncate(blocks: Sequence[str], max_chars: int, hint: str) -> str:
    """Join blocks; past `max_chars`, cut at a line boundary (closing any open code fence and
    `<details>`) and say what was left out."""
    full = "\n".join(blocks) + "\n"
    if len(full) <= max_chars:
        return full
    budget = max_chars - 400  # room for the closing tags and the note
    kept: list[str] = []
    size = 0
    fence: str | None = None
    for line in full.splitlines():
        if size + len(line) + 1 > budget:
            break
        kept.append(line)
        size += len(line) + 1
        if fence is None:
            opening = re.match(r"`{3,}", line)
            fence = opening.group(0) if opening else None
        elif re.fullmatch(r"`{3,}", line.strip()) and len(line.strip()) >= len(fence):
            fence = None
    if fence is not None:
        kept.append(fence)
    opened = sum(ln.startswith("<details") for ln in kept) - sum(ln == "</details>" for ln in kept)
    kept += ["", "</details>"] * max(0, opened)
    omitted = len(full) - size
    kept.append(f"\n> ✂️ **Output truncated:** {omitted:,} of {len(full):,} characters "
                f"omitted. {hint}")
    return "\n".join(kept) + "\n"


__all__ = [
    "MANY", "MAX_CHARS", "code_summary", "details", "diagnostics", "fence", "gib",
    "md_code", "md_fence", "md_html", "md_text", "memory_table", "table", "truncate",
    "verdict",
]
