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
from adaptive_deploy.errors import LockHeld, StateError
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


def row_to_record(row: Row) -> ResourceRecord:
    """Decode a stored resource row."""
    address = str(row["address"])
    return ResourceRecord(
        address=address,
        type=str(row["type"]),
        applied=load_object(row["applied"], f"{address} applied value"),
        observed=load_object(row["observed"], f"{address} observed value"),
        fingerprint=str(row["fingerprint"]),
        platform_id=row["platform_id"],
        updated_at=float(row["updated_at"]),
        pending=row["pending"],
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
    """Decode a stored history row."""
    return HistoryEntry(
        id=str(row["id"]),
        started_at=float(row["started_at"]),
        finished_at=None if row["finished_at"] is None else float(row["finished_at"]),
        who=str(row["who"]),
        operation=str(row["operation"]),
        plan_digest=row["plan_digest"],
        result=str(row["result"]),
        summary=load_object(row["summary"], f"history {row['id']} summary"),
    )


def row_to_lock(workspace: str, row: Row) -> LockInfo:
    """Decode a stored lock row."""
    return LockInfo(
        id=str(row["id"]),
        workspace=workspace,
        owner=str(row["owner"]),
        host=str(row["host"]),
        pid=int(row["pid"]),
        operation=str(row["operation"]),
        created_at=float(row["created_at"]),
    )


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
        if int(row["serial"]) > serial:
            problems.append(
                f"resource {address}: written at serial {row['serial']}, after the workspace "
                f"serial {serial}"
            )
        if not math.isfinite(float(row["updated_at"])):
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
        finished = row["finished_at"]
        if finished is not None and float(finished) < float(row["started_at"]):
            problems.append(f"history {row['id']}: finished before it started")
    return problems
