"""`adaptive-deploy drift`: changes made outside adaptive-deploy, and config edits not applied.

Reads live state once, plans (without the workspace lock: drift only reads) and reports what
differs from the last applied state. Exit 0 nothing found, 2 drift or pending changes, 1 error.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from adaptive_deploy.cli.common import format_option, handle_errors


@click.command("drift")
@click.argument("directory", default=".", type=click.Path(file_okay=False, dir_okay=True))
@format_option("text", "json", "markdown")
@handle_errors
def command(directory: str, fmt: str) -> None:
    """Report changes made outside adaptive-deploy (live differs from the last applied state)
    and configuration edits not applied yet. Exit 0 none, 2 found, 1 error."""
    import asyncio

    from adaptive_deploy import drift, engine
    from adaptive_deploy.plan.model import redact
    from adaptive_deploy.render import drift as render_drift

    async def run() -> dict[str, Any]:
        session = await engine.open_session(directory, read_ahead=True)
        try:
            if session.platform.notice:
                click.echo(session.platform.notice, err=True)
            # No lock: drift never writes state, so it may run beside an apply (it then
            # reports what that apply has not finished yet).
            outcome = await engine.make_plan(session, engine.PlanOptions())
            applied = {a: r.applied for a, r in outcome.snapshot.resources.items()}
            return drift.build_report(redact(outcome.plan.to_dict()), applied)
        finally:
            await session.close()

    report = asyncio.run(run())
    rendered = render_drift.render(report, fmt, directory=directory)
    click.echo(rendered, nl=not rendered.endswith("\n"))
    code = drift.exit_code(report)
    if code:
        sys.exit(code)


__all__ = ["command"]
