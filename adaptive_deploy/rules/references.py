"""Rule: references (SPEC §3) and config expectations against live data (AD4xx).

Offline: pools, models, produced_by jobs, job projects and pools, adapter_of exist; the
specdec_alignment job's arguments agree with the model it produces. With live data: compute
pool expectations (GPU type, GPUs per replica, replicas) match the platform, models exist
there, adapters' backbones agree, pools have the capability their use needs.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import TYPE_CHECKING

from adaptive_deploy.diagnostics import Diagnostic
from adaptive_deploy.rules import codes
from adaptive_deploy.rules.catalog import find_architecture, resolve_gpu_name
from adaptive_deploy.rules.context import SPECDEC_RECIPE, RuleContext

if TYPE_CHECKING:
    from adaptive_deploy.config.models import ModelSpec

ACCELERATED_SUFFIX = "_accelerated"


def _hint(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, sorted(set(known)), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _named(name: str, arch: str) -> str:
    """`qwen-3-500m (qwen3-0.6b)`, or just the name when it is the architecture's."""
    return name if name == arch else f"{name} ({arch})"


def _model_known(ctx: RuleContext, key: str) -> bool:
    return key in ctx.workspace.models or bool(ctx.live and key in ctx.live.models)


def _known_models(ctx: RuleContext) -> list[str]:
    return [*ctx.workspace.models, *(ctx.live.models if ctx.live else ())]


def check_references(ctx: RuleContext) -> list[Diagnostic]:
    """Every name the config uses points at something config or live data defines."""
    out: list[Diagnostic] = []
    ws = ctx.workspace
    where_models = "in models" + (" or on the platform" if ctx.live else "")
    for dep in ctx.deployments:
        if not _model_known(ctx, dep.model):
            out.append(ctx.error(
                codes.UNKNOWN_MODEL,
                f"project {dep.project} deploys {dep.model}, which is not defined {where_models}"
                + _hint(dep.model, _known_models(ctx)),
                dep.path,
            ))
        placement = dep.spec.placement if dep.spec else None
        for i, pool in enumerate(placement.compute_pools if placement else ()):
            if ctx.pool(pool) is None and ctx.live is None and not ws.compute_pools:
                # compute_pools is optional: with no expectations and no platform to ask,
                # the reference cannot be checked — say so instead of failing.
                out.append(ctx.warning(
                    codes.POOL_NOT_CHECKED,
                    f"compute pool {pool} not checked: declare it under compute_pools, or run "
                    "plan to check it against the platform",
                    (*dep.path, "placement", "compute_pools", i),
                ))
            elif ctx.pool(pool) is None:
                out.append(ctx.error(
                    codes.UNKNOWN_POOL,
                    f"compute pool {pool} is not defined in compute_pools"
                    + (" or on the platform" if ctx.live else "") + _hint(pool, ctx.pools),
                    (*dep.path, "placement", "compute_pools", i),
                ))
    for key, spec in ws.models.items():
        if spec.produced_by is not None and spec.produced_by not in ws.jobs:
            out.append(ctx.error(
                codes.UNKNOWN_PRODUCER_JOB,
                f"{key} is produced_by {spec.produced_by}, which is not defined in jobs"
                + _hint(spec.produced_by, ws.jobs),
                ("models", key, "produced_by"),
            ))
        if spec.adapter_of is not None and not _model_known(ctx, spec.adapter_of):
            out.append(ctx.error(
                codes.UNKNOWN_ADAPTER_BASE,
                f"{key} is an adapter of {spec.adapter_of}, which is not defined {where_models}"
                + _hint(spec.adapter_of, _known_models(ctx)),
                ("models", key, "adapter_of"),
            ))
    live_projects = ctx.live.projects if ctx.live else {}
    for name, job in ws.jobs.items():
        if job.project not in ws.projects and job.project not in live_projects:
            out.append(ctx.error(
                codes.UNKNOWN_JOB_PROJECT,
                f"job {name} runs in project {job.project}, which is not defined in projects"
                + _hint(job.project, [*ws.projects, *live_projects]),
                ("jobs", name, "project"),
            ))
        if job.compute_pool is not None and ctx.pool(job.compute_pool) is None:
            out.append(ctx.error(
                codes.UNKNOWN_JOB_POOL,
                f"job {name} runs on compute pool {job.compute_pool}, which is not defined"
                + _hint(job.compute_pool, ctx.pools),
                ("jobs", name, "compute_pool"),
            ))
        if job.recipe == SPECDEC_RECIPE:
            out.extend(_check_specdec_job(ctx, name))
    return out


