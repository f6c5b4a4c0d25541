"""The managed-field projection: one flat dict of fields per resource address, with the same
field names whether it comes from configuration (`desired`), from the last apply (a state
record's `applied`) or from the platform (`observed`).

Only fields present in a dict are managed: a field left out of the configuration never shows
up in `desired`, so the planner never reports a difference on it (no perpetual diffs from
platform defaults).

Per resource type (SPEC §1):

- ``model.<key>`` (only models with ``compute_config`` in config): ``tp``, ``kv_cache_len``,
  ``max_seq_len`` — those set in config.
- ``project.<key>``: ``name`` and ``description`` when set. When ``name`` is omitted the key is
  still sent as the name on create (`create_defaults`) but not managed afterwards.
- ``deployment.<project>/<model>``: ``compute_pools`` (compared as a set, written in config
  order), ``max_ttft_ms``, ``is_default``, ``desired_online``, ``num_draft_steps`` (write-only:
  the platform never returns it, so it is compared with the last applied value) and
  ``protect`` (state-only: a tool setting the platform never sees; kept in the applied value so
  a deployment removed from config is still protected).
- ``job.<name>``: ``recipe``, ``project``, ``num_gpus``, ``compute_pool``, ``args``. Args keep
  ``${env:NAME}`` templates; live args are never read back because the platform holds the
  resolved (possibly secret) values.
- ``compute_pool.<key>``: never planned.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from adaptive_deploy.addresses import Address, ResourceType

if TYPE_CHECKING:
    from adaptive_deploy.config.models import Workspace
    from adaptive_deploy.live import LiveState

Fields = dict[str, Any]

MODEL_FIELDS = ("tp", "kv_cache_len", "max_seq_len")
PROJECT_FIELDS = ("name", "description")
DEPLOYMENT_FIELDS = (
    "compute_pools", "max_ttft_ms", "is_default", "desired_online", "num_draft_steps", "protect",
)
JOB_FIELDS = ("recipe", "project", "num_gpus", "compute_pool", "args")

# Fields the platform accepts but never returns: compared desired vs last applied.
WRITE_ONLY_FIELDS: dict[str, frozenset[str]] = {
    ResourceType.DEPLOYMENT.value: frozenset({"num_draft_steps"}),
}
# Fields that exist only in the tool: compared desired vs last applied, never sent.
STATE_ONLY_FIELDS: dict[str, frozenset[str]] = {
    ResourceType.DEPLOYMENT.value: frozenset({"protect"}),
}
# Fields compared as sets (order-insensitive) but written in config order.
SET_FIELDS = frozenset({"compute_pools"})

# Job statuses: which ones mean "needs a run" and which mean "leave it alone".
JOB_RERUN_STATUSES = frozenset({"FAILED", "CANCELED"})
JOB_ACTIVE_STATUSES = frozenset({"PENDING", "RUNNING"})
JOB_DONE_STATUS = "COMPLETED"

ABSENT_FINGERPRINT = "absent"


def write_only_fields(rtype: str) -> frozenset[str]:
    """Fields of `rtype` the platform accepts but never reports back."""
    return WRITE_ONLY_FIELDS.get(rtype, frozenset())


def state_only_fields(rtype: str) -> frozenset[str]:
    """Fields of `rtype` that live only in the tool's state (never sent to the platform)."""
    return STATE_ONLY_FIELDS.get(rtype, frozenset())


def unobservable_fields(rtype: str) -> frozenset[str]:
    """Fields of `rtype` that a live read can never show: write-only and state-only ones."""
    return write_only_fields(rtype) | state_only_fields(rtype)


def values_equal(field: str, a: Any, b: Any) -> bool:
    """Field equality as the planner sees it: set fields ignore order and duplicates."""
    if field in SET_FIELDS and isinstance(a, list) and isinstance(b, list):
        return set(map(_hashable, a)) == set(map(_hashable, b))
    return bool(a == b)


def _hashable(value: Any) -> Any:
    return json.dumps(value, sort_keys=True) if isinstance(value, dict | list) else value


def is_env_template(value: Any) -> bool:
    """True for a string that uses a `${env:NAME}` reference (its resolved value is secret)."""
    return isinstance(value, str) and "${env:" in value


def create_defaults(address: str) -> Fields:
    """Values sent on create although config does not manage them (a project's name)."""
    addr = Address.parse(address)
    if addr.type is ResourceType.PROJECT:
        return {"name": addr.name}
    return {}


