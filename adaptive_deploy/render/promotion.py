"""Render a promotion (`environments.Promotion.to_dict()`): `diff SOURCE TARGET`.

The changes and the memory impact are the configdiff document and render as `diff --base`
does (render/configdiff.py); this module adds what is particular to environments: the values
the target pins in its own files (kept on promotion, shown rather than hidden), the values the
source sets in its own files that promotion carries over, and the rules' errors on the
promoted configuration. Every value goes through render/escape.py. Renderers
never compute.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from adaptive_deploy.render import configdiff, gfm
from adaptive_deploy.render.diagnostics import relative_file
from adaptive_deploy.render.escape import md_code, md_text
from adaptive_deploy.render.escape import text as esc


def _where(p: Mapping[str, Any]) -> str:
    file = relative_file(p.get("file"))
    return f"{file}:{p['line']}" if file and p.get("line") else (file or "")


def pinned_line(p: Mapping[str, Any], source: str) -> str:
    """One environment-specific value in words (escaped for a terminal)."""
    what = esc(f"{p['address']} {p['path']}".strip())
    theirs = esc(configdiff.value_text(p["source"])) if p["source"] is not None else "nothing"
    where, source = esc(_where(p)), esc(source)
    if p.get("removed"):
        return f"{what}: removed here, {source} has it ({where})"
    return f"{what}: {esc(configdiff.value_text(p['target']))} here, {theirs} in {source} ({where})"


def carried_line(c: Mapping[str, Any], source: str) -> str:
    """One value promotion takes from the source's own files (escaped for a terminal)."""
    what = esc(f"{c['address']} {c['path']}".strip())
    where, source = esc(_where(c)), esc(source)
    if c.get("removed"):
        return f"- {what}: removed in {source} ({where})"
    return f"+ {what}: {esc(configdiff.value_text(c['value']))} ({where})"


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
        out.append(esc(f"  {loc + ': ' if loc else ''}{d['severity']}[{d['code']}]: "
                       f"{d['message']}{path}"))
    return out


def render_text(doc: Mapping[str, Any], *, color: bool = False) -> str:
    source, target = esc(doc["source"]), esc(doc["target"])
    body, summary = _split_summary(configdiff.render_text(doc, color=color))
    # configdiff's first line compares two labels; a promotion says it in its own words.
    body = body.partition("\n")[2].lstrip("\n")
    if doc["changes"]:
        lines = [f"Promoting {source} to {target} would change:", "", body]
    else:
        lines = [f"Promoting {source} to {target} changes nothing."]
    carried = doc.get("source_specific", [])
    if carried:
        lines += ["", f"From {source}'s own files, not its base (promotion carries them to "
                      f"{target}):"]
        lines += [f"  {carried_line(c, doc['source'])}" for c in carried]
    pinned = doc.get("environment_specific", [])
    if pinned:
        lines += ["", f"Environment-specific (set in {target}'s own files; kept on promotion):"]
        lines += [f"  = {pinned_line(p, doc['source'])}" for p in pinned]
    if doc.get("diagnostics"):
        lines += ["", f"Promoting would make {target} invalid:"]
        lines += _diagnostic_lines(doc["diagnostics"])
    if summary:
        lines += ["", summary]
    if carried:
        n = len(carried)
        lines.append(f"From {source}'s own files: {n} value{'s' if n != 1 else ''} carried.")
    if pinned:
        n = len(pinned)
        lines.append(f"Environment-specific: {n} value{'s' if n != 1 else ''} kept.")
    return "\n".join(lines) + "\n"


def render_markdown(doc: Mapping[str, Any]) -> str:
    """A pull-request comment: heading, the promotion's errors first, the configdiff body,
    then the environment-specific values as a table."""
    source, target = md_code(doc["source"]), md_code(doc["target"])
    blocks = [f"### adaptive-deploy promotion: {source} → {target}\n"]
    if doc.get("diagnostics"):
        blocks.append(f"**❌ Promoting would make {target} invalid.**\n")
        blocks += gfm.diagnostics(doc["diagnostics"])
    # configdiff's own heading compares two labels; the rest is the same body.
    blocks.append(configdiff.render_markdown(doc).partition("\n")[2].strip("\n") + "\n")
    carried = doc.get("source_specific", [])
    if carried:
        rows = [[md_code(c["address"]), md_code(c["path"]) if c["path"] else "_all_",
                 "_removed_" if c.get("removed") else md_code(configdiff.value_text(c["value"])),
                 md_code(_where(c))] for c in carried]
        blocks.append("\n".join([
            f"#### From {source}'s own files, not its base: carried to {target}", "",
            f"{md_text(len(carried))} value{'s' if len(carried) != 1 else ''}, possibly meant "
            f"for {source} alone.", "",
            *gfm.table(["resource", "field", "value", "set at"], rows)]))
    pinned = doc.get("environment_specific", [])
    if pinned:
        rows = []
        for p in pinned:
            mine = "_removed_" if p.get("removed") else md_code(configdiff.value_text(p["target"]))
            theirs = ("—" if p["source"] is None
                      else md_code(configdiff.value_text(p["source"])))
            rows.append([md_code(p["address"]), md_code(p["path"]) if p["path"] else "_all_",
                         f"{mine} · {theirs}", md_code(_where(p))])
        blocks.append("\n".join([
            f"#### Environment-specific: set in {target}'s own files, kept", "",
            f"{md_text(len(pinned))} value{'s' if len(pinned) != 1 else ''}; "
            f"{target}'s value · {source}'s.", "",
            *gfm.table(["resource", "field", "values", "set at"], rows)]))
    return gfm.truncate(blocks, gfm.MAX_CHARS,
                        "Run `adaptive-deploy diff SOURCE TARGET --format json` for all of it.")


def render_json(doc: Mapping[str, Any]) -> str:
    return configdiff.render_json(doc)
