"""Render a promotion (`environments.Promotion.to_dict()`): `diff SOURCE TARGET`.

The changes and the memory impact are the configdiff document and render as `diff --base`
does (render/configdiff.py); this module adds what is particular to environments: the values
the target pins in its own files (kept on promotion, shown rather than hidden) and the rules'
errors on the promoted configuration. Renderers never compute.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from adaptive_deploy.render import configdiff
from adaptive_deploy.render.diagnostics import relative_file


def _where(p: Mapping[str, Any]) -> str:
    file = relative_file(p.get("file"))
    return f"{file}:{p['line']}" if file and p.get("line") else (file or "")


def pinned_line(p: Mapping[str, Any], source: str) -> str:
    """One environment-specific value in words."""
    what = f"{p['address']} {p['path']}".strip()
    theirs = configdiff.value_text(p["source"]) if p["source"] is not None else "nothing"
    if p.get("removed"):
        return f"{what}: removed here, {source} has it ({_where(p)})"
    return (f"{what}: {configdiff.value_text(p['target'])} here, {theirs} in {source} "
            f"({_where(p)})")


def _split_summary(text: str) -> tuple[str, str]:
    """The configdiff text without its final `Diff: ...` line, and that line."""
    body, _, last = text.rstrip("\n").rpartition("\n")
    if last.startswith("Diff: "):
        return body.rstrip("\n"), last
    return text.rstrip("\n"), ""


def _diagnostic_lines(items: Sequence[Mapping[str, Any]]) -> list[str]:
    out = []
    for d in items:
        loc = ":".join(str(v) for v in (relative_file(d.get("file")), d.get("line"),
                                        d.get("column")) if v)
        path = f" ({d['path']})" if d.get("path") else ""
        out.append(f"  {loc + ': ' if loc else ''}{d['severity']}[{d['code']}]: "
                   f"{d['message']}{path}")
    return out


def render_text(doc: Mapping[str, Any], *, color: bool = False) -> str:
    source, target = doc["source"], doc["target"]
    body, summary = _split_summary(configdiff.render_text(doc, color=color))
    # configdiff's first line compares two labels; a promotion says it in its own words.
    body = body.partition("\n")[2].lstrip("\n")
    if doc["changes"]:
        lines = [f"Promoting {source} to {target} would change:", "", body]
    else:
        lines = [f"Promoting {source} to {target} changes nothing."]
    pinned = doc.get("environment_specific", [])
    if pinned:
        lines += ["", f"Environment-specific (set in {target}'s own files; kept on promotion):"]
        lines += [f"  = {pinned_line(p, source)}" for p in pinned]
    if doc.get("diagnostics"):
        lines += ["", f"Promoting would make {target} invalid:"]
        lines += _diagnostic_lines(doc["diagnostics"])
    if summary:
        lines += ["", summary]
    if pinned:
        n = len(pinned)
        lines.append(f"Environment-specific: {n} value{'s' if n != 1 else ''} kept.")
    return "\n".join(lines) + "\n"


def _md(value: str) -> str:
    return value.replace("|", "\\|").replace("\n", " ").replace("`", "'")


def render_markdown(doc: Mapping[str, Any]) -> str:
    source, target = doc["source"], doc["target"]
    text = configdiff.render_markdown(doc)
    rest = text.partition("\n")[2]
    lines = [f"### adaptive-deploy promotion: `{_md(source)}` → `{_md(target)}`",
             rest.rstrip("\n")]
    pinned = doc.get("environment_specific", [])
    if pinned:
        lines += ["", f"#### Environment-specific (set in `{_md(target)}`'s own files; kept)", "",
                  f"| address | field | `{_md(target)}` | `{_md(source)}` | set at |",
                  "|---|---|---|---|---|"]
        for p in pinned:
            mine = "removed" if p.get("removed") else f"`{_md(configdiff.value_text(p['target']))}`"
            theirs = ("—" if p["source"] is None
                      else f"`{_md(configdiff.value_text(p['source']))}`")
            path = f"`{_md(p['path'])}`" if p["path"] else "(all)"
            lines.append(f"| `{_md(p['address'])}` | {path} | {mine} | {theirs} | "
                         f"{_md(_where(p))} |")
    if doc.get("diagnostics"):
        lines += ["", f"#### ❌ Promoting would make `{_md(target)}` invalid", ""]
        lines += [f"- {_md(line.strip())}" for line in _diagnostic_lines(doc["diagnostics"])]
    return "\n".join(lines) + "\n"


def render_json(doc: Mapping[str, Any]) -> str:
    return configdiff.render_json(doc)
