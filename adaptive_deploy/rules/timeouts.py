"""Rule: timeouts (SPEC §3): max_ttft_ms > 0, and a warning when it exceeds the control
plane's request timeout (`platform.server_timeout_s`), because requests get 408 first."""

from __future__ import annotations

from adaptive_deploy.diagnostics import Diagnostic
from adaptive_deploy.rules import codes
from adaptive_deploy.rules.context import RuleContext


def check_timeouts(ctx: RuleContext) -> list[Diagnostic]:
    """max_ttft_ms positive and within the server timeout."""
    out: list[Diagnostic] = []
    server_ms = ctx.workspace.platform.server_timeout_s * 1000
    for dep in ctx.deployments:
        placement = dep.spec.placement if dep.spec else None
        ttft = placement.max_ttft_ms if placement else None
        if ttft is None:
            continue
        path = (*dep.path, "placement", "max_ttft_ms")
        if ttft <= 0:
            out.append(ctx.error(
                codes.TTFT_NOT_POSITIVE, f"max_ttft_ms is {ttft}; it must be positive", path
            ))
        elif ttft > server_ms:
            out.append(ctx.warning(
                codes.TTFT_EXCEEDS_SERVER_TIMEOUT,
                f"max_ttft_ms {ttft} exceeds the server timeout of {server_ms} ms "
                "(platform.server_timeout_s): requests time out with 408 first",
                path,
            ))
    return out
