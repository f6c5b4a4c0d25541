"""Rule: memory fit, per GPU, for every deployment on every pool of its placement (SPEC §3)."""

from __future__ import annotations

from adaptive_deploy.diagnostics import Diagnostic, YamlPath
from adaptive_deploy.rules import codes
from adaptive_deploy.rules.catalog import suggest_architecture
from adaptive_deploy.rules.context import DeploymentRef, RuleContext
from adaptive_deploy.rules.memory import DOES_NOT_FIT, GIB, TIGHT, FitRow, deployment_rows


def _gib(value: float) -> str:
    return f"{value / GIB:.1f}"


def _pool_path(dep: DeploymentRef, pool: str) -> YamlPath:
    if dep.spec is not None and dep.spec.placement is not None:
        pools = dep.spec.placement.compute_pools
        if pool in pools:
            return (*dep.path, "placement", "compute_pools", pools.index(pool))
    return dep.path


def _set_elsewhere(ctx: RuleContext, model: str, at: YamlPath) -> str:
    """` (kv_cache_len is set at FILE:LINE)` when the model's configured kv_cache_len is in
    another file than the placement the diagnostic points at (a models file beside the
    projects files, or an environment overriding its base), else nothing."""
    spec = ctx.workspace.models.get(model)
    if spec is None or spec.compute_config is None or spec.compute_config.kv_cache_len is None:
        return ""
    file, line, _ = ctx.locate(("models", model, "compute_config", "kv_cache_len"))
    here, _, _ = ctx.locate(at)
    if file is None or line is None or file == here:
        return ""
    return f" (kv_cache_len is set at {file}:{line})"


def _breakdown_text(row: FitRow) -> str:
    b = row.breakdown
    assert b is not None
    parts = [f"weights {_gib(b.weights)}", f"KV {_gib(b.kv)}"]
    if b.draft:
        parts.append(f"draft {_gib(b.draft)}")
    if b.adapters:
        parts.append(f"{row.adapters} adapter slot(s) {_gib(b.adapters)}")
    if b.overhead_fixed:
        parts.append(f"overhead {_gib(b.overhead)} (fixed)")
    else:
        parts.append(
            f"overhead {_gib(b.overhead)}: non-torch {_gib(b.non_torch)}, activation "
            f"{_gib(b.activation)}, CUDA graphs {_gib(b.cudagraph)}"
        )
    return ", ".join(parts)


def _deprecations(ctx: RuleContext) -> list[Diagnostic]:
    """tight_fraction still works, with a warning that says what replaced it."""
    out: list[Diagnostic] = []
    where: list[tuple[str, YamlPath]] = []
    if ctx.memory_rules.tight_fraction is not None:
        where.append(("rules.memory", ("rules", "memory", "tight_fraction")))
    for key, pool in ctx.workspace.compute_pools.items():
        if pool.memory is not None and pool.memory.tight_fraction is not None:
            where.append((f"compute_pools.{key}.memory", ("compute_pools", key, "memory", "tight_fraction")))
    for label, path in where:
        out.append(ctx.warning(
            codes.MEMORY_TIGHT_FRACTION_DEPRECATED,
            f"{label}.tight_fraction is deprecated: it still sets the tight band, but by default "
            "the band is the memory model's measured error (docs/memory-calibration.md); "
            "remove it to use that",
            path,
        ))
    return out


def _unchecked(ctx: RuleContext, dep: DeploymentRef, row: FitRow) -> Diagnostic:
    info = ctx.model(dep.model)
    reason = row.reason or "unknown"
    arch_missing = info is not None and (
        info.architecture is None or (info.draft_name is not None and info.draft is None)
    )
    if arch_missing:
        hint = ""
        if info is not None and info.architecture is None and info.architecture_error is None:
            guess = suggest_architecture(dep.model)
            hint = f"; did you mean architecture: {guess}?" if guess else (
                f"; set models.{dep.model}.architecture to a catalog name (see "
                "`adaptive-deploy catalog`), the path of the checkpoint's config.json, or an "
                "inline mapping"
            )
        path = ctx.model_path(dep.model) if dep.model in ctx.workspace.models else dep.path
        if info is not None and info.architecture_error and dep.model in ctx.workspace.models:
            path = (*path, "architecture")
        return ctx.warning(
            codes.MEMORY_UNKNOWN_ARCHITECTURE,
            f"GPU-memory fit of {dep.model} was not checked: {reason}{hint}",
            path,
        )
    if reason.startswith("no placement"):
        return ctx.warning(
            codes.MEMORY_NO_PLACEMENT,
            f"GPU-memory fit of {dep.address} was not checked: it has no placement, so its "
            "pool and GPU are unknown",
            dep.path,
        )
    return ctx.warning(
        codes.MEMORY_UNKNOWN_GPU,
        f"GPU-memory fit of {dep.model} on {row.pool} was not checked: {reason}",
        _pool_path(dep, row.pool),
    )


def check_memory_fit(ctx: RuleContext) -> list[Diagnostic]:
    """need <= usable per GPU for every deployment on every pool; tight is a warning and an
    unknown architecture or GPU a warning that says the fit was not checked."""
    out: list[Diagnostic] = _deprecations(ctx)
    for dep in ctx.deployments:
        for row in deployment_rows(ctx, dep):
            b = row.breakdown
            if b is None:
                out.append(_unchecked(ctx, dep, row))
                continue
            where = f"{dep.model} on {row.pool} ({row.gpu}, tp {row.tp})"
            need = f"needs {_gib(b.total)} GiB per GPU of {_gib(b.usable)} GiB usable"
            at = _pool_path(dep, row.pool)
            if b.verdict == DOES_NOT_FIT:
                out.append(ctx.error(
                    codes.MEMORY_DOES_NOT_FIT,
                    f"{where} does not fit: {need} ({_breakdown_text(row)}); the largest "
                    f"kv_cache_len that fits is {b.max_kv_cache_len:,}"
                    + _set_elsewhere(ctx, dep.model, at),
                    at,
                ))
            elif b.verdict == TIGHT:
                band = (
                    f"more than {100 * b.tight_fraction:.0f} % of usable"
                    if b.tight_fraction is not None
                    else f"{_gib(b.headroom)} GiB to spare, within the memory model's measured "
                    f"error of {_gib(b.tight_margin)} GiB"
                )
                out.append(ctx.warning(
                    codes.MEMORY_TIGHT,
                    f"{where} is tight: {need} ({band}); the largest kv_cache_len that fits "
                    f"is {b.max_kv_cache_len:,}" + _set_elsewhere(ctx, dep.model, at),
                    at,
                ))
    return out
