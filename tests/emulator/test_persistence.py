"""Restarts keep everything; seeding happens only on a new database; concurrent writers."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from adaptive_deploy.emulator.core import Emulator
from tests.emulator import ops
from tests.fixtures.emulator import EmulatorServer


def test_restart_keeps_data(emulator: EmulatorServer) -> None:
    emulator.data(ops.CREATE_PROJECT, {"i": {"name": "Kept", "key": "kept"}})
    emulator.data(ops.DEPLOY, {"i": {"project": "kept", "model": "qwen-3-8b", "placement": {
        "computePools": ["pool-2"], "maxTtftMs": 15000}}})
    emulator.data(ops.COMPUTE, {"k": "qwen-3-8b", "i": {"kvCacheLen": 100000}})
    # The seeded project is changed too: a restart must not re-seed over it.
    emulator.data(ops.UPDATE_PROJECT, {"k": "playground", "i": {"name": "Renamed playground"}})
    emulator.stop()
    emulator.start()
    project = emulator.data(ops.PROJECT, {"k": "kept"})["project"]
    [service] = project["modelServices"]
    assert service["placement"] == {"computePools": ["pool-2"], "maxTtftMs": 15000}
    model = emulator.data(ops.MODEL, {"k": "qwen-3-8b"})["model"]
    assert model["computeConfig"]["kvCacheLen"] == 100000
    playground = emulator.data(ops.PROJECT, {"k": "playground"})["project"]
    assert playground["name"] == "Renamed playground"
    assert len(emulator.data(ops.PROJECTS, {"f": {}})["projects"]) == 2


def test_seed_only_on_new_database(tmp_path: Path) -> None:
    db = tmp_path / "p.db"
    first = Emulator(db)
    with first.transaction() as conn:
        conn.execute("DELETE FROM models WHERE key='gemma-3-27b'")
    first.close()
    second = Emulator(db)
    try:
        assert second.model("gemma-3-27b") is None
        assert second.model("qwen-3-8b") is not None
        journal = second.conn.execute("PRAGMA journal_mode").fetchone()[0]
        assert journal == "wal"
    finally:
        second.close()


def test_empty_seed(tmp_path: Path) -> None:
    emu = Emulator(tmp_path / "empty.db", seed=None)
    try:
        assert emu.models() == [] and emu.compute_pools() == []
    finally:
        emu.close()


async def _parallel_deploys(server: EmulatorServer, projects: list[str]) -> list[httpx.Response]:
    headers = {"Authorization": f"Bearer {server.admin_key}"}
    limits = httpx.Limits(max_connections=50)
    async with httpx.AsyncClient(headers=headers, timeout=30.0, limits=limits) as client:
        return await asyncio.gather(*(
            client.post(server.graphql_url, json={"query": ops.DEPLOY, "variables": {"i": {
                "project": key, "model": "llama-3.1-8b",
                "placement": {"computePools": ["pool-1"]}}}})
            for key in projects
        ))


def test_fifty_parallel_deploys_lose_nothing(emulator: EmulatorServer) -> None:
    projects = [f"par-{i:02d}" for i in range(50)]
    for key in projects:
        emulator.data(ops.CREATE_PROJECT, {"i": {"name": key, "key": key}})
    responses = asyncio.run(_parallel_deploys(emulator, projects))
    assert [r.status_code for r in responses] == [200] * 50
    assert all(not r.json().get("errors") for r in responses)
    ids = {r.json()["data"]["deployModel"]["modelService"]["id"] for r in responses}
    assert len(ids) == 50
    # Same calls again: idempotent, still exactly one service per project.
    again = asyncio.run(_parallel_deploys(emulator, projects))
    assert {r.json()["data"]["deployModel"]["modelService"]["id"] for r in again} == ids
    query = "{ projects { key modelServices { key } } }"
    live = {p["key"]: p["modelServices"] for p in emulator.data(query)["projects"]}
    assert all(live[k] == [{"key": "llama-3.1-8b"}] for k in projects)
    emu = Emulator(emulator.db_path)
    try:
        assert emu.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        count = emu.conn.execute("SELECT COUNT(*) FROM services WHERE model='llama-3.1-8b'")
        assert count.fetchone()[0] == 50
    finally:
        emu.close()


def test_parallel_project_creation_has_no_duplicates(emulator: EmulatorServer) -> None:
    async def run() -> list[httpx.Response]:
        headers = {"Authorization": f"Bearer {emulator.admin_key}"}
        async with httpx.AsyncClient(headers=headers, timeout=30.0) as client:
            return await asyncio.gather(*(
                client.post(emulator.graphql_url, json={"query": ops.CREATE_PROJECT,
                            "variables": {"i": {"name": "Same", "key": "same"}}})
                for _ in range(20)
            ))

    responses = asyncio.run(run())
    created = [r for r in responses if not r.json().get("errors")]
    conflicts = [r for r in responses if r.json().get("errors")]
    assert len(created) == 1 and len(conflicts) == 19
    assert all(r.json()["errors"][0]["extensions"]["code"] == "CONFLICT" for r in conflicts)
