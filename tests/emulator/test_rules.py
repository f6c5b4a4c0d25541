"""Platform behaviour and rules over real HTTP. Tests share one server (module scope), so each
test uses its own project keys and touches models no other test in this module changes."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from tests.emulator import ops
from tests.fixtures.emulator import EmulatorServer


def _project(server: EmulatorServer, prefix: str) -> str:
    key = f"{prefix}-{uuid.uuid4().hex[:6]}"
    server.data(ops.CREATE_PROJECT, {"i": {"name": prefix.title(), "key": key}})
    return key


def _error(server: EmulatorServer, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    payload = server.graphql(query, variables).json()
    assert payload.get("errors"), payload
    error: dict[str, Any] = payload["errors"][0]
    return error


def _deploy(server: EmulatorServer, project: str, model: str, pools: list[str],
            **extra: Any) -> dict[str, Any]:
    data = server.data(ops.DEPLOY, {"i": {"project": project, "model": model,
                                          "placement": {"computePools": pools}, **extra}})
    service: dict[str, Any] = data["deployModel"]["modelService"]
    return service


def _wait_status(server: EmulatorServer, project: str, model: str, timeout: float = 5.0) -> str:
    deadline = time.monotonic() + timeout
    status = ""
    while time.monotonic() < deadline:
        services = server.data(ops.PROJECT, {"k": project})["project"]["modelServices"]
        status = next(s["status"] for s in services if s["key"] == model)
        if status != "PENDING":
            return status
        time.sleep(0.05)
    return status


def test_seed_inventory(emulator_module: EmulatorServer) -> None:
    pools = {p["key"]: p for p in emulator_module.data(ops.POOLS)["computePools"]}
    assert set(pools) == {"pool-1", "pool-2", "pool-a100"}
    assert len(pools["pool-1"]["harmonyGroups"]) == 2
    assert pools["pool-1"]["harmonyGroups"][0]["gpuTypes"] == "NVIDIA H100 80GB HBM3"
    assert pools["pool-a100"]["capabilities"] == ["INFERENCE"]
    adapter = emulator_module.data(ops.MODEL, {"k": "support-lora-v3"})["model"]
    assert adapter["isAdapter"] and adapter["backbone"]["key"] == "qwen-3-8b"
    seventy = emulator_module.data(ops.MODEL, {"k": "llama-3.1-70b"})["model"]
    assert seventy["computeConfig"]["tp"] == 4 and seventy["supportedTp"] == [2, 4, 8]
    playground = emulator_module.data(ops.PROJECT, {"k": "playground"})["project"]
    [service] = playground["modelServices"]
    assert (service["key"], service["status"]) == ("llama-3.2-1b", "ONLINE")
    assert service["placement"]["computePools"] == ["pool-a100"]


def test_unknown_model_is_entity_not_found(emulator_module: EmulatorServer) -> None:
    assert emulator_module.data(ops.MODEL, {"k": "no-such-model"})["model"] is None
    project = _project(emulator_module, "notfound")
    error = _error(emulator_module, ops.DEPLOY, {"i": {"project": project, "model": "ghost"}})
    assert error["message"] == "EntityNotFound: model ghost"
    assert error["extensions"]["code"] == "NOT_FOUND"
    added = emulator_module.data(ops.ADD, {"i": {"project": project, "models": ["ghost"]}})["addModelsToProject"]
    assert added == {"success": False,
                     "failures": [{"model": "ghost", "reason": "EntityNotFound: model ghost"}]}


def test_deployment_goes_pending_then_online(emulator_module: EmulatorServer) -> None:
    project = _project(emulator_module, "online")
    assert emulator_module.data(ops.ADD, {"i": {"project": project, "models": ["mistral-7b-v0.3"]}})[
        "addModelsToProject"]["success"]
    service = _deploy(emulator_module, project, "mistral-7b-v0.3", ["pool-2", "pool-1"],
                      )
    assert service["status"] == "PENDING"
    assert service["placement"]["computePools"] == ["pool-2", "pool-1"]
    assert _wait_status(emulator_module, project, "mistral-7b-v0.3") == "ONLINE"
    pools = {p["key"]: p for p in emulator_module.data(ops.POOLS)["computePools"]}
    online = {m["key"] for m in pools["pool-2"]["harmonyGroups"][0]["onlineModels"]}
    assert "mistral-7b-v0.3" in online


def test_insufficient_memory_is_error(emulator_module: EmulatorServer) -> None:
    emulator_module.data(ops.COMPUTE, {"k": "gemma-3-27b", "i": {"kvCacheLen": 1_000_000}})
    project = _project(emulator_module, "oom")
    service = _deploy(emulator_module, project, "gemma-3-27b", ["pool-1"])
    assert service["status"] == "ERROR"
    assert service["error"].startswith("insufficient memory: needs ")
    assert "GiB usable on NVIDIA H100 80GB HBM3" in service["error"]
    model = emulator_module.data(ops.MODEL, {"k": "gemma-3-27b"})["model"]
    assert model["online"] == "ERROR" and "insufficient memory" in model["error"]
    # The same model fits the H200's larger memory: the check is per pool.
    emulator_module.data(ops.COMPUTE, {"k": "gemma-3-27b", "i": {"kvCacheLen": 500_000}})
    ok = emulator_module.data(ops.UPDATE_SERVICE, {"i": {
        "project": project, "modelService": "gemma-3-27b",
        "placement": {"computePools": ["pool-2"]}}})["updateModelService"]
    assert ok["status"] == "PENDING"


def test_adapter_limit_per_base_model(emulator_module: EmulatorServer) -> None:
    project = _project(emulator_module, "adapters")
    _deploy(emulator_module, project, "qwen-3-8b", ["pool-1"])
    for adapter in ("support-lora-v3", "sales-lora-v1", "legal-lora-v2", "triage-lora-v1"):
        _deploy(emulator_module, project, adapter, ["pool-1"])
    error = _error(emulator_module, ops.DEPLOY, {"i": {
        "project": project, "model": "billing-lora-v1",
        "placement": {"computePools": ["pool-1"]}}})
    assert "adapter limit" in error["message"] and error["extensions"]["code"] == "BAD_USER_INPUT"
    # Re-deploying a counted adapter elsewhere is fine; removing one frees a slot.
    other = _project(emulator_module, "adapters2")
    _deploy(emulator_module, other, "support-lora-v3", ["pool-1"])
    assert emulator_module.data(ops.REMOVE, {"i": {"project": project, "model": "triage-lora-v1"}})[
        "removeModelFromProject"] is True
    _deploy(emulator_module, project, "billing-lora-v1", ["pool-1"])


@pytest.mark.parametrize("steps", [0, 9])
def test_num_draft_steps_range(emulator_module: EmulatorServer, steps: int) -> None:
    project = _project(emulator_module, "draft")
    error = _error(emulator_module, ops.DEPLOY, {"i": {
        "project": project, "model": "llama-3.1-8b", "placement": {"computePools": ["pool-1"]},
        "speculativeDecoding": {"numDraftSteps": steps}}})
    assert "numDraftSteps must be between 1 and 8" in error["message"]


def test_num_draft_steps_is_stored_not_returned(emulator_module: EmulatorServer) -> None:
    project = _project(emulator_module, "draftok")
    response = emulator_module.graphql(ops.DEPLOY, {"i": {
        "project": project, "model": "llama-3.1-8b", "placement": {"computePools": ["pool-1"]},
        "speculativeDecoding": {"numDraftSteps": 5}}})
    assert response.json()["data"]["deployModel"]["modelService"]["key"] == "llama-3.1-8b"
    assert "raftStep" not in response.text
    from adaptive_deploy.emulator.core import Emulator

    emu = Emulator(emulator_module.db_path)  # a second reader of the same WAL database
    try:
        assert emu.stored_draft_steps(project, "llama-3.1-8b") == 5
    finally:
        emu.close()


def test_tp_rules(emulator_module: EmulatorServer) -> None:
    error = _error(emulator_module, ops.COMPUTE, {"k": "qwen-3-30b-a3b", "i": {"tp": 8}})
    assert "tp 8 is not supported" in error["message"]
    error = _error(emulator_module, ops.COMPUTE, {"k": "qwen-3-30b-a3b", "i": {"tp": 3}})
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    done = emulator_module.data(ops.COMPUTE, {"k": "qwen-3-30b-a3b",
                                              "i": {"tp": 2, "maxSeqLen": 16384}})
    assert done["updateModelComputeConfig"]["computeConfig"] == {
        "tp": 2, "kvCacheLen": 65536, "maxSeqLen": 16384}


def test_tp_must_divide_gpus_per_node(emulator: EmulatorServer) -> None:
    # Seeded pools all have 8-GPU nodes, so shrink one to 6 GPUs behind the server's back.
    project = _project(emulator, "tpdiv")
    emulator.data(ops.COMPUTE, {"k": "llama-3.1-8b", "i": {"tp": 4}})
    service = _deploy(emulator, project, "llama-3.1-8b", ["pool-1"])
    assert service["status"] == "PENDING"
    from adaptive_deploy.emulator.core import Emulator

    emu = Emulator(emulator.db_path)
    try:
        with emu.transaction() as conn:
            conn.execute("UPDATE pools SET world_size=6 WHERE key='pool-2'")
    finally:
        emu.close()
    error = _error(emulator, ops.DEPLOY, {"i": {"project": project, "model": "llama-3.1-8b",
                                                "placement": {"computePools": ["pool-2"]}}})
    assert "tp 4 does not divide the 6 GPUs per node of compute pool pool-2" in error["message"]


def test_placement_pools_must_exist_and_serve_inference(emulator_module: EmulatorServer) -> None:
    project = _project(emulator_module, "pools")
    error = _error(emulator_module, ops.DEPLOY, {"i": {
        "project": project, "model": "llama-3.2-1b", "placement": {"computePools": ["pool-9"]}}})
    assert error["message"] == "EntityNotFound: compute pool pool-9"
    assert _deploy(emulator_module, project, "llama-3.2-1b", ["pool-a100"])["status"]
    error = _error(emulator_module, ops.DEPLOY, {"i": {
        "project": project, "model": "llama-3.2-1b", "placement": {"computePools": []}}})
    assert "at least one compute pool" in error["message"]


def test_update_model_service_fields(emulator_module: EmulatorServer) -> None:
    project = _project(emulator_module, "update")
    _deploy(emulator_module, project, "llama-3.2-1b", ["pool-1"], )
    updated = emulator_module.data(ops.UPDATE_SERVICE, {"i": {
        "project": project, "modelService": "llama-3.2-1b", "isDefault": True,
        "placement": {"computePools": ["pool-2", "pool-1"], "maxTtftMs": 20000}}})[
        "updateModelService"]
    assert updated["isDefault"] is True
    assert updated["placement"] == {"computePools": ["pool-2", "pool-1"], "maxTtftMs": 20000}
    off = emulator_module.data(ops.UPDATE_SERVICE, {"i": {
        "project": project, "modelService": "llama-3.2-1b", "desiredOnline": False}})[
        "updateModelService"]
    assert (off["desiredOnline"], off["status"]) == (False, "TURNED_OFF")
    error = _error(emulator_module, ops.UPDATE_SERVICE, {"i": {
        "project": project, "modelService": "gemma-3-27b", "isDefault": True}})
    assert error["extensions"]["code"] == "NOT_FOUND"


def test_remove_model_from_project(emulator_module: EmulatorServer) -> None:
    project = _project(emulator_module, "remove")
    _deploy(emulator_module, project, "llama-3.2-1b", ["pool-1"])
    assert emulator_module.data(ops.REMOVE, {"i": {"project": project, "model": "llama-3.2-1b"}})[
        "removeModelFromProject"] is True
    assert emulator_module.data(ops.PROJECT, {"k": project})["project"]["modelServices"] == []
    assert emulator_module.data(ops.REMOVE, {"i": {"project": project, "model": "llama-3.2-1b"}})[
        "removeModelFromProject"] is False


def test_terminate_needs_force_when_bound_to_several_projects(
    emulator: EmulatorServer,
) -> None:
    a, b = _project(emulator, "terma"), _project(emulator, "termb")
    _deploy(emulator, a, "qwen-3-500m", ["pool-1"])
    _deploy(emulator, b, "qwen-3-500m", ["pool-2"])
    error = _error(emulator, ops.TERMINATE, {"k": "qwen-3-500m", "f": False})
    assert "set force" in error["message"]
    assert emulator.data(ops.TERMINATE, {"k": "qwen-3-500m", "f": True})["terminateModel"]
    services = emulator.data(ops.PROJECT, {"k": a})["project"]["modelServices"]
    assert services[0]["status"] == "TURNED_OFF"
    single = _project(emulator, "single")
    _deploy(emulator, single, "llama-3.1-8b", ["pool-1"])
    assert emulator.data(ops.TERMINATE, {"k": "llama-3.1-8b", "f": False})["terminateModel"]


def test_projects_update_and_archive(emulator_module: EmulatorServer) -> None:
    key = _project(emulator_module, "archive")
    updated = emulator_module.data(ops.UPDATE_PROJECT, {"k": key, "i": {
        "name": "Renamed", "description": "d"}})["updateProject"]
    assert (updated["name"], updated["description"]) == ("Renamed", "d")
    emulator_module.data(ops.UPDATE_PROJECT, {"k": key, "i": {"isArchived": True}})
    archived = emulator_module.data(ops.PROJECTS, {"f": {"isArchived": True}})["projects"]
    assert key in {p["key"] for p in archived}
    active = emulator_module.data(ops.PROJECTS, {"f": {"isArchived": False}})["projects"]
    assert key not in {p["key"] for p in active}
    error = _error(emulator_module, ops.DEPLOY, {"i": {"project": key, "model": "llama-3.2-1b"}})
    assert "archived" in error["message"]
    dup = _error(emulator_module, ops.CREATE_PROJECT, {"i": {"name": "x", "key": key}})
    assert dup["extensions"]["code"] == "CONFLICT"
    bad = _error(emulator_module, ops.CREATE_PROJECT, {"i": {"name": "x", "key": "Bad Key"}})
    assert "invalid project key" in bad["message"]


def test_specdec_job_lifecycle(emulator_module: EmulatorServer) -> None:
    project = _project(emulator_module, "jobs")
    args = {"target_model": "llama-3.1-8b", "draft_model": "llama-3.2-1b", "dataset": "prompts"}
    job = emulator_module.data(ops.CREATE_JOB, {"i": {
        "recipe": "specdec_alignment", "project": project, "numGpus": 2, "args": args,
        "name": "train-draft"}})["createJob"]
    assert job["status"] == "PENDING" and job["name"] == "train-draft"
    seen = {job["status"]}
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        current = emulator_module.data(ops.JOB, {"id": job["id"]})["job"]
        seen.add(current["status"])
        if current["status"] == "COMPLETED":
            break
        time.sleep(0.05)
    assert seen == {"PENDING", "RUNNING", "COMPLETED"}
    assert current["progress"] == 1.0 and current["details"]["args"] == args
    [artifact] = current["artifacts"]
    # The output as the real types expose it: a ModelByproducts in the artifact's byproducts,
    # and the metadata harmony-client registers for a model artifact. No acceptance rate: the
    # platform exposes that per inference request, not on the job.
    assert artifact["kind"] == "MODEL" and artifact["name"] == "llama-3.1-8b_accelerated"
    assert artifact["byproducts"] == {"__typename": "ModelByproducts",
                                      "model": {"key": "llama-3.1-8b_accelerated",
                                                "family": "llama3"}}
    assert artifact["metadata"] == {"model_key": "llama-3.1-8b_accelerated"}
    assert current["stages"][0]["info"]["checkpoints"] == ["llama-3.1-8b_accelerated"]
    pools = {p["key"]: p["id"] for p in emulator_module.data("{ computePools { id key } }")[
        "computePools"]}
    common = current["commonDetails"]
    assert common["computePoolId"] in pools.values() and common["numGpus"] == 2
    assert common["gpuDurationMs"] > 0
    model = emulator_module.data(ops.MODEL, {"k": "llama-3.1-8b_accelerated"})["model"]
    assert model["family"] == "llama3" and model["isAdapter"] is False


def test_job_rules(emulator_module: EmulatorServer) -> None:
    project = _project(emulator_module, "jobrules")
    base = {"recipe": "specdec_alignment", "project": project, "numGpus": 1,
            "args": {"target_model": "qwen-3-8b", "draft_model": "qwen-3-500m", "dataset": "d"}}
    error = _error(emulator_module, ops.CREATE_JOB, {"i": {**base, "computePool": "pool-a100"}})
    assert "does not have the JOB capability" in error["message"]
    error = _error(emulator_module, ops.CREATE_JOB, {"i": {**base, "recipe": "nope"}})
    assert error["message"] == "EntityNotFound: recipe nope"
    error = _error(emulator_module, ops.CREATE_JOB, {"i": {**base, "args": {"dataset": "d"}}})
    assert "needs args: target_model, draft_model" in error["message"]
    mixed = {**base["args"], "draft_model": "llama-3.2-1b"}  # type: ignore[dict-item]
    error = _error(emulator_module, ops.CREATE_JOB, {"i": {**base, "args": mixed}})
    assert "tokenizer family" in error["message"]
    error = _error(emulator_module, ops.CREATE_JOB, {"i": {**base, "numGpus": 64}})
    assert "numGpus must be between 1 and 16" in error["message"]


def test_cancel_job(emulator_module: EmulatorServer) -> None:
    project = _project(emulator_module, "cancel")
    job = emulator_module.data(ops.CREATE_JOB, {"i": {
        "recipe": "specdec_alignment", "project": project, "numGpus": 1, "computePool": "pool-2",
        "args": {"target_model": "mistral-7b-v0.3", "draft_model": "mistral-7b-v0.3",
                 "dataset": "d"}}})["createJob"]
    canceled = emulator_module.data(ops.CANCEL_JOB, {"id": job["id"]})["cancelJob"]
    assert canceled["status"] == "CANCELED"
    time.sleep(1.0)
    assert emulator_module.data(ops.JOB, {"id": job["id"]})["job"]["status"] == "CANCELED"
    assert emulator_module.data(ops.MODEL, {"k": "mistral-7b-v0.3_accelerated"})["model"] is None


def test_resize_inference_partition(emulator_module: EmulatorServer) -> None:
    assert emulator_module.data(ops.RESIZE, {"i": {"computePool": "pool-2", "size": 4}})
    pools = {p["key"]: p for p in emulator_module.data(ops.POOLS)["computePools"]}
    assert pools["pool-2"]["harmonyGroups"][0]["inferencePartitionSize"] == 4
    error = _error(emulator_module, ops.RESIZE, {"i": {"computePool": "pool-2", "size": 9}})
    assert "between 0 and 8" in error["message"]
    emulator_module.data(ops.RESIZE, {"i": {"computePool": "pool-2", "size": 8}})


def test_models_filter_online(emulator_module: EmulatorServer) -> None:
    query = "query($f: ModelFilter!) { models(filter: $f) { key online } }"
    online = emulator_module.data(query, {"f": {"online": ["ONLINE"]}})["models"]
    assert "llama-3.2-1b" in {m["key"] for m in online}
    assert all(m["online"] == "ONLINE" for m in online)
    everything = emulator_module.data(query, {"f": {}})["models"]
    assert len(everything) >= 15
