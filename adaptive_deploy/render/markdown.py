"""The plan as a pull-request comment (GitHub-flavoured Markdown), built from the shared
blocks of `render.gfm` so it reads like the drift issue and the config-diff comment.

Order: the summary line; a destroy warning and a can't-apply warning; notes; diagnostics;
drift ("Changed outside adaptive-deploy"); the changes table with the field diff of each
resource in `<details>` (one per resource, or one per kind of change when there are more
than `gfm.MANY`); the memory table; unmanaged objects. Bodies over `max_chars` are cut at a
block boundary with a note (GitHub refuses comments over 65,536 characters).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adaptive_deploy.plan.model import redact
from adaptive_deploy.render import _plan_common as fmt
from adaptive_deploy.render import gfm
from adaptive_deploy.render.escape import md_code, md_text

MAX_CHARS = gfm.MAX_CHARS

_KIND_ORDER = ("delete", "replace", "forget", "create", "update", "run")
_KIND_TITLE = {"delete": "destroy", "replace": "restart in place", "forget": "forget",
               "create": "create", "update": "update", "run": "run"}
_DIFF_SYMBOL = {"+": "+", "-": "-", "~": "!"}   # diff fences colour + green, - red, ! orange


def render(plan: Mapping[str, Any], *, max_chars: int = MAX_CHARS) -> str:
    """The plan document as Markdown of at most about `max_chars` characters."""
    doc = redact(dict(plan))
    return gfm.truncate(
        _blocks(doc), max_chars,
        "Run `adaptive-deploy plan` locally, or use `--format json` / `--out FILE` (e.g. as a "
        "CI artifact) to see the full plan.",
    )


def _summary(doc: Mapping[str, Any]) -> str:
    line = fmt.summary_line(doc)
    ws = md_code(str(doc.get("workspace") or "?"))
    return f"**{md_text(line)}** Workspace {ws}."


def _kind(c: Mapping[str, Any]) -> str:
    return "replace" if c.get("replace") else str(c["action"])


def _blocks(doc: Mapping[str, Any]) -> list[str]:
    out = [_summary(doc) + "\n"]
    changes = doc.get("changes") or []
    destroys = [c for c in changes if c["action"] == "delete"]
    if destroys:
        names = ", ".join(md_code(c["address"]) for c in destroys)
        out.append(f"> ⚠️ **This plan destroys {len(destroys)} "
                   f"resource{'s' if len(destroys) != 1 else ''}:** {names}\n")
    models = doc.get("deleted_models") or []
    if models:
        names = ", ".join(md_code(m) for m in models)
        out.append(f"> ⚠️ **This plan deletes {'models' if len(models) != 1 else 'model'} "
                   f"{names} from storage:** it removes the last project binding, and the "
                   "platform then deletes the model (unless published organisation-wide).\n")
    if not doc.get("applyable", True):
        out.append("> ❌ **This plan cannot be applied:** fix the errors under Diagnostics.\n")
    for note in doc.get("notes") or []:
        out.append(f"> ℹ️ {md_text(note)}\n")  # noqa: RUF001 (the information sign is meant)
    out.append("\n".join(gfm.diagnostics(doc.get("diagnostics") or [])))
    out.append("\n".join(_drift(doc.get("drift") or [])))
    active = [c for c in changes if c["action"] != "no-op"]
    if active:
        rows = [[f"`{c['symbol']}`", md_code(c["address"]), _action_cell(c)] for c in active]
        out.append("\n".join(["#### Changes", "", *gfm.table(["", "resource", "action"], rows)]))
        if len(active) > gfm.MANY:
            for kind in _KIND_ORDER:
                group = [c for c in active if _kind(c) == kind]
                if group:
                    out.append("\n".join(_kind_details(kind, group)))
        else:
            out += ["\n".join(_resource_details(c)) for c in active]
    memory = doc.get("memory") or []
    if memory:
        out.append("\n".join(["#### GPU memory per GPU", "", *gfm.memory_table(memory)]))
    unmanaged = doc.get("unmanaged") or []
    if unmanaged:
        out.append("\n".join(gfm.details(
            f"Unmanaged (not in this workspace; left alone): {len(unmanaged)}",
            [f"- {md_code(a)}" for a in unmanaged],
        )))
    return [b for b in out if b]


def _drift(items: list[Mapping[str, Any]]) -> list[str]:
    if not items:
        return []
    rows = []
    for item in items:
        if item.get("path") is None:
            rows.append([md_code(item["address"]), "—",
                         md_text(str(item.get("message", "")).lower())])
        else:
            rows.append([md_code(item["address"]), md_code(item["path"]),
                         f"{md_code(fmt.value(item.get('before')))} → "
                         f"{md_code(fmt.value(item.get('after')))}"])
    return ["#### Changed outside adaptive-deploy", "",
            *gfm.table(["resource", "field", "last applied → live"], rows)]


def _action_cell(c: Mapping[str, Any]) -> str:
    cell = md_text(_KIND_TITLE[_kind(c)])
    if c.get("deletes_model"):
        cell += f" — **deletes model {md_code(str(c['deletes_model']))}**"
    return cell


def _field_lines(c: Mapping[str, Any], indent: str = "") -> list[str]:
    """Diff lines of one change; a field's remark and the change's notes go on lines of
    their own (`#`), so nothing hides behind a horizontal scroll."""
    lines = []
    if c.get("deletes_model"):
        lines.append(f"- {indent}{fmt.deletes_model_text(c)}")
    for d in c.get("diff", []):
        sym = _DIFF_SYMBOL[fmt.field_symbol(d)]
        lines.append(f"{sym} {indent}{fmt.field_text(d)}")
        remark = fmt.field_remark(d)
        if remark:
            lines.append(f"# {indent}  {remark.strip('()')}")
    for note in c.get("notes", []):
        # GitHub's comment column holds about 80 characters of code: wrap, never scroll.
        lines += fmt.wrap_text(note, prefix=f"# {indent}", indent=f"# {indent}  ")
    return lines


def _resource_details(c: Mapping[str, Any]) -> list[str]:
    summary = f"{gfm.code_summary(c['symbol'] + ' ' + c['address'])} {_KIND_TITLE[_kind(c)]}"
    body = _field_lines(c) or ["# no field changes"]
    return gfm.details(summary, gfm.fence(body, "diff"))


def _kind_details(kind: str, group: list[Mapping[str, Any]]) -> list[str]:
    lines: list[str] = []
    for c in group:
        sym = {"+": "+", "-": "-", "-/+": "!", "~": "!", ">": "+", "/": "-"}.get(c["symbol"], " ")
        lines.append(f"{sym} {c['address']}")
        lines += _field_lines(c, indent="    ")
    n = len(group)
    summary = f"<code>{group[0]['symbol']}</code> {_KIND_TITLE[kind]}: {n} resource" + \
        ("s" if n != 1 else "")
    return gfm.details(summary, gfm.fence(lines, "diff"))
