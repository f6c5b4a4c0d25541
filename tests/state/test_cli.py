"""`adaptive-deploy state list | show | history | unlock` on a local workspace."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from adaptive_deploy.cli.main import cli
from adaptive_deploy.config.models import StateConfig
from adaptive_deploy.state import open_state
from adaptive_deploy.state.base import HistoryEntry, ResourceRecord


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    (tmp_path / "main.yaml").write_text("version: 1\nworkspace: demo\n")
    store, _ = open_state(StateConfig(), "demo", tmp_path)
    store.put_resource(ResourceRecord(
        "deployment.support/qwen-3-8b", "deployment",
        {"placement": {"compute_pools": ["pool-1"]}, "num_draft_steps": 4},
        {"placement": {"compute_pools": ["pool-1"]}, "status": "ONLINE"},
        "fp-deploy", "ms-42", 1_700_000_000.0,
    ))
    store.put_resource(ResourceRecord("model.qwen-3-8b", "model", {"tp": 2}, {"tp": 2},
                                      "fp-model", None, 1_700_000_100.0))
    store.append_history(HistoryEntry("h1", 1_700_000_000.0, None, "alice", "apply",
                                      "sha256:0123456789abcdef", "running"))
    store.finish_history("h1", "success", {"add": 2})
    store.close()
    return tmp_path


def test_list_text(workspace: Path) -> None:
    result = run("state", "list", str(workspace))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Workspace demo: lineage ")
    assert lines[0].endswith(", serial 2")
    assert lines[1] == "Platform: not recorded yet (recorded by the first apply)"
    assert lines[2] == "Lock: none"
    # apply order: models before deployments
    assert lines[4].split()[:2] == ["ADDRESS", "TYPE"]
    body = [line.split() for line in lines[5:7]]
    assert body[0][:3] == ["model.qwen-3-8b", "model", "-"]
    assert body[1][:3] == ["deployment.support/qwen-3-8b", "deployment", "ms-42"]
    assert "2023-11-14 22:13:20Z" in lines[6]


def test_list_names_the_platform(workspace: Path) -> None:
    store, _ = open_state(StateConfig(), "demo", workspace)
    store.set_platform({"id": "pools:0123abcd", "label": "http://127.0.0.1:8765",
                        "pools": ["p"], "url": "http://127.0.0.1:8765"})
    store.close()
    text = run("state", "list", str(workspace))
    assert text.stdout.splitlines()[1] == "Platform: http://127.0.0.1:8765 [pools:0123abcd]"
    doc = json.loads(run("state", "list", str(workspace), "--format", "json").stdout)
    assert doc["platform"]["id"] == "pools:0123abcd"


def test_list_json_with_lock(workspace: Path) -> None:
    _, locker = open_state(StateConfig(), "demo", workspace)
    lock = locker.acquire("apply")
    result = run("state", "list", str(workspace), "--format", "json")
    locker.release(lock)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["workspace"] == "demo"
    assert doc["serial"] == 2
    assert doc["lock"]["id"] == lock.id
    assert doc["lock"]["operation"] == "apply"
    assert [r["address"] for r in doc["resources"]] == [
        "model.qwen-3-8b", "deployment.support/qwen-3-8b"]
    assert doc["resources"][1]["platform_id"] == "ms-42"
    assert doc["resources"][1]["updated_at"] == "2023-11-14T22:13:20Z"


def test_show(workspace: Path) -> None:
    result = run("state", "show", "deployment.support/qwen-3-8b", str(workspace))
    assert result.exit_code == 0, result.output
    assert "fingerprint:  fp-deploy" in result.stdout
    assert "platform id:  ms-42" in result.stdout
    assert '"num_draft_steps": 4' in result.stdout
    assert '"status": "ONLINE"' in result.stdout
    as_json = run("state", "show", "model.qwen-3-8b", str(workspace), "--format", "json")
    assert as_json.exit_code == 0
    doc = json.loads(as_json.stdout)
    assert doc["applied"] == {"tp": 2}
    assert doc["fingerprint"] == "fp-model"


def test_show_unknown_and_invalid_address(workspace: Path) -> None:
    missing = run("state", "show", "model.nope", str(workspace))
    assert missing.exit_code == 1
    assert "model.nope is not in the state of workspace 'demo'" in missing.stderr
    invalid = run("state", "show", "nonsense", str(workspace))
    assert invalid.exit_code == 1
    assert "invalid address 'nonsense'" in invalid.stderr
    assert "Traceback" not in missing.output + invalid.output


def test_history(workspace: Path) -> None:
    result = run("state", "history", str(workspace))
    assert result.exit_code == 0, result.output
    header, row = result.stdout.splitlines()
    assert header.split() == ["STARTED", "TOOK", "WHO", "OPERATION", "RESULT", "PLAN",
                              "SUMMARY"]
    assert "alice" in row and "success" in row and "0123456789ab" in row
    # the summary in words, not a JSON blob
    assert row.rstrip().endswith("2 added") and "{" not in row
    doc = json.loads(run("state", "history", str(workspace), "--format", "json").stdout)
    assert doc["history"][0]["summary"] == {"add": 2}


def test_unlock(workspace: Path) -> None:
    _, locker = open_state(StateConfig(), "demo", workspace)
    lock = locker.acquire("apply")
    wrong = run("state", "unlock", "not-the-id", str(workspace))
    assert wrong.exit_code == 1
    assert f"the current lock is {lock.id}" in wrong.stderr
    right = run("state", "unlock", lock.id, str(workspace))
    assert right.exit_code == 0, right.output
    assert f"Released lock {lock.id} on workspace demo" in right.stdout
    assert locker.current() is None
    again = run("state", "unlock", lock.id, str(workspace))
    assert again.exit_code == 1
    assert "is not locked" in again.stderr


def test_bad_directory_and_config(tmp_path: Path) -> None:
    missing = run("state", "list", str(tmp_path / "nowhere"))
    assert missing.exit_code == 1
    assert "no such directory" in missing.stderr
    empty = run("state", "list", str(tmp_path))
    assert empty.exit_code == 1
    assert "no *.yaml" in empty.stderr
    (tmp_path / "bad.yaml").write_text("version: 1\nworkspace: demo\nworkspce: typo\n")
    bad = run("state", "list", str(tmp_path))
    assert bad.exit_code == 1
    assert "bad.yaml:3" in bad.stderr
    assert "Traceback" not in bad.output
