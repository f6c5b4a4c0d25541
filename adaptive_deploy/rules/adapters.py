"""Rule: adapters (SPEC §3).

At most `rules.adapters_per_base_model` distinct adapters deployed per base model (the
platform's limit, counted over every project, unmanaged live deployments included); each
adapter deployment needs its base model deployed in the same project, on a superset of the
adapter's pools (adapters ride on their base model's replicas).
"""

from __future__ import annotations

from adaptive_deploy.diagnostics import Diagnostic
from adaptive_deploy.rules import codes
from adaptive_deploy.rules.context import DeploymentRef, RuleContext


def check_adapters(ctx: RuleContext) -> list[Diagnostic]:
    """Adapter limit per base model, base deployed alongside, base pools cover adapter pools."""
    out: list[Diagnostic] = []
    limit = ctx.workspace.rules.adapters_per_base_model
    per_base: dict[str, dict[str, DeploymentRef]] = {}
    for dep in ctx.all_deployments():
        info = ctx.model(dep.model)
        if info is None or info.adapter_of is None:
            continue
        per_base.setdefault(info.adapter_of, {}).setdefault(dep.model, dep)
    for base_key, adapters in per_base.items():
        if len(adapters) <= limit:
            continue
        names = ", ".join(sorted(adapters))
        over = [d for d in adapters.values() if d.managed][limit:] or [
            d for d in adapters.values() if d.managed
        ][-1:]
        for dep in over:
            out.append(ctx.error(
                codes.ADAPTERS_LIMIT,
                f"{len(adapters)} adapters are deployed on base model {base_key} ({names}); the "
                f"limit is {limit} (rules.adapters_per_base_model)",
                dep.path,
            ))
    for key, spec in ctx.workspace.models.items():
        if spec.adapter_of is None:
            continue
        base = ctx.model(spec.adapter_of)
        if base is not None and base.is_adapter:
            out.append(ctx.error(
                codes.ADAPTER_BASE_IS_ADAPTER,
                f"{key} is an adapter of {spec.adapter_of}, which is itself an adapter",
                ("models", key, "adapter_of"),
            ))
    for dep in ctx.deployments:
        info = ctx.model(dep.model)
        if info is None or info.adapter_of is None:
            continue
        project = ctx.workspace.projects[dep.project]
        base_spec = project.deployments.get(info.adapter_of)
        if base_spec is None:
            out.append(ctx.error(
                codes.ADAPTER_BASE_NOT_DEPLOYED,
                f"adapter {dep.model} is deployed in project {dep.project} but its base model "
                f"{info.adapter_of} is not; add deployments.{info.adapter_of} to the project",
                dep.path,
            ))
            continue
        if dep.spec is None or dep.spec.placement is None or base_spec.placement is None:
            continue
        base_pools = set(base_spec.placement.compute_pools)
        for i, pool in enumerate(dep.spec.placement.compute_pools):
            if pool not in base_pools:
                out.append(ctx.error(
                    codes.ADAPTER_POOLS_NOT_COVERED,
                    f"adapter {dep.model} is placed on {pool}, where its base model "
                    f"{info.adapter_of} is not deployed in project {dep.project}",
                    (*dep.path, "placement", "compute_pools", i),
                ))
    return out
