"""Fault injection through the test API, over real HTTP."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from adaptive_deploy.emulator.faults import FaultConfig, FaultInjector
from tests.emulator import ops
from tests.fixtures.emulator import EmulatorServer


@pytest.fixture
def server(emulator_module: EmulatorServer) -> Iterator[EmulatorServer]:
    emulator_module.clear_faults()
    emulator_module.stats(reset=True)
    yield emulator_module
    emulator_module.clear_faults()


def test_fixed_latency(server: EmulatorServer) -> None:
    server.faults(latency_ms=300)
    start = time.monotonic()
    assert server.graphql(ops.ROLES).status_code == 200
    assert time.monotonic() - start >= 0.3


def test_jitter_varies_delay(server: EmulatorServer) -> None:
    server.faults(jitter_ms=200, seed=1)
    durations = []
    for _ in range(5):
        start = time.monotonic()
        server.graphql(ops.ROLES)
        durations.append(time.monotonic() - start)
    assert max(durations) - min(durations) > 0.02
    assert max(durations) < 1.0


def test_fail_rate_gives_503(server: EmulatorServer) -> None:
    server.faults(fail_rate=1.0)
    response = server.graphql(ops.ROLES)
    assert response.status_code == 503
    assert server.stats()["requests"]["failed"] == 1


def test_rate_limit_gives_429_with_retry_after(server: EmulatorServer) -> None:
    server.faults(rate_limit_rate=1.0, retry_after_s=2)
    response = server.graphql(ops.ROLES)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "2"


def test_failures_do_not_execute_mutations(server: EmulatorServer) -> None:
    server.faults(fail_rate=1.0)
    response = server.graphql(ops.CREATE_PROJECT, {"i": {"name": "Never", "key": "never"}})
    assert response.status_code == 503
    server.clear_faults()
    assert server.data(ops.PROJECT, {"k": "never"})["project"] is None


def test_hang_outlasts_client_timeout(server: EmulatorServer) -> None:
    server.faults(hang_rate=1.0, hang_s=1.5)
    with pytest.raises(httpx.ReadTimeout):
        server.graphql(ops.ROLES, timeout=0.3)
    assert server.stats()["requests"]["hung"] == 1


def test_drop_after_commit_502(server: EmulatorServer) -> None:
    server.faults(drop_rate=1.0)
    # Queries are never dropped: only mutations have an outcome to lose.
    assert server.graphql(ops.ROLES).status_code == 200
    response = server.graphql(ops.CREATE_PROJECT, {"i": {"name": "Dropped", "key": "dropped"}})
    assert response.status_code == 502
    server.clear_faults()
    assert server.data(ops.PROJECT, {"k": "dropped"})["project"]["name"] == "Dropped"
    assert server.stats()["requests"]["dropped"] == 1


def test_drop_after_commit_reset(server: EmulatorServer) -> None:
    server.faults(drop_rate=1.0, drop_style="reset")
    with pytest.raises(httpx.TransportError):
        server.graphql(ops.CREATE_PROJECT, {"i": {"name": "Reset", "key": "reset-drop"}})
    server.clear_faults()
    assert server.data(ops.PROJECT, {"k": "reset-drop"})["project"]["key"] == "reset-drop"


def test_seeded_faults_are_deterministic(server: EmulatorServer) -> None:
    def run() -> list[int]:
        server.faults(fail_rate=0.5, rate_limit_rate=0.2, seed=42)
        return [server.graphql(ops.ROLES).status_code for _ in range(20)]

    first, second = run(), run()
    assert first == second
    assert {200, 503, 429} <= set(first)


def test_stats_count_operations(server: EmulatorServer) -> None:
    server.graphql("query Roles { roles { key } }")
    server.graphql("query Roles { roles { key } }")
    stats = server.stats()
    assert stats["operations"]["Roles"] == 2
    assert stats["requests"]["ok"] == 2 and stats["requests"]["total"] == 2


def test_invalid_fault_settings_are_400(server: EmulatorServer) -> None:
    url = f"{server.base_url}/_emulator/faults"
    headers = {"Authorization": f"Bearer {server.admin_key}"}
    assert httpx.post(url, json={"fail_rate": 2}, headers=headers).status_code == 400
    unknown = httpx.post(url, json={"explode": 1}, headers=headers)
    assert unknown.status_code == 400 and "explode" in unknown.json()["error"]


def test_injector_rates_are_roughly_honoured() -> None:
    injector = FaultInjector(FaultConfig(fail_rate=0.2, rate_limit_rate=0.1, drop_rate=0.05,
                                         seed=7))
    actions = [injector.decide(is_mutation=True).action for _ in range(5000)]
    assert 0.07 < actions.count("rate_limit") / 5000 < 0.13
    assert 0.15 < actions.count("fail") / 5000 < 0.21
    assert 0.02 < actions.count("drop") / 5000 < 0.06
