"""render.drift: text, JSON and markdown from a report document (no computing in renderers)."""

from __future__ import annotations

import json
from typing import Any

from adaptive_deploy.render import drift as render

FINDINGS: list[dict[str, Any]] = [
    {"address": "model.m", "type": "model", "field": "kv_cache_len", "kind": "drift",
     "last_applied": 200000, "live": 100000, "desired": 200000,
     "message": "changed outside adaptive-deploy", "observable": True},
    {"address": "deployment.p/a", "type": "deployment", "field": None, "kind": "drift",
     "last_applied": {"compute_pools": ["pool-1"]}, "live": None,
     "desired": {"compute_pools": ["pool-1"]}, "message": "Deleted outside adaptive-deploy",
     "observable": True},
    {"address": "project.p", "type": "project", "field": "name", "kind": "pending",
     "last_applied": "a|b", "live": "a|b", "desired": "c`d", "message": "edited",
     "observable": True},
    {"address": "deployment.p/m", "type": "deployment", "field": "num_draft_steps",
     "kind": "pending", "last_applied": 4, "live": None, "desired": 6, "message": "edited",
     "observable": False},
]


def _report(findings: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    findings = FINDINGS if findings is None else findings
    kinds = {k: sum(1 for f in findings if f["kind"] == k) for k in ("drift", "pending", "both")}
    return {"format_version": "1.0", "workspace": "prod", "checked_at": "2026-01-02T03:04:05Z",
            "summary": {**kinds, "total": len(findings), "unobservable": 0},
            "has_drift": bool(findings), "findings": findings,
            "unobservable": [], "unmanaged": [], "diagnostics": [], **extra}


def test_text_groups_by_kind_with_all_values() -> None:
    out = render.render(_report(), "text", directory="deploy/")
    assert out.index("Changed outside adaptive-deploy (live") < out.index("Pending in the configuration")
    assert "  [drift] model.m kv_cache_len: last applied 200000, live 100000, config 200000\n" in out
    assert "[drift] deployment.p/a: Deleted outside adaptive-deploy" in out
    assert '      last applied {compute_pools: ["pool-1"]}\n      live (none)\n      config' in out
    assert ("  [pending] deployment.p/m num_draft_steps\n"
            "      last applied 4, live (not observable), config 6\n") in out
    # 80 columns: every line but the one-line summary
    assert max(len(line) for line in out.splitlines() if not line.startswith("Drift:")) <= 80
    assert "Drift: 2 changed outside adaptive-deploy, 2 pending in the configuration, 0 both." in out
    assert "adaptive-deploy apply deploy/" in out


def test_text_without_findings() -> None:
    report = _report([], unobservable=[{"address": "deployment.p/m", "field": "num_draft_steps",
                                       "last_applied": 4, "message": "x"}],
                     unmanaged=["project.other"])
    out = render.render(report, "text")
    assert out.endswith("No drift. The platform matches the last applied state and the "
                        "configuration.\n")
    assert "deployment.p/m num_draft_steps: last applied 4" in out
    assert "not counted as drift" in out and "project.other" in out
    assert "apply" not in out.split("No drift.")[1]


def test_json_is_the_document() -> None:
    report = _report()
    assert json.loads(render.render(report, "json")) == report


def test_markdown_issue_body_escapes_cells() -> None:
    out = render.render(_report(), "markdown", directory="deploy/")
    lines = out.splitlines()
    assert lines[0] == "## Drift detected in workspace `prod`"
    table = [line for line in lines if line.startswith("| ")]
    # one narrow table per kind (drift, pending): a header and rule each, one row per finding
    assert len(table) == 2 * 2 + len(FINDINGS)
    assert all(line.count(" | ") == 3 for line in table), table
    assert "`\"a\\|b\"`" in out                   # pipes inside values cannot break the table
    assert '`` "c`d" ``' in out                    # backticks fenced by double ones
    assert "_not observable_" in out
    assert "`adaptive-deploy apply deploy/`" in out and "### How to fix" in out


def test_markdown_is_truncated_below_the_issue_limit() -> None:
    many = [dict(FINDINGS[0], address=f"model.m{i}") for i in range(2000)]
    out = render.render_markdown(_report(many), max_chars=20_000)
    assert len(out) <= 20_000
    assert "Output truncated" in out and "### How to fix" in out
    assert out.count("<details>") == out.count("</details>")
