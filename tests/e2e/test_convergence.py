"""Property: for random valid workspaces, apply then plan shows no changes — including
transitions from one random workspace to another (updates, deletes, adapters, placements) and
placement edits of a workspace (pools added and removed with `max_ttft_ms` set, `max_ttft_ms`
removed from the configuration, which leaves the live value alone).

Every model is also bound to a project no workspace manages (`anchor`), so removing a
deployment never removes a model's last binding (which deletes the model: see
tests/e2e/test_model_deletion.py)."""

from __future__ import annotations

import asyncio
import copy
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adaptive_deploy import engine
from adaptive_deploy.apply.hooks import CollectingHooks
from adaptive_deploy.client.embedded import DB_NAME, data_dir, embedded_platform
from adaptive_deploy.emulator.core import Emulator
from tests.e2e.helpers import write_workspace

POOLS = {
    "pool-1": {"gpu": "H100-80GB", "gpus_per_replica": 8, "replicas": 2},
    "pool-2": {"gpu": "H200-141GB", "gpus_per_replica": 8, "replicas": 1},
}
BASES = ["qwen-3-8b", "llama-3.1-8b", "mistral-7b-v0.3", "llama-3.2-1b"]
ADAPTERS = {"support-lora-v3": "qwen-3-8b", "sales-lora-v1": "qwen-3-8b",
            "summarizer-lora-v1": "llama-3.1-8b"}
PROJECTS = ["alpha", "beta", "gamma"]

pool_sets = st.lists(st.sampled_from(sorted(POOLS)), min_size=1, max_size=2, unique=True)


@st.composite
def workspaces(draw: st.DrawFn) -> dict[str, Any]:
    bases = draw(st.lists(st.sampled_from(BASES), min_size=1, max_size=3, unique=True))
    models: dict[str, Any] = {}
    for key in bases:
        spec: dict[str, Any] = {}
        if draw(st.booleans()):
            cc: dict[str, Any] = {"tp": draw(st.sampled_from([1, 2]))}
            if draw(st.booleans()):
                cc["kv_cache_len"] = draw(st.integers(2, 15)) * 10000
            if draw(st.booleans()):
                cc["max_seq_len"] = draw(st.sampled_from([8192, 16384, 32768]))
            spec["compute_config"] = cc
        models[key] = spec
    projects: dict[str, Any] = {}
    for pkey in draw(st.lists(st.sampled_from(PROJECTS), min_size=1, max_size=3, unique=True)):
        project: dict[str, Any] = {}
        if draw(st.booleans()):
            project["name"] = draw(st.sampled_from(["Team", "Support", "Research"])) + f" {pkey}"
        if draw(st.booleans()):
            project["description"] = draw(st.sampled_from(["prod", "staging", "experiments"]))
        deployments: dict[str, Any] = {}
        default_taken = False
        for mkey in draw(st.lists(st.sampled_from(bases), max_size=3, unique=True)):
            dep: dict[str, Any] = {"placement": {"compute_pools": draw(pool_sets)}}
            if draw(st.booleans()):
                dep["placement"]["max_ttft_ms"] = draw(st.sampled_from([5000, 20000, 45000]))
            if not default_taken and draw(st.booleans()):
                dep["is_default"] = True
                default_taken = True
            if draw(st.integers(0, 4)) == 0:
                dep["desired_online"] = False
            deployments[mkey] = dep
        for adapter, base in ADAPTERS.items():
            if base in deployments and draw(st.booleans()):
                base_pools = deployments[base]["placement"]["compute_pools"]
                pools = draw(st.lists(st.sampled_from(base_pools), min_size=1, unique=True))
                models[adapter] = {"adapter_of": base, "rank": 16}
                deployments[adapter] = {"placement": {"compute_pools": pools}}
        project["deployments"] = deployments
        projects[pkey] = project
    return {"version": 1, "workspace": "prop", "compute_pools": POOLS, "models": models,
            "projects": projects}


