"""Platform semantics the real API documents and the tool relies on: ids minted per installation
(database), removeModelFromProject deleting an unpublished model with its last binding (SDK
docstring), and a model service turned off and back on in place (desiredOnline)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from adaptive_deploy.emulator.core import Emulator, NotFound, Timing
from tests.emulator import ops
from tests.fixtures.emulator import EmulatorServer


class Clock:
    def __init__(self) -> None:
        self.t = 1_000_000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def emu(tmp_path: Path, clock: Clock) -> Any:
    e = Emulator(tmp_path / "p.db", timing=Timing(online_delay_s=1.0, job_pending_s=1.0,
                                                  job_running_s=1.0), clock=clock)
    yield e
    e.close()


def _pool_ids(e: Emulator) -> dict[str, str]:
    return {p["key"]: p["id"] for p in e.compute_pools()}


def _status(e: Emulator, project: str, model: str) -> str:
    e.begin_request()
    services = e.project(project)["modelServices"](None)
    return str(next(s["status"] for s in services if s["key"] == model))


# -- identity: ids per database --------------------------------------------------------------


def test_each_database_mints_its_own_ids(tmp_path: Path) -> None:
    first = Emulator(tmp_path / "a.db")
    second = Emulator(tmp_path / "b.db")
    try:
        a, b = _pool_ids(first), _pool_ids(second)
        assert set(a) == set(b) == {"pool-1", "pool-2", "pool-a100"}
        assert not set(a.values()) & set(b.values()), "two installations share pool ids"
        assert first.model("qwen-3-8b")["id"] != second.model("qwen-3-8b")["id"]
    finally:
        first.close()
        second.close()
    again = Emulator(tmp_path / "a.db")
    try:
        assert _pool_ids(again) == a, "reopening a database must keep its ids"
    finally:
        again.close()


def test_restart_on_another_port_is_the_same_platform(emulator: EmulatorServer) -> None:
    before = {p["key"]: p["id"] for p in emulator.data("{ computePools { id key } }")["computePools"]}
    emulator.stop()
    emulator.start()   # a new process on a new free port, same database
    after = {p["key"]: p["id"] for p in emulator.data("{ computePools { id key } }")["computePools"]}
    assert after == before


def test_database_from_before_per_database_ids_gets_pool_ids_of_its_own(tmp_path: Path) -> None:
    # Databases seeded by an older emulator all hold the same pool ids (one fixed namespace).
    import uuid

    legacy = uuid.UUID("7d3f2c1e-5a8b-4c6d-9e0f-1a2b3c4d5e6f")
    ids = []
    for name in ("a.db", "b.db"):
        Emulator(tmp_path / name).close()
        conn = sqlite3.connect(tmp_path / name)
        conn.execute("DELETE FROM meta WHERE key='installation'")
        for (key,) in conn.execute("SELECT key FROM pools").fetchall():
            conn.execute("UPDATE pools SET id=? WHERE key=?",
                         (str(uuid.uuid5(legacy, f"pool:{key}")), key))
        conn.commit()
        conn.close()
        e = Emulator(tmp_path / name)
        try:
            ids.append(_pool_ids(e))
        finally:
            e.close()
        again = Emulator(tmp_path / name)
        try:
            assert _pool_ids(again) == ids[-1], "minted once, then kept"
        finally:
            again.close()
    assert not set(ids[0].values()) & set(ids[1].values())
    assert str(uuid.uuid5(legacy, "pool:pool-1")) not in ids[0].values()


def test_database_without_the_published_column_is_migrated(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    Emulator(db).close()
    conn = sqlite3.connect(db)
    conn.execute("ALTER TABLE models DROP COLUMN published")
    conn.commit()
    conn.close()
    e = Emulator(db)
    try:
        assert e.model("qwen-3-8b")["isPublished"] is True
    finally:
        e.close()


# -- removeModelFromProject deletes an unpublished model with its last binding --------------


def _produce_accelerated(e: Emulator, clock: Clock, project: str) -> str:
    e.create_job({"recipe": "specdec_alignment", "project": project, "numGpus": 1,
                  "args": {"target_model": "llama-3.1-8b", "draft_model": "llama-3.2-1b",
                           "dataset": "d"}})
    clock.t += 5
    e.begin_request()
    model = e.model("llama-3.1-8b_accelerated")
    assert model is not None and model["isPublished"] is False
    return "llama-3.1-8b_accelerated"


def test_removing_the_last_binding_deletes_an_unpublished_model(emu: Emulator, clock: Clock) -> None:
    emu.create_project({"key": "a", "name": "A"})
    emu.create_project({"key": "b", "name": "B"})
    key = _produce_accelerated(emu, clock, "a")
    emu.deploy_model("a", key, {"computePools": ["pool-1"]}, None)
    emu.add_models_to_project("b", [key])            # bound, not deployed: still a binding
    assert emu.remove_model_from_project("a", key) is True
    assert emu.model(key) is not None, "still bound to project b"
    assert emu.remove_model_from_project("b", key) is True
    assert emu.model(key) is None, "the last binding took the unpublished model with it"
    with pytest.raises(NotFound):
        emu.deploy_model("a", key, {"computePools": ["pool-1"]}, None)


def test_removing_the_last_binding_keeps_a_published_model(emu: Emulator) -> None:
    emu.create_project({"key": "a", "name": "A"})
    emu.deploy_model("a", "qwen-3-8b", {"computePools": ["pool-1"]}, None)
    assert emu.remove_model_from_project("a", "qwen-3-8b") is True
    assert emu.model("qwen-3-8b") is not None


def test_seed_can_declare_a_model_unpublished(tmp_path: Path) -> None:
    seed = tmp_path / "seed.yaml"
    seed.write_text(
        "compute_pools: [{key: p, gpu: G, world_size: 8, capabilities: [INFERENCE]}]\n"
        "models: [{key: m, published: false}, {key: n}]\n"
    )
    e = Emulator(tmp_path / "s.db", seed=str(seed))
    try:
        assert e.model("m")["isPublished"] is False and e.model("n")["isPublished"] is True
        e.create_project({"key": "x", "name": "X"})
        e.add_models_to_project("x", ["m", "n"])
        e.remove_model_from_project("x", "m")
        e.remove_model_from_project("x", "n")
        assert e.model("m") is None and e.model("n") is not None
    finally:
        e.close()


# -- desiredOnline: off (TURNED_OFF) and back on in place -----------------------------------


def test_service_turned_off_and_back_on_in_place(emu: Emulator, clock: Clock) -> None:
    emu.create_project({"key": "r", "name": "R"})
    deployed = emu.deploy_model("r", "qwen-3-8b", {"computePools": ["pool-1"], "maxTtftMs": 9000},
                                {"numDraftSteps": 3})
    sid = deployed["modelService"]["id"]
    clock.t += 2
    assert _status(emu, "r", "qwen-3-8b") == "ONLINE"
    off = emu.update_model_service({"project": "r", "modelService": "qwen-3-8b",
                                    "desiredOnline": False})
    assert (off["status"], off["desiredOnline"]) == ("TURNED_OFF", False)
    on = emu.update_model_service({
        "project": "r", "modelService": "qwen-3-8b", "desiredOnline": True,
        "placement": {"computePools": ["pool-1", "pool-2"], "maxTtftMs": 9000},
        "speculativeDecoding": {"numDraftSteps": 4}})
    assert on["id"] == sid, "restarted in place: the same model service"
    assert on["status"] == "PENDING"
    assert on["placement"] == {"computePools": ["pool-1", "pool-2"], "maxTtftMs": 9000}
    clock.t += 2
    assert _status(emu, "r", "qwen-3-8b") == "ONLINE"
    assert emu.stored_draft_steps("r", "qwen-3-8b") == 4


def test_service_in_error_recovers_by_restart(emu: Emulator, clock: Clock) -> None:
    emu.create_project({"key": "e", "name": "E"})
    emu.update_model_compute_config("mistral-7b-v0.3", {"kvCacheLen": 5_000_000})
    emu.deploy_model("e", "mistral-7b-v0.3", {"computePools": ["pool-1"]}, None)
    clock.t += 2
    assert _status(emu, "e", "mistral-7b-v0.3") == "ERROR"
    emu.update_model_service({"project": "e", "modelService": "mistral-7b-v0.3",
                              "desiredOnline": False})
    assert _status(emu, "e", "mistral-7b-v0.3") == "TURNED_OFF"
    emu.update_model_compute_config("mistral-7b-v0.3", {"kvCacheLen": 32768})
    emu.update_model_service({"project": "e", "modelService": "mistral-7b-v0.3",
                              "desiredOnline": True, "placement": {"computePools": ["pool-1"]}})
    assert _status(emu, "e", "mistral-7b-v0.3") == "PENDING"
    clock.t += 2
    assert _status(emu, "e", "mistral-7b-v0.3") == "ONLINE"


def test_desired_online_over_graphql(emulator_module: EmulatorServer) -> None:
    emulator_module.data(ops.CREATE_PROJECT, {"i": {"name": "Onoff", "key": "onoff-sem"}})
    emulator_module.data(ops.DEPLOY, {"i": {"project": "onoff-sem", "model": "llama-3.2-1b",
                                            "placement": {"computePools": ["pool-1"]}}})
    off = emulator_module.data(ops.UPDATE_SERVICE, {"i": {
        "project": "onoff-sem", "modelService": "llama-3.2-1b", "desiredOnline": False}})
    assert off["updateModelService"]["status"] == "TURNED_OFF"
    on = emulator_module.data(ops.UPDATE_SERVICE, {"i": {
        "project": "onoff-sem", "modelService": "llama-3.2-1b", "desiredOnline": True,
        "placement": {"computePools": ["pool-1"]}}})
    assert on["updateModelService"]["status"] in ("PENDING", "ONLINE")


# -- one clock reading per request -------------------------------------------------------------


class TickingClock(Clock):
    """Each reading is a little later than the one before, as on a real machine."""

    def __call__(self) -> float:
        self.t += 0.01
        return self.t


def test_a_job_ending_during_a_request_is_never_completed_without_its_output(
    tmp_path: Path,
) -> None:
    """The request that first sees a job's end either settled it (COMPLETED with its model
    artifact) or still calls it RUNNING: the output is materialised at the start of a request,
    so the status must come from that same reading of the clock."""
    from graphql import parse

    from adaptive_deploy.emulator.app import create_app

    clock = TickingClock()
    app = create_app(tmp_path / "p.db", seed="default", api_keys={"k": "admin"},
                     online_delay_s=0.0, job_durations=(1.0, 1.0), clock=clock)
    try:
        created = app._execute(parse(ops.CREATE_JOB), {"i": {
            "recipe": "specdec_alignment", "project": "playground", "numGpus": 1,
            "name": "t", "args": {"target_model": "llama-3.1-8b", "draft_model": "llama-3.2-1b",
                                  "dataset": "d"}}}, None, "u", "admin")
        job_id = created["data"]["createJob"]["id"]
        row = app.emulator.conn.execute(
            "SELECT created_at + pending_s + running_s AS end_at FROM jobs WHERE id=?",
            (job_id,)).fetchone()
        # The next request's first reading falls just before the end, every later one after it.
        clock.t = float(row["end_at"]) - 0.015
        statuses = []
        for _ in range(2):
            job = app._execute(parse(ops.JOB), {"id": job_id}, None, "u", "admin")["data"]["job"]
            statuses.append(job["status"])
            if job["status"] == "COMPLETED":
                assert [a["name"] for a in job["artifacts"]] == ["llama-3.1-8b_accelerated"]
        assert statuses == ["RUNNING", "COMPLETED"]
    finally:
        app.emulator.close()
