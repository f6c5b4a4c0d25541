"""CLI behaviour under interruption and failure: Ctrl-C at the approval prompt, a plan that
cannot be applied, unexpected errors with and without --debug."""

from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from adaptive_deploy import redaction
from adaptive_deploy.cli.main import cli
from tests.hostile.harness import CLI, assert_refused, clean_env, run_bounded
from tests.hostile.test_inputs import workspace


def test_ctrl_c_at_the_approval_prompt_stops_at_once_and_releases_the_lock(
    tmp_path: Path,
) -> None:
    ws = workspace(tmp_path)
    primary, secondary = pty.openpty()       # a terminal on stdin: apply asks for approval
    proc = subprocess.Popen([CLI, "apply", str(ws)], stdin=secondary, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=clean_env())
    os.close(secondary)
    try:
        assert proc.stdout is not None
        seen = b""
        deadline = time.monotonic() + 60
        while b"Only 'yes' will be accepted" not in seen:
            assert time.monotonic() < deadline, seen
            chunk = os.read(proc.stdout.fileno(), 4096)
            assert chunk, seen
            seen += chunk
        time.sleep(0.3)
        interrupted = time.monotonic()
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=10)          # at once: no Enter needed
        elapsed = time.monotonic() - interrupted
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(primary)
    assert proc.stderr is not None
    err = proc.stderr.read().decode()
    assert code == 1, err
    assert elapsed < 5, elapsed
    assert "Traceback" not in err
    assert "interrupted at the prompt" in err and "nothing was changed" in err
    # the lock is free and nothing was applied
    listing = run_bounded("state", "list", str(ws), "--format", "json")
    doc = json.loads(listing.out)
    assert doc["lock"] is None and doc["resources"] == []
    again = run_bounded("apply", str(ws), "--auto-approve")
    assert again.code == 0, again.describe()


def test_a_plan_that_cannot_be_applied_exits_1(tmp_path: Path) -> None:
    ws = workspace(tmp_path)
    for extra in ([], ["--detailed-exitcode"]):
        outcome = run_bounded("plan", str(ws), "--target", "deployment.nope/nothing", *extra)
        assert outcome.code == 1, outcome.describe()
        assert "AD503" in outcome.text
        assert "Traceback" not in outcome.text


@pytest.fixture
def boom(monkeypatch: pytest.MonkeyPatch) -> str:
    """An unexpected exception (not one the tool raises on purpose) carrying a secret."""
    secret = "sk-live-0123456789abcdef"
    redaction.register(secret)

    async def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError(f"connection to https://user:{secret}@host failed\nsecond line")

    monkeypatch.setattr("adaptive_deploy.engine.open_session", explode)
    yield secret
    redaction.clear()


def test_unexpected_errors_are_one_line_without_debug(boom: str, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ADAPTIVE_DEPLOY_DEBUG", raising=False)
    result = CliRunner().invoke(cli, ["plan", str(workspace(tmp_path))])
    assert result.exit_code == 1
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert lines == [lines[0]] and lines[0].startswith("Error: unexpected RuntimeError")
    assert "--debug" in lines[0]
    assert "Traceback" not in result.output
    assert boom not in result.output


@pytest.mark.parametrize("how", ["flag-before", "flag-after", "env"])
def test_debug_shows_the_traceback_still_redacted(how: str, boom: str, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ADAPTIVE_DEPLOY_DEBUG", raising=False)
    ws = str(workspace(tmp_path))
    args = {"flag-before": ["--debug", "plan", ws], "flag-after": ["plan", ws, "--debug"],
            "env": ["plan", ws]}[how]
    if how == "env":
        monkeypatch.setenv("ADAPTIVE_DEPLOY_DEBUG", "1")
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    assert "Traceback (most recent call last)" in result.output
    assert "RuntimeError" in result.output
    assert boom not in result.output and "***" in result.output


def test_expected_errors_show_their_traceback_with_debug_only(tmp_path: Path) -> None:
    ws = workspace(tmp_path)
    (ws / ".adaptive-deploy").mkdir()
    (ws / ".adaptive-deploy" / "state.db").write_bytes(b"")
    quiet = run_bounded("plan", str(ws))
    assert_refused(quiet, "the file is empty")
    loud = run_bounded("plan", str(ws), env={"ADAPTIVE_DEPLOY_DEBUG": "1"})
    assert loud.code == 1
    assert "Traceback" in loud.err and "StateDamaged" in loud.err
