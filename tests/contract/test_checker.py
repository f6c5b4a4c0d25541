"""The request check itself: it catches what the real platform refuses, and the session-wide
recording really covers the requests the client sends to emulators."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx
import pytest

from adaptive_deploy.client import documents
from adaptive_deploy.client.platform import GraphQLPlatform
from adaptive_deploy.client.transport import GraphQLTransport
from adaptive_deploy.emulator.app import RECORD_ENV, create_app
from adaptive_deploy.errors import PlatformError
from tests.contract.checker import check_recorded, check_request, contract_schema, read_recorded
from tests.fixtures.emulator import EmulatorServer

JOB_INPUT = {"recipe": "specdec_alignment", "project": "support", "args": {"x": 1},
             "name": "train", "numGpus": 1}


def body(operation: str, variables: dict[str, Any]) -> dict[str, Any]:
    return {"query": documents.document(operation), "operationName": operation,
            "variables": variables}


@pytest.mark.parametrize("request_body", [
    body("ListJobs", {"page": {"first": 10}}),                       # filter left to the server
    body("ListJobs", {"page": {"first": 10}, "filter": {"name": "train"}}),
    body("CreateJob", {"input": JOB_INPUT}),
    body("UpdateModel", {"input": {"project": "p", "modelService": "m", "isDefault": True}}),
    body("DescribeJob", {"id": "0e3c2b8e-3b9f-4a57-9a53-7b1c2f0d9a11"}),
])
def test_requests_the_platform_accepts_pass(request_body: dict[str, Any]) -> None:
    assert check_request(contract_schema(), request_body) == []


@pytest.mark.parametrize(("request_body", "expected"), [
    # an explicit null into a non-null argument: the first client's second page of jobs
    (body("ListJobs", {"page": {"first": 10, "after": "9"}, "filter": None}),
     "Argument 'filter' of non-null type 'ListJobsFilterInput!' must not be null"),
    # an input field the real API does not have
    (body("CreateJob", {"input": {**JOB_INPUT, "acceptanceRate": 0.7}}),
     "Field 'acceptanceRate' is not defined by type 'JobInput'"),
    # a required input field left out (JobInput.numGpus has no default)
    (body("CreateJob", {"input": {k: v for k, v in JOB_INPUT.items() if k != "numGpus"}}),
     "Field 'numGpus' of required type 'IntScalar!' was not provided"),
    # a value the SDK would never send for the field
    (body("CreateJob", {"input": {**JOB_INPUT, "project": 7}}),
     "StrScalar cannot represent 7"),
    (body("DescribeJob", {"id": "job-1"}), "UUID cannot represent"),
    # a document the real schema refuses: the first client's job selection
    ({"query": '{ jobs(page: {}) { nodes { commonDetails { computePool } } } }'},
     "Cannot query field 'computePool' on type 'JobDetailsCommon'"),
    ({"query": "{ models { key } }"},
     "Field 'models' argument 'filter' of type 'ModelFilter!' is required"),
])
def test_requests_the_platform_refuses_are_caught(
    request_body: dict[str, Any], expected: str,
) -> None:
    problems = check_request(contract_schema(), request_body)
    assert any(expected in p for p in problems), problems


async def test_recorded_client_requests_are_checked(tmp_path: Path) -> None:
    """An emulator records what it receives; the check takes the client's requests (by their
    User-Agent), finds a bad one — which the emulator, as strict as the real server, refuses
    too — and leaves other callers' requests alone."""
    record = tmp_path / "requests.jsonl"
    app = create_app(tmp_path / "platform.db", record_requests=record)
    transport = GraphQLTransport("http://emulator", "k", transport=httpx.ASGITransport(app=app),
                                 max_retries=0)
    platform = GraphQLPlatform(transport)
    try:
        await platform.read_live()
        bad = body("ListJobs", {"page": {"first": 1}, "filter": None})
        with pytest.raises(PlatformError, match="must not be null"):
            await transport.execute(bad["query"], bad["variables"], operation_name="ListJobs")
    finally:
        await platform.aclose()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://emulator") as raw:
        await raw.post("/api/graphql", json={"query": "{ models { key } }"})   # not the client
    records = read_recorded(record)
    assert len(records) == 3
    result = check_recorded(records)
    assert result.checked == 2
    assert len(result.problems) == 1 and "ListJobs" in result.problems[0]
    assert "must not be null" in result.problems[0]


def test_the_session_records_the_emulators_requests(emulator_module: EmulatorServer) -> None:
    """The e2e suite's emulators (here one `emulator serve` subprocess) record into the
    session's file, which tests/fixtures/contract.py checks at the end of the session."""
    session_file = Path(os.environ[RECORD_ENV])
    marker = "query SessionRecordingProbe { roles { key } }"
    response = httpx.post(emulator_module.graphql_url, json={"query": marker},
                          headers={"Authorization": f"Bearer {emulator_module.admin_key}",
                                   "User-Agent": "session-probe"})
    assert response.status_code == 200
    assert any(r["body"].get("query") == marker for r in read_recorded(session_file))
