"""Apply under injected faults: 5xx and 429 answers and responses dropped after the change was
committed. Apply must converge with no duplicate deployment or job, and state must equal live."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from adaptive_deploy.client.platform import job_base_name
from adaptive_deploy.config.models import StateConfig
from adaptive_deploy.plan import resources
from adaptive_deploy.state import open_state
from tests.e2e.helpers import remote_env, run_cli, write_workspace
from tests.fixtures.emulator import EmulatorServer

LIVE = """{
  projects { key modelServices { key } }
  jobs(page: {}) { nodes { id name status } }
}"""


def _live_counts(server: EmulatorServer) -> tuple[Counter[tuple[str, str]], Counter[str]]:
    response = server.graphql(LIVE)
    payload: dict[str, Any] = response.json()
    data = payload["data"]
    services: Counter[tuple[str, str]] = Counter()
    for project in data["projects"]:
        for service in project["modelServices"]:
            services[(project["key"], service["key"])] += 1
    jobs = data["jobs"]
    nodes = jobs["nodes"] if isinstance(jobs, dict) else jobs
    # Each run is named <job>@<run id> on the platform: a duplicate is two runs of one job.
    return services, Counter(job_base_name(j["name"]) for j in nodes)


def _fleet(workspace: str, projects: int) -> dict[str, Any]:
    """Several projects, each with two base models and one adapter on each, plus a job."""
    pools = {"pool-1": {"gpu": "H100-80GB", "gpus_per_replica": 8, "replicas": 2},
             "pool-2": {"gpu": "H200-141GB", "gpus_per_replica": 8, "replicas": 1}}
    models = {
        "qwen-3-8b": {"compute_config": {"tp": 1, "kv_cache_len": 100000}},
        "llama-3.1-8b": {"compute_config": {"tp": 1, "kv_cache_len": 100000}},
        "support-lora-v3": {"adapter_of": "qwen-3-8b", "rank": 16},
        "summarizer-lora-v1": {"adapter_of": "llama-3.1-8b", "rank": 16},
    }
    deployments = {
        "qwen-3-8b": {"placement": {"compute_pools": ["pool-1"], "max_ttft_ms": 20000},
                      "is_default": True},
        "llama-3.1-8b": {"placement": {"compute_pools": ["pool-2"]}},
        "support-lora-v3": {"placement": {"compute_pools": ["pool-1"]}},
        "summarizer-lora-v1": {"placement": {"compute_pools": ["pool-2"]}},
    }
    return {
        "version": 1, "workspace": workspace, "compute_pools": pools, "models": models,
        "projects": {f"team-{i}": {"name": f"Team {i}", "deployments": deployments}
                     for i in range(projects)},
        "jobs": {"train-draft": {
            "recipe": "specdec_alignment", "project": "team-0", "num_gpus": 2,
            "compute_pool": "pool-1",
            "args": {"target_model": "qwen-3-8b", "draft_model": "qwen-3-500m",
                     "dataset": "prompts"}}},
    }


@pytest.mark.slow
def test_apply_converges_under_faults(emulator: EmulatorServer, tmp_path: Path) -> None:
    example = "fleet"
    ws = write_workspace(tmp_path / example, _fleet(example, projects=10))
    env = remote_env(emulator)
    emulator.faults(fail_rate=0.10, rate_limit_rate=0.10, retry_after_s=0.05, drop_rate=0.05,
                    drop_style="mixed", seed=7)
    attempts = []
    for _ in range(3):
        result = run_cli("apply", str(ws), "--auto-approve", "--parallelism", "8", env=env,
                         timeout=300)
        attempts.append(result)
        if result.code == 0:
            break
    assert attempts[-1].code == 0, "\n---\n".join(a.text for a in attempts)
    stats = emulator.stats()
    emulator.clear_faults()
    # Faults really were injected: failures, rate limits and dropped-after-commit mutations.
    outcomes = stats["requests"]
    assert outcomes.get("failed", 0) > 0, outcomes
    assert outcomes.get("rate_limited", 0) > 0, outcomes
    assert outcomes.get("dropped", 0) > 0, outcomes

    services, jobs = _live_counts(emulator)
    assert all(n == 1 for n in services.values()), services
    assert all(n == 1 for n in jobs.values()), jobs
    assert sum(jobs.values()) >= 1     # the job did run (and is counted by its base name)

    plan = run_cli("plan", str(ws), "--detailed-exitcode", env=env)
    assert plan.code == 0, plan.text

    # State equals live: every record's observed value is what the platform reports now.
    read = run_cli("state", "list", str(ws), "--format", "json", env=env)
    assert read.code == 0, read.text
    store, _ = open_state(StateConfig(), example, ws)
    snapshot = store.read()
    assert store.integrity_check() == []
    store.close()
    import asyncio

    from adaptive_deploy.client import connect
    from adaptive_deploy.config.models import PlatformConfig

    async def observed() -> dict[str, dict[str, Any]]:
        platform = connect(PlatformConfig(), ws, env)
        try:
            return resources.observed(await platform.read_live())
        finally:
            await platform.aclose()

    live = asyncio.run(observed())
    for address, record in snapshot.resources.items():
        assert address in live, address
        assert resources.fingerprint(live[address]) == record.fingerprint, address
