"""Text output at 80 columns: `fit`, the plan's memory table, drift lines and the unmanaged
list fit or wrap cleanly (a long name on a line of its own, never cut), in a fixed-width
console as a terminal would show them."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from adaptive_deploy.config.loader import load_config
from adaptive_deploy.render import drift, fit, text
from adaptive_deploy.rules.memory import fit_report
from tests.render.test_plan_renderers import scenario

ROOT = Path(__file__).resolve().parents[2]


def _widest(out: str) -> int:
    return max(len(line) for line in out.splitlines())


def _console_lines(renderables: list[object]) -> list[str]:
    buf = io.StringIO()
    console = Console(file=buf, width=80, no_color=True, force_terminal=False, highlight=False)
    for item in renderables:
        console.print(item)
    return buf.getvalue().splitlines()


def test_fit_fits_80_columns_for_every_example() -> None:
    for example in sorted((ROOT / "examples").iterdir()):
        if not (example / "adaptive-deploy.yaml").exists():
            continue
        loaded = load_config(example)
        assert loaded.workspace is not None
        rows = fit_report(loaded.workspace)
        out = fit.render_text(rows)
        assert _widest(out) <= 80, (example.name, out)
        # The live console at 80 columns prints the same lines: rich never had to wrap.
        lines = _console_lines(fit.renderables(rows))
        assert [ln.rstrip() for ln in lines] == [ln.rstrip() for ln in out.splitlines()]


def test_fit_bar_shows_what_is_needed_past_the_usable_mark() -> None:
    loaded = load_config(ROOT / "examples" / "quickstart")
    assert loaded.workspace is not None
    [row] = fit_report(loaded.workspace)
    assert fit.OVER not in fit.bar(row)
    ws = loaded.workspace
    cc = ws.models["qwen-3-8b"].compute_config
    assert cc is not None
    big = ws.model_copy(update={"models": {**ws.models, "qwen-3-8b": ws.models["qwen-3-8b"]
                                           .model_copy(update={"compute_config": cc.model_copy(
                                               update={"kv_cache_len": 600_000})})}})
    [over] = fit_report(big)
    drawn = fit.bar(over)
    mark = drawn.index(fit.USABLE)
    assert set(drawn[mark + 1:]) <= {fit.OVER, fit.FREE} and fit.OVER in drawn[mark + 1:]


def test_plan_text_memory_table_and_unmanaged_list_wrap_cleanly() -> None:
    doc = scenario()
    doc["unmanaged"] = [f"deployment.sandbox-{i}/qwen-3-8b" for i in range(12)]
    out = text.render(doc)
    lines = out.splitlines()
    body = [ln for ln in lines if "warning[" not in ln]   # diagnostics keep FILE:LINE form
    assert max(len(ln) for ln in body) <= 80, out
    # the long deployment name sits on its own line, its numbers below it, nothing cut
    at = lines.index("  support/qwen-3-8b_accelerated")
    assert "pool-2 (H200-141GB)" in lines[at + 1] and "new 41.5" in lines[at + 1]
    start = lines.index("Unmanaged (not in this workspace; left alone):")
    listed = " ".join(lines[start + 1:lines.index("", start)])
    assert listed.count("deployment.sandbox-") == 12


def test_drift_lines_wrap_at_80_columns() -> None:
    finding = {"address": "deployment.customer-support/qwen-3-8b_accelerated",
               "type": "deployment", "field": "compute_pools", "kind": "drift",
               "last_applied": ["pool-1", "pool-2"], "live": ["pool-1"],
               "desired": ["pool-1", "pool-2"], "message": "changed outside adaptive-deploy",
               "observable": True}
    report = {"workspace": "prod", "summary": {"drift": 1}, "findings": [finding],
              "unobservable": [], "diagnostics": [],
              "unmanaged": [f"project.p{i}" for i in range(30)]}
    out = drift.render_text(report)
    assert max(len(ln) for ln in out.splitlines() if not ln.startswith("Drift:")) <= 80, out
    assert ("  [drift] deployment.customer-support/qwen-3-8b_accelerated compute_pools\n"
            "      last applied") in out
