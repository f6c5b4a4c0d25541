"""Live platform state as the client reads it: plain dataclasses, platform-neutral.

The client (adaptive_deploy.client) builds a `LiveState` from a handful of batched GraphQL
queries; the planner and the rules read it. Keys, not ids, link objects (project and model
keys), because configuration speaks in keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class LiveComputeConfig:
    tp: int | None = None
    kv_cache_len: int | None = None
    max_seq_len: int | None = None


@dataclass(slots=True)
class LiveModel:
    id: str
    key: str
    name: str
    is_adapter: bool = False
    backbone: str | None = None          # key of the base model, for adapters
    family: str | None = None
    size: str | None = None
    supported_tp: list[int] = field(default_factory=list)
    compute_config: LiveComputeConfig | None = None
    online: str | None = None            # ModelOnline enum value
    error: str | None = None
    is_spec_dec_draft: bool = False


@dataclass(slots=True)
class LiveProject:
    id: str
    key: str
    name: str
    description: str | None = None
    is_archived: bool = False


@dataclass(slots=True)
class LiveDeployment:
    """A model service: a model bound to a project."""

    id: str
    project: str                         # project key
    model: str                           # model key
    status: str | None = None            # ModelServiceStatus enum value
    error: str | None = None
    is_default: bool = False
    desired_online: bool = True
    compute_pools: list[str] = field(default_factory=list)   # pool keys, platform order
    max_ttft_ms: int | None = None
    warnings: list[str] = field(default_factory=list)   # deployModel's, for the user


@dataclass
class LiveHarmonyGroup:
    key: str
    status: str | None = None
    world_size: int = 0
    gpu_total: int = 0
    gpu_allocated: int = 0
    gpu_types: str | None = None         # as reported, e.g. "NVIDIA H100 80GB HBM3"
    online_models: list[str] = field(default_factory=list)


@dataclass
class LiveComputePool:
    id: str
    key: str
    name: str
    capabilities: list[str] = field(default_factory=list)
    groups: list[LiveHarmonyGroup] = field(default_factory=list)

    @property
    def gpu_types(self) -> str | None:
        return next((g.gpu_types for g in self.groups if g.gpu_types), None)

    @property
    def gpus_per_replica(self) -> int:
        return max((g.world_size for g in self.groups), default=0)

    @property
    def replicas(self) -> int:
        return len(self.groups)


@dataclass(slots=True)
class LiveJob:
    id: str
    name: str
    status: str                          # PENDING RUNNING COMPLETED FAILED CANCELED
    recipe: str | None = None
    project: str | None = None           # project key
    progress: float = 0.0
    error: str | None = None
    args: dict[str, Any] = field(default_factory=dict)
    num_gpus: int | None = None
    created_at: int | None = None        # unix ms
    output_model: str | None = None      # key of the model the job produced, if any


@dataclass
class LiveState:
    models: dict[str, LiveModel] = field(default_factory=dict)
    projects: dict[str, LiveProject] = field(default_factory=dict)
    deployments: dict[tuple[str, str], LiveDeployment] = field(default_factory=dict)
    compute_pools: dict[str, LiveComputePool] = field(default_factory=dict)
    jobs: dict[str, LiveJob] = field(default_factory=dict)   # by name; the newest job of a name
    # Model key → keys of the non-archived projects it is bound to, deployed or not (a model
    # added to a project but never deployed is bound too). removeModelFromProject deletes a
    # model from storage with its last binding (unless published), so deletes count these.
    bound: dict[str, set[str]] = field(default_factory=dict)

    def bindings(self, model: str) -> set[str]:
        """Non-archived projects `model` is bound to: `bound`, plus every project deploying
        it. Archived projects do not count: a deletion is predicted rather than missed."""
        out = set(self.bound.get(model, ()))
        out.update(p for (p, m) in self.deployments if m == model
                   and not (p in self.projects and self.projects[p].is_archived))
        return out
