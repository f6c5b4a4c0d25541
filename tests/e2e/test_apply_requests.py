"""How many requests an apply sends (SPEC §7: ≤ 2 per created deployment), against the
emulator over real HTTP with deployments that are ONLINE as soon as they are deployed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.helpers import base_config, remote_env, run_cli, write_workspace
from tests.fixtures.emulator import EmulatorServer

MODELS = ("qwen-3-8b", "support-lora-v3", "llama-3.2-1b")


@pytest.fixture
def instant_emulator(tmp_path: Path) -> Iterator[EmulatorServer]:
    server = EmulatorServer(db_path=tmp_path / "platform.db", log_path=tmp_path / "server.log",
                            online_delay_s=0.0)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _workspace(projects: int) -> dict[str, object]:
    return base_config(
        "reqs",
        compute_pools={"pool-1": {"gpu": "H100-80GB", "gpus_per_replica": 8, "replicas": 2}},
        models={"support-lora-v3": {"adapter_of": "qwen-3-8b", "rank": 16}},
        projects={
            f"reqs-{i}": {"name": f"Project {i}",
                          "deployments": {m: {"placement": {"compute_pools": ["pool-1"]}}
                                          for m in MODELS}}
            for i in range(projects)
        },
    )


def test_apply_binds_once_per_project_and_never_polls_an_online_deployment(
    instant_emulator: EmulatorServer, tmp_path: Path,
) -> None:
    server = instant_emulator
    ws = write_workspace(tmp_path / "ws", _workspace(3))
    server.stats(reset=True)
    result = run_cli("apply", str(ws), "--auto-approve", "--parallelism", "4",
                     env=remote_env(server))
    assert result.code == 0, result.text
    assert "Apply complete! Resources: 12 added, 0 changed, 0 destroyed." in result.out
    stats = server.stats()
    operations = stats["operations"]
    assert operations.get("AddModelsToProject") == 3, operations      # one per project
    assert operations.get("DeployModel") == 9, operations
    # deployModel answered ONLINE: nothing to wait for.
    assert operations.get("DescribeModelService", 0) == 0, operations
    created = 9
    assert stats["requests"]["total"] / created <= 2.0, stats
    assert run_cli("plan", str(ws), "--detailed-exitcode", env=remote_env(server)).code == 0
