"""Rule: pool capacity (SPEC §3).

Every distinct model placed on a pool (all projects, and unmanaged live deployments too) needs
one replica of `tp` GPUs inside one node: Σ tp <= gpus_per_replica * replicas, and the replicas
must also pack into the nodes (first-fit decreasing). Adapters ride on their base model's
replicas and need no GPUs of their own.
"""

from __future__ import annotations

from adaptive_deploy.diagnostics import Diagnostic, YamlPath
from adaptive_deploy.rules import codes
from adaptive_deploy.rules.context import RuleContext


def packs(sizes: list[int], bins: int, capacity: int) -> bool:
    """Whether `sizes` pack into `bins` bins of `capacity` (first-fit decreasing).

    n items never use more than n bins, so only min(bins, n) are modelled: the work and memory
    follow the number of models, never the pool's replica count (`replicas: 1000000000`)."""
    free = [capacity] * min(bins, len(sizes))
    for size in sorted(sizes, reverse=True):
        for i, room in enumerate(free):
            if room >= size:
                free[i] -= size
                break
        else:
            return False
    return True


def check_capacity(ctx: RuleContext) -> list[Diagnostic]:
    """One replica of every model placed on a pool must fit in the pool's GPUs."""
    out: list[Diagnostic] = []
    placed: dict[str, dict[str, tuple[int, bool]]] = {}   # pool → model → (tp, unmanaged)
    first_ref: dict[str, YamlPath] = {}
    for dep in ctx.all_deployments():
        info = ctx.model(dep.model)
        if info is None or info.is_adapter:
            continue
        for i, pool_name in enumerate(dep.pools or ()):
            placed.setdefault(pool_name, {}).setdefault(dep.model, (info.tp, not dep.managed))
            if dep.managed and pool_name not in first_ref:
                first_ref[pool_name] = (*dep.path, "placement", "compute_pools", i)
    for pool_key, models in placed.items():
        pool = ctx.pool(pool_key)
        if pool is None or pool.total_gpus <= 0:
            continue  # the references rule reports unknown pools
        need = sum(tp for tp, _ in models.values())
        fits_sum = need <= pool.total_gpus
        if fits_sum and packs([tp for tp, _ in models.values()], pool.replicas, pool.gpus_per_replica):
            continue
        listing = ", ".join(
            f"{m} tp {tp}{' (unmanaged)' if unmanaged else ''}" for m, (tp, unmanaged) in sorted(models.items())
        )
        sets = pool.total_gpus // need if need else 0
        detail = (
            f"one replica each needs {need} GPUs but it has {pool.total_gpus} "
            f"({pool.replicas} replica(s) * {pool.gpus_per_replica}); {sets} full set(s) fit"
            if not fits_sum
            else f"the {need} GPUs needed do not pack into {pool.replicas} node(s) of "
            f"{pool.gpus_per_replica} GPUs"
        )
        path: YamlPath = (
            ("compute_pools", pool_key) if pool_key in ctx.workspace.compute_pools
            else first_ref.get(pool_key, ("compute_pools",))
        )
        out.append(ctx.error(
            codes.POOL_CAPACITY,
            f"pool {pool_key} is over capacity: {detail} [{listing}]",
            path,
        ))
    return out
