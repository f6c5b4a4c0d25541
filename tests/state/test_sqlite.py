"""The local (SQLite) backend: the conformance suite plus what only a local file has."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from adaptive_deploy.config.models import StateConfig
from adaptive_deploy.errors import LockHeld, StateError
from adaptive_deploy.state import open_state
from adaptive_deploy.state.liveness import pid_alive, process_start_ticks
from adaptive_deploy.state.sqlite import SqliteStateStore
from tests.state.conformance import BackendHarness, StateBackendConformance, hold_lock
from tests.state.worker import record


def _harness(workspace_dir: Path, cfg: StateConfig) -> BackendHarness:
    from adaptive_deploy.state import local_state_path

    db = local_state_path(cfg, workspace_dir)

    def raw_sql(statement: str) -> list[tuple[Any, ...]]:
        conn = sqlite3.connect(db, isolation_level=None)
        try:
            return [tuple(r) for r in conn.execute(statement).fetchall()]
        finally:
            conn.close()

    return BackendHarness("local", cfg, workspace_dir, {}, raw_sql, lambda name: name)


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[BackendHarness]:
    harness = _harness(tmp_path, StateConfig())
    yield harness
    harness.close()


class TestSqliteConformance(StateBackendConformance):
    pass


def test_creates_state_folder_with_gitignore(tmp_path: Path) -> None:
    store, _ = open_state(StateConfig(), "prod", tmp_path)
    store.close()
    folder = tmp_path / ".adaptive-deploy"
    assert (folder / "state.db").is_file()
    assert (folder / ".gitignore").read_text() == "*\n"


def test_existing_gitignore_is_kept(tmp_path: Path) -> None:
    folder = tmp_path / ".adaptive-deploy"
    folder.mkdir()
    (folder / ".gitignore").write_text("state.db\n")
    open_state(StateConfig(), "prod", tmp_path)[0].close()
    assert (folder / ".gitignore").read_text() == "state.db\n"


def test_state_folder_blocked_by_a_file(tmp_path: Path) -> None:
    (tmp_path / ".adaptive-deploy").write_text("not a folder")
    with pytest.raises(StateError, match="cannot create state folder"):
        open_state(StateConfig(), "prod", tmp_path)


def test_custom_path_is_relative_to_workspace(tmp_path: Path) -> None:
    store, _ = open_state(StateConfig(path="var/prod.db"), "prod", tmp_path)
    store.put_resource(record(1))
    store.close()
    assert (tmp_path / "var" / "prod.db").is_file()
    assert (tmp_path / "var" / ".gitignore").read_text() == "*\n"
    assert not (tmp_path / ".adaptive-deploy").exists()


def test_durability_settings(tmp_path: Path) -> None:
    store, _ = open_state(StateConfig(), "prod", tmp_path)
    assert isinstance(store, SqliteStateStore)
    conn = store._conn
    assert conn is not None
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] > 0
    store.close()


def test_values_are_stored_as_canonical_json(tmp_path: Path) -> None:
    store, _ = open_state(StateConfig(), "prod", tmp_path)
    store.put_resource(record(7))
    store.close()
    conn = sqlite3.connect(tmp_path / ".adaptive-deploy" / "state.db")
    applied = conn.execute("SELECT applied FROM resources").fetchone()[0]
    conn.close()
    assert applied == ('{"compute_config":{"kv_cache_len":7000,"tp":4},"i":7,'
                       '"pools":["pool-0"]}')


def test_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    folder = tmp_path / ".adaptive-deploy"
    folder.mkdir()
    (folder / "state.db").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StateError, match=r"state database .*state\.db"):
        open_state(StateConfig(), "prod", tmp_path)


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    open_state(StateConfig(), "prod", tmp_path)[0].close()
    conn = sqlite3.connect(tmp_path / ".adaptive-deploy" / "state.db")
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(StateError, match="schema version 99"):
        open_state(StateConfig(), "prod", tmp_path)


def test_reused_pid_lock_is_stale(tmp_path: Path) -> None:
    # A lock recorded by "our" pid but a different process start time: the pid was reused.
    _, locker = open_state(StateConfig(), "prod", tmp_path)
    first = locker.acquire("apply")
    conn = sqlite3.connect(tmp_path / ".adaptive-deploy" / "state.db")
    conn.execute("UPDATE locks SET proc_start = proc_start - 1")
    conn.commit()
    conn.close()
    assert locker.current() is None
    second = locker.acquire("apply")
    assert second.replaced is not None and second.replaced.id == first.id
    locker.release(second)


def test_lock_of_another_host_is_never_taken_over(tmp_path: Path) -> None:
    _, locker = open_state(StateConfig(), "prod", tmp_path)
    locker.acquire("apply")
    conn = sqlite3.connect(tmp_path / ".adaptive-deploy" / "state.db")
    conn.execute("UPDATE locks SET host = 'elsewhere.example', pid = 999999999")
    conn.commit()
    conn.close()
    with pytest.raises(LockHeld, match=r"@elsewhere\.example \(pid 999999999\)"):
        locker.acquire("apply")
    current = locker.current()
    assert current is not None and current.host == "elsewhere.example"


def test_dead_holder_takeover_even_on_first_try(tmp_path: Path) -> None:
    harness = _harness(tmp_path, StateConfig())
    try:
        child, held = hold_lock(harness)
        child.kill()
        _, locker = harness.open()
        lock = locker.acquire("apply", timeout_s=0)  # no waiting needed: pid is checked
        assert lock.replaced is not None and lock.replaced.pid == held["pid"]
    finally:
        harness.close()


def test_liveness() -> None:
    me = os.getpid()
    assert pid_alive(me)
    assert pid_alive(me, process_start_ticks(me))
    ticks = process_start_ticks(me)
    assert ticks is not None
    assert not pid_alive(me, ticks + 1)
    assert not pid_alive(0)
    exited = subprocess.Popen([sys.executable, "-c", "pass"])
    # wait until it has exited but is not reaped: a zombie counts as dead
    deadline = time.monotonic() + 10
    while pid_alive(exited.pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not pid_alive(exited.pid)
    exited.wait()
    assert not pid_alive(exited.pid)


V1_SCHEMA = """
CREATE TABLE workspaces (workspace TEXT PRIMARY KEY, lineage TEXT NOT NULL, serial INTEGER NOT NULL,
    writes INTEGER NOT NULL, created_at REAL NOT NULL);
