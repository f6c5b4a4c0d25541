"""The `local` state backend: one SQLite file, `<workspace>/.adaptive-deploy/state.db`.

Durability: WAL journal with `synchronous=FULL`, and every write is one transaction, so a
SIGKILL at any point leaves the last committed state. Locking: a row in the `locks` table,
taken inside `BEGIN IMMEDIATE` so two processes cannot both see the table empty. A lock whose
holder ran on this host and has died (or whose pid was reused) is stale and is taken over.
"""

from __future__ import annotations

import logging
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
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
from adaptive_deploy.state.liveness import pid_alive, process_start_ticks

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2
# Columns added by a schema version, for databases created by an older one.
_ADDED_COLUMNS = [
    ("workspaces", "platform", "TEXT"),      # v2: the platform this state belongs to (JSON)
    ("resources", "pending", "TEXT"),        # v2: a create recorded before its platform call
]
# How long a statement waits for another process's write transaction (they are short).
BUSY_TIMEOUT_MS = 15_000

_SCHEMA = [
    """CREATE TABLE IF NOT EXISTS workspaces (
        workspace  TEXT PRIMARY KEY,
        lineage    TEXT NOT NULL,
        serial     INTEGER NOT NULL,
        writes     INTEGER NOT NULL,
        created_at REAL NOT NULL,
        platform   TEXT)""",
    """CREATE TABLE IF NOT EXISTS resources (
        workspace   TEXT NOT NULL,
        address     TEXT NOT NULL,
        type        TEXT NOT NULL,
        platform_id TEXT,
        applied     TEXT NOT NULL,
        observed    TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        updated_at  REAL NOT NULL,
        serial      INTEGER NOT NULL,
        pending     TEXT,
        PRIMARY KEY (workspace, address))""",
    """CREATE TABLE IF NOT EXISTS history (
        seq         INTEGER PRIMARY KEY AUTOINCREMENT,
        workspace   TEXT NOT NULL,
        id          TEXT NOT NULL,
        started_at  REAL NOT NULL,
        finished_at REAL,
        who         TEXT NOT NULL,
        operation   TEXT NOT NULL,
        plan_digest TEXT,
        result      TEXT NOT NULL,
        summary     TEXT NOT NULL,
        UNIQUE (workspace, id))""",
    # History is append-only: no deletes, and an update may only finish an unfinished entry.
    """CREATE TRIGGER IF NOT EXISTS history_no_delete BEFORE DELETE ON history
        BEGIN SELECT RAISE(ABORT, 'history is append-only'); END""",
    """CREATE TRIGGER IF NOT EXISTS history_finish_once BEFORE UPDATE ON history
        WHEN OLD.finished_at IS NOT NULL OR NEW.id IS NOT OLD.id
          OR NEW.workspace IS NOT OLD.workspace OR NEW.started_at IS NOT OLD.started_at
          OR NEW.who IS NOT OLD.who OR NEW.operation IS NOT OLD.operation
          OR NEW.plan_digest IS NOT OLD.plan_digest
        BEGIN SELECT RAISE(ABORT, 'history is append-only'); END""",
    """CREATE TABLE IF NOT EXISTS locks (
        workspace  TEXT PRIMARY KEY,
        id         TEXT NOT NULL UNIQUE,
        owner      TEXT NOT NULL,
        host       TEXT NOT NULL,
        pid        INTEGER NOT NULL,
        operation  TEXT NOT NULL,
        created_at REAL NOT NULL,
        proc_start INTEGER)""",
]


def connect(path: Path) -> sqlite3.Connection:
    """Open the state database with the durability settings every connection needs."""
    try:
        conn = sqlite3.connect(
            str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
            check_same_thread=False,
        )
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode = WAL")
        # FULL: a commit is on disk before it returns, so a recorded apply step is never lost.
        conn.execute("PRAGMA synchronous = FULL")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.Error as exc:
        raise StateError(f"cannot open state database {path}: {exc}") from None
    if version > SCHEMA_VERSION:
        conn.close()
        raise StateError(
            f"state database {path} has schema version {version}; this adaptive-deploy "
            f"understands up to {SCHEMA_VERSION}. Upgrade adaptive-deploy."
        )
    return conn


