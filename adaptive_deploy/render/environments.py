"""Render what is particular to environments: the heading of a directory checked by
`validate`/`fit` (workspace, environment over its base, or base), and `validate --explain`.
Renderers never compute."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from adaptive_deploy.render.configdiff import value_text
from adaptive_deploy.render.diagnostics import relative_file
from adaptive_deploy.render.escape import text as esc

_ACTION = {"sets": "sets", "overrides": "overrides with", "merges": "merges into it",
           "removes": "removes it"}


def heading(check: Mapping[str, Any]) -> str:
    """`envs/staging: environment over ../base` and the like (DirectoryCheck.to_dict())."""
    directory, kind = esc(check["directory"]), check["kind"]
    if kind == "environment":
        chain = " → ".join(esc(relative_file(layer["directory"])) for layer in check["layers"][1:])
        return f"{directory}: environment over {chain}"
    if kind == "base":
        return f"{directory}: base"
    return f"{directory}: workspace"


def _short(value: Any) -> str:
    text = esc(value_text(value))
    return text if len(text) <= 70 else text[:67] + "..."


def explain_text(doc: Mapping[str, Any]) -> str:
    """An explanation (overlay.Explanation.to_dict()) in words, base first."""
    path = esc(doc["path"])
    if doc["defined"]:
        where = esc(":".join(str(v) for v in (relative_file(doc["file"]), doc["line"],
                                              doc["column"]) if v))
        lines = [f"{path} = {_short(doc['value'])}", f"  final value at {where}"]
    else:
        lines = [f"{path} is not in the merged configuration"]
    for step in doc["layers"]:
        where = esc(":".join(str(v) for v in (relative_file(step["file"]), step["line"],
                                              step["column"]) if v))
        what = _ACTION[step["action"]]
        value = f" {_short(step['value'])}" if step["action"] in ("sets", "overrides") else ""
        lines.append(f"  {step['role']:<11} {esc(relative_file(step['directory']))} {what}{value}"
                     f"  ({where})")
    return "\n".join(lines) + "\n"


def explain_json(items: Sequence[Mapping[str, Any]]) -> str:
    return json.dumps({"explain": list(items)}, indent=2, ensure_ascii=False) + "\n"
