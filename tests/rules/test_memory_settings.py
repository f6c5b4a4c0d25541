"""Memory settings: rules.memory and compute_pools.<key>.memory reach fit, validate and plan
alike (the platform does not expose them, so all three use the configured or default values)."""

from __future__ import annotations

import re
from typing import Any

from adaptive_deploy import engine
from adaptive_deploy.rules import codes
from adaptive_deploy.rules.fit import check_memory_fit
from adaptive_deploy.rules.memory import fit_report
from tests.rules.helpers import run, seed_live, workspace

POOLS: dict[str, Any] = {
    "pool-1": {"gpu": "H100-80GB", "gpus_per_replica": 8, "replicas": 2},
    # The same GPU, run by an engine with a large batch: 15 GiB of activation per GPU.
    "pool-3": {"gpu": "H100-80GB", "gpus_per_replica": 8, "memory": {"activation_gib": 15}},
}
MODELS: dict[str, Any] = {"qwen-3-8b": {"compute_config": {"tp": 1, "kv_cache_len": 300000}}}
PROJECTS: dict[str, Any] = {"support": {"deployments": {
    "qwen-3-8b": {"placement": {"compute_pools": ["pool-1", "pool-3"]}}}}}


def test_fit_validate_and_plan_agree_on_pool_settings() -> None:
    ws = workspace(compute_pools=POOLS, models=MODELS, projects=PROJECTS,
                   rules={"memory": {"cudagraph_gib": 0.5}})
    rows = {r.pool: r.to_dict() for r in fit_report(ws)}
    assert rows["pool-1"]["verdict"] == "fits" and rows["pool-3"]["verdict"] == "does-not-fit"
    assert rows["pool-1"]["cudagraph_gib"] == rows["pool-3"]["cudagraph_gib"] == 0.5
    assert rows["pool-3"]["activation_gib"] == 15.0

    [d] = run(check_memory_fit, ws)
    assert d.code == codes.MEMORY_DOES_NOT_FIT and "pool-3" in d.message
    need = re.search(r"needs ([0-9.]+) GiB", d.message)
    assert need and float(need.group(1)) == round(rows["pool-3"]["total_gib"], 1)
    largest = re.search(r"largest kv_cache_len that fits is ([0-9,]+)", d.message)
    assert largest and int(largest.group(1).replace(",", "")) == rows["pool-3"]["max_kv_cache_len"]

    after, _ = engine.memory_rows(ws, seed_live())
    planned = {r.pool: r.to_dict() for r in after
               if r.deployment == "deployment.support/qwen-3-8b"}
    assert planned["pool-3"] == rows["pool-3"] and planned["pool-1"] == rows["pool-1"]


def test_max_batched_tokens_drives_the_activation() -> None:
    small = workspace(compute_pools=POOLS, models=MODELS, projects=PROJECTS,
                      rules={"memory": {"max_batched_tokens": 2048, "max_num_seqs": 64}})
    big = workspace(compute_pools=POOLS, models=MODELS, projects=PROJECTS,
                    rules={"memory": {"max_batched_tokens": 65536, "max_num_seqs": 64}})
    a = next(r for r in fit_report(small) if r.pool == "pool-1").breakdown
    b = next(r for r in fit_report(big) if r.pool == "pool-1").breakdown
    assert a is not None and b is not None
    assert b.activation > 10 * a.activation


def test_memory_settings_and_kv_dtype_changes_move_memory_in_diff() -> None:
    from adaptive_deploy.configdiff import affects_memory

    assert affects_memory("model.qwen-3-8b", ("kv_cache_dtype",))
    assert affects_memory("compute_pool.pool-1", ("memory", "max_batched_tokens"))
    assert affects_memory("rules", ("memory", "non_torch_gib"))
