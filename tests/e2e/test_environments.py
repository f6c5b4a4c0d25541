"""Environments end to end: examples/environments (base, staging, production) on two emulators
at once — `emulator serve --seed staging` (L40S + H100) and the default seed (H100 + H200),
each on its own free loopback port. Each environment plans and applies against its own
platform and state only; both converge; import writes into the environment's directory."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.helpers import Result, run_cli
from tests.emulator.ops import COMPUTE, MODEL, PROJECT
from tests.fixtures.emulator import EmulatorServer

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "environments"


@pytest.fixture
def platforms(tmp_path: Path) -> Iterator[tuple[EmulatorServer, EmulatorServer]]:
    """A staging and a production platform, running at the same time."""
    staging = EmulatorServer(db_path=tmp_path / "staging.db", log_path=tmp_path / "staging.log",
                             extra_args=["--seed", "staging"])
    production = EmulatorServer(db_path=tmp_path / "production.db",
                                log_path=tmp_path / "production.log")
    staging.start()
    try:
        production.start()
        try:
            assert staging.port != production.port
            yield staging, production
        finally:
            production.stop()
    finally:
        staging.stop()


@pytest.fixture
def example(tmp_path: Path) -> Path:
    dest = tmp_path / "environments"
    shutil.copytree(EXAMPLE, dest, ignore=shutil.ignore_patterns(".adaptive-deploy"))
    return dest


def env_for(staging: EmulatorServer, production: EmulatorServer) -> dict[str, str]:
    """The variables the example's platform settings name, one pair per environment."""
    return {
        "STAGING_ADAPTIVE_BASE_URL": staging.base_url,
        "STAGING_ADAPTIVE_API_KEY": staging.admin_key,
        "PRODUCTION_ADAPTIVE_BASE_URL": production.base_url,
        "PRODUCTION_ADAPTIVE_API_KEY": production.admin_key,
    }


def deployments(server: EmulatorServer, project: str) -> set[str]:
    data = server.data(PROJECT, {"k": project})["project"]
    return {s["model"]["key"] for s in data["modelServices"]} if data else set()


def kv_cache_len(server: EmulatorServer, model: str) -> int:
    value: int = server.data(MODEL, {"k": model})["model"]["computeConfig"]["kvCacheLen"]
    return value


def mutations(server: EmulatorServer) -> dict[str, int]:
    ops: dict[str, int] = server.stats()["operations"]
    return {k: v for k, v in ops.items() if not k.startswith(("Read", "Describe", "List", "Me"))}


def run_both(*commands: tuple[str, ...], env: dict[str, str]) -> list[Result]:
    """Run CLI commands at the same time, one thread each."""
    results: list[Result | None] = [None] * len(commands)

    def one(i: int) -> None:
        results[i] = run_cli(*commands[i], env=env, timeout=180)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(commands))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r is not None for r in results)
    return [r for r in results if r is not None]


