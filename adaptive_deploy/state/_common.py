"""Pieces both backends share: canonical JSON, row conversion, logical integrity checks and
the lock-held message. Backends differ only in SQL dialect and locking primitive."""

from __future__ import annotations

import getpass
import json
import math
import os
import socket
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from adaptive_deploy.addresses import Address
from adaptive_deploy.errors import LockHeld, LockLost, StateDamaged, StateError
from adaptive_deploy.state.base import (
    PENDING_VALUES,
    Claim,
    HistoryEntry,
    LockInfo,
    ResourceRecord,
)


class Row(Protocol):
    """A database row addressable by column name (sqlite3.Row, psycopg dict rows)."""

    def __getitem__(self, key: str, /) -> Any: ...


# How often a waiting acquire() looks at the lock again.
POLL_INTERVAL_S = 0.1
# The tables holding a workspace's state; any of them missing means the state was damaged.
CORE_TABLES = ("workspaces", "resources", "history", "locks")


@dataclass
class Lease:
    """The lock this process holds on one workspace, shared by a backend's store and locker:
    the locker sets it on acquire and clears it on release; every state commit checks, in its
    own transaction, that the lock row is still this one."""

    workspace: str
    duration_s: float = 30.0            # postgres: a lease not renewed for this long expires
    lock_id: str | None = None
    lost: str | None = None             # why, once lost

    def hold(self, lock_id: str) -> None:
        self.lock_id, self.lost = lock_id, None

    def drop(self, lock_id: str) -> None:
        if self.lock_id == lock_id:
            self.lock_id, self.lost = None, None

    def check(self) -> None:
        if self.lost is not None:
            raise lock_lost(self.workspace, self.lost)

    def verify(self, row_id: str | None) -> None:
        """Inside a commit transaction: the current lock row's id must still be ours."""
        if self.lock_id is None:
            return
        if row_id != self.lock_id:
            self.lost = (
                "it was released (state unlock)" if row_id is None
                else f"lock {row_id} of another process replaced it"
            )
        self.check()


def lock_lost(workspace: str, why: str) -> LockLost:
    return LockLost(
        f"lost the lock on workspace '{workspace}': {why}. Stopped without writing; what was "
        "applied before is recorded in state — run plan to see what is left."
    )


def damaged(where: str, what: str, recovery: str) -> StateDamaged:
    """The refusal to start a new state over the traces of an old one."""
    return StateDamaged(
        f"the state {where} is damaged: {what}. adaptive-deploy will not start a new state "
        "over it (protect flags and history would be lost, and live objects adopted). "
        f"{recovery}"
    )


def canonical_json(value: Any, what: str) -> str:
    """Canonical JSON (sorted keys, no whitespace, no NaN) so equal values store equal bytes."""
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                          allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise StateError(f"cannot store {what}: not JSON-serialisable ({exc})") from None


