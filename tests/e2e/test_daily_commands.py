"""The commands people use daily, through the real CLI on the embedded platform: destroy and
plan --destroy, status, show PLANFILE, --no-color, exit codes in --help, completion of
addresses for --target, the hint for Terraform-style single-dash flags, apply's summary."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from adaptive_deploy.cli.main import _COMMANDS
from tests.e2e.helpers import CLI, run_cli

QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart"
COMMANDS = sorted(_COMMANDS)   # every command, including ones added later


@pytest.fixture
def applied(tmp_path: Path) -> Path:
    ws = tmp_path / "quickstart"
    shutil.copytree(QUICKSTART, ws, ignore=shutil.ignore_patterns(".adaptive-deploy"))
    result = run_cli("apply", str(ws), "--auto-approve")
    assert result.code == 0, result.text
    return ws


def test_status_destroy_and_show(applied: Path, tmp_path: Path) -> None:
    status = run_cli("status", str(applied))
    assert status.code == 0, status.text
    assert "deployment.support/qwen-3-8b" in status.out and "HEALTHY" in status.out
    assert status.out.rstrip().endswith("Status: 5 healthy.")

    planned = run_cli("plan", str(applied), "--destroy", "--out", str(tmp_path / "d.plan"),
                      "--detailed-exitcode")
    assert planned.code == 2, planned.text
    assert "- deployment.support/qwen-3-8b" in planned.out
    assert "/ model.qwen-3-8b" in planned.out                 # forgotten, never deleted
    # the adapter the workspace declares goes with its last binding, which the plan says
    assert "! deletes model support-lora-v3 from storage" in planned.out
    assert "- project.support" in planned.out and "archived" in planned.out
    assert "Plan: 0 to add, 0 to change, 3 to destroy, 2 to forget." in planned.out

    shown = run_cli("show", str(tmp_path / "d.plan"), "--format", "markdown")
    assert shown.code == 0, shown.text
    assert shown.out.startswith("**Plan: 0 to add, 0 to change, 3 to destroy, 2 to forget.**")
    shown_json = json.loads(run_cli("show", str(tmp_path / "d.plan"), "--format", "json").out)
    assert shown_json["options"]["destroy"] is True

    refused = run_cli("destroy", str(applied), "--auto-approve")
    assert refused.code == 1 and "--allow-destroy" in refused.err

    done = run_cli("destroy", str(applied), "--auto-approve", "--allow-destroy")
    assert done.code == 0, done.text
    assert done.out.rstrip().endswith(
        "Apply complete! Resources: 0 added, 0 changed, 3 destroyed, 2 forgotten.")
    empty = run_cli("status", str(applied))
    assert empty.code == 0 and "nothing is managed" in empty.out


def test_destroy_honours_protect(applied: Path) -> None:
    config = applied / "adaptive-deploy.yaml"
    text = config.read_text()
    config.write_text(text.replace("is_default: true", "is_default: true\n        protect: true"))
    assert run_cli("apply", str(applied), "--auto-approve").code == 0
    plan = run_cli("plan", str(applied), "--destroy")
    assert plan.code == 1 or "cannot be applied" in plan.out, plan.text
    assert "AD501" in plan.text
    refused = run_cli("destroy", str(applied), "--auto-approve", "--allow-destroy")
    assert refused.code == 1
    assert "deployment.support/qwen-3-8b" in run_cli("state", "list", str(applied)).out


def test_status_reports_an_unhealthy_deployment(applied: Path) -> None:
    # Drop the deployment on the platform behind the tool's back: status says "missing", exit 2.
    import sqlite3

    db = sqlite3.connect(applied / ".adaptive-deploy" / "platform.db")
    tables = [r[0] for r in db.execute("select name from sqlite_master where type='table'")]
    table = next(t for t in tables if "service" in t.lower() or "deployment" in t.lower())
    db.execute(f"delete from {table}")
    db.commit()
    db.close()
    status = run_cli("status", str(applied), "--format", "json")
    assert status.code == 2, status.text
    doc = json.loads(status.out)
    health = {r["address"]: r["health"] for r in doc["resources"]}
    assert health["deployment.support/qwen-3-8b"] == "missing"
    assert health["project.support"] == "healthy"


def test_every_command_lists_its_exit_codes_and_no_color() -> None:
    for name in COMMANDS:
        out = run_cli(name, "--help")
        assert out.code == 0, (name, out.text)
        assert "Exit codes: 0" in out.out, name
        assert "--no-color" in out.out, name


def test_single_dash_flag_gets_a_hint() -> None:
    result = run_cli("apply", "-auto-approve")
    assert result.code != 0
    assert "did you mean --auto-approve?" in result.err
    assert run_cli("plan", "-no-color").err.count("did you mean --no-color?") == 1


def test_target_completion_lists_addresses(applied: Path) -> None:
    env = {**os.environ, "_ADAPTIVE_DEPLOY_COMPLETE": "bash_complete",
           "COMP_WORDS": f"adaptive-deploy plan {applied} --target deployment.", "COMP_CWORD": "4"}
    out = subprocess.run(CLI, env=env, capture_output=True, text=True, timeout=60).stdout
    assert "plain,deployment.support/qwen-3-8b" in out.splitlines()
    assert "plain,deployment.support/support-lora-v3" in out.splitlines()
    assert not any("project." in line for line in out.splitlines())
