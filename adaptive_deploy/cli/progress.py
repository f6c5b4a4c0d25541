"""Progress views for apply: rich progress on a TTY, plain lines otherwise.

Both implement `apply.hooks.Hooks`; the executor never prints.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from adaptive_deploy.apply.hooks import Hooks

_VERBS = {
    "create": ("Creating", "Creation complete"),
    "update": ("Modifying", "Modifications complete"),
    "delete": ("Destroying", "Destruction complete"),
    "run": ("Running", "Run complete"),
    "forget": ("Forgetting", "Forgotten"),
    "refresh": ("Refreshing", "Refreshed"),
}


class PlainHooks(Hooks):
    """One line per event, Terraform style: `deployment.a/b: Creating...`."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout

    def _line(self, text: str) -> None:
        from adaptive_deploy.render.escape import text as esc

        self.stream.write(esc(text) + "\n")
        self.stream.flush()

    def pre_apply(self, address: str, action: str) -> None:
        self._line(f"{address}: {_VERBS.get(action, (action, ''))[0]}...")

    def progress(
        self, address: str, action: str, message: str, fraction: float | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        details = ""
        if extra and extra.get("output_model"):
            details = f" (produced model {extra['output_model']})"
        self._line(f"{address}: {message}{details}")

    def warning(self, address: str, message: str) -> None:
        self._line(f"{address}: Warning from the platform: {message}")

    def post_apply(
        self, address: str, action: str, elapsed_s: float, error: str | None = None
    ) -> None:
        if error:
            self._line(f"{address}: FAILED after {elapsed_s:.1f}s: {error}")
        else:
            self._line(f"{address}: {_VERBS.get(action, ('', 'Done'))[1]} after {elapsed_s:.1f}s")

    def skipped(self, address: str, action: str, reason: str) -> None:
        self._line(f"{address}: skipped ({reason})")


class RichHooks(PlainHooks):
    """A live progress display: one bar for the whole apply, plus the event lines above it."""

    def __init__(self, console: Any) -> None:
        super().__init__()
        self.console = console
        self._progress: Any = None
        self._task: Any = None
        self._started = time.monotonic()

    def _line(self, text: str) -> None:
        from adaptive_deploy.render.escape import text as esc

        self.console.print(esc(text), markup=False, highlight=False)

    def start(self, total: int) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self._progress = Progress(
            TextColumn("Applying"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=self.console, transient=True,
        )
        self._progress.start()
        self._task = self._progress.add_task("apply", total=total)

    def post_apply(
        self, address: str, action: str, elapsed_s: float, error: str | None = None
    ) -> None:
        super().post_apply(address, action, elapsed_s, error)
        if self._progress is not None:
            self._progress.advance(self._task)

    def skipped(self, address: str, action: str, reason: str) -> None:
        super().skipped(address, action, reason)
        if self._progress is not None:
            self._progress.advance(self._task)

    def finish(self) -> None:
        if self._progress is not None:
            self._progress.stop()
