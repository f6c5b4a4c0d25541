"""The postgres lock is a lease: a lost database session no longer frees it while its holder
runs; another process takes over only once the lease expired (or its local holder is gone);
a holder whose lease was taken over stops at its next commit. Plus the schema version marker.

Each test that alters the schema works in a PostgreSQL schema of its own (search_path), so
tests running at the same time against the same database never see it.
"""

from __future__ import annotations

import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from adaptive_deploy.config.models import StateConfig
from adaptive_deploy.errors import LockHeld, StateDamaged, StateError
from adaptive_deploy.state import init_state, open_state
from tests.state.conformance import BackendHarness
from tests.state.test_postgres import DSN_ENV, _cleanup, _raw_sql, pg_dsn  # noqa: F401
from tests.state.worker import record

pytestmark = pytest.mark.postgres
LEASE_S = 2.0


@pytest.fixture
def leased(pg_dsn: str, tmp_path: Path) -> Iterator[BackendHarness]:  # noqa: F811
    harness = BackendHarness(
        "postgres", StateConfig(backend="postgres", dsn_env=DSN_ENV, lock_lease_s=LEASE_S),
        tmp_path, {DSN_ENV: pg_dsn}, _raw_sql, lambda name: f"adaptive_deploy_{name}",
    )
    yield harness
    harness.close()
    _cleanup(sorted({harness.workspace, *(s.workspace for s in harness.stores)}))


def _spawn(backend: BackendHarness, action: str, **spec: Any) -> Any:
    return backend.spawn(action, lock_lease_s=LEASE_S, **spec)


def test_holder_whose_sessions_are_terminated_keeps_its_lock(leased: BackendHarness) -> None:
    holder = _spawn(leased, "hold_put")
    held = holder.json()
    time.sleep(LEASE_S / 3 + 0.3)  # the renewal thread has its own session by now
    ended = leased.raw_sql(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        f"WHERE application_name = 'adaptive-deploy/{holder.pid}'")
    assert ended, "the holder had no session to end"
    _, locker = leased.open()
    with pytest.raises(LockHeld):
        locker.acquire("apply")
    time.sleep(LEASE_S * 1.5)       # past the lease: renewed on a new session meanwhile
    with pytest.raises(LockHeld) as info:
        locker.acquire("apply")
    assert info.value.lock.id == held["id"]
    assert "lease renewed until" in str(info.value)
    # The holder still writes: its store reconnects too.
    assert holder.proc.stdin is not None
    holder.proc.stdin.write("put\n")
    holder.proc.stdin.flush()
    assert holder.json()["ok"] is True
    assert holder.finish() == 0


def test_holder_with_an_idle_session_timeout_keeps_lock_and_writes(
    pg_dsn: str, tmp_path: Path  # noqa: F811
) -> None:
    # The server ends every session idle for 300 ms; renewals come every ~0.7 s.
    sep = "&" if "?" in pg_dsn else "?"
    dsn = f"{pg_dsn}{sep}options={quote('-c idle_session_timeout=300')}"
    harness = BackendHarness(
        "postgres", StateConfig(backend="postgres", dsn_env=DSN_ENV, lock_lease_s=LEASE_S),
        tmp_path, {DSN_ENV: dsn}, _raw_sql, lambda name: f"adaptive_deploy_{name}",
    )
    try:
        store, locker = harness.open()
        lock = locker.acquire("apply")
        time.sleep(LEASE_S * 2)
        _, other = harness.open()
        with pytest.raises(LockHeld):
            other.acquire("apply")
        store.put_resource(record(1))          # an idle-killed connection is reopened
        assert store.read().serial == 1
        locker.release(lock)
    finally:
        harness.close()
        _cleanup([harness.workspace])


