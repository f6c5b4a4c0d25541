"""The emulator serves every SDK document of the areas in scope (models, projects, compute
pools, jobs, me, roles): each extracted document, with realistic variables, validates and runs
without errors against a live emulator — and the request itself passes the contract."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from adaptive_deploy.emulator.app import create_app
from tests.contract.checker import check_request, contract_schema, sdk_document, sdk_operations

PROJECT = "sdk-docs"
JOB_ARGS = {"target_model": "llama-3.1-8b", "draft_model": "llama-3.2-1b", "dataset": "prompts"}
PLACEMENT = {"computePools": ["pool-1"], "maxTtftMs": 30000}

# In order: later documents use what earlier ones created. {job} is the created job's id.
CALLS: list[tuple[str, dict[str, Any]]] = [
    ("Me", {}),
    ("ListRoles", {}),
    ("ListPermissions", {}),
    ("ListModels", {}),                                  # the document's own variable default
    ("ListModels", {"filter": {"capabilities": {"any": ["TextGeneration"]}}}),
    ("DescribeModel", {"input": "qwen-3-8b"}),
    ("DescribeModelAdmin", {"input": "support-lora-v3"}),
    ("UpdateModelComputeConfig", {"idOrKey": "qwen-3-8b", "input": {"kvCacheLen": 100000}}),
    ("ListComputePools", {}),
    ("ListHarmonyGroups", {}),
    ("ResizeInferencePartition", {"input": {"computePool": "pool-1", "size": 8}}),
    ("CreateProject", {"input": {"name": "SDK documents", "key": PROJECT,
                                 "description": "every SDK document of the areas in scope"}}),
    ("ListProjects", {}),
    ("AddModelsToProject", {"input": {"project": PROJECT, "models": ["llama-3.2-1b"]}}),
    ("DeployModel", {"input": {"project": PROJECT, "model": "qwen-3-8b", "placement": PLACEMENT,
                               "wait": False, "speculativeDecoding": {"numDraftSteps": 3}}}),
    ("UpdateModel", {"input": {"project": PROJECT, "modelService": "qwen-3-8b",
                               "isDefault": True, "placement": PLACEMENT}}),
    ("DescribeProject", {"input": PROJECT}),
    ("CreateJob", {"input": {"recipe": "specdec_alignment", "project": PROJECT, "args": JOB_ARGS,
                             "name": "sdk-docs-draft", "numGpus": 1}}),
    ("ListJobs", {"page": {"first": 10}}),               # filter and order left to the server
    ("ListJobs", {"page": {"first": 10}, "filter": {"project": PROJECT},
                  "order": [{"field": "createdAt", "order": "DESC"}]}),
    ("DescribeJob", {"id": "{job}"}),                    # once completed: a model byproduct
    ("RemoveModelFromProject", {"input": {"project": PROJECT, "model": "llama-3.2-1b"}}),
    ("TerminateModel", {"idOrKey": "qwen-3-8b", "force": True}),
    ("CreateJob", {"input": {"recipe": "specdec_alignment", "project": PROJECT, "args": JOB_ARGS,
                             "name": "sdk-docs-cancel", "numGpus": 1}}),
    ("CancelJob", {"jobId": "{job}"}),
    ("UpdateJob", {"id": "{job}", "input": {"name": "sdk-docs-cancelled"}}),
    ("DeleteJob", {"id": "{job}"}),
]


def test_every_in_scope_document_is_exercised() -> None:
    in_scope = {n for n, op in sdk_operations().items() if op["area"]}
    assert in_scope == {name for name, _ in CALLS}


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(tmp_path / "platform.db", online_delay_s=0.05, job_durations=(0.05, 0.1))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://emulator") as client:
        yield client


def _fill(value: Any, job: str | None) -> Any:
    if value == "{job}":
        assert job is not None
        return job
    if isinstance(value, dict):
        return {k: _fill(v, job) for k, v in value.items()}
    return value


async def test_the_emulator_serves_every_sdk_document(client: httpx.AsyncClient) -> None:
    job: str | None = None
    for name, variables in CALLS:
        if name == "DescribeJob":
            await asyncio.sleep(0.3)                     # let the job complete
        body = {"query": sdk_document(name), "operationName": name,
                "variables": _fill(variables, job)}
        assert check_request(contract_schema(), body) == [], name
        started = time.monotonic()
        response = await client.post("/api/graphql", json=body)
        assert response.status_code == 200, (name, response.text)
        payload = response.json()
        assert not payload.get("errors"), (name, payload.get("errors"))
        assert time.monotonic() - started < 5
        data = payload["data"]
        if name == "CreateJob":
            job = data["createJob"]["id"]
        if name == "DescribeJob":
            [artifact] = data["job"]["artifacts"]
            assert artifact["byproducts"]["__typename"] == "ModelByproducts"
        if name == "UpdateJob":
            assert data["updateJob"]["name"] == "sdk-docs-cancelled"
        if name == "DeleteJob":
            assert data["deleteJob"] is True
        if name == "ListModels":
            assert {"qwen-3-8b", "support-lora-v3"} <= {m["key"] for m in data["models"]}
