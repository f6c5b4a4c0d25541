"""One platform per state: a workspace applied on one platform is refused against another (both
named), a restart of the same platform on another port is the same platform, `state repoint`
re-binds a state on purpose, and a state written before identities were recorded adopts the
first platform it sees. Through the CLI, embedded and over HTTP."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from adaptive_deploy.config.models import StateConfig
from adaptive_deploy.state import open_state
from tests.e2e.helpers import remote_env, run_cli, small_workspace, write_workspace
from tests.fixtures.emulator import EmulatorServer

QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart"


def _quickstart(tmp_path: Path, name: str = "quickstart") -> Path:
    ws = tmp_path / name
    shutil.copytree(QUICKSTART, ws, ignore=shutil.ignore_patterns(".adaptive-deploy"))
    return ws


def test_embedded_state_is_refused_against_a_served_platform(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    ws = _quickstart(tmp_path)
    applied = run_cli("apply", str(ws), "--auto-approve")
    assert applied.code == 0, applied.text
    env = remote_env(emulator)
    for command in (["plan"], ["drift"], ["apply", "--auto-approve"], ["import"]):
        result = run_cli(*command[:1], str(ws), *command[1:], env=env)
        assert result.code == 1, (command, result.text)
        assert "belongs to another platform" in result.err, (command, result.err)
        assert "the embedded platform (" in result.err and emulator.base_url in result.err
        assert f"adaptive-deploy state repoint {ws}" in result.err
        assert "deleted outside" not in result.text.lower()
    # Nothing was created on the served platform.
    projects = {p["key"] for p in emulator.data("{ projects { key } }")["projects"]}
    assert "support" not in projects

    # The way out: a fresh copy of the example has its own state, and creates cleanly.
    fresh = _quickstart(tmp_path, "fresh")
    plan = run_cli("plan", str(fresh), env=env)
    assert plan.code == 0, plan.text
    assert "+ project.support" in plan.out and "deleted outside" not in plan.out.lower()
    assert plan.out.rstrip().endswith("Plan: 3 to add, 1 to change, 0 to destroy.")


def test_restart_on_another_port_is_the_same_platform(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    ws = write_workspace(tmp_path / "ws", small_workspace("moved"))
    assert run_cli("apply", str(ws), "--auto-approve", env=remote_env(emulator)).code == 0
    emulator.stop()
    emulator.start()          # a new process on a new free port, the same database
    env = remote_env(emulator)
    plan = run_cli("plan", str(ws), "--detailed-exitcode", env=env)
    assert plan.code == 0, plan.text
    # the next apply records the URL the platform was last reached at
    assert run_cli("apply", str(ws), "--auto-approve", env=env).code == 0
    state_list = run_cli("state", "list", str(ws)).out
    assert f"Platform: {emulator.base_url} [pools:" in state_list


def test_repoint_binds_the_state_to_the_configured_platform(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    ws = _quickstart(tmp_path)
    assert run_cli("apply", str(ws), "--auto-approve").code == 0
    env = remote_env(emulator)
    assert run_cli("plan", str(ws), env=env).code == 1
    repointed = run_cli("state", "repoint", str(ws), env=env)
    assert repointed.code == 0, repointed.text
    assert f"now belongs to {emulator.base_url} [pools:" in repointed.out
    assert "(was: the embedded platform (" in repointed.out
    # Now it plans against the served platform; what it recorded is not there.
    plan = run_cli("plan", str(ws), env=env)
    assert plan.code == 0, plan.text
    assert "Deleted outside adaptive-deploy" in plan.out
    # ... and the embedded platform is the other one now.
    back = run_cli("plan", str(ws))
    assert back.code == 1 and "belongs to another platform" in back.err


def test_state_from_before_identities_adopts_the_first_platform(tmp_path: Path) -> None:
    ws = _quickstart(tmp_path)
    assert run_cli("apply", str(ws), "--auto-approve").code == 0
    db = ws / ".adaptive-deploy" / "state.db"
    conn = sqlite3.connect(db)
    conn.execute("UPDATE workspaces SET platform = NULL")   # as an older version left it
    conn.commit()
    conn.close()
    plan = run_cli("plan", str(ws), "--detailed-exitcode")
    assert plan.code == 0, plan.text
    assert "Note: This state was written before adaptive-deploy recorded which platform it " \
           "belongs to: it adopts the embedded platform (" in plan.out
    assert run_cli("apply", str(ws), "--auto-approve").code == 0
    store, _ = open_state(StateConfig(), "quickstart", ws)
    try:
        recorded = store.read().platform
    finally:
        store.close()
    assert recorded is not None and recorded["id"].startswith("pools:")
    assert "adopts" not in run_cli("plan", str(ws)).out


def test_base_url_from_env_is_stored_only_as_a_hash(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    config = small_workspace("hashed")
    config["platform"] = {"base_url": "${env:SECRET_PLATFORM_URL}"}
    ws = write_workspace(tmp_path / "ws", config)
    env = {"SECRET_PLATFORM_URL": emulator.base_url, "ADAPTIVE_API_KEY": emulator.admin_key}
    assert run_cli("apply", str(ws), "--auto-approve", env=env).code == 0
    dump = b"".join(p.read_bytes() for p in (ws / ".adaptive-deploy").glob("state.db*"))
    host_port = emulator.base_url.split("//", 1)[1].encode()
    assert host_port not in dump
    store, _ = open_state(StateConfig(), "hashed", ws)
    try:
        recorded = store.read().platform
    finally:
        store.close()
    assert recorded is not None and recorded["url"].startswith("sha256:")
    assert recorded["label"] == "the platform (base_url from ${env:SECRET_PLATFORM_URL})"


def test_saved_plan_of_another_platform_is_stale(emulator: EmulatorServer, tmp_path: Path) -> None:
    ws = _quickstart(tmp_path)
    planned = run_cli("plan", str(ws), "--out", str(tmp_path / "p.json"))   # embedded
    assert planned.code == 0, planned.text
    applied = run_cli("apply", str(tmp_path / "p.json"), env=remote_env(emulator))
    assert applied.code == 1
    assert "Saved plan is stale" in applied.err
    assert "the plan was made against the embedded platform (" in applied.err
    assert f"now points at {emulator.base_url} [pools:" in applied.err


def test_deployment_recreated_outside_is_not_the_one_in_state(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    """Resources are matched by platform id: a model service removed and deployed again with
    the same key outside adaptive-deploy is another object — reported, not silently taken."""
    env = remote_env(emulator)
    ws = write_workspace(tmp_path / "ws", small_workspace("again"))
    assert run_cli("apply", str(ws), "--auto-approve", env=env).code == 0
    emulator.data('mutation { removeModelFromProject(input: {project: "again-support", '
                  'model: "support-lora-v3"}) }')
    emulator.data('mutation { deployModel(input: {project: "again-support", '
                  'model: "support-lora-v3", placement: {computePools: ["pool-1"]}}) '
                  '{ modelService { id } } }')
    address = "deployment.again-support/support-lora-v3"
    plan = run_cli("plan", str(ws), env=env)
    assert plan.code == 1, plan.text           # AD507: a plan that cannot be applied
    assert f"- {address}: deleted and re-created outside adaptive-deploy" in plan.out
    assert f"error[AD507]: {address} was deleted and re-created" in plan.out
    assert run_cli("drift", str(ws), env=env).code == 2
    assert run_cli("import", address, str(ws), env=env).code == 0
    assert run_cli("plan", str(ws), "--detailed-exitcode", env=env).code == 0