def load_object(text: str, what: str) -> dict[str, Any]:
    """Parse a stored JSON object; a corrupt value is a StateError, not a traceback."""
    try:
        value = json.loads(text)
    except (TypeError, ValueError) as exc:
        raise StateError(f"state is corrupt: {what} is not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise StateError(f"state is corrupt: {what} is not a JSON object")
    return value


@dataclass(frozen=True)
class ResourceRow:
    """A ResourceRecord as stored: JSON values already encoded."""

    address: str
    type: str
    platform_id: str | None
    applied: str
    observed: str
    fingerprint: str
    updated_at: float
    pending: str | None


def record_to_row(record: ResourceRecord) -> ResourceRow:
    """Check a record and encode it for storage."""
    try:
        address = Address.parse(record.address)
    except ValueError as exc:
        raise StateError(f"cannot store resource: {exc}") from None
    if record.type != address.type.value:
        raise StateError(
            f"cannot store {record.address}: type {record.type!r} does not match the address"
        )
    for name in ("applied", "observed"):
        if not isinstance(getattr(record, name), dict):
            raise StateError(f"cannot store {record.address}: {name} must be a mapping")
    if not isinstance(record.fingerprint, str):
        raise StateError(f"cannot store {record.address}: fingerprint must be a string")
    if record.pending is not None and record.pending not in PENDING_VALUES:
        raise StateError(f"cannot store {record.address}: unknown pending {record.pending!r}")
    return ResourceRow(
        address=str(address),
        type=record.type,
        platform_id=record.platform_id,
        applied=canonical_json(record.applied, f"{record.address} applied value"),
        observed=canonical_json(record.observed, f"{record.address} observed value"),
        fingerprint=record.fingerprint,
        updated_at=float(record.updated_at),
        pending=record.pending,
    )


def _number(value: Any, what: str) -> float:
    """A stored time; SQLite keeps whatever bytes were written, so check the type."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise StateError(f"state is corrupt: {what} is not a number")
    return float(value)


def _text(value: Any, what: str, nullable: bool = False) -> Any:
    if value is None and nullable:
        return None
    if not isinstance(value, str):
        raise StateError(f"state is corrupt: {what} is not text")
    return value


def row_to_record(row: Row) -> ResourceRecord:
    """Decode a stored resource row; a value of the wrong type is a StateError."""
    address = _text(row["address"], "a resource address")
    return ResourceRecord(
        address=address,
        type=_text(row["type"], f"{address} type"),
        applied=load_object(row["applied"], f"{address} applied value"),
        observed=load_object(row["observed"], f"{address} observed value"),
        fingerprint=_text(row["fingerprint"], f"{address} fingerprint"),
        platform_id=_text(row["platform_id"], f"{address} platform id", nullable=True),
        updated_at=_number(row["updated_at"], f"{address} updated_at"),
        pending=_text(row["pending"], f"{address} pending", nullable=True),
    )


def encode_platform(platform: dict[str, Any]) -> str:
    """A platform identity as stored (canonical JSON object)."""
    if not isinstance(platform, dict):
        raise StateError("cannot store the platform identity: not a mapping")
    return canonical_json(platform, "the platform identity")


def decode_platform(text: str | None, workspace: str) -> dict[str, Any] | None:
    """A stored platform identity (None when never recorded)."""
    if text is None:
        return None
    return load_object(text, f"workspace {workspace} platform identity")


def claims_from_rows(rows: Iterable[Row]) -> list[Claim]:
    """Claim rows (workspace, address, platform) → Claims, sorted."""
    out = [Claim(str(r["workspace"]), str(r["address"]),
                 decode_platform(r["platform"], str(r["workspace"]))) for r in rows]
    return sorted(out, key=lambda c: (c.address, c.workspace))


def row_to_history(row: Row) -> HistoryEntry:
    """Decode a stored history row; a value of the wrong type is a StateError."""
    entry_id = _text(row["id"], "a history id")
    what = f"history {entry_id}"
    return HistoryEntry(
        id=entry_id,
        started_at=_number(row["started_at"], f"{what} started_at"),
        finished_at=None if row["finished_at"] is None
        else _number(row["finished_at"], f"{what} finished_at"),
        who=_text(row["who"], f"{what} who"),
        operation=_text(row["operation"], f"{what} operation"),
        plan_digest=_text(row["plan_digest"], f"{what} plan digest", nullable=True),
        result=_text(row["result"], f"{what} result"),
        summary=load_object(row["summary"], f"{what} summary"),
    )


def row_to_lock(workspace: str, row: Row) -> LockInfo:
    """Decode a stored lock row; a value of the wrong type is a StateError."""
    pid = row["pid"]
    if isinstance(pid, bool) or not isinstance(pid, int):
        raise StateError("state is corrupt: the lock's pid is not a number")
    keys = row.keys() if hasattr(row, "keys") else ()
    expires = row["expires_at"] if "expires_at" in keys else None
    return LockInfo(
        id=_text(row["id"], "the lock id"),
        workspace=workspace,
        owner=_text(row["owner"], "the lock owner"),
        host=_text(row["host"], "the lock host"),
        pid=pid,
        operation=_text(row["operation"], "the lock operation"),
        created_at=_number(row["created_at"], "the lock's created_at"),
        expires_at=None if expires is None else _number(expires, "the lock's expires_at"),
    )


def machine_id() -> str:
    """Identifies this machine and pid namespace, so a recorded pid can be checked here only
    when it is ours to check: two containers may share a host name, never a boot id and pid
    namespace."""
    parts = []
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as f:
            parts.append(f.read().strip())
    except OSError:
        parts.append(socket.gethostname())
    try:
        parts.append(str(os.stat("/proc/self/ns/pid").st_ino))
    except OSError:
        parts.append("-")
    return ":".join(parts)


def new_lock(workspace: str, operation: str) -> LockInfo:
    """A fresh lock describing this process."""
    return LockInfo(
        id=str(uuid.uuid4()),
        workspace=workspace,
        owner=current_user(),
        host=socket.gethostname(),
        pid=os.getpid(),
        operation=operation,
        created_at=time.time(),
    )


def current_user() -> str:
    """The login name, or `uid-N` when the environment does not know it (containers)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid-{os.getuid()}"


def lock_held(lock: LockInfo) -> LockHeld:
    """The LockHeld error for `lock`, with the hint on how to release it."""
    return LockHeld(
        f"Workspace '{lock.workspace}' is locked: {lock.describe()}. If that process is gone, "
        f"run `adaptive-deploy state unlock {lock.id}`.",
        lock,
    )


def lock_mismatch(workspace: str, wanted: str, current: LockInfo | None) -> StateError:
    """The error of `state unlock` with an id that is not the current lock's."""
    if current is None:
        return StateError(f"Workspace '{workspace}' is not locked (no lock {wanted}).")
    return StateError(
        f"Lock id {wanted} does not match the lock on workspace '{workspace}': the current "
        f"lock is {current.id} ({current.describe()})."
    )


def meta_values(row: Row) -> tuple[str, int, int]:
    """(lineage, serial, writes) of a workspace row; a value of the wrong type is a
    StateError."""
    lineage = _text(row["lineage"], "the workspace lineage")
    serial, writes = row["serial"], row["writes"]
    for name, value in (("serial", serial), ("writes", writes)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise StateError(f"state is corrupt: the workspace {name} is not a number")
    return lineage, serial, writes


def check_meta(workspace: str, lineage: str, serial: int, writes: int,
               platform: str | None = None) -> list[str]:
    """Logical checks of a workspace's lineage/serial/platform row."""
    problems: list[str] = []
    try:
        decode_platform(platform, workspace)
    except StateError as exc:
        problems.append(str(exc))
    try:
        uuid.UUID(lineage)
    except (TypeError, ValueError):
        problems.append(f"workspace {workspace}: lineage {lineage!r} is not a UUID")
    if serial < 0:
        problems.append(f"workspace {workspace}: serial {serial} is negative")
    if serial < writes:
        problems.append(
            f"workspace {workspace}: serial {serial} is below the {writes} writes recorded"
        )
    return problems


def check_resources(rows: Iterable[Row], serial: int) -> list[str]:
    """Logical checks of resource rows: JSON parses, addresses parse and match their type,
    no record was written at a serial the workspace has not reached."""
    problems: list[str] = []
    for row in rows:
        address = str(row["address"])
        try:
            parsed = Address.parse(address)
        except ValueError as exc:
            problems.append(f"resource {address!r}: {exc}")
        else:
            if parsed.type.value != row["type"]:
                problems.append(f"resource {address}: type {row['type']!r} does not match")
        for column in ("applied", "observed"):
            try:
                load_object(row[column], f"{address} {column} value")
            except StateError as exc:
                problems.append(str(exc))
        if not isinstance(row["fingerprint"], str):
            problems.append(f"resource {address}: fingerprint is not text")
        if row["pending"] is not None and row["pending"] not in PENDING_VALUES:
            problems.append(f"resource {address}: unknown pending {row['pending']!r}")
        written = row["serial"]
        if not isinstance(written, int) or isinstance(written, bool):
            problems.append(f"resource {address}: serial is not a number")
        elif written > serial:
            problems.append(
                f"resource {address}: written at serial {written}, after the workspace "
                f"serial {serial}"
            )
        updated = row["updated_at"]
        if not isinstance(updated, int | float) or not math.isfinite(float(updated)):
            problems.append(f"resource {address}: updated_at is not a time")
    return problems


def check_history(rows: Iterable[Row]) -> list[str]:
    """Logical checks of history rows: summaries parse, no entry finishes before it starts."""
    problems: list[str] = []
    for row in rows:
        try:
            load_object(row["summary"], f"history {row['id']} summary")
        except StateError as exc:
            problems.append(str(exc))
        finished, started = row["finished_at"], row["started_at"]
        if not isinstance(started, int | float) or not (
            finished is None or isinstance(finished, int | float)
        ):
            problems.append(f"history {row['id']}: a time is not a number")
        elif finished is not None and float(finished) < float(started):
            problems.append(f"history {row['id']}: finished before it started")
    return problems
