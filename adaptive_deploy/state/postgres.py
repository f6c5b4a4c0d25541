"""The `postgres` state backend: the same logical schema as the local one, in tables prefixed
`adaptive_deploy_`, keyed by workspace so several workspaces can share one database.

Locking: `pg_try_advisory_lock(key(workspace))` on a session connection held for the lock's
life, plus a row in `adaptive_deploy_locks` describing the holder. When the holder dies its
session ends and the server frees the advisory lock, so a row whose advisory lock is free is
stale and is replaced. psycopg 3 is an optional extra (`pip install adaptive-deploy[postgres]`)
and is imported only when this backend is used. The DSN is never shown: it may hold a password.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from adaptive_deploy.errors import StateError
from adaptive_deploy.state import _common
from adaptive_deploy.state.base import (
    Claim,
    HistoryEntry,
    LockInfo,
    ResourceRecord,
    StateSnapshot,
)

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 10
# Serialises schema creation between processes opening a fresh database at once.
_SCHEMA_LOCK_KEY = 0x6164_6570_6C6F_7900 >> 1

_TABLES = [
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
        backend_pid INTEGER NOT NULL)""",
    # History is append-only: no deletes; an update may only finish an unfinished entry.
    """CREATE OR REPLACE FUNCTION adaptive_deploy_history_guard() RETURNS trigger
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
        END $$""",
]
_TRIGGER = (
    "CREATE TRIGGER adaptive_deploy_history_append_only BEFORE UPDATE OR DELETE "
    "ON adaptive_deploy_history FOR EACH ROW EXECUTE FUNCTION adaptive_deploy_history_guard()"
)


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
            application_name="adaptive-deploy",
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


class PostgresStateStore:
    """StateStore in a PostgreSQL database. Safe to share between threads."""

    def __init__(self, dsn: str, workspace: str, *, dsn_env: str) -> None:
        self.workspace = workspace
        self._dsn = dsn
        self._dsn_env = dsn_env
        self._mutex = threading.Lock()
        self._conn: Any = connect(dsn, dsn_env)
        self._ensure_schema()

    def _error(self, exc: Exception) -> StateError:
        return StateError(
            f"PostgreSQL state database (${self._dsn_env}): {_redact(str(exc).strip(), self._dsn)}"
        )

    @contextmanager
    def _tx(self, snapshot: bool = False) -> Iterator[Any]:
        """One transaction; `snapshot` makes every statement in it see the same data
        (REPEATABLE READ) so a multi-query read is consistent without taking row locks."""
        psycopg = _psycopg()
        with self._mutex:
            if self._conn is None:
                raise StateError("state store is closed")
            try:
                with self._conn.transaction():
                    if snapshot:
                        self._conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                    yield self._conn
            except psycopg.Error as exc:
                raise self._error(exc) from None

    def _ensure_schema(self) -> None:
        with self._tx() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK_KEY,))
            for statement in _TABLES:
                conn.execute(statement)
            exists = conn.execute(
                "SELECT 1 FROM pg_trigger WHERE tgname = 'adaptive_deploy_history_append_only'"
            ).fetchone()
            if exists is None:
                conn.execute(_TRIGGER)
            conn.execute(
                "INSERT INTO adaptive_deploy_workspaces (workspace, lineage, serial, writes, "
                "created_at) VALUES (%s, %s, 0, 0, %s) ON CONFLICT (workspace) DO NOTHING",
                (self.workspace, str(uuid.uuid4()), time.time()),
            )

    def _meta(self, conn: Any) -> dict[str, Any]:
        row: dict[str, Any] | None = conn.execute(
            "SELECT * FROM adaptive_deploy_workspaces WHERE workspace = %s", (self.workspace,)
        ).fetchone()
        if row is None:
            raise StateError(f"the state database lost workspace '{self.workspace}'")
        return row

    def _bump(self, conn: Any) -> int:
        row = conn.execute(
            "UPDATE adaptive_deploy_workspaces SET serial = serial + 1, writes = writes + 1 "
            "WHERE workspace = %s RETURNING serial",
            (self.workspace,),
        ).fetchone()
        if row is None:
            raise StateError(f"the state database lost workspace '{self.workspace}'")
        return int(row["serial"])

    def read(self) -> StateSnapshot:
        """The workspace's lineage, serial and every resource record, read consistently."""
        with self._tx(snapshot=True) as conn:
            meta = self._meta(conn)
            rows = conn.execute(
                "SELECT * FROM adaptive_deploy_resources WHERE workspace = %s ORDER BY address",
                (self.workspace,),
            ).fetchall()
        resources = {row["address"]: _common.row_to_record(row) for row in rows}
        return StateSnapshot(self.workspace, meta["lineage"], int(meta["serial"]), resources,
                             _common.decode_platform(meta["platform"], self.workspace))

    def put_resource(self, record: ResourceRecord) -> int:
        """Insert or replace one record; commit; return the new serial."""
        row = _common.record_to_row(record)
        with self._tx() as conn:
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
        with self._tx() as conn:
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
        with self._tx() as conn:
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
        with self._tx() as conn:
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
        with self._tx() as conn:
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
        serial = int(meta["serial"])
        problems = _common.check_meta(self.workspace, meta["lineage"], serial,
                                      int(meta["writes"]), meta["platform"])
        problems += _common.check_resources(resources, serial)
        problems += _common.check_history(history)
        return problems

    def close(self) -> None:
        """Close the connection; further calls raise StateError."""
        with self._mutex:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


