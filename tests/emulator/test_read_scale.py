"""The emulator's reads at scale: each object is looked at a bounded number of times per
request (indexes, not scans per item), and the answer is exactly graphql-core's."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from graphql import ExecutionContext, execute_sync, parse

from adaptive_deploy.client import documents
from adaptive_deploy.emulator import core
from adaptive_deploy.emulator.app import EmulatorApp, create_app

MODELS = ["qwen-3-8b", "qwen-3-500m", "llama-3.1-8b", "llama-3.2-1b", "mistral-7b-v0.3",
          "support-lora-v3", "summarizer-lora-v1"]
READ_LIVE = parse(documents.document("ReadLive"))
VARIABLES = {"jobsPage": {"first": 500}}


def _platform(path: Path, projects: int) -> EmulatorApp:
    app = create_app(path, seed="default", api_keys={"k": "admin"}, online_delay_s=0.0)
    emu = app.emulator
    for i in range(projects):
        emu.create_project({"key": f"scale-{i}", "name": f"Scale {i}"})
        for model in MODELS:
            pools = ["pool-1", "pool-2"] if i % 2 else ["pool-1"]
            emu.deploy_model(f"scale-{i}", model, {"computePools": pools}, None)
    return app


def _read(app: EmulatorApp) -> dict[str, Any]:
    out = app._execute(READ_LIVE, VARIABLES, "ReadLive", "u", "admin")
    assert "errors" not in out, out.get("errors")
    return out


def _json_loads_per_read(app: EmulatorApp) -> int:
    with mock.patch.object(core.json, "loads", wraps=core.json.loads) as loads:
        _read(app)
    return loads.call_count


def test_read_live_parses_each_service_once(tmp_path: Path) -> None:
    """Doubling the services adds at most one parse per added service: nothing is decoded
    again per pool or per reference (the old read parsed each service's pools ~5 times)."""
    small, large = _platform(tmp_path / "s.db", 4), _platform(tmp_path / "l.db", 8)
    added_services = 4 * len(MODELS)
    try:
        assert _json_loads_per_read(large) - _json_loads_per_read(small) <= added_services
    finally:
        small.emulator.close()
        large.emulator.close()


def test_adapter_limit_check_does_not_load_every_service(tmp_path: Path) -> None:
    app = _platform(tmp_path / "p.db", 3)
    emu = app.emulator
    emu.create_project({"key": "one-more", "name": "One more"})
    try:
        with mock.patch.object(core.Emulator, "_rows", autospec=True,
                               side_effect=core.Emulator._rows) as rows:
            emu.deploy_model("one-more", "support-lora-v3", {"computePools": ["pool-1"]}, None)
        assert not [c for c in rows.call_args_list if c.args[1] == "services"]
    finally:
        emu.close()


@pytest.mark.parametrize("name", ["ReadLive", "DescribeModelService", "DescribeProject"])
def test_fast_execution_answers_exactly_what_graphql_core_does(tmp_path: Path, name: str) -> None:
    app = _platform(tmp_path / "p.db", 3)
    variables = {"ReadLive": VARIABLES, "DescribeProject": {"input": "scale-1"},
                 "DescribeModelService": {"project": "scale-1", "model": "support-lora-v3"}}[name]
    document = parse(documents.document(name))
    try:
        fast = app._execute(document, variables, name, "u", "admin")
        with app.emulator.lock:
            app.emulator.begin_request()
            plain = execute_sync(app.schema, document, root_value=app.root,
                                 context_value={"user": "u", "role": "admin"},
                                 variable_values=variables, operation_name=name,
                                 execution_context_class=ExecutionContext)
        assert plain.errors is None
        assert fast == {"data": plain.data}
    finally:
        app.emulator.close()


_SDL = """
type Query { items: [Item!]! maybe: Item }
type Item { key: String! size: Int tags: [String!] inner: Inner state: State
            lazy(x: Int = 1): Int }
type Inner { name: String! }
enum State { ON OFF }
"""


def _boom(info: Any, **_: Any) -> Any:
    raise ValueError("boom")


@pytest.mark.parametrize(("items", "query"), [
    ([{"key": "a", "size": 1, "tags": ["x"], "inner": {"name": "n"}, "state": "ON"}],
     "{ items { __typename key size tags inner { name } state } }"),
    ([{"key": "a", "inner": {"name": None}}], "{ items { key inner { name } } }"),
    ([{"key": None}], "{ items { key } maybe { key } }"),
    ([{"key": "a", "tags": ["x", None]}], "{ items { tags } }"),
    ([{"key": "a", "state": "SIDEWAYS"}], "{ items { state } }"),
    ([{"key": "a", "size": "not a number"}], "{ items { size } }"),
    ([{"key": "a", "lazy": lambda info, x: x * 2}], "{ items { lazy(x: 4) } }"),
    ([{"key": "a", "lazy": _boom}], "{ items { key lazy } }"),
    ([{"key": "a", "size": 2}],
     "query { items { ...F size @skip(if: true) } } fragment F on Item { key ... on Item { size } }"),
])
def test_plain_completion_answers_and_fails_as_graphql_core_does(
    items: list[dict[str, Any]], query: str
) -> None:
    """Valid data, nulls in non-null fields (nested and at the root), a bad list item, enum or
    scalar, a record's callable with arguments or raising, fragments and @skip: the emulator's
    execution gives graphql-core's data and errors exactly."""
    from graphql import build_schema

    from adaptive_deploy.emulator.app import _LeafFastPath

    schema = build_schema(_SDL)
    document = parse(query)
    root = {"items": items, "maybe": items[0]}
    fast = execute_sync(schema, document, root_value=root, execution_context_class=_LeafFastPath)
    plain = execute_sync(schema, document, root_value=root,
                         execution_context_class=ExecutionContext)
    assert fast.data == plain.data
    assert [e.formatted for e in fast.errors or []] == [e.formatted for e in plain.errors or []]
