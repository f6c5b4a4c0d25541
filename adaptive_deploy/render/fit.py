"""Render `fit` rows (rules.memory.FitRow): a breakdown table and a stacked bar per GPU.

Building is separate from printing: `renderables` returns rich objects for a live console,
`render_text` / `render_json` / `render_markdown` return strings. Nothing here computes memory;
it only lays out what `rules.memory.fit_report` produced. Text is deterministic at a fixed
width (no colour), so it can be compared against golden files.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

from adaptive_deploy.render.escape import text as esc

if TYPE_CHECKING:
    from rich.console import RenderableType

    from adaptive_deploy.rules.memory import FitRow

GIB = 1 << 30
WIDTH = 80          # text output fits an 80-column terminal (longer names wrap cleanly)
BAR_WIDTH = 40
WEIGHTS, KV, DRAFT, OTHER, FREE, USABLE, OVER = "█", "▓", "▒", "░", "·", "|", "!"
LEGEND = (
    f"{WEIGHTS} weights  {KV} KV cache  {DRAFT} draft (weights + KV)  "
    f"{OTHER} adapters + overhead",
    f"{FREE} free  {USABLE} usable limit  {OVER} needed past the usable limit",
)
VERDICT_STYLE = {"fits": "green", "tight": "yellow", "does-not-fit": "bold red", "unchecked": "magenta"}


def _name(row: FitRow) -> str:
    return row.deployment.removeprefix("deployment.")


def _gib(value: float | None) -> str:
    return "-" if value is None else f"{value / GIB:.1f}"


def _tokens(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def bar(row: FitRow, width: int = BAR_WIDTH) -> str:
    """The stacked bar of one row: the scale is the GPU's CUDA total (or the need when it is
    larger); the usable limit is drawn as `|`. Empty for an unchecked row."""
    b = row.breakdown
    if b is None:
        return ""
    scale = max(float(b.cuda_total), b.total)
    segments = [
        (WEIGHTS, b.weights), (KV, b.kv), (DRAFT, b.draft), (OTHER, b.adapters + b.overhead),
    ]
    chars: list[str] = []
    cumulative = 0.0
    for char, size in segments:
        # Cumulative rounding keeps the bar's total length exact whatever the segment sizes.
        start = round(cumulative / scale * width)
        cumulative += size
        chars.extend(char * (round(cumulative / scale * width) - start))
    chars.extend(FREE * (width - len(chars)))
    mark = min(width - 1, round(b.usable / scale * width))
    # What is needed past the usable limit shows as OVER, so an overflow is visible at once.
    for i in range(mark + 1, width):
        if chars[i] != FREE:
            chars[i] = OVER
    if b.total > b.usable and OVER not in chars[mark + 1:] and mark + 1 < width:
        chars[mark + 1] = OVER   # an overflow smaller than one character still shows
    chars[mark] = USABLE
    return "".join(chars)


def summary(rows: Sequence[FitRow]) -> dict[str, int]:
    """Count of rows per verdict."""
    counts = {"fits": 0, "tight": 0, "does-not-fit": 0, "unchecked": 0}
    for row in rows:
        counts[row.verdict] += 1
    return counts


def summary_line(rows: Sequence[FitRow]) -> str:
    """`N fit, N tight, N do not fit, N unchecked.`"""
    c = summary(rows)
    return (
        f"{c['fits']} fit, {c['tight']} tight, {c['does-not-fit']} do not fit, "
        f"{c['unchecked']} unchecked."
    )


# The table keeps to WIDTH columns: the memory breakdown of each row goes on a line of its
# own below it (weights, KV, draft, adapter slots, overhead), and a deployment name too long
# for its column goes on its own line above its numbers.
COLUMNS = ("deployment", "tp", "KV len", "total", "free", "verdict", "max KV len")
_LEFT = {"deployment", "verdict"}


def _cells(row: FitRow) -> list[str]:
    b = row.breakdown
    return [
        _name(row), str(row.tp), _tokens(row.kv_cache_len),
        _gib(b.total if b else None), _gib(b.headroom if b else None), row.verdict,
        _tokens(b.max_kv_cache_len if b else None),
    ]


def _breakdown(row: FitRow) -> str:
    b = row.breakdown
    if b is None:
        return f"not checked: {row.reason}"
    return (f"weights {_gib(b.weights)} + KV {_gib(b.kv)} + draft {_gib(b.draft)} + "
            f"adapters {_gib(b.adapters)} + overhead {_gib(b.overhead)} GiB")


def _groups(rows: Sequence[FitRow]) -> list[tuple[str, list[FitRow]]]:
    """Rows grouped by pool and GPU, in first-seen order, with a heading per group."""
    groups: dict[tuple[str, str | None], list[FitRow]] = {}
    for row in rows:
        groups.setdefault((row.pool, row.gpu), []).append(row)
    out = []
    for (pool, gpu), members in groups.items():
        b = next((r.breakdown for r in members if r.breakdown), None)
        if b is None:
            heading = f"{pool} · {gpu or 'unknown GPU'}"
        else:
            heading = (
                f"{pool} · {gpu} · usable {b.usable / GIB:.1f} GiB per GPU "
                f"({b.utilization:.0%} of {b.cuda_total / GIB:.1f} GiB)"
            )
        out.append((heading, members))
    return out


def table_lines(rows: Sequence[FitRow], width: int = WIDTH) -> list[str]:
    """The breakdown table as plain lines of at most `width` columns: per pool a heading (GPU,
    usable per GPU), then per deployment its row (per-GPU GiB, verdict, the largest
    kv_cache_len that fits) and its breakdown, then the stacked bars. Nothing is truncated:
    a name too long for its column gets a line of its own."""
    lines: list[str] = []
    for heading, members in _groups(rows):
        cells = [list(COLUMNS), *(_cells(r) for r in members)]
        widths = [max(len(c[i]) for c in cells) for i in range(len(COLUMNS))]
        rest = 2 + sum(widths[1:]) + 2 * (len(COLUMNS) - 1)
        widths[0] = max(len(COLUMNS[0]), min(widths[0], width - rest))
        lines.append(heading)
        for k, row_cells in enumerate(cells):
            name = row_cells[0]
            if len(name) > widths[0]:
                lines.append(f"  {name}")
                row_cells = ["", *row_cells[1:]]
            parts = [
                c.ljust(w) if COLUMNS[i] in _LEFT else c.rjust(w)
                for i, (c, w) in enumerate(zip(row_cells, widths, strict=True))
            ]
            lines.append(("  " + "  ".join(parts)).rstrip())
            if k == 0:
                lines.append("  " + "  ".join("-" * w for w in widths))
            else:
                lines.append(f"    {_breakdown(members[k - 1])}")
        lines.append("")
        # The bar shrinks (down to 24) to keep the name on its line; else the name goes above.
        name_width = max(len(_name(r)) for r in members)
        numbers = len("999.9 / 999.9 GiB")
        bar_width = min(BAR_WIDTH, width - 2 - name_width - 2 - 2 - numbers)
        inline = bar_width >= 24
        if not inline:
            bar_width = min(BAR_WIDTH, width - 2 - 2 - numbers)
        for row in members:
            b = row.breakdown
            label = f"  {_name(row).ljust(name_width)}  " if inline else "  "
            if not inline:
                lines.append(f"  {_name(row)}")
            if b is None:
                lines.append(f"{label}not checked")
            else:
                lines.append(f"{label}{bar(row, bar_width)}  "
                             f"{b.total / GIB:.1f} / {b.usable / GIB:.1f} GiB")
        lines.append("")
    return lines


def renderables(rows: Sequence[FitRow]) -> list[RenderableType]:
    """Everything `fit` prints in text, as rich renderables (verdicts coloured)."""
    from rich.text import Text

    if not rows:
        return [Text("No deployments to fit.")]
    body = Text("\n".join(esc(line) for line in table_lines(rows)))
    for verdict, style in VERDICT_STYLE.items():
        body.highlight_regex(rf"(?<=\s){verdict}(?=\s)", style)
    return [
        Text("GPU memory per GPU (GiB)\n"),
        body,
        Text(f"Legend: {LEGEND[0]}\n        {LEGEND[1]}"),
        Text(summary_line(rows)),
    ]


def render_text(rows: Sequence[FitRow]) -> str:
    """The text report without colour: plain lines, never wrapped, so it is deterministic."""
    if not rows:
        return "No deployments to fit.\n"
    lines = ["GPU memory per GPU (GiB)", "", *table_lines(rows), f"Legend: {LEGEND[0]}",
             f"        {LEGEND[1]}", summary_line(rows)]
    return "\n".join(esc(line) for line in lines) + "\n"


def render_json(rows: Sequence[FitRow]) -> str:
    """`{"memory": [FitRow.to_dict()...], "summary": {verdict: count}}` as indented JSON."""
    doc = {"memory": [r.to_dict() for r in rows], "summary": summary(rows)}
    return json.dumps(doc, indent=2) + "\n"


def render_markdown(rows: Sequence[FitRow]) -> str:
    """A GitHub-flavoured Markdown table in the plan comment's style (render.gfm): five
    columns that fit a comment's width, the breakdown under each pool's table."""
    from adaptive_deploy.render import gfm
    from adaptive_deploy.render.escape import md_code, md_text

    body = []
    breakdowns = []
    for row in rows:
        b = row.breakdown
        name = md_code(_name(row))
        body.append([
            name, f"{md_code(row.pool)} {md_text(row.gpu or '?')}",
            f"tp {row.tp} · {_tokens(row.kv_cache_len)}",
            f"{_gib(b.total if b else None)} / {_gib(b.usable if b else None)}",
            gfm.verdict(row.verdict),
        ])
        breakdowns.append(f"- {name} on {md_code(row.pool)}: {md_text(_breakdown(row))}"
                          + (f"; largest `kv_cache_len` that fits: "
                             f"{_tokens(b.max_kv_cache_len)}" if b else ""))
    lines = gfm.table(["deployment", "pool (GPU)", "tp · KV tokens", "GiB per GPU / usable",
                       "verdict"], body)
    return "\n".join([*lines, *breakdowns, "", f"**{md_text(summary_line(rows))}**"]) + "\n"
