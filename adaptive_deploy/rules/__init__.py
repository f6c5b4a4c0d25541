"""Stage 2 of validation: semantic rules, the GPU-memory model and its catalog (SPEC §3).

Each rule is one function `check_*(ctx) -> list[Diagnostic]` in its own module, with stable
codes from `rules.codes`. `validate` runs them all over a loaded configuration.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from adaptive_deploy.diagnostics import Diagnostic, sorted_diagnostics
from adaptive_deploy.rules.codes import CODES
from adaptive_deploy.rules.context import Locate, RuleContext

if TYPE_CHECKING:
    from adaptive_deploy.config.loader import LoadedConfig
    from adaptive_deploy.config.models import Workspace
    from adaptive_deploy.live import LiveState

__all__ = ["CODES", "RULES", "RuleContext", "validate", "validate_workspace"]


def _rules() -> tuple[Callable[[RuleContext], list[Diagnostic]], ...]:
    from adaptive_deploy.rules.adapters import check_adapters
    from adaptive_deploy.rules.capacity import check_capacity
    from adaptive_deploy.rules.fit import check_memory_fit
    from adaptive_deploy.rules.references import check_live, check_references
    from adaptive_deploy.rules.speculative import check_speculative
    from adaptive_deploy.rules.tensor_parallel import check_tensor_parallel
    from adaptive_deploy.rules.timeouts import check_timeouts

    return (
        check_references,
        check_live,
        check_tensor_parallel,
        check_capacity,
        check_adapters,
        check_speculative,
        check_timeouts,
        check_memory_fit,
    )


RULES = _rules()


def validate_workspace(
    workspace: Workspace, locate: Locate | None = None, live: LiveState | None = None,
    *, context: RuleContext | None = None,
) -> list[Diagnostic]:
    """Run every rule over `workspace`; diagnostics sorted by location, duplicates removed.
    `context` (for this workspace, locator and live data) is used instead of a new one, so
    the caller can reuse what the rules resolved (fit rows: `rules.memory.fit_report`)."""
    ctx = context if context is not None else RuleContext(workspace, locate, live)
    found: list[Diagnostic] = []
    for rule in RULES:
        found.extend(rule(ctx))
    return sorted_diagnostics(found)


def validate(
    loaded: LoadedConfig, live: LiveState | None = None, *, context: RuleContext | None = None
) -> list[Diagnostic]:
    """Stage 2 over a loaded configuration (nothing when stage 1 failed: no workspace);
    `context` as in `validate_workspace`."""
    if loaded.workspace is None:
        return []
    return validate_workspace(loaded.workspace, loaded.source.locate, live, context=context)