@contextmanager
def _transaction(conn: sqlite3.Connection, path: Path, immediate: bool = True) -> Iterator[None]:
    """One transaction; IMMEDIATE takes the write lock up front so read-then-write is atomic."""
    try:
        conn.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
    except sqlite3.Error as exc:
        raise StateError(f"state database {path}: {exc}") from None
    try:
        yield
    except BaseException:
        _rollback(conn)
        raise
    try:
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        _rollback(conn)
        raise StateError(f"state database {path}: commit failed: {exc}") from None


def _rollback(conn: sqlite3.Connection) -> None:
    # SQLite may already have rolled back on its own (e.g. after SQLITE_FULL); that is fine.
    if conn.in_transaction:
        with suppress(sqlite3.Error):
            conn.execute("ROLLBACK")


def _ensure_workspace(conn: sqlite3.Connection, path: Path, workspace: str) -> None:
    """Create the schema and this workspace's lineage row (once: lineage never changes)."""
    try:
        with _transaction(conn, path):
            for statement in _SCHEMA:
                conn.execute(statement)
            for table, column, declaration in _ADDED_COLUMNS:
                columns = {r["name"] for r in conn.execute(f"PRAGMA table_info({table})")}
                if column not in columns:
                    conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute(
                "INSERT OR IGNORE INTO workspaces (workspace, lineage, serial, writes, "
                "created_at) VALUES (?, ?, 0, 0, ?)",
                (workspace, str(uuid.uuid4()), time.time()),
            )
    except sqlite3.Error as exc:
        raise StateError(f"cannot initialise state database {path}: {exc}") from None


