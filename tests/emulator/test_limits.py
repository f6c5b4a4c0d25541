"""What one request may ask of the emulator: body nesting, query size, depth and fields, and a
parsed-document cache bounded by size. Any key may send a query (a read-only one too), so each
limit answers with a clear error, never a 500 or a traceback, and memory stays bounded."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import parse

from adaptive_deploy.client import documents
from adaptive_deploy.emulator import app as app_module
from adaptive_deploy.emulator.app import (
    MAX_QUERY_DEPTH,
    MAX_QUERY_FIELDS,
    MAX_ROOT_FIELDS,
    EmulatorApp,
    create_app,
    query_complexity_problem,
)

REPO = Path(__file__).resolve().parents[2]
# The official SDK's documents: copied from the package (tests/emulator/sdk_operations) or
# derived with the contract (contract/adaptive-sdk-*/documents).
SDK_OPERATIONS = sorted([*(REPO / "tests" / "emulator" / "sdk_operations").glob("*.graphql"),
                         *REPO.glob("contract/adaptive-sdk-*/documents/*.graphql")])
READ_ONLY = {"authorization": "Bearer ro-key"}


@pytest.fixture
def emu(tmp_path: Path) -> Iterator[EmulatorApp]:
    yield create_app(tmp_path / "emu.db", api_keys={"ro-key": "read-only"})


def post(app: EmulatorApp, **kwargs: Any) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://emu") as client:
            return await client.post("/api/graphql", headers=READ_ONLY, **kwargs)

    return asyncio.run(go())


def error_of(response: httpx.Response) -> dict[str, Any]:
    assert "Traceback" not in response.text
    body = response.json()
    [error] = body["errors"]
    assert isinstance(error, dict)
    return error


# --------------------------------------------------------------------------- request body


def test_a_100000_deep_json_body_is_a_400(emu: EmulatorApp) -> None:
    start = time.monotonic()
    response = post(emu, content="[" * 100_000 + "]" * 100_000)
    assert response.status_code == 400
    error = error_of(response)
    assert error["extensions"]["code"] == "BAD_REQUEST"
    assert "nested too deeply" in error["message"]
    assert time.monotonic() - start < 10


def test_deep_variables_are_a_400(emu: EmulatorApp) -> None:
    deep = "[" * 200 + "]" * 200
    response = post(emu, content='{"query": "{ me { name } }", "variables": {"x": ' + deep + "}}")
    assert response.status_code == 400
    assert "variables nested deeper" in error_of(response)["message"]


@pytest.mark.parametrize("body", ['"just a string"', "[1, 2]", '{"query": "{ me { name } }", '
                                  '"variables": [1]}', '{"query": "{me{name}}", '
                                  '"operationName": 5}'])
def test_bodies_of_the_wrong_shape_are_a_400(emu: EmulatorApp, body: str) -> None:
    response = post(emu, content=body)
    assert response.status_code == 400
    assert error_of(response)["extensions"]["code"] == "BAD_REQUEST"


def test_a_body_over_10_mb_is_a_413(emu: EmulatorApp) -> None:
    response = post(emu, content=b" " * (10 * 1024 * 1024 + 1))
    assert response.status_code == 413
    assert "larger than" in error_of(response)["message"]


# --------------------------------------------------------------------------- query limits


def test_query_too_large(emu: EmulatorApp) -> None:
    query = "{ me { name } }" + " " * 200_000
    error = error_of(post(emu, json={"query": query}))
    assert error["extensions"]["code"] == "QUERY_TOO_LARGE"


def test_query_with_too_many_tokens(emu: EmulatorApp) -> None:
    query = "{ me { " + "n " * 15_000 + "} }"
    error = error_of(post(emu, json={"query": query}))
    assert "tokens" in error["message"]


def test_deeply_nested_selection(emu: EmulatorApp) -> None:
    depth = 5_000
    query = "{" + "models {" * depth + "id" + "}" * depth + "}"
    response = post(emu, json={"query": query})
    assert response.status_code == 200
    assert "nested too deeply" in error_of(response)["message"]


def test_selection_deeper_than_the_limit(emu: EmulatorApp) -> None:
    query = "{ models(filter: {}) " + "{ backbone " * MAX_QUERY_DEPTH + "{ id }" + " }" * (
        MAX_QUERY_DEPTH + 1)
    error = error_of(post(emu, json={"query": query}))
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert "deeper than" in error["message"]


def test_too_many_root_fields(emu: EmulatorApp) -> None:
    query = "{ " + " ".join(f"a{i}: models(filter: {{}}) {{ id }}"
                           for i in range(MAX_ROOT_FIELDS + 1)) + " }"
    error = error_of(post(emu, json={"query": query}))
    assert "root fields" in error["message"]


def test_too_many_fields(emu: EmulatorApp) -> None:
    query = "{ me { " + " ".join(f"a{i}: name" for i in range(MAX_QUERY_FIELDS + 1)) + " } }"
    error = error_of(post(emu, json={"query": query}))
    assert f"more than {MAX_QUERY_FIELDS} fields" in error["message"]


def test_fragment_bomb_is_counted_not_expanded(emu: EmulatorApp) -> None:
    # F(i) spreads F(i-1) twice under two aliases: 2**40 fields once expanded. The count is an
    # upper bound (memoised per fragment), reached in microseconds.
    frags = ["fragment F0 on User { a: name b: name }"]
    for i in range(1, 41):
        frags.append(f"fragment F{i} on User {{ x{i}: me {{ ...F{i - 1} }} "
                     f"y{i}: me {{ ...F{i - 1} }} }}")
    query = "{ me { ...F40 } } " + " ".join(frags)
    start = time.monotonic()
    problem = query_complexity_problem(parse(query))
    assert time.monotonic() - start < 1
    assert problem is not None
    start = time.monotonic()
    error = error_of(post(emu, json={"query": query}))
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert time.monotonic() - start < 10


def test_fragment_cycle_is_left_to_validation(emu: EmulatorApp) -> None:
    query = "{ me { ...A } } fragment A on User { ...B } fragment B on User { ...A }"
    error = error_of(post(emu, json={"query": query}))
    assert "cannot spread fragment" in error["message"].lower()


def test_every_document_a_real_client_sends_is_within_the_limits() -> None:
    docs = [*documents.load().values(), *(p.read_text() for p in SDK_OPERATIONS)]
    assert len(docs) > 30
    for text in docs:
        assert len(text.encode()) <= app_module._CACHE_MAX_QUERY_BYTES, text[:60]
        assert query_complexity_problem(parse(text)) is None, text[:60]


def test_limit_errors_are_graphql_errors_the_client_reads(emu: EmulatorApp) -> None:
    response = post(emu, json={"query": "{ me { name } }" + " " * 200_000})
    assert response.status_code == 200
    assert response.json()["data"] is None


# --------------------------------------------------------------------------- cache


def test_cache_is_bounded_by_size_and_skips_large_documents(emu: EmulatorApp) -> None:
    async def go() -> None:
        transport = httpx.ASGITransport(app=emu)
        async with httpx.AsyncClient(transport=transport, base_url="http://emu") as client:
            for i in range(150):
                fields = " ".join(f"f{i}_{j}: name" for j in range(150))  # ~2.4 KB each
                await client.post("/api/graphql", headers=READ_ONLY,
                                  json={"query": f"query Q{i} {{ me {{ {fields} }} }}"})
            big = "{ me { " + " ".join(f"long_alias_{j}: name" for j in range(700)) + " } }"
            assert len(big) > app_module._CACHE_MAX_QUERY_BYTES
            response = await client.post("/api/graphql", headers=READ_ONLY, json={"query": big})
            assert response.json()["data"]["me"]["long_alias_0"]

    asyncio.run(go())
    held = sum(len(q.encode()) for q in emu._documents)
    assert held == emu._documents_bytes
    assert held <= app_module._CACHE_MAX_BYTES
    assert 0 < len(emu._documents) < 150
    assert not any(len(q) > app_module._CACHE_MAX_QUERY_BYTES for q in emu._documents)


def test_cache_keeps_the_documents_in_use(emu: EmulatorApp) -> None:
    me = "query Me { me { name } }"
    async def go() -> None:
        transport = httpx.ASGITransport(app=emu)
        async with httpx.AsyncClient(transport=transport, base_url="http://emu") as client:
            for i in range(400):
                await client.post("/api/graphql", headers=READ_ONLY, json={"query": me})
                other = f"query O{i} {{ me {{ {' '.join(f'a{j}: name' for j in range(40))} }} }}"
                await client.post("/api/graphql", headers=READ_ONLY, json={"query": other})

    asyncio.run(go())
    assert me in emu._documents  # least recently used is evicted, not the hot document
    assert json.dumps(list(emu._documents)).count("query Me") == 1