CREATE TABLE resources (workspace TEXT NOT NULL, address TEXT NOT NULL, type TEXT NOT NULL,
    platform_id TEXT, applied TEXT NOT NULL, observed TEXT NOT NULL, fingerprint TEXT NOT NULL,
    updated_at REAL NOT NULL, serial INTEGER NOT NULL, PRIMARY KEY (workspace, address));
CREATE TABLE history (seq INTEGER PRIMARY KEY AUTOINCREMENT, workspace TEXT NOT NULL,
    id TEXT NOT NULL, started_at REAL NOT NULL, finished_at REAL, who TEXT NOT NULL,
    operation TEXT NOT NULL, plan_digest TEXT, result TEXT NOT NULL, summary TEXT NOT NULL,
    UNIQUE (workspace, id));
CREATE TABLE locks (workspace TEXT PRIMARY KEY, id TEXT NOT NULL UNIQUE, owner TEXT NOT NULL,
    host TEXT NOT NULL, pid INTEGER NOT NULL, operation TEXT NOT NULL, created_at REAL NOT NULL,
    proc_start INTEGER);
INSERT INTO workspaces VALUES ('prod', '6f1f2c9e-3d4b-4a5c-8d7e-9f0a1b2c3d4e', 1, 1, 1.0);
INSERT INTO resources VALUES ('prod', 'project.support', 'project', 'uc-1', '{"name":"S"}',
    '{"name":"S"}', 'fp', 2.0, 1);
PRAGMA user_version = 1;
"""


def test_schema_v1_state_is_migrated(tmp_path: Path) -> None:
    # A state written before the platform identity and create intents existed (version 1
    # created its four tables at once; one missing would be damage, see test_sqlite_damage).
    folder = tmp_path / ".adaptive-deploy"
    folder.mkdir()
    conn = sqlite3.connect(folder / "state.db")
    conn.executescript(V1_SCHEMA)
    conn.close()
    store, _ = open_state(StateConfig(), "prod", tmp_path)
    try:
        snap = store.read()
        assert snap.platform is None and snap.serial == 1
        assert snap.resources["project.support"].pending is None
        assert store.set_platform({"id": "pools:x"}) == 2
        assert store.integrity_check() == []
    finally:
        store.close()
