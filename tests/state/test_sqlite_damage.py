"""A damaged local state is refused, never replaced silently by a new one.

A zero-byte file, random bytes, a dropped table, a renamed column or a deleted workspace row
once started a fresh state (new lineage; protect flags and history gone; live objects adopted
again). Now: a new state only where no file exists, or through `state init --force`, which
keeps the damaged file aside.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from adaptive_deploy.config.models import StateConfig
from adaptive_deploy.errors import StateDamaged, StateError
from adaptive_deploy.state import init_state, local_state_path, open_state
from adaptive_deploy.state.base import HistoryEntry
from tests.state.worker import record

CFG = StateConfig()


def used_state(tmp_path: Path) -> tuple[Path, str]:
    """A state with a record and a finished history entry; its path and lineage."""
    store, locker = open_state(CFG, "ws", tmp_path)
    lock = locker.acquire("apply")
    store.put_resource(record(1))
    store.append_history(HistoryEntry("h1", 1.0, None, "alice", "apply", None, "running"))
    store.finish_history("h1", "success", {"add": 1})
    locker.release(lock)
    lineage = store.read().lineage
    store.close()
    return local_state_path(CFG, tmp_path), lineage


def sql(path: Path, *statements: str) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        for statement in statements:
            conn.execute(statement)
    finally:
        conn.close()


def _zero(path: Path) -> None:
    path.write_bytes(b"")
    for side in ("-wal", "-shm"):
        path.with_name(path.name + side).unlink(missing_ok=True)


def _random(path: Path) -> None:
    path.write_bytes(os.urandom(8192))
    for side in ("-wal", "-shm"):
        path.with_name(path.name + side).unlink(missing_ok=True)


DAMAGE = {
    "zero-bytes": (_zero, "the file is empty (0 bytes)"),
    "random-bytes": (_random, "not a readable SQLite database"),
    "dropped-resources": (lambda p: sql(p, "DROP TABLE resources"),
                          "the table 'resources' is missing"),
    "dropped-history": (lambda p: sql(p, "DROP TABLE history"), "the table 'history' is missing"),
    "renamed-column": (lambda p: sql(p, "ALTER TABLE resources RENAME COLUMN applied TO a2"),
                       "the table 'resources' has no column 'applied'"),
    "deleted-workspace-row": (lambda p: sql(p, "DELETE FROM workspaces"),
                              "the record of workspace 'ws' (lineage, serial) is missing while "
                              "1 history entries remain"),
    "foreign-database": (lambda p: (p.unlink(), sql(p, "CREATE TABLE t (x)")),
                         "it holds no adaptive-deploy schema"),
}


@pytest.mark.parametrize("case", sorted(DAMAGE))
def test_damage_is_refused_with_the_recovery_path(case: str, tmp_path: Path) -> None:
    path, _ = used_state(tmp_path)
    damage, expected = DAMAGE[case]
    damage(path)
    before = path.read_bytes()
    with pytest.raises(StateDamaged) as info:
        open_state(CFG, "ws", tmp_path)
    message = str(info.value)
    assert expected in message
    assert str(path) in message
    assert "will not start a new state" in message
    assert "state init DIR --force" in message
    assert path.read_bytes() == before          # nothing written over the evidence


@pytest.mark.parametrize("case", sorted(DAMAGE))
def test_state_init_force_moves_the_damage_aside(case: str, tmp_path: Path) -> None:
    path, lineage = used_state(tmp_path)
    DAMAGE[case][0](path)
    before = path.read_bytes()
    with pytest.raises(StateDamaged):
        init_state(CFG, "ws", tmp_path)              # explicit but not forced: refused
    done = init_state(CFG, "ws", tmp_path, force=True)
    assert "moved the damaged" in done
    [aside] = [p for p in path.parent.iterdir() if ".damaged-" in p.name and
               not p.name.endswith(("-wal", "-shm"))]
    assert aside.read_bytes() == before
    store, _ = open_state(CFG, "ws", tmp_path)
    snap = store.read()
    assert snap.lineage != lineage and snap.serial == 0 and snap.resources == {}
    assert store.integrity_check() == []
    store.close()


def test_a_new_state_only_where_no_file_exists(tmp_path: Path) -> None:
    path = local_state_path(CFG, tmp_path)
    assert not path.exists()
    store, _ = open_state(CFG, "ws", tmp_path)
    assert store.read().serial == 0
    store.close()
    # no temporary file left behind by the atomic creation
    assert sorted(p.name for p in path.parent.iterdir()
                  if p.name.startswith("state.db")) in (["state.db"],
                                                        ["state.db", "state.db-shm",
                                                         "state.db-wal"])


def test_another_workspace_in_the_same_file_is_new_not_damage(tmp_path: Path) -> None:
    used_state(tmp_path)
    store, _ = open_state(CFG, "other", tmp_path)
    assert store.read().resources == {}
    store.close()


def test_state_init_where_none_exists_and_where_one_does(tmp_path: Path) -> None:
    assert "created an empty state" in init_state(CFG, "ws", tmp_path)
    assert "already exists" in init_state(CFG, "ws", tmp_path)
    assert "already exists" in init_state(CFG, "ws", tmp_path, force=True)


@pytest.mark.parametrize(
    ("statement", "expected"),
    [("UPDATE resources SET updated_at = 'yesterday'", "updated_at is not a number"),
     ("UPDATE resources SET applied = x'00ff'", "applied value"),
     ("UPDATE workspaces SET serial = 'many'", "serial is not a number"),
     ("UPDATE history SET started_at = 'dawn'", "started_at is not a number")],
)
def test_values_of_the_wrong_type_are_state_errors(statement: str, expected: str,
                                                   tmp_path: Path) -> None:
    path, _ = used_state(tmp_path)
    sql(path, "DROP TRIGGER history_finish_once", statement)
    store, _ = open_state(CFG, "ws", tmp_path)
    with pytest.raises(StateError, match=expected):
        store.read()
        store.history()
    assert store.integrity_check()              # reported, not raised
    store.close()


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path, _ = used_state(tmp_path)
    sql(path, "PRAGMA user_version = 9")
    with pytest.raises(StateError, match="schema version 9"):
        open_state(CFG, "ws", tmp_path)
