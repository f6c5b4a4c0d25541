"""State storage contracts: records, the StateStore and Locker protocols.

A workspace's state is a lineage (fixed at creation), a serial (bumped by every write), one
record per managed resource and an append-only apply history. Backends (sqlite, postgres)
implement `StateStore` and `Locker`; `tests/state/conformance.py` is the suite every backend
must pass. State holds no secrets: `applied` values keep `${env:NAME}` templates, never the
resolved value.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Protocol

# `ResourceRecord.pending`: the create was recorded before the platform call and its outcome
# is not known yet (the process may have died). An object with this address found on the
# platform is this workspace's own, not someone else's to be imported.
PENDING_CREATE = "create"
PENDING_VALUES = (PENDING_CREATE,)


@dataclass(slots=True)
class ResourceRecord:
    address: str                         # e.g. deployment.support/qwen-3-8b
    type: str                            # ResourceType value
    applied: dict[str, Any]              # the desired value last applied (managed fields only)
    observed: dict[str, Any]             # the live value read after the apply
    fingerprint: str                     # fingerprint of `observed` (see plan.fingerprint)
    platform_id: str | None = None       # the platform's id of the object this record is about
    updated_at: float = field(default_factory=time.time)
    pending: str | None = None           # PENDING_CREATE: intent recorded, outcome unknown


@dataclass
class StateSnapshot:
    workspace: str
    lineage: str
    serial: int
    resources: dict[str, ResourceRecord] = field(default_factory=dict)
    # The identity of the platform this state belongs to (`adaptive_deploy.identity`), as a
    # JSON object; None until the first apply (or for a state written by an older version).
    platform: dict[str, Any] | None = None


@dataclass
class Claim:
    """Another workspace of the same backend holding a record of an address."""

    workspace: str
    address: str
    platform: dict[str, Any] | None      # that workspace's platform identity, if recorded


@dataclass
class LockInfo:
    id: str
    workspace: str
    owner: str                           # user name
    host: str
    pid: int
    operation: str                       # plan / apply / import / state unlock ...
    created_at: float
    # Set on a lock returned by acquire() when it replaced the stale lock of a dead process,
    # so the caller can say so.
    replaced: LockInfo | None = None
    # postgres: when the holder's lease ends unless renewed (epoch seconds, server clock).
    expires_at: float | None = None

    @property
    def age_s(self) -> float:
        return max(0.0, time.time() - self.created_at)

    def describe(self) -> str:
        text = (
            f"lock {self.id} held by {self.owner}@{self.host} (pid {self.pid}) "
            f"for {self.operation}, {self.age_s:.0f}s old"
        )
        if self.expires_at is not None:
            left = self.expires_at - time.time()
            text += (f", lease renewed until {left:.0f}s from now" if left > 0
                     else ", lease expired")
        return text


@dataclass
class HistoryEntry:
    id: str
    started_at: float
    finished_at: float | None
    who: str
    operation: str
    plan_digest: str | None
    result: str                          # running | success | partial | failed | interrupted
    summary: dict[str, Any] = field(default_factory=dict)


class StateStore(Protocol):
    """Durable state of one workspace. Every write commits before returning."""

    workspace: str

    def read(self) -> StateSnapshot: ...

    def put_resource(self, record: ResourceRecord) -> int:
        """Insert or replace one record; commit; return the new serial."""
        ...

    def delete_resource(self, address: str) -> int:
        """Remove one record; commit; return the new serial."""
        ...

    def set_platform(self, platform: dict[str, Any]) -> int:
        """Record the identity of the platform this state belongs to; commit; return the
        serial (bumped only when the value changes)."""
        ...

    def claims(self, types: tuple[str, ...]) -> list[Claim]:
        """Records of resources of these types held by OTHER workspaces of this backend (a
        shared database), with each workspace's platform identity."""
        ...

    def append_history(self, entry: HistoryEntry) -> None: ...

    def finish_history(self, entry_id: str, result: str, summary: dict[str, Any]) -> None: ...

    def history(self, limit: int = 50) -> list[HistoryEntry]: ...

    def close_unfinished(self, result: str = "interrupted") -> list[str]:
        """Finish every unfinished history entry with `result`; return their ids. Called by
        the next holder of the lock: an entry still running then belongs to a killed run."""
        ...

    def check_lock(self) -> None:
        """Raise errors.LockLost when the lock this process took through the paired Locker
        was lost (released by `state unlock`, or taken over after its lease expired); no-op
        when no lock is held. Every commit also checks, inside its transaction."""
        ...

    def integrity_check(self) -> list[str]:
        """Problems found (empty when sound): database integrity and record consistency."""
        ...

    def close(self) -> None: ...


class Locker(Protocol):
    """One writer per workspace."""

    def acquire(self, operation: str, timeout_s: float = 0.0) -> LockInfo:
        """Take the lock, waiting up to timeout_s; raise errors.LockHeld naming the holder."""
        ...

    def release(self, lock: LockInfo) -> None: ...

    def current(self) -> LockInfo | None:
        """The lock holder, if any. Locks of dead local processes are reported as free."""
        ...

    def force_unlock(self, lock_id: str) -> None:
        """Release a lock by id (`state unlock`); errors.StateError if the id does not match."""
        ...