def test_expired_lease_is_taken_over_and_the_old_holder_stops(leased: BackendHarness) -> None:
    holder = _spawn(leased, "hold_put")
    held = holder.json()
    holder.proc.send_signal(signal.SIGSTOP)     # frozen: alive, but renewing nothing
    try:
        _, locker = leased.open()
        with pytest.raises(LockHeld):
            locker.acquire("apply")             # the lease still runs
        lock = locker.acquire("apply", timeout_s=LEASE_S * 3)
        assert lock.replaced is not None and lock.replaced.id == held["id"]
    finally:
        holder.proc.send_signal(signal.SIGCONT)
    assert holder.proc.stdin is not None
    holder.proc.stdin.write("put\n")
    holder.proc.stdin.flush()
    answer = holder.json()
    assert answer == {"ok": False, "type": "LockLost", "error": answer["error"]}
    assert "lost the lock" in answer["error"]
    store, _ = leased.open()
    assert store.read().resources == {}        # nothing written by the old holder
    assert holder.finish() == 0
    current = locker.current()
    assert current is not None and current.id == lock.id
    locker.release(lock)


def test_holder_on_another_machine_is_waited_for_until_its_lease_expires(
    leased: BackendHarness,
) -> None:
    holder = _spawn(leased, "hold")
    held = holder.json()
    # Pretend the holder runs elsewhere: its pid means nothing here.
    leased.raw_sql(f"UPDATE adaptive_deploy_locks SET machine = 'another-machine' "
                   f"WHERE id = '{held['id']}'")
    holder.kill()                       # stops renewing, as a dead remote host would
    _, locker = leased.open()
    with pytest.raises(LockHeld):
        locker.acquire("apply")         # a local dead pid would be taken over at once
    started = time.monotonic()
    lock = locker.acquire("apply", timeout_s=LEASE_S * 3)
    assert time.monotonic() - started <= LEASE_S * 3
    assert lock.replaced is not None and lock.replaced.id == held["id"]
    locker.release(lock)


# --------------------------------------------------------------------------- schema


@pytest.fixture
def private(pg_dsn: str, tmp_path: Path) -> Iterator[tuple[StateConfig, dict[str, str], Any]]:  # noqa: F811
    """A PostgreSQL schema of this test's own, reached through search_path."""
    import psycopg

    name = f"adt_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {name}")
    sep = "&" if "?" in pg_dsn else "?"
    dsn = f"{pg_dsn}{sep}options={quote(f'-c search_path={name}')}"

    def sql(statement: str) -> list[tuple[Any, ...]]:
        with psycopg.connect(dsn, autocommit=True) as conn:
            cur = conn.execute(statement)
            return list(cur.fetchall()) if cur.description else []

    try:
        yield StateConfig(backend="postgres", dsn_env=DSN_ENV), {DSN_ENV: dsn}, sql
    finally:
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {name} CASCADE")


def test_schema_version_marker_written_and_newer_refused(private: Any, tmp_path: Path) -> None:
    cfg, env, sql = private
    store, _ = open_state(cfg, "ws", tmp_path, env)
    store.close()
    assert sql("SELECT version FROM adaptive_deploy_schema") == [(2,)]
    sql("UPDATE adaptive_deploy_schema SET version = 99")
    with pytest.raises(StateError, match=r"schema version 99; this adaptive-deploy understands "
                                         r"up to 2\. Upgrade adaptive-deploy"):
        open_state(cfg, "ws", tmp_path, env)


_V1 = [
    """CREATE TABLE adaptive_deploy_workspaces (workspace TEXT PRIMARY KEY, lineage TEXT NOT NULL,
        serial BIGINT NOT NULL, writes BIGINT NOT NULL, created_at DOUBLE PRECISION NOT NULL)""",
    """CREATE TABLE adaptive_deploy_resources (workspace TEXT NOT NULL, address TEXT NOT NULL,
        type TEXT NOT NULL, platform_id TEXT, applied TEXT NOT NULL, observed TEXT NOT NULL,
        fingerprint TEXT NOT NULL, updated_at DOUBLE PRECISION NOT NULL, serial BIGINT NOT NULL,
        PRIMARY KEY (workspace, address))""",
    """CREATE TABLE adaptive_deploy_history (seq BIGSERIAL PRIMARY KEY, workspace TEXT NOT NULL,
        id TEXT NOT NULL, started_at DOUBLE PRECISION NOT NULL, finished_at DOUBLE PRECISION,
        who TEXT NOT NULL, operation TEXT NOT NULL, plan_digest TEXT, result TEXT NOT NULL,
        summary TEXT NOT NULL, UNIQUE (workspace, id))""",
    """CREATE TABLE adaptive_deploy_locks (workspace TEXT PRIMARY KEY, id TEXT NOT NULL UNIQUE,
        owner TEXT NOT NULL, host TEXT NOT NULL, pid INTEGER NOT NULL, operation TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL, backend_pid INTEGER NOT NULL)""",
]


