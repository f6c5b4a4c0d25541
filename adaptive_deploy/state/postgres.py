"""The `postgres` state backend: the same logical schema as the local one, in tables prefixed
`adaptive_deploy_`, keyed by workspace so several workspaces can share one database.

Locking is a lease: a row in `adaptive_deploy_locks` names the holder and carries an expiry
(server clock) that the holder renews from a background thread every third of the lease.
Another process takes the lock over only once the lease has expired, or at once when the
holder is a process of this machine (same boot id and pid namespace) that is gone. A
database session dying (backend terminated, `idle_session_timeout`) therefore no longer
frees the lock while its holder runs; and every state commit checks, inside its own
transaction, that the lock row is still the holder's and renews it — a holder whose lease was
taken over stops before writing (errors.LockLost). Acquisitions are serialised by a
transaction-scoped advisory lock.

The schema carries a version marker (`adaptive_deploy_schema`): a newer schema is refused, an
older one migrated. A missing table or column, or a workspace whose record is gone while its
history remains, is StateDamaged, never silently recreated; `state init --force` is the
explicit way out. psycopg 3 is an optional extra (`pip install adaptive-deploy[postgres]`)
and is imported only when this backend is used. The DSN is never shown: it may hold a
password.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import re
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

from adaptive_deploy.errors import StateDamaged, StateError
from adaptive_deploy.state import _common
from adaptive_deploy.state.base import (
    Claim,
    HistoryEntry,
    LockInfo,
    ResourceRecord,
    StateSnapshot,
)
from adaptive_deploy.state.liveness import pid_alive, process_start_ticks

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 10
# Version 1 had no marker table (and no lease columns); 2 adds both.
SCHEMA_VERSION = 2
DEFAULT_LEASE_S = 30.0
# A connection idle longer than this is pinged before use: the server may have ended it.
_IDLE_PING_S = 5.0
# Serialises schema creation between processes opening a fresh database at once.
_SCHEMA_LOCK_KEY = 0x6164_6570_6C6F_7900 >> 1
_NOW = "extract(epoch from clock_timestamp())"

_TABLES = [
    """CREATE TABLE IF NOT EXISTS adaptive_deploy_schema (
        id      BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (id),
        version INTEGER NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS adaptive_deploy_workspaces (
        workspace  TEXT PRIMARY KEY,
        lineage    TEXT NOT NULL,
        serial     BIGINT NOT NULL,
        writes     BIGINT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        platform   TEXT)""",
    """CREATE TABLE IF NOT EXISTS adaptive_deploy_resources (
        workspace   TEXT NOT NULL,
        address     TEXT NOT NULL,
        type        TEXT NOT NULL,
        platform_id TEXT,
        applied     TEXT NOT NULL,
        observed    TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        updated_at  DOUBLE PRECISION NOT NULL,
        serial      BIGINT NOT NULL,
        pending     TEXT,
        PRIMARY KEY (workspace, address))""",
    # Columns added after the first release (databases created by an older version).
    "ALTER TABLE adaptive_deploy_workspaces ADD COLUMN IF NOT EXISTS platform TEXT",
    "ALTER TABLE adaptive_deploy_resources ADD COLUMN IF NOT EXISTS pending TEXT",
    """CREATE TABLE IF NOT EXISTS adaptive_deploy_history (
        seq         BIGSERIAL PRIMARY KEY,
        workspace   TEXT NOT NULL,
        id          TEXT NOT NULL,
        started_at  DOUBLE PRECISION NOT NULL,
        finished_at DOUBLE PRECISION,
        who         TEXT NOT NULL,
        operation   TEXT NOT NULL,
        plan_digest TEXT,
        result      TEXT NOT NULL,
        summary     TEXT NOT NULL,
        UNIQUE (workspace, id))""",
    """CREATE TABLE IF NOT EXISTS adaptive_deploy_locks (
        workspace   TEXT PRIMARY KEY,
        id          TEXT NOT NULL UNIQUE,
        owner       TEXT NOT NULL,
        host        TEXT NOT NULL,
        pid         INTEGER NOT NULL,
        operation   TEXT NOT NULL,
        created_at  DOUBLE PRECISION NOT NULL,
        backend_pid INTEGER NOT NULL,
        expires_at  DOUBLE PRECISION,
        machine     TEXT,
        proc_start  BIGINT)""",
]
# Version 1 → 2. Nullable columns, so a version-1 client still writing its rows keeps working.
_MIGRATE_TO_2 = [
    "ALTER TABLE adaptive_deploy_locks ADD COLUMN IF NOT EXISTS expires_at DOUBLE PRECISION",
    "ALTER TABLE adaptive_deploy_locks ADD COLUMN IF NOT EXISTS machine TEXT",
    "ALTER TABLE adaptive_deploy_locks ADD COLUMN IF NOT EXISTS proc_start BIGINT",
]
# History is append-only: no deletes; an update may only finish an unfinished entry.
_GUARD = """CREATE OR REPLACE FUNCTION adaptive_deploy_history_guard() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'DELETE' OR OLD.finished_at IS NOT NULL
               OR NEW.id IS DISTINCT FROM OLD.id OR NEW.workspace IS DISTINCT FROM OLD.workspace
               OR NEW.started_at IS DISTINCT FROM OLD.started_at
               OR NEW.who IS DISTINCT FROM OLD.who
               OR NEW.operation IS DISTINCT FROM OLD.operation
               OR NEW.plan_digest IS DISTINCT FROM OLD.plan_digest THEN
                RAISE EXCEPTION 'history is append-only';
            END IF;
            RETURN NEW;
        END $$"""
_TRIGGER = (
    "CREATE TRIGGER adaptive_deploy_history_append_only BEFORE UPDATE OR DELETE "
    "ON adaptive_deploy_history FOR EACH ROW EXECUTE FUNCTION adaptive_deploy_history_guard()"
)
_PREFIX = "adaptive_deploy_"


@functools.cache
def _expected_columns() -> dict[str, set[str]]:
    """Columns of every core table, read off the CREATE TABLE statements above."""
    out: dict[str, set[str]] = {}
    for statement in _TABLES:
        if not statement.lstrip().startswith("CREATE TABLE"):
            continue      # columns added later are in their CREATE TABLE too
        match = re.match(r"\s*CREATE TABLE IF NOT EXISTS (\w+) \((.*)\)\s*$", statement, re.S)
        assert match is not None, statement
        name = match.group(1).removeprefix(_PREFIX)
        items = [item.split()[0].lower() for item in re.split(r",\s*\n", match.group(2))]
        out[name] = {i for i in items if i not in ("primary", "unique", "constraint", "check")}
    return {t: out[t] for t in _common.CORE_TABLES}


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError:
        raise StateError(
            "the postgres state backend needs psycopg 3: pip install 'adaptive-deploy[postgres]'"
        ) from None
    return psycopg


def _redact(message: str, dsn: str) -> str:
    """Remove the DSN and its password from a driver message before anyone sees it."""
    secrets = [dsn]
    try:
        from psycopg.conninfo import conninfo_to_dict

        password = conninfo_to_dict(dsn).get("password")
        if password:
            secrets.append(str(password))
    except Exception:  # an unparsable DSN: redacting the whole string is all we can do
        pass
    for secret in secrets:
        message = message.replace(secret, "***")
    return message


def connect(dsn: str, dsn_env: str) -> Any:
    """An autocommit psycopg connection; errors name the env var, never the DSN."""
    psycopg = _psycopg()
    from psycopg.rows import dict_row

    try:
        return psycopg.connect(
            dsn, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S, row_factory=dict_row,
            application_name=f"adaptive-deploy/{os.getpid()}",
        )
    except psycopg.Error as exc:
        raise StateError(
            f"cannot connect to the PostgreSQL state database (DSN from ${dsn_env}): "
            f"{_redact(str(exc).strip(), dsn)}"
        ) from None


def lock_key(workspace: str) -> int:
    """The advisory-lock key of a workspace: a stable non-negative 63-bit hash."""
    digest = hashlib.sha256(f"adaptive-deploy:{workspace}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def _recovery(workspace: str) -> str:
    return (
        "Restore the database from a backup, or run `adaptive-deploy state init DIR --force` "
        f"to start a new empty state for workspace '{workspace}' (its history is kept); the "
        "next plan then names the `adaptive-deploy import` command for each object that is "
        "live."
    )


def _damaged(workspace: str, what: str, recovery: str | None = None) -> StateDamaged:
    return _common.damaged("in the PostgreSQL database", what,
                           recovery if recovery is not None else _recovery(workspace))


def _present_tables(conn: Any) -> set[str]:
    rows = conn.execute(
        "SELECT table_name FROM information_schema.tables "
        "WHERE table_schema = current_schema() AND table_name LIKE 'adaptive\\_deploy\\_%%'"
    ).fetchall()
    return {str(r["table_name"]).removeprefix(_PREFIX) for r in rows}


def _columns(conn: Any, table: str) -> set[str]:
    rows = conn.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = %s", (_PREFIX + table,)
    ).fetchall()
    return {str(r["column_name"]) for r in rows}


def _prepare_schema(conn: Any, workspace: str, *, force: bool = False) -> list[str]:
    """Inside a transaction: check, create or migrate the schema and this workspace's record.

    Returns what was repaired (only with `force`). StateDamaged when a trace shows the state
    existed but part of it is gone; StateError for a newer schema."""
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK_KEY,))
    repaired: list[str] = []
    present = _present_tables(conn)
    core = set(_common.CORE_TABLES)
    version: int | None = None
    if "schema" in present:
        row = conn.execute("SELECT version FROM adaptive_deploy_schema").fetchone()
        version = None if row is None else int(row["version"])
    if version is not None and version > SCHEMA_VERSION:
        raise StateError(
            f"the PostgreSQL state database has schema version {version}; this "
            f"adaptive-deploy understands up to {SCHEMA_VERSION}. Upgrade adaptive-deploy."
        )
    missing = sorted(core - present)
    existed = version is not None or bool(core & present)
    if missing and existed:
        what = (f"the table{'s' if len(missing) > 1 else ''} "
                f"{', '.join(_PREFIX + t for t in missing)} "
                f"{'are' if len(missing) > 1 else 'is'} missing")
        if not force:
            raise _damaged(workspace, what)
        repaired.append(f"recreated {', '.join(_PREFIX + t for t in missing)} (empty)")
    for statement in _TABLES:
        conn.execute(statement)
    if version is None or version < SCHEMA_VERSION:
        for statement in _MIGRATE_TO_2:
            conn.execute(statement)
        conn.execute(
            "INSERT INTO adaptive_deploy_schema (id, version) VALUES (TRUE, %s) "
            "ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version", (SCHEMA_VERSION,)
        )
    for table, columns in _expected_columns().items():
        lacking = sorted(columns - _columns(conn, table))
        if lacking:
            raise _damaged(
                workspace,
                f"the table {_PREFIX + table} has no column {', '.join(repr(c) for c in lacking)}",
                "Restore the database from a backup: the tables are shared by every workspace "
                "of this database, so adaptive-deploy does not alter them.",
            )
    if repaired and {"resources", "workspaces"} & set(missing):
        # The records or the lineage are gone: what is left of this workspace cannot be
        # trusted as its state, so it starts a new lineage (saved plans become stale).
        conn.execute("DELETE FROM adaptive_deploy_resources WHERE workspace = %s", (workspace,))
        conn.execute("DELETE FROM adaptive_deploy_workspaces WHERE workspace = %s", (workspace,))
    conn.execute(_GUARD)
    exists = conn.execute(
        "SELECT 1 FROM pg_trigger WHERE tgname = 'adaptive_deploy_history_append_only' "
        "AND tgrelid = 'adaptive_deploy_history'::regclass"
    ).fetchone()
    if exists is None:
        conn.execute(_TRIGGER)
    row = conn.execute(
        "SELECT 1 FROM adaptive_deploy_workspaces WHERE workspace = %s", (workspace,)
    ).fetchone()
    if row is None:
        traces = _traces(conn, workspace)
        if traces is not None:
            what = (f"the record of workspace '{workspace}' (lineage, serial) is missing while "
                    f"{traces} remain")
            if not force:
                raise _damaged(workspace, what)
            conn.execute("DELETE FROM adaptive_deploy_resources WHERE workspace = %s",
                         (workspace,))
            conn.execute("DELETE FROM adaptive_deploy_locks WHERE workspace = %s", (workspace,))
            repaired.append(f"started a new lineage: {what}")
        conn.execute(
            "INSERT INTO adaptive_deploy_workspaces (workspace, lineage, serial, writes, "
            "created_at) VALUES (%s, %s, 0, 0, %s)",
            (workspace, str(uuid.uuid4()), time.time()),
        )
        if repaired:
            conn.execute(
                "INSERT INTO adaptive_deploy_history (workspace, id, started_at, finished_at, "
                "who, operation, plan_digest, result, summary) "
                "VALUES (%s, %s, %s, %s, %s, 'state init --force', NULL, 'success', %s)",
                (workspace, uuid.uuid4().hex, time.time(), time.time(), _common.current_user(),
                 _common.canonical_json({"repaired": repaired}, "summary")),
            )
    return repaired


def _traces(conn: Any, workspace: str) -> str | None:
    for table, what in (("history", "history entries"), ("resources", "resource records")):
        row = conn.execute(
            f"SELECT count(*) AS n FROM adaptive_deploy_{table} WHERE workspace = %s",
            (workspace,),
        ).fetchone()
        if row["n"]:
            return f"{row['n']} {what}"
    return None


def init_state(dsn: str, workspace: str, *, dsn_env: str, force: bool) -> str:
    """`state init`: create the state of `workspace` when there is none; with `force`,
    recreate missing tables and start a new lineage over the traces of a lost one (history
    is kept, with an entry saying so). Returns what was done."""
    psycopg = _psycopg()
    conn = connect(dsn, dsn_env)
    try:
        with conn.transaction():
            had = conn.execute(
                "SELECT to_regclass('adaptive_deploy_workspaces') IS NOT NULL AS t"
            ).fetchone()["t"] and conn.execute(
                "SELECT 1 FROM adaptive_deploy_workspaces WHERE workspace = %s", (workspace,)
            ).fetchone() is not None
            repaired = _prepare_schema(conn, workspace, force=force)
    except psycopg.Error as exc:
        raise StateError(
            f"PostgreSQL state database (${dsn_env}): {_redact(str(exc).strip(), dsn)}"
        ) from None
    finally:
        conn.close()
    if repaired:
        return "; ".join(repaired)
    if had:
        return f"the state of workspace '{workspace}' already exists; nothing to do"
    return f"created an empty state for workspace '{workspace}'"


class PostgresStateStore:
    """StateStore in a PostgreSQL database. Safe to share between threads."""

    def __init__(self, dsn: str, workspace: str, *, dsn_env: str,
                 lease: _common.Lease | None = None) -> None:
        self.workspace = workspace
        self.lease = lease or _common.Lease(workspace)
        self._dsn = dsn
        self._dsn_env = dsn_env
        self._mutex = threading.Lock()
        self._closed = False
        self._conn: Any = connect(dsn, dsn_env)
        try:
            with self._tx(check_lease=False) as conn:
                _prepare_schema(conn, workspace)
        except BaseException:
            self.close()
            raise

    def _error(self, exc: Exception) -> StateError:
        return StateError(
            f"PostgreSQL state database (${self._dsn_env}): {_redact(str(exc).strip(), self._dsn)}"
        )

    def _begin(self) -> Any:
        """BEGIN on a live connection. The server may have ended an idle session
        (`idle_session_timeout`, a restart, a terminated backend) while deployments loaded:
        BEGIN then fails before anything happened, so reconnecting once is safe."""
        psycopg = _psycopg()
        for attempt in (1, 2):
            if self._conn is None or self._conn.closed or self._conn.broken:
                self._conn = connect(self._dsn, self._dsn_env)
            try:
                self._conn.execute("BEGIN")
                return self._conn
            except psycopg.OperationalError:
                with suppress(Exception):
                    self._conn.close()
                self._conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    @contextmanager
    def _tx(self, snapshot: bool = False, check_lease: bool = True,
            write: bool = False) -> Iterator[Any]:
        """One transaction; `snapshot` makes every statement in it see the same data
        (REPEATABLE READ) so a multi-query read is consistent without taking row locks. A
        `write` transaction first checks, and renews, the lease of the lock this process
        holds (if any): a lease taken over stops the write before anything changes."""
        psycopg = _psycopg()
        with self._mutex:
            if self._closed:
                raise StateError("state store is closed")
            try:
                conn = self._begin()
            except psycopg.Error as exc:
                raise self._error(exc) from None
            try:
                if snapshot:
                    conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                if write and check_lease:
                    self._check_lease(conn)
                yield conn
                conn.execute("COMMIT")
            except BaseException as exc:
                with suppress(Exception):
                    conn.execute("ROLLBACK")
                if isinstance(exc, psycopg.Error):
                    raise self._error(exc) from None
                raise

    def _check_lease(self, conn: Any) -> None:
        lock_id = self.lease.lock_id
        if lock_id is None:
            return
        row = conn.execute(
            "SELECT id FROM adaptive_deploy_locks WHERE workspace = %s FOR UPDATE",
            (self.workspace,),
        ).fetchone()
        self.lease.verify(None if row is None else str(row["id"]))
        conn.execute(
            f"UPDATE adaptive_deploy_locks SET expires_at = {_NOW} + %s "
            "WHERE workspace = %s AND id = %s",
            (self.lease.duration_s, self.workspace, lock_id),
        )

    def check_lock(self) -> None:
        """LockLost when the lease was found lost (by a commit or the renewal thread)."""
        self.lease.check()

    def _meta(self, conn: Any) -> dict[str, Any]:
        row: dict[str, Any] | None = conn.execute(
            "SELECT * FROM adaptive_deploy_workspaces WHERE workspace = %s", (self.workspace,)
        ).fetchone()
        if row is None:
            raise _damaged(self.workspace, f"the record of workspace '{self.workspace}' was "
                           "deleted while it was in use")
        return row

    def _bump(self, conn: Any) -> int:
        row = conn.execute(
            "UPDATE adaptive_deploy_workspaces SET serial = serial + 1, writes = writes + 1 "
            "WHERE workspace = %s RETURNING serial",
            (self.workspace,),
        ).fetchone()
        if row is None:
            raise _damaged(self.workspace, f"the record of workspace '{self.workspace}' was "
                           "deleted while it was in use")
        return int(row["serial"])

    def read(self) -> StateSnapshot:
        """The workspace's lineage, serial and every resource record, read consistently."""
        with self._tx(snapshot=True) as conn:
            meta = self._meta(conn)
            rows = conn.execute(
                "SELECT * FROM adaptive_deploy_resources WHERE workspace = %s ORDER BY address",
                (self.workspace,),
            ).fetchall()
        lineage, serial, _ = _common.meta_values(meta)
        resources = {row["address"]: _common.row_to_record(row) for row in rows}
        return StateSnapshot(self.workspace, lineage, serial, resources,
                             _common.decode_platform(meta["platform"], self.workspace))

    def put_resource(self, record: ResourceRecord) -> int:
        """Insert or replace one record; commit; return the new serial."""
        row = _common.record_to_row(record)
        with self._tx(write=True) as conn:
            serial = self._bump(conn)
            conn.execute(
                "INSERT INTO adaptive_deploy_resources (workspace, address, type, platform_id, "
                "applied, observed, fingerprint, updated_at, serial, pending) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (workspace, address) DO UPDATE SET type = EXCLUDED.type, "
                "platform_id = EXCLUDED.platform_id, applied = EXCLUDED.applied, "
                "observed = EXCLUDED.observed, fingerprint = EXCLUDED.fingerprint, "
                "updated_at = EXCLUDED.updated_at, serial = EXCLUDED.serial, "
                "pending = EXCLUDED.pending",
                (self.workspace, row.address, row.type, row.platform_id, row.applied,
                 row.observed, row.fingerprint, row.updated_at, serial, row.pending),
            )
        return serial

    def set_platform(self, platform: dict[str, Any]) -> int:
        """Record the platform identity; commit; bump the serial when it changes."""
        encoded = _common.encode_platform(platform)
        with self._tx(write=True) as conn:
            meta = conn.execute(
                "SELECT * FROM adaptive_deploy_workspaces WHERE workspace = %s FOR UPDATE",
                (self.workspace,),
            ).fetchone()
            if meta is None:
                raise StateError(f"the state database lost workspace '{self.workspace}'")
            if meta["platform"] == encoded:
                return int(meta["serial"])
            conn.execute(
                "UPDATE adaptive_deploy_workspaces SET platform = %s WHERE workspace = %s",
                (encoded, self.workspace),
            )
            return self._bump(conn)

    def claims(self, types: tuple[str, ...]) -> list[Claim]:
        """Records of these types held by the other workspaces sharing this database."""
        if not types:
            return []
        with self._tx(snapshot=True) as conn:
            rows = conn.execute(
                "SELECT r.workspace, r.address, w.platform FROM adaptive_deploy_resources r "
                "JOIN adaptive_deploy_workspaces w ON w.workspace = r.workspace "
                "WHERE r.workspace <> %s AND r.type = ANY(%s)",
                (self.workspace, list(types)),
            ).fetchall()
        return _common.claims_from_rows(rows)

    def delete_resource(self, address: str) -> int:
        """Remove one record; commit; return the new serial. Removing an address that has no
        record changes nothing and returns the current serial."""
        with self._tx(write=True) as conn:
            cur = conn.execute(
                "DELETE FROM adaptive_deploy_resources WHERE workspace = %s AND address = %s",
                (self.workspace, address),
            )
            if cur.rowcount == 0:
                return int(self._meta(conn)["serial"])
            return self._bump(conn)

    def append_history(self, entry: HistoryEntry) -> None:
        """Record the start of an operation; ids are unique per workspace."""
        summary = _common.canonical_json(entry.summary, f"history {entry.id} summary")
        with self._tx(write=True) as conn:
            cur = conn.execute(
                "INSERT INTO adaptive_deploy_history (workspace, id, started_at, finished_at, "
                "who, operation, plan_digest, result, summary) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (workspace, id) DO NOTHING",
                (self.workspace, entry.id, entry.started_at, entry.finished_at, entry.who,
                 entry.operation, entry.plan_digest, entry.result, summary),
            )
            if cur.rowcount == 0:
                raise StateError(f"history entry {entry.id} already exists")

    def finish_history(self, entry_id: str, result: str, summary: dict[str, Any]) -> None:
        """Fill in finished_at, result and summary of an unfinished entry (once)."""
        encoded = _common.canonical_json(summary, f"history {entry_id} summary")
        with self._tx(write=True) as conn:
            row = conn.execute(
                "SELECT finished_at FROM adaptive_deploy_history WHERE workspace = %s AND id = %s "
                "FOR UPDATE",
                (self.workspace, entry_id),
            ).fetchone()
            if row is None:
                raise StateError(f"no history entry {entry_id} in workspace '{self.workspace}'")
            if row["finished_at"] is not None:
                raise StateError(f"history entry {entry_id} is already finished")
            conn.execute(
                # GREATEST: a clock that stepped back (or another host's clock) must not finish
                # an entry before its start
                "UPDATE adaptive_deploy_history SET finished_at = GREATEST(%s, started_at), "
                "result = %s, summary = %s WHERE workspace = %s AND id = %s",
                (time.time(), result, encoded, self.workspace, entry_id),
            )

    def close_unfinished(self, result: str = "interrupted") -> list[str]:
        """Finish every unfinished history entry of the workspace with `result`."""
        with self._tx(write=True) as conn:
            rows = conn.execute(
                "UPDATE adaptive_deploy_history SET finished_at = GREATEST(%s, started_at), "
                "result = %s WHERE workspace = %s AND finished_at IS NULL RETURNING id",
                (time.time(), result, self.workspace),
            ).fetchall()
        return sorted(str(r["id"]) for r in rows)

    def history(self, limit: int = 50) -> list[HistoryEntry]:
        """The latest `limit` entries, newest first."""
        with self._tx() as conn:
            rows = conn.execute(
                "SELECT * FROM adaptive_deploy_history WHERE workspace = %s "
                "ORDER BY seq DESC LIMIT %s",
                (self.workspace, limit),
            ).fetchall()
        return [_common.row_to_history(row) for row in rows]

    def integrity_check(self) -> list[str]:
        """Logical checks of this workspace's rows (the server guards physical integrity)."""
        with self._tx(snapshot=True) as conn:
            meta = self._meta(conn)
            resources = conn.execute(
                "SELECT * FROM adaptive_deploy_resources WHERE workspace = %s", (self.workspace,)
            ).fetchall()
            history = conn.execute(
                "SELECT * FROM adaptive_deploy_history WHERE workspace = %s", (self.workspace,)
            ).fetchall()
        lineage, serial, writes = _common.meta_values(meta)
        problems = _common.check_meta(self.workspace, lineage, serial, writes,
                                      meta["platform"])
        problems += _common.check_resources(resources, serial)
        problems += _common.check_history(history)
        return problems

    def close(self) -> None:
        """Close the connection; further calls raise StateError."""
        with self._mutex:
            self._closed = True
            if self._conn is not None:
                with suppress(Exception):
                    self._conn.close()
                self._conn = None


class _Renewal(threading.Thread):
    """Renews one lock's lease every third of its duration until stopped; marks the lease
    lost when the row is no longer this lock (released or taken over)."""

    def __init__(self, locker: PostgresLocker, lock_id: str) -> None:
        super().__init__(name=f"adaptive-deploy lease {lock_id[:8]}", daemon=True)
        self.locker = locker
        self.lock_id = lock_id
        self.stop = threading.Event()
        self._conn: Any = None

    def run(self) -> None:
        psycopg = _psycopg()
        interval = self.locker.lease.duration_s / 3
        while not self.stop.wait(interval):
            row: Any = None
            for attempt in (1, 2):   # a session the server ended: reconnect and retry once
                try:
                    if self._conn is None or self._conn.closed or self._conn.broken:
                        self._conn = self.locker._connect()
                    row = self._conn.execute(
                        f"UPDATE adaptive_deploy_locks SET expires_at = {_NOW} + %s "
                        "WHERE workspace = %s AND id = %s RETURNING id",
                        (self.locker.lease.duration_s, self.locker.workspace, self.lock_id),
                    ).fetchone()
                    break
                except (psycopg.Error, StateError) as exc:
                    if self._conn is not None:
                        with suppress(Exception):
                            self._conn.close()
                    self._conn = None
                    if attempt == 2:
                        # Unreachable: try again next time. If it stays away past the lease,
                        # another process may take over, and the next commit here finds out.
                        log.warning("renewing the lease of lock %s: %s", self.lock_id,
                                    _redact(str(exc), self.locker._dsn))
            else:
                continue
            if row is None:
                if self.locker.lease.lock_id == self.lock_id:
                    self.locker.lease.lost = "its lease was released or taken over by another process"
                break
        if self._conn is not None:
            with suppress(Exception):
                self._conn.close()


class PostgresLocker:
    """Locker on a lock row with a renewed lease (see the module docstring)."""

    def __init__(self, dsn: str, workspace: str, *, dsn_env: str,
                 lease: _common.Lease | None = None) -> None:
        self.workspace = workspace
        self.lease = lease or _common.Lease(workspace)
        self._dsn = dsn
        self._dsn_env = dsn_env
        self._key = lock_key(workspace)
        self._machine = _common.machine_id()
        self._renewals: dict[str, _Renewal] = {}
        self._mutex = threading.Lock()

    def _connect(self) -> Any:
        return connect(self._dsn, self._dsn_env)

    def _error(self, exc: Exception) -> StateError:
        return StateError(
            f"PostgreSQL state database (${self._dsn_env}): {_redact(str(exc).strip(), self._dsn)}"
        )

    @contextmanager
    def _short(self) -> Iterator[Any]:
        """A connection for one look at the lock, closed afterwards."""
        psycopg = _psycopg()
        conn = self._connect()
        try:
            yield conn
        except psycopg.Error as exc:
            raise self._error(exc) from None
        finally:
            conn.close()

    def _row(self, conn: Any, for_update: bool = False) -> dict[str, Any] | None:
        row: dict[str, Any] | None = conn.execute(
            f"SELECT *, {_NOW} AS now FROM adaptive_deploy_locks WHERE workspace = %s"
            + (" FOR UPDATE" if for_update else ""),
            (self.workspace,),
        ).fetchone()
        return row

    def _advisory_holder(self, conn: Any) -> int | None:
        """Backend pid of a session holding this workspace's advisory lock, if any: how a
        schema-1 client holds its lock (its row has no lease)."""
        # A bigint advisory key shows in pg_locks as classid = high half, objid = low half,
        # objsubid = 1.
        row = conn.execute(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND classid = %s::bigint::oid AND objid = %s::bigint::oid AND objsubid = 1",
            (self._key >> 32, self._key & 0xFFFF_FFFF),
        ).fetchone()
        return None if row is None else int(row["pid"])

    def _is_stale(self, conn: Any, row: dict[str, Any]) -> bool:
        """Expired lease, or a holder of this machine that is gone. A holder elsewhere has no
        pid to check: only its lease can tell."""
        if row.get("expires_at") is None:
            return self._advisory_holder(conn) is None
        if float(row["expires_at"]) <= float(row["now"]):
            return True
        return bool(row.get("machine") == self._machine
                    and not pid_alive(int(row["pid"]), row.get("proc_start")))

    def _try_acquire(self, operation: str) -> tuple[LockInfo | None, LockInfo | None]:
        lock = _common.new_lock(self.workspace, operation)
        with self._short() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (self._key,))
            row = self._row(conn, for_update=True)
            replaced = None
            if row is not None:
                holder = _common.row_to_lock(self.workspace, row)
                if not self._is_stale(conn, row):
                    return None, holder
                replaced = holder
                conn.execute("DELETE FROM adaptive_deploy_locks WHERE workspace = %s",
                             (self.workspace,))
            got = conn.execute(
                "INSERT INTO adaptive_deploy_locks (workspace, id, owner, host, pid, operation, "
                "created_at, backend_pid, expires_at, machine, proc_start) VALUES "
                f"(%s, %s, %s, %s, %s, %s, %s, pg_backend_pid(), {_NOW} + %s, %s, %s) "
                "RETURNING expires_at",
                (self.workspace, lock.id, lock.owner, lock.host, lock.pid, lock.operation,
                 lock.created_at, self.lease.duration_s, self._machine,
                 process_start_ticks(lock.pid)),
            ).fetchone()
        lock.expires_at = float(got["expires_at"])
        lock.replaced = replaced
        if replaced is not None:
            log.warning("took over the stale lock of a gone process: %s", replaced.describe())
        return lock, None

    def acquire(self, operation: str, timeout_s: float = 0.0) -> LockInfo:
        """Take the lock, waiting up to timeout_s; raise errors.LockHeld naming the holder.
        The returned lock's `replaced` is the stale lock it took over, if any."""
        deadline = time.monotonic() + max(0.0, timeout_s)
        while True:
            lock, holder = self._try_acquire(operation)
            if lock is not None:
                renewal = _Renewal(self, lock.id)
                with self._mutex:
                    self._renewals[lock.id] = renewal
                self.lease.hold(lock.id)
                renewal.start()
                return lock
            assert holder is not None
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _common.lock_held(holder)
            time.sleep(min(_common.POLL_INTERVAL_S, remaining))

    def _stop_renewal(self, lock_id: str) -> None:
        with self._mutex:
            renewal = self._renewals.pop(lock_id, None)
        if renewal is not None:
            renewal.stop.set()
            renewal.join(timeout=10)

    def release(self, lock: LockInfo) -> None:
        """Release a lock this locker took. Releasing one already gone is a no-op."""
        self._stop_renewal(lock.id)
        self.lease.drop(lock.id)
        psycopg = _psycopg()
        try:
            with self._short() as conn:
                cur = conn.execute(
                    "DELETE FROM adaptive_deploy_locks WHERE workspace = %s AND id = %s",
                    (self.workspace, lock.id),
                )
                if cur.rowcount == 0:
                    log.warning("lock %s of workspace '%s' was already released", lock.id,
                                self.workspace)
        except (psycopg.Error, StateError) as exc:
            # The row stays until its lease expires; then anyone may take over.
            log.warning("releasing lock %s: %s", lock.id, _redact(str(exc), self._dsn))

    def current(self) -> LockInfo | None:
        """The lock holder, if any; an expired lease, or a gone local holder, is free."""
        with self._short() as conn:
            row = self._row(conn)
            if row is None or self._is_stale(conn, row):
                return None
            return _common.row_to_lock(self.workspace, row)

    def force_unlock(self, lock_id: str) -> None:
        """Release the lock `lock_id` whoever holds it: delete its row; its holder's next
        commit, or its next renewal, finds the lock gone and stops. StateError when the id
        does not match the current lock."""
        with self._short() as conn:
            row = self._row(conn)
            if row is None or row["id"] != lock_id:
                current = None
                if row is not None and not self._is_stale(conn, row):
                    current = _common.row_to_lock(self.workspace, row)
                raise _common.lock_mismatch(self.workspace, lock_id, current)
            conn.execute(
                "DELETE FROM adaptive_deploy_locks WHERE workspace = %s AND id = %s",
                (self.workspace, lock_id),
            )
            holder = self._advisory_holder(conn)
            if row.get("expires_at") is None and holder is not None and holder == row["backend_pid"]:
                # A schema-1 holder keeps its lock in its session: end that session.
                conn.execute("SELECT pg_terminate_backend(%s)", (holder,))
        self._stop_renewal(lock_id)
        self.lease.drop(lock_id)
