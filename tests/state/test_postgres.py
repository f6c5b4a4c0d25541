"""The postgres backend: the conformance suite plus DSN handling.

Needs a server: DSN from ADAPTIVE_DEPLOY_TEST_PG_DSN (default a trust-auth local `test`
database). Unreachable → skipped, except under CI (env CI set), where it fails.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from adaptive_deploy.config.models import StateConfig
from adaptive_deploy.errors import StateError
from adaptive_deploy.state import open_state
from adaptive_deploy.state.postgres import lock_key
from tests.state.conformance import BackendHarness, StateBackendConformance, new_workspace
from tests.state.worker import record

pytestmark = pytest.mark.postgres

DSN = os.environ.get("ADAPTIVE_DEPLOY_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
DSN_ENV = "ADAPTIVE_DEPLOY_TEST_STATE_DSN"
TABLES = ("workspaces", "resources", "history", "locks")


@pytest.fixture(scope="module")
def pg_dsn() -> str:
    try:
        import psycopg

        with psycopg.connect(DSN, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:
        reason = f"PostgreSQL not reachable via ADAPTIVE_DEPLOY_TEST_PG_DSN: {type(exc).__name__}"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return DSN


def _raw_sql(statement: str) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(DSN, autocommit=True) as conn:
        cur = conn.execute(statement)
        return list(cur.fetchall()) if cur.description else []


def _cleanup(workspaces: list[str]) -> None:
    import psycopg

    with psycopg.connect(DSN, autocommit=True) as conn:
        # history is append-only by trigger; tests may drop their own rows
        conn.execute("SET session_replication_role = replica")
        for table in TABLES:
            conn.execute(f"DELETE FROM adaptive_deploy_{table} WHERE workspace = ANY(%s)",
                         (workspaces,))


@pytest.fixture
def backend(pg_dsn: str, tmp_path: Path) -> Iterator[BackendHarness]:
    harness = BackendHarness(
        "postgres", StateConfig(backend="postgres", dsn_env=DSN_ENV), tmp_path,
        {DSN_ENV: pg_dsn}, _raw_sql, lambda name: f"adaptive_deploy_{name}",
    )
    yield harness
    harness.close()
    used = {harness.workspace, *(s.workspace for s in harness.stores)}
    _cleanup(sorted(used))


class TestPostgresConformance(StateBackendConformance):
    pass


def test_missing_dsn_variable_is_named(tmp_path: Path) -> None:
    cfg = StateConfig(backend="postgres", dsn_env="MY_STATE_DSN")
    with pytest.raises(StateError, match="MY_STATE_DSN, which is not set"):
        open_state(cfg, "prod", tmp_path, {})
    with pytest.raises(StateError, match="dsn_env is not set"):
        open_state(StateConfig(backend="postgres"), "prod", tmp_path, {})


def test_connection_error_never_shows_the_dsn(tmp_path: Path) -> None:
    dsn = "postgresql://deployer:hunter2-secret@127.0.0.1:1/state"
    cfg = StateConfig(backend="postgres", dsn_env="MY_STATE_DSN")
    with pytest.raises(StateError) as info:
        open_state(cfg, "prod", tmp_path, {"MY_STATE_DSN": dsn})
    message = str(info.value)
    assert "$MY_STATE_DSN" in message
    assert "hunter2-secret" not in message
    assert dsn not in message


def test_psycopg_missing_is_a_clear_error(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # import psycopg → ImportError
    cfg = StateConfig(backend="postgres", dsn_env="MY_STATE_DSN")
    with pytest.raises(StateError, match=r"pip install 'adaptive-deploy\[postgres\]'"):
        open_state(cfg, "prod", tmp_path, {"MY_STATE_DSN": "postgresql://x@127.0.0.1/y"})


def test_lock_keys_differ_per_workspace() -> None:
    keys = {lock_key(f"ws-{i}") for i in range(1000)}
    assert len(keys) == 1000
    assert all(0 <= k < 2**63 for k in keys)
    assert lock_key("prod") == lock_key("prod")


def test_workspaces_share_one_database_and_lock_independently(pg_dsn: str,
                                                              tmp_path: Path) -> None:
    cfg = StateConfig(backend="postgres", dsn_env=DSN_ENV)
    names = [new_workspace(), new_workspace()]
    env = {DSN_ENV: pg_dsn}
    try:
        (a, la), (b, lb) = (open_state(cfg, n, tmp_path, env) for n in names)
        a.put_resource(record(1))
        lock_a = la.acquire("apply")
        lock_b = lb.acquire("apply")  # a different workspace is not blocked
        assert b.read().resources == {}
        la.release(lock_a)
        lb.release(lock_b)
        a.close()
        b.close()
    finally:
        _cleanup(names)


def test_tables_have_the_platform_and_pending_columns(pg_dsn: str, tmp_path: Path) -> None:
    # Opening adds them to tables an older version created (ALTER ... ADD COLUMN IF NOT EXISTS;
    # not re-enacted here: the database is shared with other test runs).
    cfg = StateConfig(backend="postgres", dsn_env=DSN_ENV)
    name = new_workspace()
    env = {DSN_ENV: pg_dsn}
    try:
        store, _ = open_state(cfg, name, tmp_path, env)
        store.close()
        columns = {r[0] for r in _raw_sql(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_name IN ('adaptive_deploy_workspaces', 'adaptive_deploy_resources')")}
        assert {"platform", "pending"} <= columns
    finally:
        _cleanup([name])
