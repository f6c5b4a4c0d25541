"""`adaptive-deploy import` end to end over HTTP: projects the tool never created (the seeded
`playground` and two made through GraphQL, with an adapter and a non-default placement with
maxTtftMs) are written as config, adopted into state, and `plan` right after is empty."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.helpers import remote_env, run_cli
from tests.fixtures.emulator import EmulatorServer

CREATE_PROJECT = """mutation($input: ProjectCreate!) { createProject(input: $input) { key } }"""
DEPLOY = """mutation($input: DeployModelInput!) { deployModel(input: $input) { __typename } }"""
UPDATE_SERVICE = """mutation($input: UpdateModelService!) { updateModelService(input: $input) { key } }"""
SET_KV = """mutation($m: IdOrKey!, $input: ModelComputeConfigInput!) {
  updateModelComputeConfig(idOrKey: $m, input: $input) { key }
}"""


def _deploy(server: EmulatorServer, project: str, model: str, pools: list[str],
            ttft: int | None = None) -> None:
    placement: dict[str, Any] = {"computePools": pools}
    if ttft is not None:
        placement["maxTtftMs"] = ttft
    server.data(DEPLOY, {"input": {"project": project, "model": model, "placement": placement}})


def _seed(server: EmulatorServer) -> None:
    """Two projects made by hand, as a person in the UI would."""
    server.data(CREATE_PROJECT, {"input": {"key": "sales", "name": "Sales team",
                                           "description": "Made in the UI"}})
    _deploy(server, "sales", "qwen-3-8b", ["pool-2", "pool-1"], ttft=25000)
    _deploy(server, "sales", "sales-lora-v1", ["pool-1"])
    server.data(UPDATE_SERVICE, {"input": {"project": "sales", "modelService": "qwen-3-8b",
                                           "isDefault": True}})
    server.data(CREATE_PROJECT, {"input": {"key": "research", "name": "Research"}})
    _deploy(server, "research", "mistral-7b-v0.3", ["pool-1"])
    _deploy(server, "research", "llama-3.1-8b", ["pool-2"], ttft=40000)
    server.data(UPDATE_SERVICE, {"input": {"project": "research", "modelService": "mistral-7b-v0.3",
                                           "isDefault": True}})
    server.data(SET_KV, {"m": "mistral-7b-v0.3", "input": {"kvCacheLen": 120000}})


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def _records(ws: Path) -> dict[str, dict[str, Any]]:
    with sqlite3.connect(ws / ".adaptive-deploy" / "state.db") as db:
        rows = db.execute("SELECT address, applied FROM resources").fetchall()
    return {a: json.loads(applied) for a, applied in rows}


@pytest.mark.slow
def test_import_then_plan_shows_no_changes(emulator: EmulatorServer, tmp_path: Path) -> None:
    env = remote_env(emulator)
    _seed(emulator)
    ws = tmp_path / "prod"
    ws.mkdir()
    result = run_cli("import", str(ws), "--format", "json", env=env)
    assert result.code == 0, result.text
    report = json.loads(result.out)
    assert report["format_version"] == "1.0" and report["workspace"] == "prod"
    assert report["projects"] == ["playground", "research", "sales"]
    names = sorted(Path(p).name for p in report["written"])
    assert names == ["adaptive-deploy.schema.json", "imported-models.yaml",
                     "imported-playground.yaml", "imported-pools.yaml",
                     "imported-research.yaml", "imported-sales.yaml", "workspace.yaml"]

    sales_text = (ws / "imported-sales.yaml").read_text()
    # Editors validate the written files against the editor schema written beside them.
    assert sales_text.startswith("# yaml-language-server: $schema=adaptive-deploy.schema.json\n"
                                 "# Imported by adaptive-deploy")
    assert json.loads((ws / "adaptive-deploy.schema.json").read_text())["$defs"]
    assert f"from {emulator.base_url}." in sales_text
    assert "num_draft_steps" in sales_text and "cannot be read back" in sales_text
    sales = _load(ws / "imported-sales.yaml")["projects"]["sales"]
    assert sales["name"] == "Sales team" and sales["description"] == "Made in the UI"
    qwen = sales["deployments"]["qwen-3-8b"]
    # Live order is kept; max_ttft_ms, is_default and desired_online come along.
    assert qwen == {"placement": {"compute_pools": ["pool-2", "pool-1"], "max_ttft_ms": 25000},
                    "is_default": True, "desired_online": True}
    assert sales["deployments"]["sales-lora-v1"]["is_default"] is False
    research = _load(ws / "imported-research.yaml")["projects"]["research"]
    assert research["deployments"]["llama-3.1-8b"]["placement"] == {
        "compute_pools": ["pool-2"], "max_ttft_ms": 40000}
    models = _load(ws / "imported-models.yaml")["models"]
    assert models["sales-lora-v1"] == {"adapter_of": "qwen-3-8b"}
    assert models["mistral-7b-v0.3"]["compute_config"] == {
        "tp": 1, "kv_cache_len": 120000, "max_seq_len": 32768}
    assert set(models) == {"qwen-3-8b", "sales-lora-v1", "mistral-7b-v0.3", "llama-3.1-8b",
                           "llama-3.2-1b"}
    pools = _load(ws / "imported-pools.yaml")["compute_pools"]
    assert pools == {
        "pool-1": {"gpu": "H100-80GB", "gpus_per_replica": 8, "replicas": 2},
        "pool-2": {"gpu": "H200-141GB", "gpus_per_replica": 8, "replicas": 1},
        "pool-a100": {"gpu": "A100-80GB", "gpus_per_replica": 8, "replicas": 1},
    }
    assert _load(ws / "workspace.yaml") == {"version": 1, "workspace": "prod"}

    records = _records(ws)
    assert set(report["adopted"]) == set(records)
    assert records["deployment.sales/qwen-3-8b"] == {
        "compute_pools": ["pool-2", "pool-1"], "max_ttft_ms": 25000, "is_default": True,
        "desired_online": True, "protect": False}
    # Declared adapters are managed too (no compute config: nothing but their ownership)
    assert records["model.sales-lora-v1"] == {}

    assert run_cli("validate", str(ws)).code == 0
    plan = run_cli("plan", str(ws), "--detailed-exitcode", env=env)
    assert plan.code == 0, plan.text
    assert "No changes. The platform matches the configuration." in plan.out
    assert "Unmanaged" not in plan.out
    assert run_cli("drift", str(ws), env=env).code == 0
    # Adopted means tracked: a later change in the UI is drift against the imported values.
    emulator.data(SET_KV, {"m": "llama-3.1-8b", "input": {"kvCacheLen": 50000}})
    drifted = run_cli("drift", str(ws), "--format", "json", env=env)
    assert drifted.code == 2, drifted.text
    [f] = json.loads(drifted.out)["findings"]
    assert (f["address"], f["field"], f["kind"], f["last_applied"], f["live"]) == (
        "model.llama-3.1-8b", "kv_cache_len", "drift", 65536, 50000)
    assert emulator.admin_key not in result.text + plan.text
    for path in ws.glob("*.yaml"):
        assert emulator.admin_key not in path.read_text()


def test_project_filter_and_no_clobbering(emulator: EmulatorServer, tmp_path: Path) -> None:
    env = remote_env(emulator)
    _seed(emulator)
    ws = tmp_path / "team"
    ws.mkdir()
    one = run_cli("import", str(ws), "--project", "research", "--workspace", "rs", env=env)
    assert one.code == 0, one.text
    assert sorted(p.name for p in ws.glob("*.yaml")) == [
        "imported-models.yaml", "imported-pools.yaml", "imported-research.yaml", "workspace.yaml"]
    assert set(_load(ws / "imported-models.yaml")["models"]) == {"mistral-7b-v0.3", "llama-3.1-8b"}
    assert _load(ws / "workspace.yaml")["workspace"] == "rs"
    assert set(_records(ws)) == {"project.research", "deployment.research/mistral-7b-v0.3",
                                 "deployment.research/llama-3.1-8b", "model.mistral-7b-v0.3",
                                 "model.llama-3.1-8b"}
    snapshot = {p.name: p.read_text() for p in ws.glob("*.yaml")}

    # A key the configuration already defines is refused when asked for by name.
    again = run_cli("import", str(ws), "--project", "research", env=env)
    assert again.code == 1
    assert "projects.research is already defined" in again.err
    unknown = run_cli("import", str(ws), "--project", "nope", env=env)
    assert unknown.code == 1 and "no such project" in unknown.err
    # A project's file already there (even unrelated content) is never overwritten.
    (ws / "imported-sales.yaml").write_text("# mine\nrules: {adapters_per_base_model: 4}\n")
    clash = run_cli("import", str(ws), "--project", "sales", env=env)
    assert clash.code == 1 and "already exists" in clash.err
    assert (ws / "imported-sales.yaml").read_text() == "# mine\nrules: {adapters_per_base_model: 4}\n"
    assert {p.name: p.read_text() for p in ws.glob("*.yaml") if p.name != "imported-sales.yaml"} \
        == snapshot
    (ws / "imported-sales.yaml").unlink()

    # Importing everything skips what is defined, writes new shared files beside the old ones.
    rest = run_cli("import", str(ws), "--format", "json", env=env)
    assert rest.code == 0, rest.text
    report = json.loads(rest.out)
    assert report["projects"] == ["playground", "sales"]
    assert "projects.research: already defined; kept as it is" in report["skipped"]
    assert {Path(p).name for p in report["written"]} == {
        "imported-playground.yaml", "imported-sales.yaml", "imported-models-2.yaml",
        "imported-pools-2.yaml", "adaptive-deploy.schema.json"}
    assert set(_load(ws / "imported-models-2.yaml")["models"]) == {
        "qwen-3-8b", "sales-lora-v1", "llama-3.2-1b"}
    for name, text in snapshot.items():
        assert (ws / name).read_text() == text
    plan = run_cli("plan", str(ws), "--detailed-exitcode", env=env)
    assert plan.code == 0, plan.text


def test_import_refuses_an_invalid_result_and_writes_nothing(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    env = remote_env(emulator)
    _seed(emulator)
    ws = tmp_path / "bad"
    ws.mkdir()
    # The existing config expects pool-1 to be H200s: the imported deployments contradict it.
    (ws / "main.yaml").write_text(
        "version: 1\nworkspace: bad\ncompute_pools:\n"
        "  pool-1: {gpu: H200-141GB, gpus_per_replica: 4, replicas: 1}\n")
    result = run_cli("import", str(ws), "--project", "research", env=env)
    assert result.code == 1, result.text
    assert "main.yaml:4" in result.err and "error[AD4" in result.err
    assert sorted(p.name for p in ws.glob("*.yaml")) == ["main.yaml"]


def test_embedded_platform_import_and_out_elsewhere_is_refused(tmp_path: Path) -> None:
    ws = tmp_path / "local"
    ws.mkdir()
    done = run_cli("import", str(ws))
    assert done.code == 0, done.text
    assert "embedded local platform" in (ws / "imported-playground.yaml").read_text()
    assert run_cli("plan", str(ws), "--detailed-exitcode").code == 0
    other = tmp_path / "other"
    refused = run_cli("import", str(ws), "--out", str(other))
    assert refused.code == 1 and "embedded" in refused.err
    assert not other.exists()


def test_out_writes_a_new_workspace_with_the_source_settings(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    env = remote_env(emulator)
    _seed(emulator)
    src = tmp_path / "src"
    src.mkdir()
    (src / "main.yaml").write_text(
        "version: 1\nworkspace: src\nplatform: {server_timeout_s: 90}\n")
    dst = tmp_path / "dst"
    result = run_cli("import", str(src), "--out", str(dst), "--project", "research", env=env)
    assert result.code == 0, result.text
    assert _load(dst / "workspace.yaml") == {
        "version": 1, "workspace": "dst", "platform": {"server_timeout_s": 90}}
    assert sorted(p.name for p in src.glob("*.yaml")) == ["main.yaml"]
    assert "project.research" in _records(dst)
    assert run_cli("plan", str(dst), "--detailed-exitcode", env=env).code == 0


def test_existing_objects_are_refused_then_imported_by_address(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    """No silent adoption: plan refuses configured objects that already exist (AD506) and
    names the import command; `import ADDR` adopts them as they are, so the next plan shows
    the configuration's differences as changes (cause config), not drift."""
    env = remote_env(emulator)
    _seed(emulator)
    ws = tmp_path / "own"
    ws.mkdir()
    (ws / "main.yaml").write_text(yaml.safe_dump({
        "version": 1, "workspace": "own",
        "models": {"qwen-3-8b": {}, "sales-lora-v1": {"adapter_of": "qwen-3-8b"}},
        "projects": {
            "sales": {"name": "Sales team", "deployments": {
                "qwen-3-8b": {"placement": {"compute_pools": ["pool-1"], "max_ttft_ms": 25000},
                              "is_default": True}}},
            "research": {"name": "Research", "adopt": True},
        },
    }))
    refused = run_cli("plan", str(ws), env=env)
    # a plan that cannot be applied exits 1 (never 0 or 2: scripts read those as success)
    assert refused.code == 1 and "This plan cannot be applied" in refused.out
    for addr in ("project.sales", "deployment.sales/qwen-3-8b"):
        assert f"error[AD506]: {addr} already exists on the platform" in refused.out
        assert f"`adaptive-deploy import {ws} {addr}`" in refused.out
    assert "adopted (adopt: true)" in refused.out          # research opted in
    assert run_cli("apply", str(ws), "--auto-approve", env=env).code == 1

    wrong = run_cli("import", "deployment.sales/sales-lora-v1", str(ws), env=env)
    assert wrong.code == 1 and "does not define it" in wrong.err
    model = run_cli("import", "model.qwen-3-8b", str(ws), env=env)
    assert model.code == 1 and "only project.<key> and deployment" in model.err

    done = run_cli("import", "project.sales", "deployment.sales/qwen-3-8b", str(ws), env=env)
    assert done.code == 0, done.text
    assert "Adopted into the state of workspace 'own', as they are on the platform: " \
           "project.sales, deployment.sales/qwen-3-8b." in done.out
    assert sorted(p.name for p in ws.glob("*.yaml")) == ["main.yaml"]   # nothing written
    records = _records(ws)
    assert records["deployment.sales/qwen-3-8b"] == {
        "compute_pools": ["pool-2", "pool-1"], "max_ttft_ms": 25000, "is_default": True,
        "protect": False}

    plan = run_cli("plan", str(ws), "--format", "json", env=env)
    assert plan.code == 0, plan.text
    doc = json.loads(plan.out)
    assert doc["applyable"] and doc["drift"] == []
    change = next(c for c in doc["changes"] if c["address"] == "deployment.sales/qwen-3-8b")
    assert [(d["path"], d["cause"]) for d in change["diff"]] == [("compute_pools", "config")]
    assert "deployment.sales/sales-lora-v1" in doc["unmanaged"]
    assert run_cli("apply", str(ws), "--auto-approve", env=env).code == 0
    assert run_cli("plan", str(ws), "--detailed-exitcode", env=env).code == 0
    again = run_cli("import", "project.sales", str(ws), env=env)
    assert again.code == 0 and "already in this workspace's state" in again.out

    # A project the configuration does not define is written as new configuration.
    playground = run_cli("import", str(ws), "project.playground", env=env)
    assert playground.code == 0, playground.text
    assert (ws / "imported-playground.yaml").exists()
    assert run_cli("plan", str(ws), "--detailed-exitcode", env=env).code == 0
