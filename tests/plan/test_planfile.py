"""Saved plans: round-trip, stale detection, unknown versions, no secrets in the file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adaptive_deploy.errors import PlanFormatError
from adaptive_deploy.live import LiveState
from adaptive_deploy.plan import planfile
from adaptive_deploy.plan.model import Plan
from adaptive_deploy.state.base import StateSnapshot

from .builders import (
    live,
    live_deployment,
    live_job,
    live_model,
    live_project,
    plan,
    snapshot,
    workspace,
)

WS = workspace(
    models={"qwen-3-8b": {"compute_config": {"kv_cache_len": 400000}}},
    projects={"support": {"adopt": True, "deployments": {"qwen-3-8b": {
        "placement": {"compute_pools": ["pool-1"]}, "num_draft_steps": 4, "adopt": True}}}},
    jobs={"train": {"recipe": "specdec_alignment", "project": "support",
                    "args": {"dataset": "prompts", "hf_token": "${env:HF_TOKEN}"}}},
)


def live_now() -> LiveState:
    return live(live_model("qwen-3-8b", kv_cache_len=300000), live_project("support"),
                live_deployment("support", "qwen-3-8b", compute_pools=["pool-1"]))


def test_round_trip(tmp_path: Path) -> None:
    p = plan(WS, live_now())
    path = planfile.save(p, tmp_path / "out" / "plan.json")
    loaded = planfile.load(path)
    assert loaded.to_dict() == p.to_dict()
    assert loaded.summary == p.summary
    assert json.loads(path.read_text())["format_version"] == "1.0"


def test_stale_detection(tmp_path: Path) -> None:
    lv = live_now()
    p = planfile.load(planfile.save(plan(WS, lv), tmp_path / "p.json"))
    assert planfile.stale_reasons(p, lv, "sha256:cfg") == []
    # the platform reordering pools is not a change
    lv.deployments[("support", "qwen-3-8b")].compute_pools = ["pool-1"]
    cc = lv.models["qwen-3-8b"].compute_config
    assert cc is not None
    cc.kv_cache_len = 350000
    lv.deployments[("support", "qwen-3-8b")].max_ttft_ms = 1000
    reasons = planfile.stale_reasons(p, lv, "sha256:other")
    assert reasons[0].startswith("configuration changed since the plan")
    assert sorted(reasons[1:]) == [
        "deployment.support/qwen-3-8b: changed on the platform since the plan",
        "model.qwen-3-8b: changed on the platform since the plan",
    ]


def test_stale_when_state_moved_on() -> None:
    p = plan(WS, live_now(), snapshot({}))
    same = StateSnapshot("test", "lineage-1", 7)
    assert planfile.stale_reasons(p, live_now(), "sha256:cfg", same) == []
    moved = StateSnapshot("test", "lineage-1", 9)
    assert planfile.stale_reasons(p, live_now(), "sha256:cfg", moved) == [
        "state changed since the plan (serial 7 → 9)"]
    other = StateSnapshot("test", "lineage-2", 7)
    assert "lineage" in planfile.stale_reasons(p, live_now(), "sha256:cfg", other)[0]


def test_unknown_major_version_is_refused(tmp_path: Path) -> None:
    d = plan(WS, live_now()).to_dict()
    d["format_version"] = "2.0"
    path = tmp_path / "p.json"
    path.write_text(json.dumps(d))
    with pytest.raises(PlanFormatError, match=r"format version 2\.0 is not supported"):
        planfile.load(path)
    d["format_version"] = "1.7"  # a newer minor version of the same major still loads
    path.write_text(json.dumps(d))
    assert planfile.load(path).format_version == "1.7"


@pytest.mark.parametrize("content", ["{not json", "[]", '{"format_version": "1.0"}', "\xff"])
def test_malformed_files_are_plan_format_errors(tmp_path: Path, content: str) -> None:
    path = tmp_path / "p.json"
    path.write_bytes(content.encode("latin-1"))
    with pytest.raises(PlanFormatError, match=r"p\.json"):
        planfile.load(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PlanFormatError, match="cannot read"):
        planfile.load(tmp_path / "nope.json")


def test_plan_file_holds_templates_never_secrets(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "hf_s3cr3t_VALUE_42"
    monkeypatch.setenv("HF_TOKEN", secret)
    lv = live_now()
    # the platform holds the resolved value from an earlier failed run
    lv.jobs["train"] = live_job("train", "FAILED", recipe="specdec_alignment",
                                project="support", args={"hf_token": secret})
    st = snapshot({"job.train": {"recipe": "specdec_alignment", "project": "support",
                                 "args": {"dataset": "prompts", "hf_token": "${env:HF_TOKEN}"}}})
    p = plan(WS, lv, st, sensitive_paths=[("jobs", "train", "args", "hf_token")])
    text = planfile.save(p, tmp_path / "p.json").read_text()
    assert secret not in text
    assert "${env:HF_TOKEN}" in text
    change = Plan.from_dict(json.loads(text)).change("job.train")
    assert change is not None and change.sensitive_paths == ["args.hf_token"]


def test_workspace_directory_is_recorded_relative_to_the_plan(tmp_path: Path) -> None:
    ws_dir = tmp_path / "repo" / "infra"
    ws_dir.mkdir(parents=True)
    path = planfile.save(plan(WS, live_now()), tmp_path / "repo" / "out" / "plan.json",
                         directory=ws_dir)
    assert json.loads(path.read_text())["workspace_dir"] == "../infra"
    assert planfile.directory_of(path) == ws_dir.resolve()
    # the plan still loads (the extra key is not part of the plan model)
    assert planfile.load(path).workspace == "test"
    bare = planfile.save(plan(WS, live_now()), tmp_path / "bare.json")
    assert planfile.directory_of(bare) == tmp_path


def test_digest_is_stable_and_content_sensitive(tmp_path: Path) -> None:
    p = plan(WS, live_now())
    d1 = planfile.digest(p)
    assert d1 == planfile.digest(p.to_dict()) and d1.startswith("sha256:")
    path = planfile.save(p, tmp_path / "p.json", directory=tmp_path)
    assert planfile.digest(json.loads(path.read_text())) == d1
    p.config_digest = "sha256:changed"
    assert planfile.digest(p) != d1


def test_stale_reasons_accepts_a_plan_document() -> None:
    lv = live_now()
    d = plan(WS, lv).to_dict()
    assert planfile.stale_reasons(d, lv, "sha256:cfg") == []
    lv.deployments.clear()
    assert planfile.stale_reasons(d, lv, "sha256:cfg") == [
        "deployment.support/qwen-3-8b: changed on the platform since the plan"]