class SqliteStateStore:
    """StateStore on a local SQLite file. Safe to share between threads."""

    def __init__(self, path: Path, workspace: str) -> None:
        self.path = path
        self.workspace = workspace
        self._mutex = threading.Lock()
        self._conn: sqlite3.Connection | None = connect(path)
        _ensure_workspace(self._conn, path, workspace)

    @contextmanager
    def _tx(self, immediate: bool = True) -> Iterator[sqlite3.Connection]:
        with self._mutex:
            if self._conn is None:
                raise StateError(f"state store {self.path} is closed")
            conn = self._conn
            try:
                with _transaction(conn, self.path, immediate):
                    yield conn
            except sqlite3.Error as exc:
                raise StateError(f"state database {self.path}: {exc}") from None

    def read(self) -> StateSnapshot:
        """The workspace's lineage, serial and every resource record, read consistently."""
        with self._tx(immediate=False) as conn:
            meta = self._meta(conn)
            rows = conn.execute(
                "SELECT * FROM resources WHERE workspace = ? ORDER BY address", (self.workspace,)
            ).fetchall()
        resources = {row["address"]: _common.row_to_record(row) for row in rows}
        return StateSnapshot(self.workspace, meta["lineage"], int(meta["serial"]), resources,
                             _common.decode_platform(meta["platform"], self.workspace))

    def _meta(self, conn: sqlite3.Connection) -> sqlite3.Row:
        row: sqlite3.Row | None = conn.execute(
            "SELECT * FROM workspaces WHERE workspace = ?", (self.workspace,)
        ).fetchone()
        if row is None:
            raise StateError(f"state database {self.path} lost workspace '{self.workspace}'")
        return row

    def _bump(self, conn: sqlite3.Connection) -> int:
        row = conn.execute(
            "UPDATE workspaces SET serial = serial + 1, writes = writes + 1 "
            "WHERE workspace = ? RETURNING serial",
            (self.workspace,),
        ).fetchone()
        if row is None:
            raise StateError(f"state database {self.path} lost workspace '{self.workspace}'")
        return int(row[0])

    def put_resource(self, record: ResourceRecord) -> int:
        """Insert or replace one record; commit; return the new serial."""
        row = _common.record_to_row(record)
        with self._tx() as conn:
            serial = self._bump(conn)
            conn.execute(
                "INSERT INTO resources (workspace, address, type, platform_id, applied, "
                "observed, fingerprint, updated_at, serial, pending) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (workspace, address) DO UPDATE SET type = excluded.type, "
                "platform_id = excluded.platform_id, applied = excluded.applied, "
                "observed = excluded.observed, fingerprint = excluded.fingerprint, "
                "updated_at = excluded.updated_at, serial = excluded.serial, "
                "pending = excluded.pending",
                (self.workspace, row.address, row.type, row.platform_id, row.applied,
                 row.observed, row.fingerprint, row.updated_at, serial, row.pending),
            )
        return serial

    def set_platform(self, platform: dict[str, Any]) -> int:
        """Record the platform identity; commit; bump the serial when it changes."""
        encoded = _common.encode_platform(platform)
        with self._tx() as conn:
            meta = self._meta(conn)
            if meta["platform"] == encoded:
                return int(meta["serial"])
            conn.execute("UPDATE workspaces SET platform = ? WHERE workspace = ?",
                         (encoded, self.workspace))
            return self._bump(conn)

    def claims(self, types: tuple[str, ...]) -> list[Claim]:
        """Records of these types held by the other workspaces of this file."""
        if not types:
            return []
        marks = ", ".join("?" for _ in types)
        with self._tx(immediate=False) as conn:
            rows = conn.execute(
                "SELECT r.workspace, r.address, w.platform FROM resources r "
                "JOIN workspaces w ON w.workspace = r.workspace "
                f"WHERE r.workspace <> ? AND r.type IN ({marks})",
                (self.workspace, *types),
            ).fetchall()
        return _common.claims_from_rows(rows)

    def delete_resource(self, address: str) -> int:
        """Remove one record; commit; return the new serial. Removing an address that has no
        record changes nothing and returns the current serial."""
        with self._tx() as conn:
            cur = conn.execute(
                "DELETE FROM resources WHERE workspace = ? AND address = ?",
                (self.workspace, address),
            )
            if cur.rowcount == 0:
                return int(self._meta(conn)["serial"])
            return self._bump(conn)

    def append_history(self, entry: HistoryEntry) -> None:
        """Record the start of an operation; ids are unique per workspace."""
        summary = _common.canonical_json(entry.summary, f"history {entry.id} summary")
        with self._tx() as conn:
            try:
                conn.execute(
                    "INSERT INTO history (workspace, id, started_at, finished_at, who, "
                    "operation, plan_digest, result, summary) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (self.workspace, entry.id, entry.started_at, entry.finished_at, entry.who,
                     entry.operation, entry.plan_digest, entry.result, summary),
                )
            except sqlite3.IntegrityError:
                raise StateError(f"history entry {entry.id} already exists") from None

    def finish_history(self, entry_id: str, result: str, summary: dict[str, Any]) -> None:
        """Fill in finished_at, result and summary of an unfinished entry (once)."""
        encoded = _common.canonical_json(summary, f"history {entry_id} summary")
        with self._tx() as conn:
            row = conn.execute(
                "SELECT finished_at FROM history WHERE workspace = ? AND id = ?",
                (self.workspace, entry_id),
            ).fetchone()
            if row is None:
                raise StateError(f"no history entry {entry_id} in workspace '{self.workspace}'")
            if row["finished_at"] is not None:
                raise StateError(f"history entry {entry_id} is already finished")
            conn.execute(
                # max(): a clock that stepped back must not finish an entry before its start
                "UPDATE history SET finished_at = max(?, started_at), result = ?, summary = ? "
                "WHERE workspace = ? AND id = ?",
                (time.time(), result, encoded, self.workspace, entry_id),
            )

    def history(self, limit: int = 50) -> list[HistoryEntry]:
        """The latest `limit` entries, newest first."""
        with self._tx(immediate=False) as conn:
            rows = conn.execute(
                "SELECT * FROM history WHERE workspace = ? ORDER BY seq DESC LIMIT ?",
                (self.workspace, limit),
            ).fetchall()
        return [_common.row_to_history(row) for row in rows]

    def integrity_check(self) -> list[str]:
        """SQLite's own integrity check plus the logical checks of this workspace's rows."""
        with self._tx(immediate=False) as conn:
            problems = [
                f"sqlite: {row[0]}" for row in conn.execute("PRAGMA integrity_check")
                if row[0] != "ok"
            ]
            meta = self._meta(conn)
            resources = conn.execute(
                "SELECT * FROM resources WHERE workspace = ?", (self.workspace,)
            ).fetchall()
            history = conn.execute(
                "SELECT * FROM history WHERE workspace = ?", (self.workspace,)
            ).fetchall()
        serial = int(meta["serial"])
        problems += _common.check_meta(self.workspace, meta["lineage"], serial,
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


class SqliteLocker:
    """Locker on the `locks` table of the local state database.

    Each call opens its own short-lived connection: a lock outlives no connection, it is a
    committed row, and a crashed holder is detected by its pid, not by a lost session.
    """

    def __init__(self, path: Path, workspace: str) -> None:
        self.path = path
        self.workspace = workspace
        self._host = socket.gethostname()

    @contextmanager
    def _tx(self, immediate: bool = True) -> Iterator[sqlite3.Connection]:
        conn = connect(self.path)
        try:
            with _transaction(conn, self.path, immediate):
                yield conn
        except sqlite3.Error as exc:
            raise StateError(f"state database {self.path}: {exc}") from None
        finally:
            conn.close()

    def _is_stale(self, row: sqlite3.Row) -> bool:
        """A lock of a process on this host that no longer runs (or whose pid was reused)."""
        return bool(row["host"] == self._host and not pid_alive(row["pid"], row["proc_start"]))

    def _row(self, conn: sqlite3.Connection) -> sqlite3.Row | None:
        row: sqlite3.Row | None = conn.execute(
            "SELECT * FROM locks WHERE workspace = ?", (self.workspace,)
        ).fetchone()
        return row

    def _try_acquire(self, operation: str) -> tuple[LockInfo | None, LockInfo | None]:
        """(our lock, None) when taken, else (None, the holder's lock)."""
        with self._tx() as conn:
            row = self._row(conn)
            replaced = None
            if row is not None:
                holder = _common.row_to_lock(self.workspace, row)
                if not self._is_stale(row):
                    return None, holder
                replaced = holder
                conn.execute("DELETE FROM locks WHERE workspace = ?", (self.workspace,))
            lock = _common.new_lock(self.workspace, operation)
            lock.replaced = replaced
            conn.execute(
                "INSERT INTO locks (workspace, id, owner, host, pid, operation, created_at, "
                "proc_start) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (self.workspace, lock.id, lock.owner, lock.host, lock.pid, lock.operation,
                 lock.created_at, process_start_ticks(lock.pid)),
            )
        if replaced is not None:
            log.warning("took over the stale lock of a dead process: %s", replaced.describe())
        return lock, None

    def acquire(self, operation: str, timeout_s: float = 0.0) -> LockInfo:
        """Take the lock, waiting up to timeout_s; raise errors.LockHeld naming the holder.
        The returned lock's `replaced` is the stale lock it took over, if any."""
        deadline = time.monotonic() + max(0.0, timeout_s)
        while True:
            lock, holder = self._try_acquire(operation)
            if lock is not None:
                return lock
            assert holder is not None
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _common.lock_held(holder)
            time.sleep(min(_common.POLL_INTERVAL_S, remaining))

    def release(self, lock: LockInfo) -> None:
        """Release our lock. Releasing a lock that is already gone (force-unlocked) is a no-op."""
        with self._tx() as conn:
            cur = conn.execute(
                "DELETE FROM locks WHERE workspace = ? AND id = ?", (self.workspace, lock.id)
            )
        if cur.rowcount == 0:
            log.warning("lock %s of workspace '%s' was already released", lock.id,
                        self.workspace)

    def current(self) -> LockInfo | None:
        """The lock holder, if any; the lock of a dead local process is reported as free."""
        with self._tx(immediate=False) as conn:
            row = self._row(conn)
        if row is None or self._is_stale(row):
            return None
        return _common.row_to_lock(self.workspace, row)

    def force_unlock(self, lock_id: str) -> None:
        """Release the lock `lock_id` whoever holds it; StateError naming the current lock's id
        when it does not match."""
        with self._tx() as conn:
            row = self._row(conn)
            if row is None or row["id"] != lock_id:
                current = None if row is None else _common.row_to_lock(self.workspace, row)
                raise _common.lock_mismatch(self.workspace, lock_id, current)
            conn.execute("DELETE FROM locks WHERE workspace = ? AND id = ?",
                         (self.workspace, lock_id))
