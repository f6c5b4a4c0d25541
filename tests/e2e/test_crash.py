"""SIGKILL an apply at random points; the next apply must converge and state must stay sound."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

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
    # Latency keeps each apply running for the 0.3-2.5 s the kill may wait: deployments that
    # are ONLINE within a fraction of a second are seen at once (apply.executor.poll_delays).
    emulator.faults(latency_ms=200)
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


class _Killed(BaseException):
    """The process dies: not an Exception, so nothing in the executor handles it."""


class _DiesAfterCreate:
    """The embedded platform, but the process "dies" right after a create reached it — before
    the state record of the created object could be written."""

    def __init__(self, inner: Any, method: str) -> None:
        self._inner = inner
        self._method = method

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name != self._method:
            return attr

        async def dies(*args: Any, **kwargs: Any) -> Any:
            await attr(*args, **kwargs)
            raise _Killed()

        return dies


@pytest.mark.parametrize("method", ["create_project", "deploy"])
def test_object_created_just_before_a_crash_is_this_workspaces(
    tmp_path: Path, method: str
) -> None:
    """A create's intent is recorded before the platform call, so the object it made is
    recognised on the next run — not refused as someone else's (AD506)."""
    import asyncio

    from adaptive_deploy import engine
    from adaptive_deploy.apply.hooks import CollectingHooks
    from adaptive_deploy.client.embedded import embedded_platform
    from tests.e2e.helpers import small_workspace

    ws = write_workspace(tmp_path / "ws", small_workspace("intent"))

    async def apply(platform: Any) -> None:
        session = await engine.open_session(ws, env={}, platform=platform)
        try:
            outcome = await engine.make_plan(session, engine.PlanOptions())
            await engine.apply_changes(session, outcome.plan.to_dict(), outcome.live,
                                       CollectingHooks(), parallelism=1, plan_digest=None)
        finally:
            await session.close()

    with pytest.raises(_Killed):
        asyncio.run(apply(_DiesAfterCreate(embedded_platform(ws, online_delay_s=0.0), method)))
    address = ("project.intent-support" if method == "create_project"
               else "deployment.intent-support/qwen-3-8b")
    store, _ = open_state(StateConfig(), "intent", ws)
    try:
        record = store.read().resources[address]
        assert record.pending == "create" and record.platform_id is None
    finally:
        store.close()

    plan = run_cli("plan", str(ws))
    assert plan.code == 0, plan.text
    assert "AD506" not in plan.text
    assert "created by an interrupted apply" in plan.out
    assert run_cli("apply", str(ws), "--auto-approve").code == 0
    assert run_cli("plan", str(ws), "--detailed-exitcode").code == 0
    store, _ = open_state(StateConfig(), "intent", ws)
    try:
        record = store.read().resources[address]
        assert record.pending is None and record.platform_id
    finally:
        store.close()
