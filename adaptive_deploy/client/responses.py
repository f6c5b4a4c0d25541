"""Lenient pydantic models of GraphQL responses, and their mapping onto `adaptive_deploy.live`.

Lenient on purpose (unlike the configuration models), because the contract derived from the
official SDK (contract/adaptive-sdk-<version>.graphql) does not prove everything the tool reads:

- a null where a field has a default reads as the default: the contract does not prove that
  `isSpecDecDraft`, `supportedTp`, `deleted`, `isArchived`, `gpuTotal`, `gpuAllocated`,
  `status`, `placement` ... are never null;
- enum values are plain strings, so a value this version does not know is carried, not refused;
- unknown fields are ignored.

What cannot be read at all (a missing id or key, a number where a list belongs) is one
`PlatformError` naming the operation and the field — `parse(...)` — never a pydantic traceback.
Field names follow the GraphQL camelCase names through an alias generator.
"""

from __future__ import annotations

import functools
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.alias_generators import to_camel

from adaptive_deploy.errors import PlatformError
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

    @model_validator(mode="before")
    @classmethod
    def _null_reads_as_default(cls, data: Any) -> Any:
        # A null left out reads as the field's default; a required field keeps its null (and
        # is refused with its own name). One call per object, not one per field: a ReadLive
        # answer holds every deployment of the platform.
        if isinstance(data, dict) and None in data.values():
            required = _required_keys(cls)
            return {k: v for k, v in data.items() if v is not None or k in required}
        return data


@functools.cache
def _required_keys(model: type[BaseModel]) -> frozenset[str]:
    """The keys (names and aliases) of `model`'s required fields."""
    keys: set[str] = set()
    for name, field in model.model_fields.items():
        if field.is_required():
            keys.add(name)
            if field.alias:
                keys.add(field.alias)
    return frozenset(keys)


M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], data: Any, operation: str, path: str = "") -> M:
    """`data` as `model`, or a PlatformError naming the operation and the field at fault."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = path
        for part in first["loc"]:
            loc += f"[{part}]" if isinstance(part, int) else (f".{part}" if loc else str(part))
        # The value itself is not shown: answers carry job args, which may hold secrets.
        value = first.get("input")
        shown = "null" if value is None else f"a {_json_kind(value)}"
        where = f" at {loc}" if loc else ""
        more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
        raise PlatformError(
            f"the platform's answer to {operation} is not what the API defines{where}: "
            f"{first['msg'].lower()}, got {shown}{more}"
        ) from None


def _json_kind(value: Any) -> str:
    kinds = {bool: "boolean", int: "number", float: "number", str: "string", list: "list",
             dict: "object"}
    return next((k for t, k in kinds.items() if isinstance(value, t)), type(value).__name__)


def parse_field(model: type[M], data: dict[str, Any], operation: str, name: str) -> M:
    """The root field `name` of an answer (a mutation's result), parsed; null is an error."""
    value = data.get(name)
    if value is None:
        raise PlatformError(f"the platform's answer to {operation} has no {name}")
    return parse(model, value, operation, name)


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

    @field_validator("supported_tp", mode="before")
    @classmethod
    def _tp_list(cls, value: Any) -> Any:
        # Not proven to be a list: a single value reads as a list of one.
        return [value] if isinstance(value, int) and not isinstance(value, bool) else value

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

    @field_validator("compute_pools", mode="before")
    @classmethod
    def _pool_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


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
        """The bound model's key, `model { key }`. (The service's own key is only a fallback
        for an answer without the model: nothing proves the two are equal.)"""
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

    @field_validator("args", mode="before")
    @classmethod
    def _args_object(cls, value: Any) -> Any:
        return value if isinstance(value, dict) else None


class JobCommonDetailsOut(Lenient):
    num_gpus: int | None = None
    compute_pool_id: str | None = None


class ByproductsOut(Lenient):
    typename: str | None = Field(default=None, alias="__typename")
    model: KeyRef | None = None


class ArtifactOut(Lenient):
    kind: str | None = None
    name: str | None = None
    metadata: dict[str, Any] | None = None
    byproducts: ByproductsOut | None = None

    @field_validator("metadata", mode="before")
    @classmethod
    def _metadata_object(cls, value: Any) -> Any:
        # JsObject: anything but an object carries no model key
        return value if isinstance(value, dict) else None

    def produced_model(self) -> str | None:
        """The model this artifact stands for: its `ModelByproducts { model }`, else the
        `model_key` harmony-client writes into a model artifact's metadata."""
        if self.byproducts is not None and self.byproducts.model is not None \
                and self.byproducts.model.key:
            return self.byproducts.model.key
        if self.kind == "MODEL":
            key = (self.metadata or {}).get("model_key")
            if isinstance(key, str) and key:
                return key
        return None


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
        output_model = next(
            (key for key in (a.produced_model() for a in self.artifacts) if key), None
        )
        return LiveJob(
            id=self.id, name=self.name, status=self.status,
            recipe=self.recipe.key if self.recipe else None,
            project=self.project.key if self.project else None,
            progress=self.progress or 0.0, error=self.error,
            args=dict(self.details.args or {}) if self.details else {},
            num_gpus=self.common_details.num_gpus if self.common_details else None,
            created_at=self.created_at, output_model=output_model,
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


class DeployModelOut(Lenient):
    model_service: ModelServiceOut
    warnings: list[str] = Field(default_factory=list)


class AddModelsFailureOut(Lenient):
    model: str = ""
    reason: str = ""


class AddModelsOut(Lenient):
    success: bool = False
    failures: list[AddModelsFailureOut] = Field(default_factory=list)


# Answers of the single-object reads.


class ComputePoolsOut(Lenient):
    compute_pools: list[ComputePoolOut] = Field(default_factory=list)


class ProjectWithServiceOut(Lenient):
    model_service: ModelServiceOut | None = None


class DescribeModelServiceOut(Lenient):
    project: ProjectWithServiceOut | None = None


class DescribeProjectOut(Lenient):
    project: ProjectOut | None = None


class BindingOut(Lenient):
    deleted: bool = False
    model: KeyRef | None = None


class ProjectBindingsOut(Lenient):
    key: str = ""
    model_services: list[BindingOut] = Field(default_factory=list)


class ProjectModelServicesOut(Lenient):
    project: ProjectBindingsOut | None = None


class DescribeJobOut(Lenient):
    job: JobOut | None = None