def test_version_1_schema_is_migrated_with_its_data(private: Any, tmp_path: Path) -> None:
    cfg, env, sql = private
    for statement in _V1:
        sql(statement)
    lineage = str(uuid.uuid4())
    sql(f"INSERT INTO adaptive_deploy_workspaces VALUES ('ws', '{lineage}', 1, 1, 1.0)")
    sql("INSERT INTO adaptive_deploy_resources VALUES ('ws', 'model.m', 'model', NULL, '{}', "
        "'{}', 'fp', 1.0, 1)")
    store, locker = open_state(cfg, "ws", tmp_path, env)
    snap = store.read()
    assert (snap.lineage, snap.serial, list(snap.resources)) == (lineage, 1, ["model.m"])
    lock = locker.acquire("apply")
    store.put_resource(record(1))
    locker.release(lock)
    store.close()
    assert sql("SELECT version FROM adaptive_deploy_schema") == [(2,)]


@pytest.mark.parametrize(
    ("damage", "expect", "new_lineage"),
    [("DROP TABLE adaptive_deploy_resources", "adaptive_deploy_resources is missing", True),
     ("DROP TABLE adaptive_deploy_workspaces", "adaptive_deploy_workspaces is missing", True),
     # history lost, records intact: the state itself stands
     ("DROP TABLE adaptive_deploy_history", "adaptive_deploy_history is missing", False),
     ("DELETE FROM adaptive_deploy_workspaces", "the record of workspace 'ws' (lineage, "
      "serial) is missing while 1 history entries remain", True),
     ("ALTER TABLE adaptive_deploy_resources RENAME COLUMN applied TO applied_old",
      "adaptive_deploy_resources has no column 'applied'", False)],
)
def test_damage_is_refused_never_a_silent_new_state(private: Any, tmp_path: Path, damage: str,
                                                   expect: str, new_lineage: bool) -> None:
    cfg, env, sql = private
    store, locker = open_state(cfg, "ws", tmp_path, env)
    lineage = store.read().lineage
    lock = locker.acquire("apply")
    store.put_resource(record(1))
    from adaptive_deploy.state.base import HistoryEntry

    store.append_history(HistoryEntry("h1", 1.0, None, "a", "apply", None, "running"))
    store.finish_history("h1", "success", {})
    locker.release(lock)
    store.close()
    sql("SET session_replication_role = replica")  # let DELETE pass the history guard
    sql(damage)
    with pytest.raises(StateDamaged) as info:
        open_state(cfg, "ws", tmp_path, env)
    message = str(info.value)
    assert expect in message
    assert "will not start a new state" in message
    if "RENAME" in damage:
        assert "Restore the database from a backup" in message
        with pytest.raises(StateDamaged):
            init_state(cfg, "ws", tmp_path, env, force=True)
        return
    assert "state init DIR --force" in message
    with pytest.raises(StateDamaged):
        init_state(cfg, "ws", tmp_path, env)          # explicit, but not forced
    done = init_state(cfg, "ws", tmp_path, env, force=True)
    assert "recreated" in done or "new lineage" in done
    store, _ = open_state(cfg, "ws", tmp_path, env)
    snap = store.read()
    if new_lineage:
        assert snap.lineage != lineage and snap.resources == {}
        assert any(e.operation == "state init --force" for e in store.history())
    else:
        assert snap.lineage == lineage and list(snap.resources) == [record(1).address]
    assert store.integrity_check() == []
    store.close()


def test_state_init_creates_only_where_there_is_none(private: Any, tmp_path: Path) -> None:
    cfg, env, _ = private
    assert "created an empty state" in init_state(cfg, "ws", tmp_path, env)
    assert "already exists" in init_state(cfg, "ws", tmp_path, env)