def test_the_example_converges_on_two_platforms_at_once(
    platforms: tuple[EmulatorServer, EmulatorServer], example: Path
) -> None:
    staging, production = platforms
    env = env_for(staging, production)
    applied = run_both(("apply", str(example / "staging"), "--auto-approve"),
                       ("apply", str(example / "production"), "--auto-approve"), env=env)
    for result in applied:
        assert result.code == 0, result.text
        assert "Apply complete!" in result.out
    plans = run_both(("plan", str(example / "staging"), "--detailed-exitcode"),
                     ("plan", str(example / "production"), "--detailed-exitcode"), env=env)
    for result in plans:
        assert result.code == 0, result.text
        assert "No changes. The platform matches the configuration." in result.out

    # Each platform got its own environment's configuration.
    assert deployments(staging, "sales") == {"qwen-3-8b", "sales-lora-v1", "legal-lora-v2"}
    assert deployments(production, "sales") == {"qwen-3-8b", "sales-lora-v1"}
    assert "triage-lora-v1" in deployments(staging, "support")
    assert "triage-lora-v1" not in deployments(production, "support")
    assert kv_cache_len(staging, "qwen-3-8b") == 100000
    assert kv_cache_len(production, "qwen-3-8b") == 300000
    tp = production.data(MODEL, {"k": "qwen-3-30b-a3b"})["model"]["computeConfig"]["tp"]
    assert tp == 1
    assert staging.data(MODEL, {"k": "qwen-3-30b-a3b"})["model"]["computeConfig"]["tp"] == 2

    # Each environment has its own state, beside its own files; the base has none.
    states = {}
    for name in ("staging", "production"):
        assert (example / name / ".adaptive-deploy" / "state.db").is_file()
        listed = run_cli("state", "list", str(example / name), "--format", "json", env=env)
        assert listed.code == 0, listed.text
        states[name] = json.loads(listed.out)
    assert not (example / "base" / ".adaptive-deploy").exists()
    addresses = {name: {r["address"] for r in doc["resources"]} for name, doc in states.items()}
    assert "deployment.sales/legal-lora-v2" in addresses["staging"]
    assert "deployment.sales/legal-lora-v2" not in addresses["production"]
    assert states["staging"]["lineage"] != states["production"]["lineage"]
    # ... and each state records the identity of its own platform (one platform per state).
    ids = {name: doc["platform"]["id"] for name, doc in states.items()}
    assert ids["staging"] != ids["production"] and all(i.startswith("pools:") for i in ids.values())
    # Pointing staging's configuration at production's platform is refused, naming both.
    swapped = {**env, "STAGING_ADAPTIVE_BASE_URL": production.base_url,
               "STAGING_ADAPTIVE_API_KEY": production.admin_key}
    refused = run_cli("plan", str(example / "staging"), env=swapped)
    assert refused.code == 1, refused.text
    assert "belongs to another platform" in refused.err
    assert ids["staging"] in refused.err and ids["production"] in refused.err
    assert deployments(production, "sales") == {"qwen-3-8b", "sales-lora-v1"}

    # A change made on production's platform is production's drift, not staging's.
    production.data(COMPUTE, {"k": "qwen-3-8b", "i": {"kvCacheLen": 250000}})
    drift = run_both(("drift", str(example / "staging"), "--format", "json"),
                     ("drift", str(example / "production"), "--format", "json"), env=env)
    assert drift[0].code == 0, drift[0].text
    assert drift[1].code == 2, drift[1].text
    [finding] = json.loads(drift[1].out)["findings"]
    assert (finding["address"], finding["field"]) == ("model.qwen-3-8b", "kv_cache_len")
    assert (finding["last_applied"], finding["live"]) == (300000, 250000)


def test_an_environment_touches_only_its_own_platform_and_state(
    platforms: tuple[EmulatorServer, EmulatorServer], example: Path
) -> None:
    staging, production = platforms
    env = env_for(staging, production)
    production.stats(reset=True)
    result = run_cli("apply", str(example / "staging"), "--auto-approve", env=env)
    assert result.code == 0, result.text
    assert mutations(staging)  # staging was changed ...
    assert production.stats()["requests"] == {}  # ... and production not even read
    assert not (example / "production" / ".adaptive-deploy").exists()
    # Production's first plan creates everything: nothing of staging's leaked into it.
    plan = run_cli("plan", str(example / "production"), "--format", "json", env=env)
    assert plan.code == 0, plan.text
    doc: dict[str, Any] = json.loads(plan.out)
    created = {c["address"] for c in doc["changes"] if c["action"] == "create"}
    assert "deployment.support/qwen-3-8b" in created
    assert "deployment.sales/legal-lora-v2" not in created
    assert doc["workspace"] == "production"
    assert mutations(production) == {}  # a plan never writes
    # The promotion diff needs neither platform.
    before = (staging.stats()["requests"], production.stats()["requests"])
    diff = run_cli("diff", str(example / "staging"), str(example / "production"), env={})
    assert diff.code == 2, diff.text
    assert (staging.stats()["requests"], production.stats()["requests"]) == before


def test_import_writes_into_the_environment_directory(
    platforms: tuple[EmulatorServer, EmulatorServer], example: Path
) -> None:
    staging, production = platforms
    env = env_for(staging, production)
    prod = example / "production"
    assert run_cli("apply", str(prod), "--auto-approve", env=env).code == 0
    base_files = sorted(p.name for p in (example / "base").iterdir())
    # The platform's pre-existing `playground` project is not in the configuration.
    result = run_cli("import", str(prod), "--project", "playground", env=env)
    assert result.code == 0, result.text
    assert (prod / "imported-playground.yaml").is_file()
    assert sorted(p.name for p in (example / "base").iterdir()) == base_files
    plan = run_cli("plan", str(prod), "--detailed-exitcode", env=env)
    assert plan.code == 0, plan.text
    # Staging's platform was never involved.
    assert deployments(staging, "support") == set()
