"""The exception tree. Every error carries the process exit code the CLI uses for it.

    AdaptiveDeployError (exit 1)
    ├── ConfigError            the configuration is invalid; carries the diagnostics
    ├── UsageError             a command was called wrongly (bad flag combination, missing file)
    ├── PlatformError          the platform answered with an error
    │   ├── AuthError          401 / 403: names the env var and the missing permission
    │   ├── EntityNotFound     "EntityNotFound: ..." from the platform
    │   └── PlatformUnavailable  retries exhausted, connection refused, timeouts
    ├── StateError             the state backend failed or is inconsistent
    │   ├── StateDamaged       the state is damaged or missing while traces show it existed
    │   ├── LockHeld           another process holds the workspace lock
    │   ├── LockLost           this process's lock was taken over or released while it ran
    │   └── PlatformMismatch   the state belongs to another platform than the configured one
    ├── StalePlanError         a saved plan no longer matches live state or config
    ├── PlanFormatError        a saved plan of an unknown format version
    └── ApplyError             an apply finished with failures (partial apply)

Only the CLI layer turns these into messages and exit codes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from adaptive_deploy.diagnostics import Diagnostic


class AdaptiveDeployError(Exception):
    """Base of every error the tool raises on purpose."""

    exit_code = 1


class ConfigError(AdaptiveDeployError):
    """The configuration is invalid; `diagnostics` says where and why."""

    def __init__(self, message: str, diagnostics: Sequence[Diagnostic] = ()) -> None:
        super().__init__(message)
        self.diagnostics = list(diagnostics)


class UsageError(AdaptiveDeployError):
    """A command was invoked in a way that cannot work."""


class PlatformError(AdaptiveDeployError):
    """The platform answered with an error."""


class AuthError(PlatformError):
    """The API key was refused (401) or lacks a permission (403)."""


class EntityNotFound(PlatformError):
    """The platform reported `EntityNotFound: ...`."""


class PlatformUnavailable(PlatformError):
    """The platform could not be reached, or kept failing after retries."""


class StateError(AdaptiveDeployError):
    """The state backend failed or holds inconsistent data."""


class StateDamaged(StateError):
    """The state cannot be read as it was written (empty or foreign file, dropped table,
    renamed column, deleted workspace record while history remains). The message gives the
    recovery path; a new state is never started over such traces silently."""


class LockLost(StateError):
    """The workspace lock this process held was released (`state unlock`) or, its lease
    expired, taken over by another process. Raised by the next state commit (nothing is
    written) or before the next platform call; the operation must stop."""


class LockHeld(StateError):
    """Another process holds the workspace lock; `lock` describes the holder."""

    def __init__(self, message: str, lock: Any = None) -> None:
        super().__init__(message)
        self.lock = lock


class PlatformMismatch(StateError):
    """The state was applied to another platform than the one the configuration points at."""


class StalePlanError(AdaptiveDeployError):
    """A saved plan no longer matches live state or configuration."""

    def __init__(self, message: str, stale: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.stale = list(stale)


class PlanFormatError(AdaptiveDeployError):
    """A saved plan file is unreadable or of an unknown major format version."""


class ApplyError(AdaptiveDeployError):
    """An apply finished with at least one failed resource."""
