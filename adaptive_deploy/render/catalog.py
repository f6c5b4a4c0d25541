"""Render the catalog (`adaptive-deploy catalog`): architectures, GPUs and weight formats.

Building is separate from printing: `entries` selects and describes what matches a query,
`render_text` / `render_json` lay it out. Sizes are computed by rules.memory; this module
only formats them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

GIB = 1 << 30


@dataclass(frozen=True)
class CatalogView:
    """What `catalog [QUERY]` shows: one dict per architecture, GPU and weight format."""

    architectures: list[dict[str, Any]] = field(default_factory=list)
    gpus: list[dict[str, Any]] = field(default_factory=list)
    formats: list[dict[str, Any]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.architectures or self.gpus or self.formats)

    def to_dict(self) -> dict[str, Any]:
        return {"architectures": self.architectures, "gpus": self.gpus, "formats": self.formats}


def _matches(query: str | None, *names: str | None) -> bool:
    if not query:
        return True
    q = "".join(query.lower().split())
    return any(n and q in "".join(n.lower().split()) for n in names)


def entries(query: str | None = None) -> CatalogView:
    """The catalog entries whose name, alias, Hugging Face name or live GPU string contains
    `query` (case- and space-insensitive; everything when None)."""
    from adaptive_deploy.rules import catalog, memory

    view = CatalogView()
    for a in catalog.architectures().values():
        if not _matches(query, a.name, a.hf_name, a.family, *a.aliases):
            continue
        kv = memory.kv_bytes_per_token(a)
        kind = "MoE" if a.moe else "dense"
        if a.mla:
            kind += ", MLA"
        if a.sliding_window:
            kind += f", {a.sliding_window.local_layers}/{a.num_layers} layers window {a.sliding_window.window}"
        view.architectures.append({
            "name": a.name,
            "hf_name": a.hf_name,
            "family": a.family,
            "kind": kind,
            "params_b": round(memory.param_counts(a).total / 1e9, 2),
            "precision": a.precision,
            "weights_gib": round(memory.weight_bytes(a, a.precision) / GIB, 2),
            "kv_bytes_per_token": int(kv.full + kv.local),
            "num_kv_heads": 1 if a.mla else a.num_kv_heads,
            "max_position_embeddings": a.max_position_embeddings,
            "aliases": list(a.aliases),
            "source": a.source,
        })
    for g in catalog.gpus().values():
        if not _matches(query, g.name, *g.aliases, *g.live_names):
            continue
        view.gpus.append({
            "name": g.name,
            "cuda_total_gib": round(g.cuda_total_bytes / GIB, 2),
            "class": g.gpu_class,
            "live_names": list(g.live_names),
            "aliases": list(g.aliases),
            "source": g.source,
        })
    for f in catalog.weight_formats().values():
        if _matches(query, f.name):
            view.formats.append({"name": f.name, "bytes_per_param": f.bytes,
                                 "quantizes": f.quantizes, "description": f.description})
    return view


def _table(headers: list[str], rows: list[list[str]], right: set[int]) -> list[str]:
    widths = [max(len(x) for x in col) for col in zip(headers, *rows, strict=False)]
    out = []
    for k, cells in enumerate([headers, *rows]):
        parts = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))]
        out.append(("  " + "  ".join(parts)).rstrip())
        if k == 0:
            out.append("  " + "  ".join("-" * w for w in widths))
    return out


def render_text(view: CatalogView) -> str:
    """Plain, colourless tables (deterministic)."""
    if view.empty:
        return "Nothing in the catalog matches.\n"
    lines: list[str] = []
    if view.architectures:
        lines.append(f"Architectures ({len(view.architectures)}); weights in their published format:")
        rows = [[a["name"], a["kind"], f"{a['params_b']:.2f}", a["precision"], f"{a['weights_gib']:.2f}",
                 f"{a['kv_bytes_per_token']:,}", ", ".join(a["aliases"])] for a in view.architectures]
        lines += _table(["name", "kind", "params (B)", "format", "weights GiB", "KV B/token", "aliases"],
                        rows, {2, 4, 5})
        lines.append("")
    if view.gpus:
        lines.append(f"GPUs ({len(view.gpus)}):")
        rows = [[g["name"], f"{g['cuda_total_gib']:.2f}", g["class"], ", ".join(g["live_names"])]
                for g in view.gpus]
        lines += _table(["name", "CUDA GiB", "class", "live names"], rows, {1})
        lines.append("")
    if view.formats:
        lines.append("Weight formats (precision):")
        rows = [[f["name"], f"{f['bytes_per_param']:g}", f["description"]] for f in view.formats]
        lines += _table(["name", "bytes/param", "what"], rows, {1})
        lines.append("")
    return "\n".join(lines)


def render_json(view: CatalogView) -> str:
    return json.dumps(view.to_dict(), indent=2) + "\n"
