"""`adaptive-deploy drift` end to end over HTTP: out-of-band changes made through the platform's
GraphQL API (as a person in the UI would) are reported with the right kind and values."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.helpers import remote_env, run_cli, small_workspace, write_workspace
from tests.fixtures.emulator import EmulatorServer

SET_KV = """mutation($m: IdOrKey!, $input: ModelComputeConfigInput!) {
  updateModelComputeConfig(idOrKey: $m, input: $input) { key }
}"""
UPDATE_SERVICE = """mutation($input: UpdateModelService!) {
  updateModelService(input: $input) { key }
}"""
REMOVE = """mutation($input: RemoveModelFromProjectInput!) {
  removeModelFromProject(input: $input)
}"""


def _apply(ws: Path, env: dict[str, str]) -> None:
    result = run_cli("apply", str(ws), "--auto-approve", env=env)
    assert result.code == 0, result.text


def _findings(doc: dict[str, Any]) -> dict[tuple[str, str | None], dict[str, Any]]:
    return {(f["address"], f["field"]): f for f in doc["findings"]}


def _state_serial(ws: Path) -> tuple[int, int]:
    with sqlite3.connect(ws / ".adaptive-deploy" / "state.db") as db:
        serial = db.execute("SELECT serial FROM workspaces").fetchone()[0]
        count = db.execute("SELECT count(*) FROM history").fetchone()[0]
    return int(serial), int(count)


@pytest.mark.slow
def test_out_of_band_changes_are_reported(emulator: EmulatorServer, tmp_path: Path) -> None:
    env = remote_env(emulator)
    ws = write_workspace(tmp_path / "ws", small_workspace("oob"))
    _apply(ws, env)
    clean = run_cli("drift", str(ws), env=env)
    assert clean.code == 0, clean.text
    assert "No drift." in clean.out

    emulator.data(SET_KV, {"m": "qwen-3-8b", "input": {"kvCacheLen": 100000}})
    emulator.data(UPDATE_SERVICE, {"input": {
        "project": "oob-support", "modelService": "qwen-3-8b", "isDefault": False,
        "placement": {"computePools": ["pool-1", "pool-2"], "maxTtftMs": 20000}}})
    emulator.data(REMOVE, {"input": {"project": "oob-support", "model": "support-lora-v3"}})
    before = _state_serial(ws)

    result = run_cli("drift", str(ws), "--format", "json", env=env)
    assert result.code == 2, result.text
    doc = json.loads(result.out)
    assert doc["format_version"] == "1.0" and doc["workspace"] == "oob"
    found = _findings(doc)
    dep = "deployment.oob-support/qwen-3-8b"
    expected = {
        ("model.qwen-3-8b", "kv_cache_len"): (200000, 100000, 200000),
        (dep, "is_default"): (True, False, True),
        (dep, "max_ttft_ms"): (30000, 20000, 30000),
        (dep, "compute_pools"): (["pool-1"], ["pool-1", "pool-2"], ["pool-1"]),
    }
    for key, (applied, live, desired) in expected.items():
        f = found[key]
        assert f["kind"] == "drift", f
        assert (f["last_applied"], f["live"], f["desired"]) == (applied, live, desired), f
    gone = found[("deployment.oob-support/support-lora-v3", None)]
    assert gone["kind"] == "drift" and gone["live"] is None
    assert "Deleted outside adaptive-deploy" in gone["message"]
    assert doc["summary"]["drift"] == len(doc["findings"]) == 5
    # Drift reads only: no lock taken, no state written.
    assert _state_serial(ws) == before

    # plan sees the same changes as drift (it shows them first).
    plan = json.loads(run_cli("plan", str(ws), "--format", "json", env=env).out)
    plan_drift = {(d["address"], d["path"]) for d in plan["drift"]}
    assert plan_drift == set(found)
    # The scheduled workflow runs drift with a read-only key.
    readonly = run_cli("drift", str(ws), "--format", "json",
                       env=remote_env(emulator, emulator.readonly_key))
    assert readonly.code == 2, readonly.text
    assert json.loads(readonly.out)["findings"] == doc["findings"]

    text = run_cli("drift", str(ws), env=env)
    assert text.code == 2
    # Wider than 80 columns on one line: the values wrap onto the next.
    assert "[drift] model.qwen-3-8b kv_cache_len\n      last applied 200000, live 100000, config 200000" \
        in text.out
    assert "adaptive-deploy apply" in text.out

    md = run_cli("drift", str(ws), "--format", "markdown", env=env)
    assert md.code == 2
    lines = md.out.splitlines()
    assert lines[0] == "## Drift detected in workspace `oob`"
    assert "| resource | field | last applied → live | config |" in lines
    assert any(line.startswith("| `model.qwen-3-8b` | `kv_cache_len` | `200000` → `100000` |")
               for line in lines)
    assert "### How to fix" in lines
    assert emulator.admin_key not in result.text + text.text + md.text

    _apply(ws, env)
    after = run_cli("drift", str(ws), "--format", "markdown", env=env)
    assert after.code == 0, after.text
    assert after.out.startswith("## No drift in workspace `oob`")


def test_pool_order_is_not_drift_but_config_edits_are_pending(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    env = remote_env(emulator)
    config = small_workspace("ord")
    dep = config["projects"]["ord-support"]["deployments"]["qwen-3-8b"]
    dep["placement"]["compute_pools"] = ["pool-1", "pool-2"]
    config["compute_pools"]["pool-2"] = {"gpu": "H200-141GB", "gpus_per_replica": 8, "replicas": 1}
    ws = write_workspace(tmp_path / "ws", config)
    _apply(ws, env)
    emulator.data(UPDATE_SERVICE, {"input": {
        "project": "ord-support", "modelService": "qwen-3-8b",
        "placement": {"computePools": ["pool-2", "pool-1"], "maxTtftMs": 30000}}})
    same = run_cli("drift", str(ws), env=env)
    assert same.code == 0, same.text

    config["models"]["qwen-3-8b"]["compute_config"]["kv_cache_len"] = 150000
    write_workspace(ws, config)
    pending = run_cli("drift", str(ws), "--format", "json", env=env)
    assert pending.code == 2, pending.text
    [f] = json.loads(pending.out)["findings"]
    assert (f["address"], f["field"], f["kind"]) == ("model.qwen-3-8b", "kv_cache_len", "pending")
    assert (f["last_applied"], f["live"], f["desired"]) == (200000, 200000, 150000)


def test_drift_reports_bad_input_with_exit_1(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "a.yaml").write_text("version: 1\nworkspace: x\nmodels:\n  m: {compute_config: {tp: 0}}\n")
    result = run_cli("drift", str(ws))
    assert result.code == 1
    assert "a.yaml:4" in result.err and "error[AD" in result.err
