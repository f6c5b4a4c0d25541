"""The backend-agnostic state suite. Every backend's test module provides a `backend` fixture
returning a `BackendHarness` and subclasses `StateBackendConformance`.

Cross-process behaviour (lock exclusivity, LockHeld contents, dead-holder takeover, crash
safety) runs real child processes (`tests/state/worker.py`), not threads.
"""

from __future__ import annotations

import json
import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from adaptive_deploy.config.models import StateConfig
from adaptive_deploy.errors import LockHeld, LockLost, StateError
from adaptive_deploy.state import open_state
from adaptive_deploy.state.base import HistoryEntry, Locker, ResourceRecord, StateStore
from tests.state.worker import record

REPO = Path(__file__).resolve().parents[2]


def new_workspace() -> str:
    """A workspace name no other test (or concurrent test run) uses."""
    return f"t-{uuid.uuid4().hex[:12]}"


class Child:
    """A worker process whose stdout lines are collected by a thread (no blocking reads)."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            args, cwd=REPO, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    @property
    def pid(self) -> int:
        return self.proc.pid

    def line(self, timeout: float = 15.0) -> str:
        """The next stdout line; fails with the child's stderr if it dies or stalls."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.lines.get(timeout=0.05)
            except queue.Empty:
                exited = not self._reader.is_alive() and self.lines.empty()
                if exited or time.monotonic() > deadline:
                    break
        self.kill()
        err = self.proc.stderr.read() if self.proc.stderr else ""
        raise AssertionError(f"worker gave no output (exit {self.proc.returncode}); "
                             f"stderr:\n{err}")

    def json(self, timeout: float = 15.0) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(self.line(timeout))
        return doc

    def finish(self, timeout: float = 15.0) -> int:
        """Close stdin (a `hold` worker then releases) and wait for the exit code."""
        if self.proc.stdin and not self.proc.stdin.closed:
            self.proc.stdin.close()
        return self.proc.wait(timeout)

    def kill(self) -> None:
        """SIGKILL and reap, so the pid is really gone (not a zombie)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(15)


@dataclass
class BackendHarness:
    """How the suite reaches one backend."""

    name: str
    cfg: StateConfig
    workspace_dir: Path
    env: dict[str, str]
    # run one raw SQL statement (no parameters) against the backend's database
    raw_sql: Callable[[str], list[tuple[Any, ...]]]
    # table name as the backend spells it: "history" → "history" / "adaptive_deploy_history"
    table: Callable[[str], str]
    workspace: str = field(default_factory=new_workspace)
    children: list[Child] = field(default_factory=list)
    stores: list[StateStore] = field(default_factory=list)

    def open(self, workspace: str | None = None) -> tuple[StateStore, Locker]:
        store, locker = open_state(self.cfg, workspace or self.workspace, self.workspace_dir,
                                   self.env)
        self.stores.append(store)
        return store, locker

    def spawn(self, action: str, **spec: Any) -> Child:
        doc = {
            "backend": self.cfg.backend, "dsn_env": self.cfg.dsn_env, "path": self.cfg.path,
            "workspace": self.workspace, "dir": str(self.workspace_dir), "action": action,
            **spec,
        }
        child = Child([sys.executable, "-m", "tests.state.worker", json.dumps(doc)],
                      {**os.environ, **self.env})
        self.children.append(child)
        return child

    def close(self) -> None:
        for child in self.children:
            child.kill()
        for store in self.stores:
            store.close()


def hold_lock(backend: BackendHarness, operation: str = "apply") -> tuple[Child, dict[str, Any]]:
    """A child process holding the workspace lock, and the lock it printed."""
    child = backend.spawn("hold", operation=operation)
    return child, child.json()


class StateBackendConformance:
    """Behaviour every StateStore + Locker pair must have."""

    # -- store ----------------------------------------------------------------------------

    def test_new_state_is_empty_with_serial_zero(self, backend: BackendHarness) -> None:
        store, _ = backend.open()
        snap = store.read()
        assert snap.workspace == backend.workspace
        assert snap.serial == 0
        assert snap.resources == {}
        assert uuid.UUID(snap.lineage).version == 4

    def test_lineage_stable_across_reopen(self, backend: BackendHarness) -> None:
        store, _ = backend.open()
        lineage = store.read().lineage
        store.put_resource(record(1))
        store.close()
        again, _ = backend.open()
        snap = again.read()
        assert snap.lineage == lineage
        assert snap.serial == 1

    def test_serial_increments_on_every_write(self, backend: BackendHarness) -> None:
        store, _ = backend.open()
        assert store.put_resource(record(1)) == 1
        assert store.put_resource(record(2)) == 2
        assert store.put_resource(record(1)) == 3  # replace
        assert store.delete_resource("model.m00001") == 4
        # deleting what is not there changes nothing
        assert store.delete_resource("model.m00001") == 4
        assert store.read().serial == 4

    def test_put_replace_delete(self, backend: BackendHarness) -> None:
        store, _ = backend.open()
        first = ResourceRecord("project.support", "project", {"name": "Support"},
                               {"name": "Support", "archived": False}, "fp1", "uc-1", 1.5)
        store.put_resource(first)
        assert store.read().resources == {"project.support": first}
        second = ResourceRecord("project.support", "project", {"name": "Customer support"},
                                {"name": "Customer support"}, "fp2", "uc-1", 2.5)
        store.put_resource(second)
        assert store.read().resources["project.support"] == second
        store.delete_resource("project.support")
        assert store.read().resources == {}

    def test_nested_json_round_trip(self, backend: BackendHarness) -> None:
        store, _ = backend.open()
        applied = {
            "placement": {"compute_pools": ["pool-2", "pool-1"], "max_ttft_ms": 30000},
            "unicode": "café ✓ 模型", "float": 0.1 + 0.2, "big": 2**53 + 1, "neg": -7,
            "flags": [True, False, None], "empty": {}, "nested": [[1, [2, {"a": []}]]],
            "args": {"token": "${env:HF_TOKEN}"},
        }
        rec = ResourceRecord("deployment.support/qwen-3-8b", "deployment", applied,
                             {"status": "ONLINE"}, "f" * 64, None, 1_700_000_000.25)
        store.put_resource(rec)
        store.close()
        again, _ = backend.open()
        got = again.read().resources["deployment.support/qwen-3-8b"]
        assert got == rec
        # list order is data (pool order is kept when written)
        assert got.applied["placement"]["compute_pools"] == ["pool-2", "pool-1"]

    def test_stores_only_what_the_caller_passes(self, backend: BackendHarness,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
        # A resolved secret in the environment must not leak into state: the caller stores the
        # template and the store adds nothing.
        monkeypatch.setenv("HF_TOKEN", "hf_SECRETVALUE_123")
        store, _ = backend.open()
        rec = record(3)
        rec.applied["args"] = {"token": "${env:HF_TOKEN}"}
        store.put_resource(rec)
        store.append_history(HistoryEntry("h-1", 1.0, None, "alice", "apply", "sha256:x",
                                          "running"))
        dump = repr(backend.raw_sql(f"SELECT * FROM {backend.table('resources')}"))
        dump += repr(backend.raw_sql(f"SELECT * FROM {backend.table('history')}"))
        assert "${env:HF_TOKEN}" in dump
        assert "hf_SECRETVALUE_123" not in dump
        assert store.read().resources[rec.address] == rec

    def test_parallel_writers_lose_nothing(self, backend: BackendHarness) -> None:
        # apply writes records from parallel workers; every write must land and count once
        store, _ = backend.open()
        errors: list[BaseException] = []

        def write(start: int) -> None:
            try:
                for i in range(start, start + 20):
                    store.put_resource(record(i))
            except BaseException as exc:  # surfaced by the assertion below
                errors.append(exc)

        threads = [threading.Thread(target=write, args=(k * 20,)) for k in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        snap = store.read()
        assert snap.serial == 120
        assert snap.resources == {record(i).address: record(i) for i in range(120)}

    def test_writers_in_two_processes_serialise(self, backend: BackendHarness) -> None:
        writers = [backend.spawn("puts", count=30) for _ in range(2)]
        for w in writers:
            assert w.proc.wait(30) == 0, w.proc.stderr.read() if w.proc.stderr else ""
        store, _ = backend.open()
        snap = store.read()
        assert snap.serial == 60  # no write lost to a race on the serial
        assert snap.resources == {record(i).address: record(i) for i in range(30)}
        assert store.integrity_check() == []

    def test_rejects_bad_records(self, backend: BackendHarness) -> None:
        store, _ = backend.open()
        with pytest.raises(StateError, match="invalid address"):
            store.put_resource(ResourceRecord("nonsense", "model", {}, {}, "fp"))
        with pytest.raises(StateError, match="does not match"):
            store.put_resource(ResourceRecord("model.a", "project", {}, {}, "fp"))
        with pytest.raises(StateError, match="not JSON-serialisable"):
            store.put_resource(ResourceRecord("model.a", "model", {"x": object()}, {}, "fp"))
        with pytest.raises(StateError, match="not JSON-serialisable"):
            store.put_resource(ResourceRecord("model.a", "model", {"x": float("nan")}, {}, "fp"))
        # nothing was written, not even a serial bump
        assert store.read().serial == 0

    def test_workspaces_are_independent(self, backend: BackendHarness) -> None:
        a, _ = backend.open()
        b, _ = backend.open(new_workspace())
        a.put_resource(record(1))
        assert b.read().resources == {}
        assert b.read().serial == 0
        assert a.read().lineage != b.read().lineage

    def test_platform_identity_round_trip(self, backend: BackendHarness) -> None:
        store, _ = backend.open()
        assert store.read().platform is None
        identity = {"id": "pools:abc", "label": "http://127.0.0.1:8765",
                    "pools": ["0f0e", "1a2b"], "url": "http://127.0.0.1:8765"}
        assert store.set_platform(identity) == 1
        # the same identity again is no write
        assert store.set_platform(dict(identity)) == 1
        store.close()
        again, _ = backend.open()
        assert again.read().platform == identity
        assert again.set_platform({**identity, "label": "moved"}) == 2
        assert again.read().platform == {**identity, "label": "moved"}
        assert again.integrity_check() == []

    def test_pending_create_round_trip(self, backend: BackendHarness) -> None:
        store, _ = backend.open()
        intent = ResourceRecord("project.support", "project", {"name": "S"}, {}, "absent",
                                None, 5.0, pending="create")
        store.put_resource(intent)
        assert store.read().resources["project.support"] == intent
        done = ResourceRecord("project.support", "project", {"name": "S"}, {"name": "S"},
                              "fp", "uc-1", 6.0)
        store.put_resource(done)
        assert store.read().resources["project.support"].pending is None
        with pytest.raises(StateError, match="unknown pending"):
            store.put_resource(ResourceRecord("project.x", "project", {}, {}, "fp",
                                              pending="maybe"))

    def test_claims_name_other_workspaces_and_their_platform(
        self, backend: BackendHarness
    ) -> None:
        mine, _ = backend.open()
        other_name = new_workspace()
        other, _ = backend.open(other_name)
        mine.put_resource(ResourceRecord("model.qwen", "model", {"tp": 1}, {}, "fp"))
        other.put_resource(ResourceRecord("model.qwen", "model", {"tp": 2}, {}, "fp"))
        other.put_resource(ResourceRecord("project.p", "project", {}, {}, "fp"))
        other.set_platform({"id": "pools:x", "pools": ["x"]})
        claims = [c for c in mine.claims(("model",)) if c.workspace == other_name]
        assert [(c.address, c.platform) for c in claims] == [
            ("model.qwen", {"id": "pools:x", "pools": ["x"]})]
        assert all(c.workspace != backend.workspace for c in mine.claims(("model", "project")))
        assert {c.address for c in mine.claims(("model", "project"))
                if c.workspace == other_name} == {"model.qwen", "project.p"}
        assert mine.claims(()) == []

    def test_closed_store_refuses(self, backend: BackendHarness) -> None:
        store, _ = backend.open()
        store.close()
        with pytest.raises(StateError, match="closed"):
            store.read()

    # -- history --------------------------------------------------------------------------

    def test_history_append_finish_and_order(self, backend: BackendHarness) -> None:
        store, _ = backend.open()
        for i in range(3):
            store.append_history(HistoryEntry(f"h{i}", 100.0 + i, None, "alice", "apply",
                                              f"sha256:{i}", "running", {"step": i}))
        store.finish_history("h1", "partial", {"add": 1, "failed": ["deployment.a/b"]})
        entries = store.history()
        assert [e.id for e in entries] == ["h2", "h1", "h0"]
        h1 = entries[1]
        assert h1.result == "partial"
        assert h1.summary == {"add": 1, "failed": ["deployment.a/b"]}
        assert h1.finished_at is not None and h1.finished_at >= h1.started_at
        assert (h1.who, h1.operation, h1.plan_digest, h1.started_at) == (
            "alice", "apply", "sha256:1", 101.0)
        assert entries[0].finished_at is None
        assert [e.id for e in store.history(limit=2)] == ["h2", "h1"]

    def test_history_finish_never_precedes_start(self, backend: BackendHarness) -> None:
        store, _ = backend.open()
        future = time.time() + 3600  # e.g. written by a host whose clock runs ahead
        store.append_history(HistoryEntry("h1", future, None, "alice", "apply", None, "running"))
        store.finish_history("h1", "success", {})
        entry = store.history()[0]
        assert entry.finished_at == future
        assert store.integrity_check() == []

    def test_history_is_append_only(self, backend: BackendHarness) -> None:
        store, _ = backend.open()
        store.append_history(HistoryEntry("h1", 1.0, None, "alice", "apply", None, "running"))
        with pytest.raises(StateError, match="already exists"):
            store.append_history(HistoryEntry("h1", 2.0, None, "bob", "apply", None, "running"))
        store.finish_history("h1", "success", {"add": 2})
        with pytest.raises(StateError, match="already finished"):
            store.finish_history("h1", "failed", {})
        with pytest.raises(StateError, match="no history entry"):
            store.finish_history("missing", "success", {})
        assert store.history()[0].result == "success"
        assert store.history()[0].who == "alice"
        # the database itself refuses to rewrite or drop history
        table = backend.table("history")
        with pytest.raises(Exception, match="append-only"):
            backend.raw_sql(f"DELETE FROM {table}")
        with pytest.raises(Exception, match="append-only"):
            backend.raw_sql(f"UPDATE {table} SET who = 'mallory'")
        assert len(store.history()) == 1

    # -- integrity ------------------------------------------------------------------------

    def test_integrity_check_clean(self, backend: BackendHarness) -> None:
        store, _ = backend.open()
        for i in range(5):
            store.put_resource(record(i))
        store.delete_resource("model.m00002")
        store.append_history(HistoryEntry("h1", 1.0, None, "alice", "apply", None, "running"))
        store.finish_history("h1", "success", {})
        assert store.integrity_check() == []

    def test_integrity_check_finds_logical_damage(self, backend: BackendHarness) -> None:
        store, _ = backend.open()
        store.put_resource(record(1))
        store.put_resource(record(2))
        table = backend.table("resources")
        ws = backend.workspace
        backend.raw_sql(f"UPDATE {table} SET applied = '{{not json' "
                        f"WHERE workspace = '{ws}' AND address = 'model.m00001'")
        backend.raw_sql(f"UPDATE {table} SET address = 'bogus', serial = 99 "
                        f"WHERE workspace = '{ws}' AND address = 'model.m00002'")
        problems = store.integrity_check()
        assert any("model.m00001 applied value is not valid JSON" in p for p in problems)
        assert any("'bogus'" in p for p in problems)
        assert any("serial 99" in p for p in problems)

    # -- locking --------------------------------------------------------------------------

    def test_acquire_release_current(self, backend: BackendHarness) -> None:
        _, locker = backend.open()
        assert locker.current() is None
        lock = locker.acquire("apply")
        assert lock.workspace == backend.workspace
        assert lock.pid == os.getpid()
        assert lock.operation == "apply"
        assert lock.replaced is None
        current = locker.current()
        assert current is not None and current.id == lock.id
        with pytest.raises(LockHeld):
            locker.acquire("plan")  # not re-entrant, even for the same process
        locker.release(lock)
        assert locker.current() is None
        locker.release(lock)  # releasing twice is harmless
        locker.release(locker.acquire("plan"))

    def test_lock_exclusive_across_processes(self, backend: BackendHarness) -> None:
        # Several processes race for the lock at once: exactly one gets it. The winner keeps
        # it until every racer has answered, so the outcome does not depend on timing.
        racers = [backend.spawn("acquire", timeout_s=0, hold=True) for _ in range(3)]
        results = [r.json() for r in racers]
        winners = [r for r in results if r["ok"]]
        assert len(winners) == 1, results
        winner_id = winners[0]["lock"]["id"]
        for loser in (r for r in results if not r["ok"]):
            assert loser["lock"]["id"] == winner_id
        for r in racers:
            assert r.finish() == 0
        _, locker = backend.open()
        assert locker.current() is None

    def test_lock_held_names_the_holder(self, backend: BackendHarness) -> None:
        child, held = hold_lock(backend, "apply")
        _, locker = backend.open()
        with pytest.raises(LockHeld) as info:
            locker.acquire("plan")
        lock = info.value.lock
        assert lock.id == held["id"]
        assert lock.pid == child.pid
        assert (lock.owner, lock.host, lock.operation) == (held["owner"], held["host"], "apply")
        message = str(info.value)
        assert message.startswith(f"Workspace '{backend.workspace}' is locked: lock {lock.id} "
                                  f"held by {lock.owner}@{lock.host} (pid {child.pid}) for apply")
        assert f"run `adaptive-deploy state unlock {lock.id}`" in message
        assert child.finish() == 0
        locker.release(locker.acquire("plan"))

    def test_acquire_waits_for_timeout_then_fails(self, backend: BackendHarness) -> None:
        # Process A holds the lock; process B's acquire(timeout_s=1) waits ~1 s, then fails.
        holder, held = hold_lock(backend)
        waiter = backend.spawn("acquire", timeout_s=1.0)
        result = waiter.json()
        assert result["ok"] is False
        assert 0.95 <= result["elapsed"] < 3.0
        assert result["lock"]["id"] == held["id"]
        assert result["lock"]["pid"] == holder.pid
        assert f"(pid {holder.pid}) for apply" in result["message"]
        assert holder.finish() == 0

    def test_acquire_waits_until_released(self, backend: BackendHarness) -> None:
        holder, _ = hold_lock(backend)
        _, locker = backend.open()
        threading.Timer(0.5, holder.finish).start()
        started = time.monotonic()
        lock = locker.acquire("apply", timeout_s=10)
        assert 0.4 <= time.monotonic() - started < 10
        assert lock.replaced is None
        locker.release(lock)

    def test_dead_holder_is_taken_over(self, backend: BackendHarness) -> None:
        holder, held = hold_lock(backend)
        holder.kill()
        _, locker = backend.open()
        # The backend may need a moment to notice (postgres: the server ends the session).
        lock = locker.acquire("apply", timeout_s=5)
        assert lock.replaced is not None
        assert lock.replaced.id == held["id"]
        assert lock.replaced.pid == held["pid"]
        locker.release(lock)

    def test_dead_holder_reported_free(self, backend: BackendHarness) -> None:
        holder, _ = hold_lock(backend)
        _, locker = backend.open()
        assert locker.current() is not None
        holder.kill()
        deadline = time.monotonic() + 5
        while locker.current() is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert locker.current() is None

    def test_force_unlock(self, backend: BackendHarness) -> None:
        holder, held = hold_lock(backend)
        _, locker = backend.open()
        with pytest.raises(StateError, match=f"the current lock is {held['id']}"):
            locker.force_unlock("not-the-id")
        locker.force_unlock(held["id"])
        lock = locker.acquire("apply", timeout_s=5)
        assert lock.replaced is None
        locker.release(lock)
        with pytest.raises(StateError, match="not locked"):
            locker.force_unlock("x")
        holder.finish()

    def test_force_unlock_own_lock_then_release_is_harmless(self,
                                                            backend: BackendHarness) -> None:
        _, locker = backend.open()
        lock = locker.acquire("apply")
        locker.force_unlock(lock.id)
        assert locker.current() is None
        locker.release(lock)
        locker.release(locker.acquire("apply"))

    def test_holder_whose_lock_was_released_and_taken_stops_at_its_next_commit(
        self, backend: BackendHarness
    ) -> None:
        # A holds the lock; someone runs `state unlock`, B takes the lock. A's next commit
        # must fail inside its transaction, with nothing written.
        store_a, locker_a = backend.open()
        lock_a = locker_a.acquire("apply")
        store_a.put_resource(record(1))
        _, locker_b = backend.open()
        locker_b.force_unlock(lock_a.id)
        lock_b = locker_b.acquire("apply")
        serial = store_a.read().serial
        with pytest.raises(LockLost, match="lost the lock"):
            store_a.put_resource(record(2))
        with pytest.raises(LockLost):
            store_a.check_lock()         # known now: no further platform call either
        with pytest.raises(LockLost):
            store_a.append_history(HistoryEntry("h", 1.0, None, "a", "apply", None, "running"))
        snap = store_a.read()
        assert snap.serial == serial
        assert set(snap.resources) == {record(1).address}
        locker_a.release(lock_a)       # harmless: the row is B's
        current = locker_b.current()
        assert current is not None and current.id == lock_b.id
        locker_b.release(lock_b)

    def test_holder_in_another_process_stops_when_its_lock_is_taken(
        self, backend: BackendHarness
    ) -> None:
        holder = backend.spawn("hold_put")
        held = holder.json()
        _, locker = backend.open()
        locker.force_unlock(held["id"])
        lock = locker.acquire("apply", timeout_s=5)
        assert holder.proc.stdin is not None
        holder.proc.stdin.write("put\n")
        holder.proc.stdin.flush()
        answer = holder.json()
        assert answer["ok"] is False and answer["type"] == "LockLost", answer
        store, _ = backend.open()
        assert store.read().resources == {}
        assert holder.finish() == 0
        locker.release(lock)

    def test_commits_without_a_lock_are_not_checked(self, backend: BackendHarness) -> None:
        # plan and state commands write nothing under a lock; the lease check is only for a
        # lock this store's locker holds.
        store, locker = backend.open()
        store.put_resource(record(1))
        lock = locker.acquire("apply")
        store.put_resource(record(2))
        locker.release(lock)
        store.put_resource(record(3))
        assert store.read().serial == 3

    def test_close_unfinished_marks_killed_runs_interrupted(self, backend: BackendHarness) -> None:
        store, _ = backend.open()
        store.append_history(HistoryEntry("done", 1.0, None, "a", "apply", None, "running"))
        store.finish_history("done", "success", {"add": 1})
        store.append_history(HistoryEntry("killed", 2.0, None, "a", "apply", None, "running"))
        assert store.close_unfinished() == ["killed"]
        by_id = {e.id: e for e in store.history()}
        assert by_id["killed"].result == "interrupted"
        assert by_id["killed"].finished_at is not None
        assert by_id["done"].result == "success"
        assert store.close_unfinished() == []
        assert store.integrity_check() == []

    # -- crash safety ---------------------------------------------------------------------

    @pytest.mark.slow
    def test_sigkill_mid_write_stream_leaves_a_consistent_prefix(
        self, backend: BackendHarness
    ) -> None:
        rng = random.Random(1234)
        for _trial in range(3):
            backend.workspace = new_workspace()
            writer = backend.spawn("puts", count=1_000_000)
            seen = -1
            stop_after = rng.randint(5, 120)
            while seen < stop_after:
                seen = int(writer.line())
            # kill at a random moment, most likely in the middle of a transaction
            time.sleep(rng.random() * 0.02)
            writer.kill()
            store, _ = backend.open()
            assert store.integrity_check() == []
            snap = store.read()
            n = len(snap.resources)
            # every write the child reported as committed survived ...
            assert n >= seen + 1
            # ... and what is there is exactly the first n writes, nothing torn or skipped
            assert snap.serial == n
            assert snap.resources == {record(i).address: record(i) for i in range(n)}
            store.close()
