"""The `local` state backend: one SQLite file, `<workspace>/.adaptive-deploy/state.db`.

Durability: WAL journal with `synchronous=FULL`, and every write is one transaction, so a
SIGKILL at any point leaves the last committed state. Locking: a row in the `locks` table,
taken inside `BEGIN IMMEDIATE` so two processes cannot both see the table empty. A lock whose
holder ran on this host and has died (or whose pid was reused) is stale and is taken over.
Every commit checks, in its transaction, that the lock row is still the holder's own (it may
have been released by `state unlock` and taken by another process).

Damage is refused, never papered over: a new state file is created only where none exists
(built aside and linked into place, so a half-created file cannot be mistaken for one), and
an existing file that is empty, not SQLite, lacks a table or a column, or lost this
workspace's record while its history remains is a StateDamaged error naming the recovery
(`state init --force` moves the file aside and starts an empty state).
"""

from __future__ import annotations

import functools
import logging
import os
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
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


def connect(path: Path, configure: bool = True) -> sqlite3.Connection:
    """Open the state database with the durability settings every connection needs (without
    them when only looking: switching to WAL writes to the file)."""
    try:
        conn = sqlite3.connect(
            str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
            check_same_thread=False,
        )
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if configure:
            conn.execute("PRAGMA journal_mode = WAL")
            # FULL: a commit is on disk before it returns, so a recorded apply step is never
            # lost.
            conn.execute("PRAGMA synchronous = FULL")
    except sqlite3.OperationalError as exc:   # permissions, locking, a missing folder
        raise StateError(f"cannot open state database {path}: {exc}") from None
    except sqlite3.DatabaseError as exc:      # "file is not a database", "malformed"
        raise _damaged(path, f"it is not a readable SQLite database ({exc})") from None
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


def _recovery(path: Path) -> str:
    return (
        f"Restore {path} from a backup, or run `adaptive-deploy state init DIR --force` to move "
        f"it aside (kept as {path.name}.damaged-<time>) and start an empty state; the next "
        "plan then names the `adaptive-deploy import` command for each object that is live."
    )


def _damaged(path: Path, what: str) -> StateDamaged:
    return _common.damaged(f"database {path}", what, _recovery(path))


@functools.cache
def _expected_columns() -> dict[str, set[str]]:
    """Columns of every core table, read from the schema itself (an in-memory copy)."""
    mem = sqlite3.connect(":memory:")
    try:
        for statement in _SCHEMA:
            mem.execute(statement)
        return {t: {r[1] for r in mem.execute(f"PRAGMA table_info({t})")}
                for t in _common.CORE_TABLES}
    finally:
        mem.close()


def _missing_table(conn: sqlite3.Connection) -> str | None:
    """A core table missing from an existing state database (looked at before anything could
    recreate it), if any."""
    present = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    for table in _expected_columns():
        if table not in present:
            return f"the table '{table}' is missing"
    return None


def _missing_column(conn: sqlite3.Connection) -> str | None:
    """A column missing from a core table once migrations ran (renamed or dropped), if any."""
    for table, columns in _expected_columns().items():
        have = {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}
        lacking = sorted(columns - have)
        if lacking:
            return f"the table '{table}' has no column {', '.join(repr(c) for c in lacking)}"
    return None


