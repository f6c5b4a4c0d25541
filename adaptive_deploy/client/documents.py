"""The client's GraphQL operation documents (package data under `client/operations/`).

Each `*.graphql` file except `fragments.graphql` holds one named operation; the fragments it
spreads (transitively) are appended when the documents are loaded, once per process.
"""

from __future__ import annotations

import functools
import re
from importlib import resources

_SPREAD = re.compile(r"\.\.\.\s*(?!on\b)([A-Za-z_]\w*)")
_FRAGMENT = re.compile(r"^fragment\s+([A-Za-z_]\w*)\s+on\b", re.MULTILINE)
_OPERATION = re.compile(r"^(?:query|mutation)\s+([A-Za-z_]\w*)", re.MULTILINE)


def _split_fragments(text: str) -> dict[str, str]:
    starts = [(m.group(1), m.start()) for m in _FRAGMENT.finditer(text)]
    out: dict[str, str] = {}
    for i, (name, start) in enumerate(starts):
        end = starts[i + 1][1] if i + 1 < len(starts) else len(text)
        out[name] = text[start:end].strip()
    return out


def _with_fragments(body: str, fragments: dict[str, str]) -> str:
    needed: list[str] = []
    pending = _SPREAD.findall(body)
    while pending:
        name = pending.pop(0)
        if name in needed:
            continue
        if name not in fragments:
            raise KeyError(f"fragment {name} is not defined in fragments.graphql")
        needed.append(name)
        pending.extend(_SPREAD.findall(fragments[name]))
    return "\n\n".join([body.strip(), *(fragments[n] for n in needed)]) + "\n"


@functools.cache
def load() -> dict[str, str]:
    """Operation name → complete document (operation plus the fragments it uses)."""
    folder = resources.files("adaptive_deploy.client").joinpath("operations")
    texts = {
        entry.name: entry.read_text(encoding="utf-8")
        for entry in folder.iterdir()
        if entry.name.endswith(".graphql")
    }
    fragments = _split_fragments(texts.pop("fragments.graphql", ""))
    documents: dict[str, str] = {}
    for filename, text in sorted(texts.items()):
        match = _OPERATION.search(text)
        if match is None:
            raise ValueError(f"{filename}: no named query or mutation")
        documents[match.group(1)] = _with_fragments(text, fragments)
    return documents


def document(name: str) -> str:
    """The document of operation `name`, e.g. "DeployModel"."""
    return load()[name]