class PostgresLocker:
    """Locker on a PostgreSQL advisory lock plus a row naming the holder."""

    def __init__(self, dsn: str, workspace: str, *, dsn_env: str) -> None:
        self.workspace = workspace
        self._dsn = dsn
        self._dsn_env = dsn_env
        self._key = lock_key(workspace)
        # lock id → the session connection that holds its advisory lock
        self._sessions: dict[str, Any] = {}
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

    def _row(self, conn: Any) -> dict[str, Any] | None:
        row: dict[str, Any] | None = conn.execute(
            "SELECT * FROM adaptive_deploy_locks WHERE workspace = %s", (self.workspace,)
        ).fetchone()
        return row

    def _advisory_holder(self, conn: Any) -> int | None:
        """Backend pid of the session holding this workspace's advisory lock, if any."""
        # A bigint advisory key shows in pg_locks as classid = high half, objid = low half,
        # objsubid = 1.
        row = conn.execute(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND classid = %s::bigint::oid AND objid = %s::bigint::oid AND objsubid = 1",
            (self._key >> 32, self._key & 0xFFFF_FFFF),
        ).fetchone()
        return None if row is None else int(row["pid"])

    def _holder(self, conn: Any) -> LockInfo:
        row = self._row(conn)
        if row is not None:
            return _common.row_to_lock(self.workspace, row)
        # The holder took the advisory lock and has not written its row yet.
        return LockInfo("(unknown)", self.workspace, "(unknown)", "(unknown)", 0,
                        "(being acquired)", time.time())

    def acquire(self, operation: str, timeout_s: float = 0.0) -> LockInfo:
        """Take the lock, waiting up to timeout_s; raise errors.LockHeld naming the holder.
        The returned lock's `replaced` is the stale row it replaced, if any."""
        psycopg = _psycopg()
        deadline = time.monotonic() + max(0.0, timeout_s)
        session = self._connect()
        try:
            while True:
                got = session.execute(
                    "SELECT pg_try_advisory_lock(%s) AS got", (self._key,)
                ).fetchone()["got"]
                if got:
                    lock = self._write_row(session, operation)
                    with self._mutex:
                        self._sessions[lock.id] = session
                    return lock
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise _common.lock_held(self._holder(session))
                time.sleep(min(_common.POLL_INTERVAL_S, remaining))
        except BaseException as exc:
            session.close()
            if isinstance(exc, psycopg.Error):
                raise self._error(exc) from None
            raise

    def _write_row(self, session: Any, operation: str) -> LockInfo:
        """With the advisory lock held: replace any (stale) row with ours."""
        lock = _common.new_lock(self.workspace, operation)
        with session.transaction():
            old = session.execute(
                "DELETE FROM adaptive_deploy_locks WHERE workspace = %s RETURNING *",
                (self.workspace,),
            ).fetchone()
            session.execute(
                "INSERT INTO adaptive_deploy_locks (workspace, id, owner, host, pid, operation, "
                "created_at, backend_pid) VALUES (%s, %s, %s, %s, %s, %s, %s, pg_backend_pid())",
                (self.workspace, lock.id, lock.owner, lock.host, lock.pid, lock.operation,
                 lock.created_at),
            )
        if old is not None:
            # Its advisory lock was free, so its holder's session is gone.
            lock.replaced = _common.row_to_lock(self.workspace, old)
            log.warning("replaced the stale lock of a gone process: %s", lock.replaced.describe())
        return lock

    def release(self, lock: LockInfo) -> None:
        """Release a lock this locker took. Releasing one it does not hold is a no-op."""
        with self._mutex:
            session = self._sessions.pop(lock.id, None)
        if session is None:
            log.warning("lock %s of workspace '%s' is not held here", lock.id, self.workspace)
            return
        psycopg = _psycopg()
        try:
            session.execute(
                "DELETE FROM adaptive_deploy_locks WHERE workspace = %s AND id = %s",
                (self.workspace, lock.id),
            )
            session.execute("SELECT pg_advisory_unlock(%s)", (self._key,))
        except psycopg.Error as exc:
            # Closing the session below frees the advisory lock anyway; a leftover row is
            # stale and the next acquire replaces it.
            log.warning("releasing lock %s: %s", lock.id, _redact(str(exc), self._dsn))
        finally:
            session.close()

    def current(self) -> LockInfo | None:
        """The lock holder, if any; a row whose advisory lock is free (holder gone) is free."""
        with self._short() as conn:
            if self._advisory_holder(conn) is None:
                return None
            return self._holder(conn)

    def force_unlock(self, lock_id: str) -> None:
        """Release the lock `lock_id` whoever holds it: delete its row and, if its session still
        holds the advisory lock, terminate that session. StateError when the id does not match."""
        with self._mutex:
            own = next((s for i, s in self._sessions.items() if i == lock_id), None)
        with self._short() as conn:
            row = self._row(conn)
            holder = self._advisory_holder(conn)
            if row is None or row["id"] != lock_id:
                current = None
                if row is not None and holder is not None:
                    current = _common.row_to_lock(self.workspace, row)
                raise _common.lock_mismatch(self.workspace, lock_id, current)
            if own is not None:
                self.release(_common.row_to_lock(self.workspace, row))
                return
            conn.execute(
                "DELETE FROM adaptive_deploy_locks WHERE workspace = %s AND id = %s",
                (self.workspace, lock_id),
            )
            if holder is not None and holder == row["backend_pid"]:
                ok = conn.execute(
                    "SELECT pg_terminate_backend(%s) AS ok", (holder,)
                ).fetchone()["ok"]
                if not ok:
                    raise StateError(
                        f"removed lock {lock_id}, but could not end the database session "
                        f"(backend pid {holder}) that still holds it"
                    )
