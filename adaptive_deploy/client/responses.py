"""Lenient pydantic models of GraphQL responses, and their mapping onto `adaptive_deploy.live`.

Lenient on purpose (unlike the configuration models): unknown fields are ignored and most fields
are optional, so a newer platform that adds or omits a field does not break reads. Field names
follow the GraphQL camelCase names through an alias generator.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from adaptive_deploy.live import (
    LiveComputeConfig,
    LiveComputePool,
    LiveDeployment,
    LiveHarmonyGroup,
    LiveJob,
    LiveModel,
    LiveProject,
)


class Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", alias_generator=to_camel, populate_by_name=True)


class KeyRef(Lenient):
    key: str | None = None


class ComputeConfigOut(Lenient):
    tp: int | None = None
    kv_cache_len: int | None = None
    max_seq_len: int | None = None


class ModelOut(Lenient):
    id: str
    key: str
    name: str = ""
    online: str | None = None
    error: str | None = None
    is_adapter: bool = False
    is_spec_dec_draft: bool = False
    family: str | None = None
    size: int | str | None = None
    supported_tp: list[int] = Field(default_factory=list)
    compute_config: ComputeConfigOut | None = None
    backbone: KeyRef | None = None

    def to_live(self) -> LiveModel:
        cc = self.compute_config
        return LiveModel(
            id=self.id, key=self.key, name=self.name or self.key, is_adapter=self.is_adapter,
            backbone=self.backbone.key if self.backbone else None, family=self.family,
            size=None if self.size is None else str(self.size),
            supported_tp=list(self.supported_tp),
            compute_config=LiveComputeConfig(cc.tp, cc.kv_cache_len, cc.max_seq_len) if cc else None,
            online=self.online, error=self.error, is_spec_dec_draft=self.is_spec_dec_draft,
        )


class PlacementOut(Lenient):
    compute_pools: list[str] = Field(default_factory=list)
    max_ttft_ms: int | None = None


class ModelServiceOut(Lenient):
    id: str
    key: str | None = None
    status: str | None = None
    error: str | None = None
    is_default: bool = False
    desired_online: bool = True
    deleted: bool = False
    placement: PlacementOut | None = None
    model: KeyRef | None = None

    def is_deployed(self) -> bool:
        """False for a model only bound to the project (addModelsToProject, no deployModel yet:
        OFFLINE without a placement). Such a binding is not a deployment, so a crash between
        the two calls leads the next plan to `create` (whose bind step is then skipped)."""
        return not (self.status == "OFFLINE" and self.placement is None)

    def model_key(self) -> str:
        """The bound model's key (the service key mirrors it when the model is absent)."""
        return (self.model.key if self.model else None) or self.key or ""

    def to_live(self, project: str, pool_keys: dict[str, str]) -> LiveDeployment:
        """`pool_keys` maps pool ids (and keys) to keys: placement may report either."""
        placement = self.placement or PlacementOut()
        return LiveDeployment(
            id=self.id, project=project, model=self.model_key(), status=self.status,
            error=self.error, is_default=self.is_default, desired_online=self.desired_online,
            compute_pools=[pool_keys.get(p, p) for p in placement.compute_pools],
            max_ttft_ms=placement.max_ttft_ms,
        )


class ProjectOut(Lenient):
    id: str
    key: str
    name: str = ""
    description: str | None = None
    is_archived: bool = False
    model_services: list[ModelServiceOut] = Field(default_factory=list)

    def to_live(self) -> LiveProject:
        return LiveProject(
            id=self.id, key=self.key, name=self.name, description=self.description or None,
            is_archived=self.is_archived,
        )


class HarmonyGroupOut(Lenient):
    key: str
    status: str | None = None
    world_size: int = 0
    gpu_total: int = 0
    gpu_allocated: int = 0
    gpu_types: str | None = None
    online_models: list[KeyRef] = Field(default_factory=list)


class ComputePoolOut(Lenient):
    id: str
    key: str
    name: str = ""
    capabilities: list[str] = Field(default_factory=list)
    harmony_groups: list[HarmonyGroupOut] = Field(default_factory=list)

    def to_live(self) -> LiveComputePool:
        return LiveComputePool(
            id=self.id, key=self.key, name=self.name or self.key,
            capabilities=list(self.capabilities),
            groups=[
                LiveHarmonyGroup(
                    key=g.key, status=g.status, world_size=g.world_size, gpu_total=g.gpu_total,
                    gpu_allocated=g.gpu_allocated, gpu_types=g.gpu_types,
                    online_models=[m.key for m in g.online_models if m.key],
                )
                for g in self.harmony_groups
            ],
        )


class JobDetailsOut(Lenient):
    args: dict[str, Any] | None = None


class JobCommonDetailsOut(Lenient):
    num_gpus: int | None = None
    compute_pool: str | None = None


class ArtifactOut(Lenient):
    kind: str | None = None
    metadata: dict[str, Any] | None = None


class JobOut(Lenient):
    id: str
    name: str = ""
    status: str = "PENDING"
    created_at: int | None = None
    progress: float | None = None
    error: str | None = None
    project: KeyRef | None = None
    recipe: KeyRef | None = None
    details: JobDetailsOut | None = None
    common_details: JobCommonDetailsOut | None = None
    artifacts: list[ArtifactOut] = Field(default_factory=list)

    def to_live(self) -> LiveJob:
        # The produced model and the draft acceptance rate come from the MODEL artifact's
        # metadata (how the platform reports a specdec_alignment result).
        output_model: str | None = None
        acceptance: float | None = None
        for artifact in self.artifacts:
            meta = artifact.metadata or {}
            if artifact.kind == "MODEL" or "modelKey" in meta:
                key = meta.get("modelKey")
                output_model = str(key) if key else output_model
                rate = meta.get("acceptanceRate")
                if isinstance(rate, (int, float)):
                    acceptance = float(rate)
        return LiveJob(
            id=self.id, name=self.name, status=self.status,
            recipe=self.recipe.key if self.recipe else None,
            project=self.project.key if self.project else None,
            progress=self.progress or 0.0, error=self.error,
            args=dict(self.details.args or {}) if self.details else {},
            num_gpus=self.common_details.num_gpus if self.common_details else None,
            created_at=self.created_at, output_model=output_model, acceptance_rate=acceptance,
        )


class PageInfoOut(Lenient):
    has_next_page: bool = False
    end_cursor: str | None = None


class JobConnectionOut(Lenient):
    total_count: int | None = None
    page_info: PageInfoOut = Field(default_factory=PageInfoOut)
    nodes: list[JobOut] = Field(default_factory=list)


class ReadLiveOut(Lenient):
    models: list[ModelOut] = Field(default_factory=list)
    compute_pools: list[ComputePoolOut] = Field(default_factory=list)
    projects: list[ProjectOut] = Field(default_factory=list)
    jobs: JobConnectionOut = Field(default_factory=JobConnectionOut)


class AddModelsFailureOut(Lenient):
    model: str = ""
    reason: str = ""


class AddModelsOut(Lenient):
    success: bool = False
    failures: list[AddModelsFailureOut] = Field(default_factory=list)
