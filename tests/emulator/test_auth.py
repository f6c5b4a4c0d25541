"""API keys and roles over real HTTP."""

from __future__ import annotations

import httpx

from tests.emulator import ops
from tests.fixtures.emulator import EmulatorServer


def test_missing_key_is_401_with_json_body(emulator_module: EmulatorServer) -> None:
    response = httpx.post(emulator_module.graphql_url, json={"query": "{ me { name } }"})
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_bad_key_is_401(emulator_module: EmulatorServer) -> None:
    response = emulator_module.graphql("{ me { name } }", key="not-a-key")
    assert response.status_code == 401
    assert "invalid API key" in response.json()["message"]


def test_read_only_key_may_query(emulator_module: EmulatorServer) -> None:
    response = emulator_module.graphql(ops.ME, key=emulator_module.readonly_key)
    assert response.status_code == 200
    me = response.json()["data"]["me"]
    assert {t["team"]["key"]: t["role"]["key"] for t in me["teams"]}["default"] == "read-only"
    assert emulator_module.readonly_key not in response.text


def test_read_only_key_cannot_mutate(emulator_module: EmulatorServer) -> None:
    response = emulator_module.graphql(
        ops.CREATE_PROJECT, {"i": {"name": "Denied", "key": "denied"}},
        key=emulator_module.readonly_key,
    )
    assert response.status_code == 200
    payload = response.json()
    assert payload["data"] is None
    assert payload["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    projects = emulator_module.data(ops.PROJECTS, {"f": {}})["projects"]
    assert "denied" not in {p["key"] for p in projects}


def test_inference_key_cannot_mutate(emulator_module: EmulatorServer) -> None:
    response = emulator_module.graphql(
        ops.TERMINATE, {"k": "llama-3.2-1b", "f": True}, key=emulator_module.inference_key
    )
    assert response.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"


def test_admin_identity_and_roles(emulator_module: EmulatorServer) -> None:
    me = emulator_module.data(ops.ME)["me"]
    # Several teams, as on the real platform: the key's role is its own team's, not the first.
    assert [t["role"]["key"] for t in me["teams"]] == ["read-only", "admin"]
    roles = {r["key"] for r in emulator_module.data(ops.ROLES)["roles"]}
    assert roles == {"admin", "read-only", "inference", "annotator"}


def test_test_api_needs_admin_key(emulator_module: EmulatorServer) -> None:
    url = f"{emulator_module.base_url}/_emulator/stats"
    assert httpx.get(url).status_code == 401
    ro = httpx.get(url, headers={"Authorization": f"Bearer {emulator_module.readonly_key}"})
    assert ro.status_code == 403


def test_bad_body_is_400(emulator_module: EmulatorServer) -> None:
    response = httpx.post(emulator_module.graphql_url, content=b"not json",
                          headers={"Authorization": f"Bearer {emulator_module.admin_key}"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
