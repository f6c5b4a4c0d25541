"""SIGKILL an apply at random points; the next apply must converge and state must stay sound."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

from adaptive_deploy.config.models import StateConfig
from adaptive_deploy.state import open_state
from tests.e2e.helpers import CLI, remote_env, run_cli, write_workspace
from tests.e2e.test_faults import _fleet
from tests.fixtures.emulator import EmulatorServer

TRIALS = 20


def _config(trial: int, rng: random.Random) -> dict[str, object]:
    """A different desired state each trial: kv_cache_len moves, projects come and go."""
    config = _fleet("crash", projects=4)
    config["models"]["qwen-3-8b"]["compute_config"]["kv_cache_len"] = 80000 + 1000 * trial  # type: ignore[index]
    projects = config["projects"]
    assert isinstance(projects, dict)
    for key in list(projects):
        if key != "team-0" and rng.random() < 0.4:
            del projects[key]
    if trial % 3 == 0:
        del config["jobs"]
    return config


@pytest.mark.slow
def test_sigkill_during_apply_then_apply_converges(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    rng = random.Random(20261128)
    env = remote_env(emulator)
    ws = tmp_path / "crash"
    full_env = {**os.environ, "NO_COLOR": "1", **env}
    killed = takeovers = 0
    for trial in range(TRIALS):
        write_workspace(ws, _config(trial, rng))
        proc = subprocess.Popen(
            [*CLI, "apply", str(ws), "--auto-approve", "--allow-destroy", "--parallelism", "4"],
            env=full_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(0.3, 2.5))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            killed += 1
        proc.wait(timeout=60)

        # Integrity right after the kill, before anything repairs it.
        store, _ = open_state(StateConfig(), "crash", ws)
        assert store.integrity_check() == [], f"trial {trial}"
        store.close()

        again = run_cli("apply", str(ws), "--auto-approve", "--allow-destroy", env=env,
                        timeout=300)
        assert again.code == 0, f"trial {trial}: {again.text}"
        takeovers += "Took over a stale lock" in again.err
        plan = run_cli("plan", str(ws), "--detailed-exitcode", env=env)
        assert plan.code == 0, f"trial {trial}: {plan.text}"
    assert killed >= TRIALS // 2, f"only {killed} of {TRIALS} applies were still running"
    # A killed apply leaves its lock behind; the next apply detects the dead holder.
    assert takeovers >= 1
