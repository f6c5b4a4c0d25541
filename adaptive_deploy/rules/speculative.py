"""Rule: speculative decoding (SPEC §3).

num_draft_steps in 1..8 and only on a model with a draft (its `draft`, or the draft_model of
the specdec_alignment job that produces it); the draft shares the target's tokenizer family.
"""

from __future__ import annotations

from adaptive_deploy.diagnostics import Diagnostic
from adaptive_deploy.rules import codes
from adaptive_deploy.rules.catalog import find_architecture
from adaptive_deploy.rules.context import SPECDEC_RECIPE, RuleContext

MIN_DRAFT_STEPS = 1
MAX_DRAFT_STEPS = 8


def _family(ctx: RuleContext, key_or_arch: str) -> str | None:
    info = ctx.model(key_or_arch)
    if info is not None and info.family:
        return info.family
    arch = find_architecture(key_or_arch)
    return arch.family if arch else None


def check_speculative(ctx: RuleContext) -> list[Diagnostic]:
    """Draft-step range, steps only with a draft, draft/target tokenizer family."""
    out: list[Diagnostic] = []
    for dep in ctx.deployments:
        steps = dep.spec.num_draft_steps if dep.spec else None
        if steps is None:
            continue
        path = (*dep.path, "num_draft_steps")
        if not MIN_DRAFT_STEPS <= steps <= MAX_DRAFT_STEPS:
            out.append(ctx.error(
                codes.DRAFT_STEPS_RANGE,
                f"num_draft_steps is {steps}; it must be between {MIN_DRAFT_STEPS} and "
                f"{MAX_DRAFT_STEPS}",
                path,
            ))
        info = ctx.model(dep.model)
        if info is not None and info.draft_name is None:
            out.append(ctx.error(
                codes.DRAFT_STEPS_WITHOUT_DRAFT,
                f"num_draft_steps is set on {dep.model}, which has no draft model; set "
                f"models.{dep.model}.draft or produce it with a {SPECDEC_RECIPE} job",
                path,
            ))
    for key, spec in ctx.workspace.models.items():
        if spec.draft is None:
            continue
        info = ctx.model(key)
        path = ("models", key, "draft")
        if info is None or info.draft is None:
            out.append(ctx.warning(
                codes.DRAFT_UNKNOWN,
                f"draft {spec.draft!r} of {key} is not in the architecture catalog: its "
                "tokenizer family and memory were not checked",
                path,
            ))
            continue
        if info.family and info.draft.family != info.family:
            out.append(ctx.error(
                codes.DRAFT_FAMILY_MISMATCH,
                f"draft {spec.draft} ({info.draft.family}) does not share the tokenizer "
                f"family of {key} ({info.family})",
                path,
            ))
    for name, job in ctx.workspace.jobs.items():
        if job.recipe != SPECDEC_RECIPE:
            continue
        target, draft = job.args.get("target_model"), job.args.get("draft_model")
        if not isinstance(target, str) or not isinstance(draft, str) or "${" in target + draft:
            continue
        t_family, d_family = _family(ctx, target), _family(ctx, draft)
        if t_family and d_family and t_family != d_family:
            out.append(ctx.error(
                codes.DRAFT_FAMILY_MISMATCH,
                f"job {name}: draft_model {draft} ({d_family}) does not share the tokenizer "
                f"family of target_model {target} ({t_family})",
                ("jobs", name, "args", "draft_model"),
            ))
    return out
