"""Rule: tensor parallelism (SPEC §3).

tp divides the attention heads; the KV heads split evenly (kv_heads % tp == 0 or
tp % kv_heads == 0, vLLM's QKVParallelLinear); tp <= gpus_per_replica and divides it (a model
replica lives inside one node); tp in the model's live supportedTp when live data is given.
"""

from __future__ import annotations

from adaptive_deploy.diagnostics import Diagnostic, YamlPath
from adaptive_deploy.rules import codes
from adaptive_deploy.rules.catalog import Architecture
from adaptive_deploy.rules.context import DeploymentRef, RuleContext


def _tp_path(ctx: RuleContext, model: str, fallback: YamlPath) -> YamlPath:
    spec = ctx.workspace.models.get(model)
    if spec is not None and spec.compute_config is not None and spec.compute_config.tp:
        return ("models", model, "compute_config", "tp")
    return fallback


def _shape_errors(
    ctx: RuleContext, what: str, arch: Architecture, tp: int, path: YamlPath
) -> list[Diagnostic]:
    out = []
    if arch.num_attention_heads % tp:
        out.append(ctx.error(
            codes.TP_HEADS,
            f"tp {tp} does not divide the {arch.num_attention_heads} attention heads of {what} "
            f"({arch.name})",
            path,
        ))
    kv = arch.num_kv_heads
    if arch.mla is None and kv % tp and tp % kv:
        out.append(ctx.error(
            codes.TP_KV_HEADS,
            f"tp {tp} and the {kv} KV heads of {what} ({arch.name}) do not split evenly: "
            "kv_heads % tp or tp % kv_heads must be 0",
            path,
        ))
    return out


def check_tensor_parallel(ctx: RuleContext) -> list[Diagnostic]:
    """tp against the model shape, the pools it is placed on and live supportedTp."""
    out: list[Diagnostic] = []
    # Deployments by model, in configuration order: one pass, not models x deployments.
    deployed: dict[str, list[DeploymentRef]] = {}
    for d in ctx.deployments:
        deployed.setdefault(d.model, []).append(d)
    models = [*ctx.workspace.models, *(m for m in deployed if m not in ctx.workspace.models)]
    for key in models:
        info = ctx.model(key)
        if info is None or info.is_adapter:
            continue
        deps = deployed.get(key, [])
        dep = deps[-1] if deps else None
        path = _tp_path(ctx, key, dep.path if dep else ctx.model_path(key))
        if info.architecture is not None:
            out.extend(_shape_errors(ctx, key, info.architecture, info.tp, path))
        if info.draft is not None:
            out.extend(_shape_errors(ctx, f"the draft of {key}", info.draft, info.tp, path))
        if info.supported_tp and info.tp not in info.supported_tp:
            allowed = ", ".join(str(t) for t in info.supported_tp)
            out.append(ctx.error(
                codes.LIVE_TP_UNSUPPORTED,
                f"tp {info.tp} of {key} is not in the platform's supportedTp [{allowed}]",
                path,
            ))
        if dep is None:
            continue
        for d in deps:
            for pool_key in d.pools or ():
                pool = ctx.pool(pool_key)
                if pool is None or pool.gpus_per_replica <= 0:
                    continue
                if info.tp > pool.gpus_per_replica:
                    out.append(ctx.error(
                        codes.TP_EXCEEDS_REPLICA,
                        f"tp {info.tp} of {key} exceeds the {pool.gpus_per_replica} GPUs per "
                        f"replica of {pool_key}: a model replica must fit in one node",
                        path,
                    ))
                elif pool.gpus_per_replica % info.tp:
                    out.append(ctx.error(
                        codes.TP_NOT_DIVIDING_REPLICA,
                        f"tp {info.tp} of {key} does not divide the {pool.gpus_per_replica} "
                        f"GPUs per replica of {pool_key}",
                        path,
                    ))
    return out
