"""plan, drift and status read the platform while the configuration loads (engine.open_session,
`read_ahead`): one read, used only when the validated settings are the guessed ones; an invalid
configuration is reported as such whatever the platform answers; apply never reads ahead."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from adaptive_deploy import engine
from adaptive_deploy.config.models import PlatformConfig
from adaptive_deploy.errors import ConfigError
from tests.e2e.helpers import remote_env, run_cli, small_workspace, write_workspace
from tests.fixtures.emulator import EmulatorServer


@pytest.fixture
def other_platform(tmp_path: Path) -> Iterator[EmulatorServer]:
    server = EmulatorServer(db_path=tmp_path / "other.db", log_path=tmp_path / "other.log",
                            admin_key="other-admin-key-0123456789")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def reads(server: EmulatorServer) -> int:
    return int(server.stats()["operations"].get("ReadLive", 0))


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.mark.parametrize("command", ["plan", "drift", "status"])
def test_one_read_per_command(emulator: EmulatorServer, tmp_path: Path, command: str) -> None:
    env = remote_env(emulator)
    ws = write_workspace(tmp_path / "ws", small_workspace("ahead"))
    assert run_cli("apply", str(ws), "--auto-approve", env=env).code == 0
    emulator.stats(reset=True)
    result = run_cli(command, str(ws), env=env)
    assert result.code == 0, result.text
    assert reads(emulator) == 1   # the read started ahead is the one used: none after it


def test_apply_reads_under_the_lock_only(emulator: EmulatorServer, tmp_path: Path) -> None:
    env = remote_env(emulator)
    ws = write_workspace(tmp_path / "ws", small_workspace("ahead"))
    assert run_cli("apply", str(ws), "--auto-approve", env=env).code == 0
    emulator.stats(reset=True)
    assert run_cli("apply", str(ws), "--auto-approve", env=env).code == 0
    assert reads(emulator) == 1


def test_a_wrong_guess_is_thrown_away(
    emulator: EmulatorServer, other_platform: EmulatorServer, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Were the guess ever wrong, its read (here refused: another platform, another key) is
    dropped, its error too, and the configured platform is read."""
    env = remote_env(emulator)
    ws = write_workspace(tmp_path / "ws", small_workspace("guess"))
    monkeypatch.setattr("adaptive_deploy.config.hint.platform_hint",
                        lambda target: PlatformConfig(base_url=other_platform.base_url))
    emulator.stats(reset=True)
    other_platform.stats(reset=True)
    load = engine.load_config_or_raise

    def slow_load(directory: Path) -> Any:
        # The configuration loads (in its worker thread) once the wrong read has been
        # answered, so its refusal is there to be dropped.
        deadline = time.monotonic() + 20
        while not other_platform.stats()["requests"] and time.monotonic() < deadline:
            time.sleep(0.05)
        return load(directory)

    monkeypatch.setattr(engine, "load_config_or_raise", slow_load)

    async def plan() -> engine.PlanOutcome:
        session = await engine.open_session(ws, env=env, read_ahead=True)
        try:
            return await engine.make_plan(session, engine.PlanOptions())
        finally:
            await session.close()

    outcome = asyncio.run(plan())
    created = {c.address for c in outcome.plan.changes if c.action.value == "create"}
    assert "deployment.guess-support/qwen-3-8b" in created
    assert outcome.requests == 1
    assert reads(emulator) == 1
    # Sent and refused (another key), and that refusal dropped: the plan went on.
    assert other_platform.stats()["requests"] == {"total": 1, "unauthorized": 1}


def test_an_invalid_configuration_is_reported_whatever_the_platform_answers(
    tmp_path: Path,
) -> None:
    config = small_workspace("bad")
    config["models"]["qwen-3-8b"]["compute_config"]["kv_cache_length"] = 4096   # unknown key
    ws = write_workspace(tmp_path / "ws", config)
    env = {"ADAPTIVE_BASE_URL": f"http://127.0.0.1:{closed_port()}",
           "ADAPTIVE_API_KEY": "some-key-0123456789"}
    for command in ("plan", "drift", "status"):
        result = run_cli(command, str(ws), env=env, timeout=60)
        assert result.code == 1, result.text
        assert "error[AD201]: unknown key 'kv_cache_length'" in result.err, result.text
        assert "cannot connect" not in result.text


def test_an_invalid_configuration_raises_config_error_in_process(tmp_path: Path) -> None:
    config = small_workspace("bad")
    config["projects"]["bad-support"]["deployments"]["qwen-3-8b"]["placement"][
        "max_ttft_ms"] = "soon"
    ws = write_workspace(tmp_path / "ws", config)
    env = {"ADAPTIVE_BASE_URL": f"http://127.0.0.1:{closed_port()}",
           "ADAPTIVE_API_KEY": "some-key-0123456789"}
    with pytest.raises(ConfigError):
        asyncio.run(engine.open_session(ws, env=env, read_ahead=True))