def _migrate(conn: sqlite3.Connection, version: int) -> None:
    """Inside a transaction: bring a schema of an older `version` up to SCHEMA_VERSION (the
    columns a version added, for databases created by an older one)."""
    if version >= SCHEMA_VERSION:
        return
    for table, column, declaration in _ADDED_COLUMNS:
        columns = {r["name"] for r in conn.execute(f"PRAGMA table_info({table})")}
        if column not in columns:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def _create_database(path: Path, workspace: str) -> None:
    """Create a new state file with its schema and the workspace's row, built under another
    name and linked into place, so `path` never exists half-created (a crash leaves at most
    a stray temporary file). Losing a race to another process creating it is fine."""
    tmp = path.with_name(f"{path.name}.new-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        conn = connect(tmp)
        try:
            with _transaction(conn, tmp):
                for statement in _SCHEMA:
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                _insert_workspace(conn, workspace)
        finally:
            conn.close()   # the last connection checkpoints the WAL into the file
        with suppress(FileExistsError):
            os.link(tmp, path)
    except (OSError, sqlite3.Error) as exc:
        raise StateError(f"cannot create state database {path}: {exc}") from None
    finally:
        for leftover in (tmp, tmp.with_name(tmp.name + "-wal"), tmp.with_name(tmp.name + "-shm")):
            with suppress(OSError):
                leftover.unlink()


def _insert_workspace(conn: sqlite3.Connection, workspace: str) -> None:
    conn.execute(
        "INSERT OR IGNORE INTO workspaces (workspace, lineage, serial, writes, created_at) "
        "VALUES (?, ?, 0, 0, ?)",
        (workspace, str(uuid.uuid4()), time.time()),
    )


def _traces(conn: sqlite3.Connection, workspace: str) -> str | None:
    """Rows showing that `workspace` had a state here, although its record is gone."""
    for table, what in (("history", "history entries"), ("resources", "resource records")):
        row = conn.execute(f"SELECT count(*) FROM {table} WHERE workspace = ?",
                           (workspace,)).fetchone()
        if row[0]:
            return f"{row[0]} {what}"
    return None


def _open_existing(path: Path, workspace: str) -> tuple[sqlite3.Connection, bool]:
    """Connect to an existing state file; StateDamaged when it is not what we wrote. The flag
    says whether the workspace's record was created (a new workspace in this file)."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise StateError(f"cannot open state database {path}: {exc.strerror}") from None
    wal = path.with_name(path.name + "-wal")
    if size == 0 and not (wal.exists() and wal.stat().st_size > 0):
        raise _damaged(path, "the file is empty (0 bytes)")
    look = connect(path, configure=False)
    try:
        version = look.execute("PRAGMA user_version").fetchone()[0]
        problem = (
            "it holds no adaptive-deploy schema" if version < 1 else _missing_table(look)
        )
    except sqlite3.OperationalError as exc:
        raise StateError(f"cannot open state database {path}: {exc}") from None
    except sqlite3.DatabaseError as exc:
        raise _damaged(path, f"it cannot be read ({exc})") from None
    finally:
        look.close()
    if problem is not None:
        raise _damaged(path, problem)
    conn = connect(path)
    try:
        with _transaction(conn, path):
            _migrate(conn, version)
            problem = _missing_column(conn)
            if problem is not None:          # rolled back: nothing written
                raise _damaged(path, problem)
            # Triggers are guards, not data: recreate any that were dropped.
            for statement in _SCHEMA:
                if statement.lstrip().startswith("CREATE TRIGGER"):
                    conn.execute(statement)
            exists = conn.execute("SELECT 1 FROM workspaces WHERE workspace = ?",
                                  (workspace,)).fetchone()
            created = exists is None
            if created:
                traces = _traces(conn, workspace)
                if traces is not None:
                    raise _damaged(
                        path, f"the record of workspace '{workspace}' (lineage, serial) is "
                        f"missing while {traces} remain")
                _insert_workspace(conn, workspace)   # a new workspace in this file
    except sqlite3.OperationalError as exc:
        conn.close()
        raise StateError(f"cannot open state database {path}: {exc}") from None
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise _damaged(path, f"it cannot be read ({exc})") from None
    except BaseException:
        conn.close()
        raise
    return conn, created


def open_database(path: Path, workspace: str) -> sqlite3.Connection:
    """The state database at `path` for `workspace`, created only when no file is there."""
    if not os.path.lexists(path):
        _create_database(path, workspace)
    return _open_existing(path, workspace)[0]


def init_database(path: Path, workspace: str, force: bool) -> str:
    """`state init`: create the state when there is none; with `force`, move a damaged file
    aside first. Returns what was done; StateDamaged (without force) or StateError when an
    intact state already exists is refused."""
    moved = None
    if os.path.lexists(path):
        try:
            conn, created = _open_existing(path, workspace)
            conn.close()
        except StateDamaged:
            if not force:
                raise
            moved = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}")
            try:
                os.replace(path, moved)
                for suffix in ("-wal", "-shm"):
                    side = path.with_name(path.name + suffix)
                    if side.exists():
                        os.replace(side, moved.with_name(moved.name + suffix))
            except OSError as exc:
                raise StateError(f"cannot move {path} aside: {exc.strerror}") from None
        else:
            if created:
                return f"created an empty state for workspace '{workspace}' in {path}"
            return f"the state of workspace '{workspace}' already exists in {path}; nothing to do"
    _create_database(path, workspace)
    if moved is not None:
        return f"moved the damaged {path} to {moved} and started an empty state"
    return f"created an empty state for workspace '{workspace}' in {path}"


class SqliteStateStore:
    """StateStore on a local SQLite file. Safe to share between threads."""

    def __init__(self, path: Path, workspace: str, lease: _common.Lease | None = None) -> None:
        self.path = path
        self.workspace = workspace
        self.lease = lease or _common.Lease(workspace)
        self._mutex = threading.Lock()
        self._conn: sqlite3.Connection | None = open_database(path, workspace)

    @contextmanager
    def _tx(self, immediate: bool = True) -> Iterator[sqlite3.Connection]:
        """A transaction; a write transaction (`immediate`) first checks that the lock this
        process holds, if any, is still its own."""
        with self._mutex:
            if self._conn is None:
                raise StateError(f"state store {self.path} is closed")
            conn = self._conn
            try:
                with _transaction(conn, self.path, immediate):
                    if immediate and self.lease.lock_id is not None:
                        row = conn.execute("SELECT id FROM locks WHERE workspace = ?",
                                           (self.workspace,)).fetchone()
                        self.lease.verify(None if row is None else row["id"])
                    yield conn
            except sqlite3.Error as exc:
                raise StateError(f"state database {self.path}: {exc}") from None

    def check_lock(self) -> None:
        """LockLost when a commit already found the lock taken away (no database trip)."""
        self.lease.check()

    def read(self) -> StateSnapshot:
        """The workspace's lineage, serial and every resource record, read consistently."""
        with self._tx(immediate=False) as conn:
            meta = self._meta(conn)
            rows = conn.execute(
                "SELECT * FROM resources WHERE workspace = ? ORDER BY address", (self.workspace,)
            ).fetchall()
        lineage, serial, _ = _common.meta_values(meta)
        resources = {row["address"]: _common.row_to_record(row) for row in rows}
        return StateSnapshot(self.workspace, lineage, serial, resources,
                             _common.decode_platform(meta["platform"], self.workspace))

    def _meta(self, conn: sqlite3.Connection) -> sqlite3.Row:
        row: sqlite3.Row | None = conn.execute(
            "SELECT * FROM workspaces WHERE workspace = ?", (self.workspace,)
        ).fetchone()
        if row is None:
            raise _damaged(self.path, f"the record of workspace '{self.workspace}' was deleted "
                           "while it was in use")
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

    def close_unfinished(self, result: str = "interrupted") -> list[str]:
        """Finish every unfinished history entry of the workspace with `result`."""
        with self._tx() as conn:
            rows = conn.execute(
                "SELECT id FROM history WHERE workspace = ? AND finished_at IS NULL "
                "ORDER BY seq", (self.workspace,)
            ).fetchall()
            for row in rows:
                conn.execute(
                    "UPDATE history SET finished_at = max(?, started_at), result = ? "
                    "WHERE workspace = ? AND id = ?",
                    (time.time(), result, self.workspace, row["id"]),
                )
        return [str(row["id"]) for row in rows]

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
        try:
            lineage, serial, writes = _common.meta_values(meta)
        except StateError as exc:
            return [*problems, str(exc)]
        problems += _common.check_meta(self.workspace, lineage, serial, writes,
                                       meta["platform"])
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

    def __init__(self, path: Path, workspace: str, lease: _common.Lease | None = None) -> None:
        self.path = path
        self.workspace = workspace
        self.lease = lease or _common.Lease(workspace)
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
                self.lease.hold(lock.id)
                return lock
            assert holder is not None
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _common.lock_held(holder)
            time.sleep(min(_common.POLL_INTERVAL_S, remaining))

    def release(self, lock: LockInfo) -> None:
        """Release our lock. Releasing a lock that is already gone (force-unlocked) is a no-op."""
        self.lease.drop(lock.id)
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
