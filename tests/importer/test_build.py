"""importer.build_import and helpers: pure, from LiveState objects."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from adaptive_deploy import importer
from adaptive_deploy.errors import UsageError
from adaptive_deploy.live import LiveComputePool, LiveHarmonyGroup, LiveModel, LiveState
from tests.plan.builders import live, live_deployment, live_model, live_project


def _live() -> LiveState:
    state = live(
        live_model("qwen-3-8b", tp=2, kv_cache_len=100000, max_seq_len=8192),
        LiveModel(id="a", key="lora-x", name="lora-x", is_adapter=True, backbone="qwen-3-8b"),
        live_model("mystery-model"),
        live_project("p1", "Project one", description="first"),
        live_project("old", "Old", is_archived=True),
        live_deployment("p1", "qwen-3-8b", compute_pools=["pool-b", "pool-a"], max_ttft_ms=900,
                        is_default=True),
        live_deployment("p1", "lora-x", compute_pools=["pool-a"], desired_online=False),
        live_deployment("p1", "mystery-model", compute_pools=["pool-a"]),
    )
    group = LiveHarmonyGroup(key="g", world_size=4, gpu_types="NVIDIA H100 80GB HBM3")
    state.compute_pools["pool-a"] = LiveComputePool(id="1", key="pool-a", name="A",
                                                    groups=[group, group])
    state.compute_pools["pool-b"] = LiveComputePool(id="2", key="pool-b", name="B", groups=[
        LiveHarmonyGroup(key="h", world_size=8, gpu_types="Acme Tensor 9000")])
    return state


def _build(**kw: object) -> importer.ImportBuild:
    args: dict[str, object] = {"existing": {}, "explicit": False, "source": "https://x",
                               "tool_version": "0.1.0", "now": 0.0}
    args.update(kw)
    return importer.build_import(_live(), ["p1"], **args)  # type: ignore[arg-type]


def test_selection_skips_archived_and_checks_names() -> None:
    assert importer.select_projects(_live()) == ["p1"]
    assert importer.select_projects(_live(), ["p1", "p1"]) == ["p1"]
    with pytest.raises(UsageError, match="archived"):
        importer.select_projects(_live(), ["old"])
    with pytest.raises(UsageError, match="no such project"):
        importer.select_projects(_live(), ["zzz"])


def test_build_writes_projects_models_and_pools() -> None:
    build = _build()
    assert sorted(build.files) == ["imported-models.yaml", "imported-p1.yaml", "imported-pools.yaml"]
    project = yaml.safe_load(build.files["imported-p1.yaml"])["projects"]["p1"]
    assert project["name"] == "Project one" and project["description"] == "first"
    assert project["deployments"]["qwen-3-8b"] == {
        "placement": {"compute_pools": ["pool-b", "pool-a"], "max_ttft_ms": 900},
        "is_default": True, "desired_online": True}
    assert project["deployments"]["lora-x"]["desired_online"] is False
    models = yaml.safe_load(build.files["imported-models.yaml"])["models"]
    assert models == {
        "qwen-3-8b": {"compute_config": {"tp": 2, "kv_cache_len": 100000, "max_seq_len": 8192}},
        "lora-x": {"adapter_of": "qwen-3-8b"},
        "mystery-model": {},
    }
    pools = yaml.safe_load(build.files["imported-pools.yaml"])["compute_pools"]
    assert pools["pool-a"] == {"gpu": "H100-80GB", "gpus_per_replica": 4, "replicas": 2}
    # An unknown GPU string is kept as reported, and said so.
    assert pools["pool-b"]["gpu"] == "Acme Tensor 9000"
    assert any("pool-b" in n and "not in the catalog" in n for n in build.notes)
    assert any("mystery-model" in n and "architecture" in n for n in build.notes)
    modeline, header = build.files["imported-p1.yaml"].splitlines()[:2]
    assert modeline == "# yaml-language-server: $schema=adaptive-deploy.schema.json"
    assert header == "# Imported by adaptive-deploy 0.1.0 on 1970-01-01T00:00:00Z from https://x."


def test_existing_keys_are_skipped_or_refused() -> None:
    existing = {"models": {"qwen-3-8b": {}}, "compute_pools": {"pool-a": {"gpu": "H100-80GB"}}}
    build = _build(existing=existing)
    models = yaml.safe_load(build.files["imported-models.yaml"])["models"]
    assert "qwen-3-8b" not in models and "lora-x" in models
    assert "pool-a" not in yaml.safe_load(build.files["imported-pools.yaml"])["compute_pools"]
    assert build.skipped == ["compute_pools.pool-a: already defined; kept as it is",
                             "models.qwen-3-8b: already defined; kept as it is"]
    defined: dict[str, object] = {"projects": {"p1": {}}}
    assert _build(existing=defined).files == {}
    with pytest.raises(UsageError, match=r"projects\.p1 is already defined"):
        _build(existing=defined, explicit=True)


def test_workspace_file_only_when_asked() -> None:
    build = _build(workspace="prod", workspace_extra={"state": {"backend": "local"}})
    assert yaml.safe_load(build.files["workspace.yaml"]) == {
        "version": 1, "workspace": "prod", "state": {"backend": "local"}}
    assert "workspace.yaml" not in _build().files


def test_source_label_never_shows_credentials() -> None:
    label = importer.source_label("https://user:s3cret@plat.example.com:8443/x?token=abc", False, "")
    assert label == "https://plat.example.com:8443"
    assert importer.source_label("https://h", True, "the platform (base_url from ${env:U})") \
        == "the platform (base_url from ${env:U})"
    assert importer.source_label(None, False, "") == "the embedded local platform"


def test_workspace_name_from_directory(tmp_path: Path) -> None:
    d = tmp_path / "my deploy!"
    d.mkdir()
    assert importer.workspace_name(d) == "my-deploy"
    assert importer.workspace_name(d, "given") == "given"
    with pytest.raises(UsageError):
        importer.workspace_name(d, "bad name")
