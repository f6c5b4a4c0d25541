"""Builders for planner tests: workspaces, live states and state snapshots in a few lines."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from adaptive_deploy.config.models import Workspace
from adaptive_deploy.live import (
    LiveComputeConfig,
    LiveDeployment,
    LiveJob,
    LiveModel,
    LiveProject,
    LiveState,
)
from adaptive_deploy.plan import resources as res
from adaptive_deploy.plan.model import Plan
from adaptive_deploy.plan.planner import make_plan
from adaptive_deploy.state.base import ResourceRecord, StateSnapshot

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def workspace(**sections: Any) -> Workspace:
    """A v1 workspace named `test` from config sections (models=..., projects=..., jobs=...)."""
    return Workspace.model_validate({"version": 1, "workspace": "test", **sections})


def live_model(key: str, **cc: int) -> LiveModel:
    return LiveModel(id=f"id-{key}", key=key, name=key,
                     compute_config=LiveComputeConfig(**cc) if cc else None)


def live_project(key: str, name: str | None = None, **kw: Any) -> LiveProject:
    return LiveProject(id=f"id-{key}", key=key, name=name or key, **kw)


def live_deployment(project: str, model: str, **kw: Any) -> LiveDeployment:
    return LiveDeployment(id=f"id-{project}-{model}", project=project, model=model, **kw)


def live_job(name: str, status: str, **kw: Any) -> LiveJob:
    return LiveJob(id=f"id-{name}", name=name, status=status, **kw)


def live(*objs: Any) -> LiveState:
    """A LiveState holding the given live objects."""
    state = LiveState()
    for o in objs:
        if isinstance(o, LiveModel):
            state.models[o.key] = o
        elif isinstance(o, LiveProject):
            state.projects[o.key] = o
        elif isinstance(o, LiveDeployment):
            state.deployments[(o.project, o.model)] = o
        elif isinstance(o, LiveJob):
            state.jobs[o.name] = o
        else:  # pragma: no cover - test helper misuse
            raise TypeError(o)
    return state


def snapshot(applied: dict[str, dict[str, Any]], observed: dict[str, dict[str, Any]] | None = None,
             ) -> StateSnapshot:
    """A state snapshot with one record per address (observed defaults to applied)."""
    observed = observed or {}
    records = {}
    for addr, fields in applied.items():
        obs = observed.get(addr, fields)
        records[addr] = ResourceRecord(addr, addr.split(".", 1)[0], dict(fields), dict(obs),
                                       res.fingerprint(obs))
    return StateSnapshot("test", "lineage-1", 7, records)


def plan(ws: Workspace, lv: LiveState, st: StateSnapshot | None = None, **kw: Any) -> Plan:
    """make_plan with fixed digest, version and time."""
    return make_plan(ws, config_digest="sha256:cfg", state=st or snapshot({}), live=lv,
                     tool_version="0.1.0", now=NOW, **kw)
