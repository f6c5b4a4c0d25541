"""Shared CLI plumbing: format options, consoles, error → exit code mapping.

Only the CLI layer prints and exits. Commands call into the library, then hand the result to
a renderer and return an exit code through `exit_with`.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def format_option(*choices: str) -> Callable[[F], F]:
    return click.option(
        "--format", "fmt", type=click.Choice(list(choices)), default=choices[0],
        show_default=True, help="Output format.",
    )


def use_color(stream: Any = None) -> bool:
    """Colour only on a TTY and never when NO_COLOR is set (https://no-color.org)."""
    if os.environ.get("NO_COLOR"):
        return False
    stream = stream or sys.stdout
    return bool(getattr(stream, "isatty", lambda: False)())


def make_console(stderr: bool = False, width: int | None = None) -> Any:
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    color = use_color(stream)
    return Console(
        file=stream, force_terminal=color, no_color=not color, highlight=False,
        width=width or (None if color else 120), soft_wrap=not color,
    )


DEBUG_ENV = "ADAPTIVE_DEPLOY_DEBUG"


class _RedactingBuffer(io.BufferedIOBase):
    """The binary side of RedactingStream: bytes are decoded, redacted and re-encoded, so
    writing bytes (click.echo of bytes, shell completion) cannot go around the redaction."""

    def __init__(self, inner: Any, encoding: str) -> None:
        super().__init__()
        self._inner = inner
        self._encoding = encoding

    def write(self, data: Any) -> int:
        from adaptive_deploy.redaction import redact

        raw = bytes(data)
        text = raw.decode(self._encoding, "surrogateescape")
        self._inner.write(redact(text).encode(self._encoding, "surrogateescape"))
        return len(raw)

    def flush(self) -> None:
        self._inner.flush()

    def writable(self) -> bool:
        return True


class RedactingStream(io.TextIOBase):
    """A text stream that removes every registered secret (adaptive_deploy.redaction) from
    what is written to it. The CLI puts stdout and stderr behind it, so no output path —
    rich tables, progress lines, JSON, log records, tracebacks — can show a secret. Its
    `.buffer` redacts too, so nothing (click's stream fixing included) writes around it."""

    def __init__(self, inner: Any) -> None:
        super().__init__()
        self._inner = inner
        inner_buffer = getattr(inner, "buffer", None)
        self._buffer = (None if inner_buffer is None
                        else _RedactingBuffer(inner_buffer, self.encoding))

    @property
    def buffer(self) -> Any:
        if self._buffer is None:
            raise AttributeError("buffer")
        return self._buffer

    def write(self, text: str) -> int:
        from adaptive_deploy.redaction import redact

        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        self._inner.write(redact(text))
        return len(text)

    def flush(self) -> None:
        if self._buffer is not None:
            self._buffer.flush()
        self._inner.flush()

    def isatty(self) -> bool:
        return bool(getattr(self._inner, "isatty", lambda: False)())

    def fileno(self) -> int:
        return int(self._inner.fileno())

    def writable(self) -> bool:
        return True

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return str(getattr(self._inner, "encoding", None) or "utf-8")

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return getattr(self._inner, "errors", None)


@contextlib.contextmanager
def redacted_output() -> Iterator[None]:
    """stdout and stderr behind RedactingStream for the duration."""
    out, err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = RedactingStream(out), RedactingStream(err)
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        sys.stdout, sys.stderr = out, err


def debug_enabled() -> bool:
    """Tracebacks are shown (redacted) with --debug or ADAPTIVE_DEPLOY_DEBUG=1."""
    return os.environ.get(DEBUG_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def echo_error(message: str) -> None:
    """One error message on stderr, secrets removed."""
    from adaptive_deploy.redaction import redact

    click.echo(redact(message), err=True)


def report_unexpected(exc: BaseException) -> None:
    """An exception no part of the tool raised on purpose: one line (the traceback only with
    --debug), redacted either way."""
    import traceback

    from adaptive_deploy.redaction import redact

    if debug_enabled():
        text = "".join(traceback.format_exception(exc))
        click.echo(redact(text).rstrip("\n"), err=True)
    if isinstance(exc, OSError) and exc.strerror:
        where = f": {exc.filename}" if exc.filename else ""
        echo_error(f"Error: {exc.strerror}{where}")
        return
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    detail = detail if len(detail) <= 300 else detail[:300] + "..."
    hint = "" if debug_enabled() else (
        "; run again with --debug (or ADAPTIVE_DEPLOY_DEBUG=1) to see the traceback")
    echo_error(f"Error: unexpected {type(exc).__name__}"
               f"{': ' + detail if detail else ''} (a bug in adaptive-deploy){hint}")


def handle_errors(func: F) -> F:
    """Turn AdaptiveDeployError into a message on stderr and its exit code; never a traceback
    (unless --debug): anything unexpected is one redacted line and exit 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from adaptive_deploy.errors import AdaptiveDeployError, ConfigError
        from adaptive_deploy.render.escape import block, text

        try:
            return func(*args, **kwargs)
        except ConfigError as exc:
            for d in exc.diagnostics:
                echo_error(text(d.format()))
            if not exc.diagnostics:
                echo_error(f"Error: {block(exc)}")
            sys.exit(exc.exit_code)
        except AdaptiveDeployError as exc:
            if debug_enabled():
                report_traceback(exc)
            echo_error(f"Error: {block(exc)}")
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            echo_error("Interrupted.")
            sys.exit(130)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as exc:
            report_unexpected(exc)
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


def complete_address(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    """Shell completion for `--target` / `--replace`: the addresses of the configuration in
    the command's directory and of its state. Never fails: completion must stay silent."""
    from click.shell_completion import CompletionItem

    directory = ctx.params.get("directory") or ctx.params.get("target") or "."
    if directory == ".":
        # click's resilient parse stops at the option being completed, before positional
        # arguments are bound: find the directory among the words typed so far.
        import shlex
        from pathlib import Path

        try:
            words = shlex.split(os.environ.get("COMP_WORDS", ""))
        except ValueError:
            words = []
        for prev, word in zip(["", *words], words, strict=False):
            if not word.startswith("-") and not prev.startswith("-") and Path(word).is_dir():
                directory = word
                break
    addresses: set[str] = set()
    try:
        from adaptive_deploy.config.loader import load_config
        from adaptive_deploy.plan import resources
        from adaptive_deploy.state import open_state

        loaded = load_config(directory)
        if loaded.workspace is not None:
            addresses.update(resources.desired(loaded.workspace))
            ws = loaded.workspace
            # Only an existing local state is read: completing must create nothing.
            if ws.state.backend == "local" and (
                    loaded.directory / ".adaptive-deploy" / "state.db").exists():
                store, _ = open_state(ws.state, ws.workspace, loaded.directory)
                try:
                    addresses.update(store.read().resources)
                finally:
                    store.close()
    except Exception:  # a broken workspace completes nothing
        pass
    return [CompletionItem(a) for a in sorted(addresses) if a.startswith(incomplete)]


def report_traceback(exc: BaseException) -> None:
    import traceback

    from adaptive_deploy.redaction import redact

    click.echo(redact("".join(traceback.format_exception(exc))).rstrip("\n"), err=True)
