"""Damaged state and unwritable places, through the real CLI: refused with one message naming
the recovery, the damaged file left as it was (nothing lost), bounded time and memory; and the
explicit recovery (`state init --force`) works end to end."""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.hostile.harness import assert_refused, run_bounded
from tests.hostile.test_inputs import config


def _sql(statement: str) -> Callable[[Path], None]:
    def damage(path: Path) -> None:
        conn = sqlite3.connect(path, isolation_level=None)
        try:
            conn.execute(statement)
        finally:
            conn.close()
    return damage


def _bytes(data: bytes) -> Callable[[Path], None]:
    def damage(path: Path) -> None:
        path.write_bytes(data)
    return damage


DAMAGE: dict[str, tuple[Callable[[Path], None], str]] = {
    "zero-bytes": (_bytes(b""), "the file is empty (0 bytes)"),
    "random-bytes": (_bytes(os.urandom(16384)), "not a readable SQLite database"),
    "dropped-table": (_sql("DROP TABLE resources"), "the table 'resources' is missing"),
    "renamed-column": (_sql("ALTER TABLE resources RENAME COLUMN observed TO o2"),
                       "has no column 'observed'"),
    "deleted-workspace-row": (_sql("DELETE FROM workspaces"), "history entries remain"),
}


@pytest.fixture(scope="module")
def applied(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace applied once on the embedded platform (state with records and history)."""
    ws = tmp_path_factory.mktemp("applied") / "ws"
    ws.mkdir()
    (ws / "main.yaml").write_text(config())
    outcome = run_bounded("apply", str(ws), "--auto-approve")
    assert outcome.code == 0, outcome.describe()
    return ws


def _copy(applied: Path, tmp_path: Path) -> tuple[Path, Path]:
    ws = tmp_path / "ws"
    shutil.copytree(applied, ws)
    state = ws / ".adaptive-deploy" / "state.db"
    for side in ("-wal", "-shm"):
        state.with_name(state.name + side).unlink(missing_ok=True)
    return ws, state


@pytest.mark.parametrize("case", sorted(DAMAGE))
@pytest.mark.parametrize("command", ["plan", "apply", "drift", "state list"])
def test_damaged_state_is_refused_and_left_as_it_was(case: str, command: str, applied: Path,
                                                     tmp_path: Path) -> None:
    ws, state = _copy(applied, tmp_path)
    damage, expected = DAMAGE[case]
    damage(state)
    before = state.read_bytes()
    args = [*command.split(), str(ws)]
    if command == "apply":
        args.append("--auto-approve")
    outcome = run_bounded(*args)
    assert_refused(outcome, expected, "state init DIR --force")
    assert state.read_bytes() == before


def test_state_init_force_recovers_and_import_is_the_next_step(applied: Path,
                                                               tmp_path: Path) -> None:
    ws, state = _copy(applied, tmp_path)
    state.write_bytes(b"")
    refused = run_bounded("state", "init", str(ws))
    assert_refused(refused, "state init DIR --force")
    done = run_bounded("state", "init", str(ws), "--force")
    assert done.code == 0, done.describe()
    assert "Moved the damaged" in done.out
    assert any(".damaged-" in p.name for p in state.parent.iterdir())
    # what is live but no longer in state is not taken over silently: plan names the import
    plan = run_bounded("plan", str(ws))
    assert plan.code == 1, plan.describe()
    assert "error[AD506]: project.support already exists on the platform" in plan.out
    for address in ("project.support", "deployment.support/qwen-3-8b"):
        assert f"adaptive-deploy import {ws} {address}" in plan.out
        imported = run_bounded("import", address, str(ws))
        assert imported.code == 0, imported.describe()
    again = run_bounded("plan", str(ws), "--detailed-exitcode")
    assert again.code == 0, again.describe()      # nothing lost, nothing duplicated


def test_killed_apply_history_is_closed_as_interrupted(applied: Path, tmp_path: Path) -> None:
    ws, state = _copy(applied, tmp_path)
    conn = sqlite3.connect(state, isolation_level=None)
    conn.execute(
        "INSERT INTO history (workspace, id, started_at, finished_at, who, operation, "
        "plan_digest, result, summary) VALUES ('hostile', 'killed-run', 1.0, NULL, 'x', "
        "'apply', NULL, 'running', '{}')")
    conn.close()
    outcome = run_bounded("apply", str(ws), "--auto-approve")
    assert outcome.code == 0, outcome.describe()
    history = run_bounded("state", "history", str(ws), "--format", "json")
    import json

    entries = {e["id"]: e for e in json.loads(history.out)["history"]}
    assert entries["killed-run"]["result"] == "interrupted"
    assert entries["killed-run"]["finished_at"] is not None


@pytest.mark.parametrize("what", ["workspace", "platform-db", "state-db"])
def test_unwritable_places_are_one_message(what: str, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "main.yaml").write_text(config())
    if what != "workspace":
        first = run_bounded("plan", str(ws))     # creates .adaptive-deploy/ as this user
        assert first.code == 0, first.describe()
        data = ws / ".adaptive-deploy"
        os.chmod(data, 0o755)
        for path in data.iterdir():
            if path.name.startswith("platform.db" if what == "platform-db" else "state.db"):
                path.chmod(0o444)
            else:
                path.chmod(0o666)
    os.chmod(ws, 0o555)
    # plan only reads: a read-only database is enough for it; apply must write
    args = ["plan", str(ws)] if what == "workspace" else ["apply", str(ws), "--auto-approve"]
    try:
        outcome = run_bounded(*args, bound_by_permissions=True)
    finally:
        os.chmod(ws, 0o755)
    expected = {"workspace": "cannot open the embedded local platform",
                "platform-db": "platform.db is not writable",
                "state-db": "state database"}[what]
    assert_refused(outcome, expected)
