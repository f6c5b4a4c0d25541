"""The emulator refuses what the real server refuses where the SDK-derived contract proves it:
its schema is generated from the contract, and graphql-core enforces it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from adaptive_deploy.emulator.app import create_app
from tests.contract.checker import sdk_document

JOB = {"recipe": "specdec_alignment", "project": "playground", "numGpus": 1,
       "args": {"target_model": "qwen-3-8b", "draft_model": "qwen-3-500m", "dataset": "d"}}


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(tmp_path / "platform.db")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://emulator") as client:
        yield client


@pytest.mark.parametrize(("operation", "variables", "expected"), [
    ("ListJobs", {"page": {"first": 5}, "filter": None},
     "Argument 'filter' of non-null type 'ListJobsFilterInput!' must not be null"),
    ("CreateJob", {"input": {**JOB, "acceptanceRate": 0.7}},
     "Field 'acceptanceRate' is not defined by type 'JobInput'"),
    ("CreateJob", {"input": {k: v for k, v in JOB.items() if k != "numGpus"}},
     "Field 'numGpus' of required type 'IntScalar!' was not provided"),
    ("CreateJob", {"input": {**JOB, "numGpus": "2"}}, "IntScalar cannot represent"),
    ("DescribeJob", {"id": "job-1"}, "UUID cannot represent"),
])
async def test_refused_like_the_real_server(
    client: httpx.AsyncClient, operation: str, variables: dict[str, Any], expected: str,
) -> None:
    body = {"query": sdk_document(operation), "operationName": operation, "variables": variables}
    payload = (await client.post("/api/graphql", json=body)).json()
    messages = [e["message"] for e in payload.get("errors") or []]
    assert any(expected in m for m in messages), messages


async def test_the_same_requests_done_right_are_served(client: httpx.AsyncClient) -> None:
    for operation, variables in [("ListJobs", {"page": {"first": 5}}),
                                 ("CreateJob", {"input": JOB})]:
        body = {"query": sdk_document(operation), "operationName": operation,
                "variables": variables}
        payload = (await client.post("/api/graphql", json=body)).json()
        assert not payload.get("errors"), payload
