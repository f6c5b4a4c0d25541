"""`adaptive-deploy plan`: refresh live state, diff, show the plan."""

from __future__ import annotations

import sys
from typing import Any

import click

from adaptive_deploy.cli.common import (
    complete_address,
    format_option,
    handle_errors,
    make_console,
    use_color,
)


def parse_addresses(values: tuple[str, ...], flag: str) -> tuple[str, ...]:
    from adaptive_deploy.addresses import Address
    from adaptive_deploy.errors import UsageError

    out = []
    for value in values:
        try:
            out.append(str(Address.parse(value)))
        except ValueError as exc:
            raise UsageError(f"{flag}: {exc}") from None
    return tuple(out)


def render_plan(plan_dict: dict[str, Any], fmt: str) -> str:
    from adaptive_deploy.render import json_, markdown, text

    if fmt == "json":
        return json_.render(plan_dict)
    if fmt == "markdown":
        return markdown.render(plan_dict)
    return text.render(plan_dict, color=use_color())


def echo_notice(notice: str | None) -> None:
    if notice:
        click.echo(notice, err=True)


@click.command("plan")
@click.argument("directory", default=".", type=click.Path(file_okay=True, dir_okay=True))
@click.option("--out", "out", type=click.Path(dir_okay=False), help="Save the plan to FILE for `apply FILE`.")
@click.option("--detailed-exitcode", is_flag=True, help="Exit 0 no changes, 2 changes, 1 error.")
@click.option("--target", "targets", multiple=True, metavar="ADDR", shell_complete=complete_address,
              help="Plan only ADDR and what it depends on.")
@click.option("--replace", "replace", multiple=True, metavar="ADDR", shell_complete=complete_address,
              help="Force ADDR to be re-created or re-run.")
@click.option("--refresh-only", is_flag=True, help="Only report drift; plan to update state to live.")
@click.option("--destroy", is_flag=True, help="Plan to remove everything this workspace manages.")
@format_option("text", "json", "markdown")
@handle_errors
def command(
    directory: str, out: str | None, detailed_exitcode: bool, targets: tuple[str, ...],
    replace: tuple[str, ...], refresh_only: bool, destroy: bool, fmt: str,
) -> None:
    """Refresh live state, diff it against the configuration and state, and show the plan.
    """
    import asyncio

    from adaptive_deploy import engine

    options = engine.PlanOptions(
        targets=parse_addresses(targets, "--target"),
        replace=parse_addresses(replace, "--replace"),
        refresh_only=refresh_only,
        destroy=destroy,
    )
    if refresh_only and destroy:
        from adaptive_deploy.errors import UsageError

        raise UsageError("--refresh-only and --destroy cannot be combined")
    if out:
        check_out_file(out)

    async def run() -> dict[str, Any]:
        session = await engine.open_session(directory, read_ahead=True)
        try:
            echo_notice(session.platform.notice)
            outcome = await engine.make_plan(session, options)
            plan_dict: dict[str, Any] = outcome.plan.to_dict()
            if out:
                from adaptive_deploy.plan import planfile

                planfile.save(outcome.plan, out, directory=session.directory)
            return plan_dict
        finally:
            await session.close()

    plan_dict = asyncio.run(run())
    rendered = render_plan(plan_dict, fmt)
    click.echo(rendered, nl=not rendered.endswith("\n"))
    if out and fmt == "text":
        click.echo(f"\nSaved the plan to {out}. To apply exactly this plan: adaptive-deploy apply {out}")
    if not plan_dict.get("applyable", True):
        # Error diagnostics (e.g. AD502, AD503) make the plan one that apply refuses: a
        # failure for scripts and CI, never "no changes" (0) or "changes" (2).
        sys.exit(1)
    has_changes = bool(plan_dict.get("has_changes")) or (refresh_only and bool(plan_dict.get("drift")))
    if detailed_exitcode and has_changes:
        sys.exit(2)


def check_out_file(out: str) -> None:
    """Refuse a --out FILE that cannot be written before any work is done. Missing
    directories are created (as before), so the nearest existing one must be a writable
    directory, and FILE must not be a directory."""
    import os
    from pathlib import Path

    from adaptive_deploy.errors import UsageError

    target = Path(out)
    try:
        if target.is_dir():
            raise UsageError(f"--out {out}: is a directory; give a file name")
        existing = target.parent
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if not existing.is_dir():
            raise UsageError(f"--out {out}: {existing} is not a directory")
    except OSError as exc:
        raise UsageError(f"--out {out}: {exc.strerror}") from None
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"--out {out}: the directory {existing} is not writable")


__all__ = ["command", "make_console", "render_plan"]