def desired(workspace: Workspace) -> dict[str, Fields]:
    """Managed fields per address, from configuration. Templates are kept unresolved."""
    out: dict[str, Fields] = {}
    for key, model in workspace.models.items():
        # Every declared model is managed, with or without a compute config (adapters have
        # none): a model in this workspace's state may lose its last project binding (and with
        # it its storage) through a delete this workspace plans; one that is not, may not.
        cc = model.compute_config
        out[str(Address.model(key))] = _present(
            {"tp": cc.tp, "kv_cache_len": cc.kv_cache_len, "max_seq_len": cc.max_seq_len}
        ) if cc is not None else {}
    for pkey, project in workspace.projects.items():
        out[str(Address.project(pkey))] = _present(
            {"name": project.name, "description": project.description}
        )
        for mkey, dep in project.deployments.items():
            fields: Fields = {}
            if dep.placement is not None:
                fields["compute_pools"] = list(dep.placement.compute_pools)
                if dep.placement.max_ttft_ms is not None:
                    fields["max_ttft_ms"] = dep.placement.max_ttft_ms
            fields.update(
                _present(
                    {
                        "is_default": dep.is_default,
                        "desired_online": dep.desired_online,
                        "num_draft_steps": dep.num_draft_steps,
                    }
                )
            )
            # Always present (default false) so that removing `protect: true` is recorded.
            fields["protect"] = bool(dep.protect)
            out[str(Address.deployment(pkey, mkey))] = fields
    for name, job in workspace.jobs.items():
        out[str(Address.job(name))] = _present(
            {
                "recipe": job.recipe,
                "project": job.project,
                "num_gpus": job.num_gpus,
                "compute_pool": job.compute_pool,
                "args": dict(job.args),
            }
        )
    return out


def observed(live: LiveState) -> dict[str, Fields]:
    """Fields per address as the platform reports them, under the same names as `desired`.

    Deployments: every live one. Projects: the non-archived ones. Models: the compute config
    of every live model (empty when it has none). Jobs: recipe, project, num_gpus and `status` (which
    decides the job's action); args are left out on purpose (they may hold resolved secrets).
    """
    out: dict[str, Fields] = {}
    for key, model in live.models.items():
        # Every live model is listed (empty when it has no compute config): it exists.
        cc = model.compute_config
        out[str(Address.model(key))] = (
            _present({"tp": cc.tp, "kv_cache_len": cc.kv_cache_len, "max_seq_len": cc.max_seq_len})
            if cc is not None
            else {}
        )
    for key, project in live.projects.items():
        if project.is_archived:
            continue
        out[str(Address.project(key))] = _present(
            {"name": project.name, "description": project.description}
        )
    for (pkey, mkey), dep in live.deployments.items():
        fields: Fields = {
            "compute_pools": list(dep.compute_pools),
            "is_default": dep.is_default,
            "desired_online": dep.desired_online,
        }
        if dep.max_ttft_ms is not None:
            fields["max_ttft_ms"] = dep.max_ttft_ms
        out[str(Address.deployment(pkey, mkey))] = fields
    for name, job in live.jobs.items():
        out[str(Address.job(name))] = _present(
            {
                "recipe": job.recipe,
                "project": job.project,
                "num_gpus": job.num_gpus,
                "status": job.status,
            }
        )
    return out


def platform_id(live: LiveState, address: str) -> str | None:
    """The platform's id of the live object at `address` (an archived project included), or
    None when there is none."""
    a = Address.parse(address)
    if a.type is ResourceType.PROJECT:
        project = live.projects.get(a.name)
        return project.id if project is not None else None
    if a.type is ResourceType.MODEL:
        model = live.models.get(a.name)
        return model.id if model is not None else None
    if a.type is ResourceType.DEPLOYMENT:
        dep = live.deployments.get(a.project_and_model)
        return dep.id if dep is not None else None
    if a.type is ResourceType.JOB:
        job = live.jobs.get(a.name)
        return job.id if job is not None else None
    return None


def fingerprint(fields: Mapping[str, Any] | None) -> str:
    """sha256 of the canonical JSON of `fields`; `ABSENT_FINGERPRINT` when there are none.

    Set fields are sorted first, so a platform that reorders pools does not look changed.
    """
    if fields is None:
        return ABSENT_FINGERPRINT
    canon = {
        k: sorted(v, key=_hashable) if k in SET_FIELDS and isinstance(v, list) else v
        for k, v in fields.items()
    }
    text = json.dumps(canon, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def depends_on(address: str, workspace: Workspace) -> list[str]:
    """Addresses `address` must wait for when applied (reverse order for deletes).

    deployment → its project, its model (when `model.<m>` is managed), its base deployment
    (adapters: same project, `adapter_of`) and the job producing its model; model → its
    producing job; job → its project.
    """
    addr = Address.parse(address)
    deps: list[str] = []
    if addr.type is ResourceType.DEPLOYMENT:
        pkey, mkey = addr.project_and_model
        if pkey in workspace.projects:
            deps.append(str(Address.project(pkey)))
        spec = workspace.models.get(mkey)
        if spec is not None and spec.compute_config is not None:
            deps.append(str(Address.model(mkey)))
        if spec is not None:
            project = workspace.projects.get(pkey)
            if spec.adapter_of and project is not None and spec.adapter_of in project.deployments:
                deps.append(str(Address.deployment(pkey, spec.adapter_of)))
            if spec.produced_by and spec.produced_by in workspace.jobs:
                deps.append(str(Address.job(spec.produced_by)))
    elif addr.type is ResourceType.MODEL:
        spec = workspace.models.get(addr.name)
        if spec is not None and spec.produced_by and spec.produced_by in workspace.jobs:
            deps.append(str(Address.job(spec.produced_by)))
    elif addr.type is ResourceType.JOB:
        job = workspace.jobs.get(addr.name)
        if job is not None and job.project in workspace.projects:
            deps.append(str(Address.project(job.project)))
    return sorted(dict.fromkeys(deps))


def _present(fields: Fields) -> Fields:
    """Drop fields left out (None): they are unmanaged."""
    return {k: v for k, v in fields.items() if v is not None}
