"""Plan renderers (text, JSON, Markdown): golden outputs, ordering, redaction, truncation."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from adaptive_deploy.diagnostics import warning
from adaptive_deploy.render import json_, markdown, text
from tests.plan.builders import (
    live,
    live_deployment,
    live_model,
    live_project,
    plan,
    snapshot,
    workspace,
)

GOLDEN = Path(__file__).parent / "golden"
TEMPLATE = "${env:HF_TOKEN}"


def scenario() -> dict[str, Any]:
    """A plan with drift, every action, write-only and sensitive fields, memory rows,
    a diagnostic and an unmanaged object."""
    ws = workspace(
        models={
            "qwen-3-8b": {"compute_config": {"tp": 1, "kv_cache_len": 400000}},
            "qwen-3-8b_accelerated": {"produced_by": "train-qwen-draft",
                                      "compute_config": {"tp": 2}},
        },
        projects={"support": {"name": "Customer support", "deployments": {
            "qwen-3-8b": {"placement": {"compute_pools": ["pool-1", "pool-2"],
                                        "max_ttft_ms": 30000}, "is_default": True},
            "qwen-3-8b_accelerated": {"placement": {"compute_pools": ["pool-2"]},
                                      "num_draft_steps": 4, "desired_online": True,
                                      "protect": True},
        }}},
        jobs={"train-qwen-draft": {"recipe": "specdec_alignment", "project": "support",
                                   "num_gpus": 2,
                                   "args": {"target_model": "qwen-3-8b", "hf_token": TEMPLATE}}},
    )
    lv = live(
        live_model("qwen-3-8b", tp=1, kv_cache_len=300000),
        live_model("old-model", tp=1),
        live_model("llama", tp=1),
        live_project("support", "Customer support"),
        live_project("old", "Old"),
        live_project("sandbox"),
        live_deployment("support", "qwen-3-8b", compute_pools=["pool-1"], max_ttft_ms=30000,
                        is_default=True),
        live_deployment("old", "llama", compute_pools=["pool-1"]),
        live_deployment("sandbox", "qwen-3-8b", compute_pools=["pool-1"]),
    )
    st = snapshot({
        "model.qwen-3-8b": {"tp": 1, "kv_cache_len": 300000},
        "model.old-model": {"tp": 1},
        "project.support": {"name": "Customer support"},
        "project.old": {"name": "Old"},
        "deployment.support/qwen-3-8b": {"compute_pools": ["pool-1", "pool-2"],
                                         "max_ttft_ms": 30000, "is_default": True,
                                         "protect": False},
        "deployment.old/llama": {"compute_pools": ["pool-1"], "protect": False},
        "model.llama": {"tp": 1},   # managed: its deletion with the last binding is allowed
    })
    row = {"gpu": "H100-80GB", "usable_gib": 72.0, "verdict": "fits"}
    memory = [
        {**row, "deployment": "support/qwen-3-8b", "pool": "pool-1", "total_gib": 70.1,
         "verdict": "tight"},
        {**row, "deployment": "support/qwen-3-8b", "pool": "pool-2", "gpu": "H200-141GB",
         "usable_gib": 126.9, "total_gib": 70.1},
        {**row, "deployment": "support/qwen-3-8b_accelerated", "pool": "pool-2",
         "gpu": "H200-141GB", "usable_gib": 126.9, "total_gib": 41.5},
    ]
    before = [{**row, "deployment": "support/qwen-3-8b", "pool": "pool-1", "total_gib": 60.2},
              {**row, "deployment": "old/llama", "pool": "pool-1", "total_gib": 30.0}]
    diags = [warning("AD306", "max_ttft_ms 30000 is close to the server timeout",
                     file="workspace.yaml", line=12, column=9,
                     path=("projects", "support", "deployments", "qwen-3-8b"))]
    return plan(ws, lv, st, memory=memory, memory_before=before, diagnostics=diags,
                sensitive_paths=[("jobs", "train-qwen-draft", "args", "hf_token")]).to_dict()


def empty() -> dict[str, Any]:
    ws = workspace(projects={"support": {"name": "Support"}})
    return plan(ws, live(live_project("support", "Support")),
                snapshot({"project.support": {"name": "Support"}})).to_dict()


def normalise(out: str) -> str:
    out = re.sub(r"sha256:[0-9a-f]{64}", "sha256:<fingerprint>", out)
    return re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", "<time>", out)


def check_golden(name: str, out: str, update: bool) -> None:
    path = GOLDEN / name
    out = normalise(out)
    if update:
        path.write_text(out, encoding="utf-8")
    assert path.exists(), f"missing golden {path}: run pytest --update-golden"
    assert out == path.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("name", "render"),
    [
        ("plan.txt", lambda d: text.render(d)),
        ("plan.json", lambda d: json_.render(d)),
        ("plan.md", lambda d: markdown.render(d)),
    ],
)
def test_golden(name: str, render: Any, update_golden: bool) -> None:
    check_golden(name, render(scenario()), update_golden)


@pytest.mark.parametrize(
    ("name", "render"),
    [("empty.txt", lambda d: text.render(d)), ("empty.md", lambda d: markdown.render(d))],
)
def test_golden_no_changes(name: str, render: Any, update_golden: bool) -> None:
    check_golden(name, render(empty()), update_golden)


def test_text_layout() -> None:
    out = text.render(scenario())
    lines = out.splitlines()
    assert lines[-1] == "Plan: 1 to add, 3 to change, 2 to destroy, 1 to run, 2 to forget."
    # the model a delete takes with it: a warning first, and a line on the delete itself
    assert lines.index("Warning: this plan removes the last project binding of model llama: "
                       "the platform") < lines.index(
        "adaptive-deploy will perform the following actions:")
    assert "then deletes it from storage (unless published organisation-wide)." in lines
    at = lines.index("  - deployment.old/llama  (delete)")
    assert lines[at + 1] == "      ! deletes model llama from storage (its last project binding)"
    drift_at = out.index("Changed outside adaptive-deploy")
    actions_at = out.index("will perform the following actions")
    assert drift_at < actions_at
    # destroys come first among the changes
    change_lines = [ln for ln in lines[lines.index(
        "adaptive-deploy will perform the following actions:"):] if ln.startswith("  ")
        and not ln.startswith("    ")]
    assert change_lines[0].startswith("  - deployment.old/llama")
    assert "      ~ kv_cache_len: 300000 → 400000" in lines
    assert any("num_draft_steps: 4  (write-only: not observable on the platform)" in ln
               for ln in lines)
    # a remark that would pass 80 columns sits on its own line under its field
    at = lines.index('      ~ compute_pools: ["pool-1"] → ["pool-1", "pool-2"]')
    assert lines[at + 1].strip() == ("(changed outside adaptive-deploy; reverting to the "
                                     "configuration)")
    assert "\x1b[" not in out


def test_no_changes_sentence() -> None:
    assert text.render(empty()).splitlines()[-1] == (
        "No changes. The platform matches the configuration.")
    assert markdown.render(empty()).startswith(
        "**No changes. The platform matches the configuration.**")


def test_color_only_when_asked() -> None:
    out = text.render(scenario(), color=True)
    assert "\x1b[" in out
    assert re.sub(r"\x1b\[[0-9;]*m", "", out) == text.render(scenario())


def test_sensitive_values_redacted_in_every_format() -> None:
    doc = scenario()
    for out in (text.render(doc), text.render(doc, color=True), json_.render(doc),
                markdown.render(doc)):
        assert TEMPLATE not in out
        assert "(sensitive)" in out
    data = json.loads(json_.render(doc))
    job = next(c for c in data["changes"] if c["address"] == "job.train-qwen-draft")
    assert job["after"]["args"] == {"target_model": "qwen-3-8b", "hf_token": "(sensitive)"}
    # the document given to the renderer is not modified (a saved plan keeps the template)
    job_in = next(c for c in doc["changes"] if c["address"] == "job.train-qwen-draft")
    assert job_in["after"]["args"]["hf_token"] == TEMPLATE


def test_json_is_the_versioned_document() -> None:
    data = json.loads(json_.render(scenario()))
    assert list(data)[:3] == ["format_version", "tool_version", "workspace"]
    assert data["format_version"] == "1.0"
    assert data["summary"] == {"add": 1, "change": 3, "destroy": 2, "run": 1, "forget": 2}
    assert data["deleted_models"] == ["llama"]
    assert {c["address"]: c["deletes_model"] for c in data["changes"]
            if c["deletes_model"]} == {"deployment.old/llama": "llama"}
    assert json_.render(scenario()) == json_.render(scenario())


def test_markdown_layout() -> None:
    out = markdown.render(scenario())
    first, *rest = out.splitlines()
    assert first.startswith("**Plan: 1 to add, 3 to change, 2 to destroy, 1 to run, 2 to forget.**")
    assert rest[1].startswith("> ⚠️ **This plan destroys 2 resources:** `deployment.old/llama`, `project.old`")
    assert rest[3].startswith("> ⚠️ **This plan deletes model `llama` from storage:**")
    assert "| `-` | `deployment.old/llama` | destroy — **deletes model `llama`** |" in out
    assert "- deletes model llama from storage (its last project binding)" in out
    # one <details> per resource plus the unmanaged list
    assert out.count("<details>") == out.count("</details>") == 10
    assert "| `support/qwen-3-8b` | `pool-1` H100-80GB | 60.2 → 70.1 / 72.0 | ⚠️ **tight** |" \
        in out
    # a newly placed deployment has no before value
    assert "| `support/qwen-3-8b_accelerated` | `pool-2` H200-141GB | new 41.5 / 126.9 |" in out
    # diagnostics come before the changes; a field's cause sits on its own line
    assert out.index("#### Diagnostics") < out.index("#### Changes")
    assert "\n#   changed outside adaptive-deploy; reverting to the configuration\n" in out


def test_markdown_truncates_long_plans() -> None:
    models = {f"m{i:04d}": {"compute_config": {"kv_cache_len": 1000 + i}} for i in range(1500)}
    ws = workspace(models=models)
    lv = live(*[live_model(k, kv_cache_len=1) for k in models])
    doc = plan(ws, lv).to_dict()
    full = markdown.render(doc, max_chars=10**9)
    out = markdown.render(doc)
    assert len(full) > 60_000 >= len(out)
    assert out.startswith("**Plan: 0 to add, 1500 to change")
    # many changes: one <details> per kind of change, not one per resource
    assert full.count("<details>") == 1
    m = re.search(r"Output truncated:\*\* ([\d,]+) of ([\d,]+) characters omitted", out)
    assert m is not None and int(m.group(2).replace(",", "")) == len(full)
    assert "--format json" in out
    # cut at a block boundary: no half-open <details>
    assert out.count("<details>") == out.count("</details>")


def test_restart_in_place_is_shown_as_such() -> None:
    ws = workspace(projects={"support": {"deployments": {"qwen-3-8b": {
        "placement": {"compute_pools": ["p1"]}}}}})
    lv = live(live_project("support"), live_deployment("support", "qwen-3-8b",
                                                       compute_pools=["p1"]))
    st = snapshot({"project.support": {}, "deployment.support/qwen-3-8b": {
        "compute_pools": ["p1"], "protect": False}})
    doc = plan(ws, lv, st, replace=["deployment.support/qwen-3-8b"]).to_dict()
    out = text.render(doc)
    assert "  ~ deployment.support/qwen-3-8b  (restart in place)" in out.splitlines()
    assert out.splitlines()[-1] == "Plan: 0 to add, 1 to change, 0 to destroy."
    md = markdown.render(doc)
    assert "| `~` | `deployment.support/qwen-3-8b` | restart in place |" in md
    assert "destroys" not in md