@st.composite
def placement_edit(draw: st.DrawFn, config: dict[str, Any]) -> dict[str, Any]:
    """The same workspace with edited placements: a pool added or removed (max_ttft_ms kept),
    max_ttft_ms set, changed or removed."""
    edited = copy.deepcopy(config)
    for project in edited["projects"].values():
        for mkey, dep in project["deployments"].items():
            if config["models"].get(mkey, {}).get("adapter_of"):
                continue  # adapters stay within their base's pools
            placement = dep["placement"]
            kind = draw(st.sampled_from(["pools", "ttft", "drop-ttft", "none"]))
            if kind == "pools":
                pools = set(placement["compute_pools"]) ^ {draw(st.sampled_from(sorted(POOLS)))}
                placement["compute_pools"] = sorted(pools) or sorted(POOLS)[:1]
                placement.setdefault("max_ttft_ms", 20000)
            elif kind == "ttft":
                placement["max_ttft_ms"] = draw(st.sampled_from([5000, 45000]))
            elif kind == "drop-ttft":
                placement.pop("max_ttft_ms", None)
        for adapter, dep in project["deployments"].items():
            base = config["models"].get(adapter, {}).get("adapter_of")
            if base:   # keep adapters on a subset of their base's (possibly edited) pools
                base_pools = project["deployments"][base]["placement"]["compute_pools"]
                kept = [p for p in dep["placement"]["compute_pools"] if p in base_pools]
                dep["placement"]["compute_pools"] = kept or base_pools[:1]
    return edited


@st.composite
def journeys(draw: st.DrawFn) -> list[dict[str, Any]]:
    """A few workspaces, each followed by a placement edit of itself."""
    out: list[dict[str, Any]] = []
    for config in draw(st.lists(workspaces(), min_size=1, max_size=2)):
        out += [config, draw(placement_edit(config))]
    return out


def _anchor(directory: Path) -> None:
    """Bind every model to a project no workspace manages, before the first plan."""
    emu = Emulator(data_dir(directory) / DB_NAME)
    try:
        emu.create_project({"key": "anchor", "name": "Anchor"})
        emu.add_models_to_project("anchor", [*BASES, *ADAPTERS])
    finally:
        emu.close()


def _ttfts(live: Any) -> dict[tuple[str, str], int | None]:
    return {k: d.max_ttft_ms for k, d in live.deployments.items()}


async def _plan(directory: Path) -> tuple[engine.Session, engine.PlanOutcome]:
    platform = embedded_platform(directory, online_delay_s=0.0)
    session = await engine.open_session(directory, env={}, platform=platform)
    return session, await engine.make_plan(session, engine.PlanOptions())


async def _converge(directory: Path, configs: list[dict[str, Any]]) -> None:
    _anchor(directory)
    for step, config in enumerate(configs):
        write_workspace(directory, config)
        session, outcome = await _plan(directory)
        try:
            assert outcome.plan.applyable, (step, outcome.plan.diagnostics)
            before = _ttfts(outcome.live)
            hooks = CollectingHooks()
            result = await engine.apply_changes(
                session, outcome.plan.to_dict(), outcome.live, hooks, parallelism=4,
                plan_digest=None,
            )
            assert not result.failed, (step, [(r.address, r.error) for r in result.failed])
        finally:
            await session.close()
        session, outcome = await _plan(directory)
        try:
            leftover = [(c.address, c.action.value, [d.to_dict() for d in c.diff])
                        for c in outcome.plan.changes if c.action.value != "no-op"]
            assert not outcome.plan.has_changes, (step, config, leftover)
            assert outcome.plan.drift == [], (step, [d.to_dict() for d in outcome.plan.drift])
            assert session.store.integrity_check() == []
            # max_ttft_ms left out of the configuration is unmanaged: apply keeps it as it was
            after = _ttfts(outcome.live)
            for (pkey, mkey), ttft in before.items():
                dep = config["projects"].get(pkey, {}).get("deployments", {}).get(mkey)
                if dep is not None and "max_ttft_ms" not in dep["placement"] \
                        and (pkey, mkey) in after:
                    assert after[(pkey, mkey)] == ttft, (step, pkey, mkey)
        finally:
            await session.close()


@settings(max_examples=12, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(journeys())
def test_apply_then_plan_shows_no_changes(configs: list[dict[str, Any]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(_converge(Path(tmp), configs))