def _check_specdec_job(ctx: RuleContext, name: str) -> list[Diagnostic]:
    """target_model / draft_model against the models the job produces (where checkable)."""
    out: list[Diagnostic] = []
    job = ctx.workspace.jobs[name]
    args_path = ("jobs", name, "args")
    target = job.args.get("target_model")
    draft = job.args.get("draft_model")
    for arg, value in (("target_model", target), ("draft_model", draft)):
        if value is None:
            out.append(ctx.error(
                codes.JOB_ARGS_INCONSISTENT,
                f"job {name} ({SPECDEC_RECIPE}) needs args.{arg}",
                args_path,
            ))
        elif (
            isinstance(value, str) and "${" not in value and ctx.live is not None
            and not _model_known(ctx, value)
        ):
            out.append(ctx.error(
                codes.UNKNOWN_MODEL,
                f"job {name}: {arg} {value} is not defined in models or on the platform"
                + _hint(value, _known_models(ctx)),
                (*args_path, arg),
            ))
    if not isinstance(target, str) or "${" in target:
        return out
    for key, spec in _produced_by(ctx).get(name, ()):
        expected = f"{target}{ACCELERATED_SUFFIX}"
        if key != expected:
            out.append(ctx.error(
                codes.JOB_ARGS_INCONSISTENT,
                f"{key} is produced_by job {name}, but {SPECDEC_RECIPE} with target_model "
                f"{target} produces {expected}",
                ("models", key, "produced_by"),
            ))
        produced = ctx.model(key)
        target_info = ctx.model(target)
        target_arch = target_info.architecture if target_info else find_architecture(target)
        if produced and produced.architecture and target_arch and (
            produced.architecture.name != target_arch.name
        ):
            out.append(ctx.error(
                codes.JOB_ARGS_INCONSISTENT,
                f"{key} has architecture {produced.architecture.name}, but job {name} trains a "
                f"draft for {target} ({target_arch.name})",
                ("models", key, "architecture"),
            ))
        if spec.draft is not None and isinstance(draft, str) and "${" not in draft:
            a, b = find_architecture(spec.draft), find_architecture(draft)
            if a and b and a.name != b.name:
                out.append(ctx.error(
                    codes.JOB_ARGS_INCONSISTENT,
                    f"{key} declares draft {_named(spec.draft, a.name)}, but job {name} "
                    f"trains draft_model {_named(draft, b.name)}",
                    ("models", key, "draft"),
                ))
    return out


def _produced_by(ctx: RuleContext) -> dict[str, list[tuple[str, ModelSpec]]]:
    """Job name → the models it produces (key, spec) in configuration order, once per
    context: one pass over the models, not one per job."""
    index = ctx.memo.get("produced_by")
    if index is None:
        index = {}
        for key, spec in ctx.workspace.models.items():
            if spec.produced_by is not None:
                index.setdefault(spec.produced_by, []).append((key, spec))
        ctx.memo["produced_by"] = index
    return index


def check_live(ctx: RuleContext) -> list[Diagnostic]:
    """Config expectations against the live platform (no-op without live data)."""
    live = ctx.live
    if live is None:
        return []
    out: list[Diagnostic] = []
    ws = ctx.workspace
    for key, pool_spec in ws.compute_pools.items():
        lp = live.compute_pools.get(key)
        if lp is None:
            out.append(ctx.error(
                codes.LIVE_POOL_MISSING,
                f"compute pool {key} does not exist on the platform (pools come from the Helm "
                "chart)" + _hint(key, live.compute_pools),
                ("compute_pools", key),
            ))
            continue
        want, have = resolve_gpu_name(pool_spec.gpu), resolve_gpu_name(lp.gpu_types or "")
        if want and have and want != have:
            out.append(ctx.error(
                codes.LIVE_POOL_GPU,
                f"compute pool {key} is expected to have {want} GPUs but the platform reports "
                f"{lp.gpu_types!r} ({have})",
                ("compute_pools", key, "gpu"),
            ))
        if lp.gpus_per_replica and pool_spec.gpus_per_replica != lp.gpus_per_replica:
            out.append(ctx.error(
                codes.LIVE_POOL_GPUS_PER_REPLICA,
                f"compute pool {key} is expected to have {pool_spec.gpus_per_replica} GPUs per "
                f"replica but the platform reports {lp.gpus_per_replica}",
                ("compute_pools", key, "gpus_per_replica"),
            ))
        if pool_spec.replicas != lp.replicas:
            out.append(ctx.warning(
                codes.LIVE_POOL_REPLICAS,
                f"compute pool {key} is expected to have {pool_spec.replicas} replica(s) but the "
                f"platform reports {lp.replicas}",
                ("compute_pools", key, "replicas"),
            ))
    for key, spec in ws.models.items():
        lm = live.models.get(key)
        if lm is None:
            if spec.produced_by is None:
                out.append(ctx.error(
                    codes.LIVE_MODEL_MISSING,
                    f"model {key} does not exist on the platform; models are created by "
                    "imports and training (set produced_by for a job's output)"
                    + _hint(key, live.models),
                    ("models", key),
                ))
            continue
        if spec.adapter_of is not None and lm.backbone and lm.backbone != spec.adapter_of:
            out.append(ctx.error(
                codes.LIVE_ADAPTER_BACKBONE,
                f"{key} is an adapter of {lm.backbone} on the platform, not of {spec.adapter_of}",
                ("models", key, "adapter_of"),
            ))
    for dep in ctx.deployments:
        placement = dep.spec.placement if dep.spec else None
        for i, pool in enumerate(placement.compute_pools if placement else ()):
            lp = live.compute_pools.get(pool)
            if lp is not None and lp.capabilities and "INFERENCE" not in lp.capabilities:
                out.append(ctx.error(
                    codes.LIVE_POOL_CAPABILITY,
                    f"compute pool {pool} cannot serve models (capabilities: "
                    f"{', '.join(lp.capabilities)})",
                    (*dep.path, "placement", "compute_pools", i),
                ))
    for name, job in ws.jobs.items():
        lp = live.compute_pools.get(job.compute_pool) if job.compute_pool else None
        if lp is not None and lp.capabilities and "JOB" not in lp.capabilities:
            out.append(ctx.error(
                codes.LIVE_POOL_CAPABILITY,
                f"job {name} cannot run on compute pool {job.compute_pool} (capabilities: "
                f"{', '.join(lp.capabilities)})",
                ("jobs", name, "compute_pool"),
            ))
    return out
