"""Two applies on one workspace at once: exactly one proceeds, the other names the lock owner."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from tests.e2e.helpers import CLI, remote_env, run_cli, small_workspace, write_workspace
from tests.fixtures.emulator import EmulatorServer


def test_second_apply_reports_the_lock_holder(emulator: EmulatorServer, tmp_path: Path) -> None:
    emulator.faults(latency_ms=700)   # keep the first apply busy for several seconds
    env = {**os.environ, "NO_COLOR": "1", **remote_env(emulator)}
    ws = write_workspace(tmp_path / "ws", small_workspace("lock"))
    first = subprocess.Popen(
        [*CLI, "apply", str(ws), "--auto-approve"], env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
    )
    try:
        # wait until the first apply is executing (it prints its first action)
        deadline = time.monotonic() + 30
        assert first.stdout is not None
        while time.monotonic() < deadline:
            line = first.stdout.readline()
            if ": Creating..." in line or ": Modifying..." in line:
                break
        second = run_cli("apply", str(ws), "--auto-approve", env=remote_env(emulator))
        assert second.code == 1
        assert "locked" in second.err
        assert f"pid {first.pid}" in second.err
        assert "apply" in second.err
        out, err = first.communicate(timeout=120)
        assert first.returncode == 0, out + err
    finally:
        if first.poll() is None:
            first.kill()
    emulator.clear_faults()
    assert run_cli("plan", str(ws), "--detailed-exitcode", env=remote_env(emulator)).code == 0


def test_lock_timeout_waits_then_fails(emulator: EmulatorServer, tmp_path: Path) -> None:
    emulator.faults(latency_ms=700)
    env = {**os.environ, "NO_COLOR": "1", **remote_env(emulator)}
    ws = write_workspace(tmp_path / "ws", small_workspace("lockwait"))
    first = subprocess.Popen(
        [*CLI, "apply", str(ws), "--auto-approve"], env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
    )
    try:
        assert first.stdout is not None
        while ": Creating..." not in (line := first.stdout.readline()) and line:
            pass
        started = time.monotonic()
        second = run_cli("apply", str(ws), "--auto-approve", "--lock-timeout", "1",
                         env=remote_env(emulator))
        waited = time.monotonic() - started
        assert second.code == 1 and "locked" in second.err
        assert waited >= 1.0
        first.communicate(timeout=120)
    finally:
        if first.poll() is None:
            first.kill()
