"""Progress hooks: how the executor reports what it does without printing.

The CLI implements `Hooks` for humans (rich progress on a TTY, plain lines otherwise); tests and
the JSON view collect events. Every method has a no-op default so a view overrides only what it
shows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Event:
    kind: str                   # pre | post | progress | warning | error | skipped
    address: str
    action: str
    message: str = ""
    fraction: float | None = None
    elapsed_s: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Hooks:
    """Base hooks: every callback does nothing."""

    def start(self, total: int) -> None:
        """The apply begins with `total` resource actions."""

    def pre_apply(self, address: str, action: str) -> None:
        """A resource action is about to start."""

    def progress(
        self, address: str, action: str, message: str, fraction: float | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        """A long wait moved on: a deployment's status, a job's progress."""

    def warning(self, address: str, message: str) -> None:
        """The platform accepted a change with a warning (e.g. deployModel's `warnings`)."""

    def post_apply(
        self, address: str, action: str, elapsed_s: float, error: str | None = None
    ) -> None:
        """A resource action finished, successfully when `error` is None."""

    def skipped(self, address: str, action: str, reason: str) -> None:
        """A resource action was not attempted, e.g. because a dependency failed."""

    def finish(self) -> None:
        """The apply is over."""


class CollectingHooks(Hooks):
    """Records every event; used by tests and the JSON view."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def pre_apply(self, address: str, action: str) -> None:
        self.events.append(Event("pre", address, action))

    def progress(
        self, address: str, action: str, message: str, fraction: float | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.events.append(Event("progress", address, action, message, fraction, None, extra or {}))

    def warning(self, address: str, message: str) -> None:
        self.events.append(Event("warning", address, "", message))

    def post_apply(
        self, address: str, action: str, elapsed_s: float, error: str | None = None
    ) -> None:
        kind = "error" if error else "post"
        self.events.append(Event(kind, address, action, error or "", None, elapsed_s))

    def skipped(self, address: str, action: str, reason: str) -> None:
        self.events.append(Event("skipped", address, action, reason))
