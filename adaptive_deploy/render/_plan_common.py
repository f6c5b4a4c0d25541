"""Formatting helpers shared by the plan renderers (text, markdown). They format values of the
plan document; they never compute plan content."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adaptive_deploy.plan.model import SENSITIVE
from adaptive_deploy.render.escape import quote

ARROW = "→"
DESTROY_ACTIONS = ("delete", "forget")


def value(v: Any) -> str:
    """A value as a plan shows it: JSON-like, `(sensitive)` unquoted, None as `(none)`."""
    if v is None:
        return "(none)"
    if v == SENSITIVE:
        return SENSITIVE
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return quote(v)
    if isinstance(v, list):
        return "[" + ", ".join(value(x) for x in v) + "]"
    if isinstance(v, Mapping):
        return "{" + ", ".join(f"{k}: {value(x)}" for k, x in v.items()) + "}"
    return str(v)


def field_symbol(diff: Mapping[str, Any]) -> str:
    if diff.get("before") is None:
        return "+"
    if diff.get("after") is None:
        return "-"
    return "~"


def field_text(diff: Mapping[str, Any]) -> str:
    """`kv_cache_len: 300000 → 400000`, `compute_pools: ["p1"]` (added or removed)."""
    before, after = diff.get("before"), diff.get("after")
    if before is None:
        return f"{diff['path']}: {value(after)}"
    if after is None:
        return f"{diff['path']}: {value(before)}"
    return f"{diff['path']}: {value(before)} {ARROW} {value(after)}"


def field_remark(diff: Mapping[str, Any]) -> str:
    """Why a field line is there, when it is not simply the configuration."""
    parts = []
    if diff.get("write_only"):
        parts.append("write-only: not observable on the platform")
    cause = diff.get("cause")
    if cause == "drift":
        parts.append("changed outside adaptive-deploy; reverting to the configuration")
    elif cause == "both":
        parts.append("changed in config and outside adaptive-deploy")
    return f"({'; '.join(parts)})" if parts else ""


def deletes_model_text(change: Mapping[str, Any]) -> str:
    """The visible line of a delete that removes a model's last project binding."""
    return f"deletes model {change['deletes_model']} from storage (its last project binding)"


def model_list(models: list[str]) -> str:
    names = ", ".join(models)
    return f"model{'s' if len(models) > 1 else ''} {names}"


def summary_line(plan: Mapping[str, Any]) -> str:
    """`Plan: X to add, Y to change, Z to destroy.` (+ `, N to run`, `, N to forget`), or the
    no-changes sentence."""
    s = plan.get("summary") or {}
    if not plan.get("has_changes", any(s.values())):
        return "No changes. The platform matches the configuration."
    line = f"Plan: {s.get('add', 0)} to add, {s.get('change', 0)} to change, " \
           f"{s.get('destroy', 0)} to destroy"
    if s.get("run"):
        line += f", {s['run']} to run"
    if s.get("forget"):
        line += f", {s['forget']} to forget"
    return line + "."


def diagnostic(d: Mapping[str, Any]) -> str:
    """`FILE:LINE:COL: error[CODE]: message (yaml.path)`, as Diagnostic.format does."""
    loc = ":".join(str(d[k]) for k in ("file", "line", "column") if d.get(k) is not None)
    prefix = f"{loc}: " if loc else ""
    suffix = f" ({d['path']})" if d.get("path") else ""
    return f"{prefix}{d.get('severity')}[{d.get('code')}]: {d.get('message')}{suffix}"


def gib(v: Any) -> str:
    return f"{float(v):.1f}" if isinstance(v, int | float) and not isinstance(v, bool) else "-"


def need_text(row: Mapping[str, Any]) -> str:
    """A memory row's GiB per GPU: `before → after`, `new 59.5` for a new placement,
    `30.0 → removed`, or one figure when it does not move."""
    before, after = row.get("before_gib"), row.get("after_gib")
    if after is None:
        return f"{gib(before)} {ARROW} removed"
    if before is None:
        return f"new {gib(after)}"
    if gib(before) == gib(after):
        return gib(after)
    return f"{gib(before)} {ARROW} {gib(after)}"


def memory_cells(row: Mapping[str, Any]) -> list[str]:
    """deployment, pool (GPU), GiB per GPU (`need_text`), usable GiB, verdict."""
    name = str(row.get("address", "")).removeprefix("deployment.")
    return [name, f"{row.get('pool', '')} ({row.get('gpu') or '?'})", need_text(row),
            gib(row.get("usable_gib")), str(row.get("verdict", ""))]


MEMORY_HEADER = ["deployment", "pool (GPU)", "GiB per GPU", "usable", "verdict"]
WIDTH = 80   # text output keeps to an 80-column terminal; longer values wrap cleanly


def wrap_list(title: str, items: list[str], width: int = WIDTH) -> list[str]:
    """`title` then the items, comma-separated, wrapped to `width` with a 4-space indent."""
    body = wrap_text(", ".join(items), width - 4)
    return [title, *(f"    {line}" for line in body)]


def wrap_text(text: str, width: int = WIDTH, prefix: str = "", indent: str = "") -> list[str]:
    """`text` wrapped at word boundaries to `width` columns: the first line starts with
    `prefix`, the others with `indent` (names and values are never broken)."""
    import textwrap

    return textwrap.wrap(text, width=width, initial_indent=prefix, subsequent_indent=indent,
                         break_long_words=False, break_on_hyphens=False) or [prefix.rstrip()]


def drift_text(item: Mapping[str, Any]) -> str:
    if item.get("path") is None:
        return f"{item['address']}: {str(item.get('message', '')).lower()}"
    return f"{item['path']}: {value(item.get('before'))} {ARROW} {value(item.get('after'))}"
