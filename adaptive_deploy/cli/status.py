"""`adaptive-deploy status`: live health of every resource the workspace manages.

Deployments ONLINE / DEGRADED / ERROR (with the platform's error), jobs by state, projects
and models present or not, as Argo CD shows an application's health. Read-only: a read-only
API key is enough, and no lock is taken.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from adaptive_deploy.cli.common import format_option, handle_errors, use_color

_STYLE = {"healthy": "green", "progressing": "cyan", "degraded": "yellow", "error": "red",
          "missing": "red"}


def render_text(items: list[Any], color: bool = False) -> str:
    from adaptive_deploy.render.escape import text as esc
    from adaptive_deploy.status import summary

    if not items:
        return "No resources in state: nothing is managed by this workspace yet.\n"
    width = min(48, max(len(i.address) for i in items))
    lines = []
    for i in items:
        word = i.health.upper()
        if color:
            word = click.style(word, fg=_STYLE.get(i.health))
        lines.append(f"  {esc(i.address).ljust(width)}  {word}{' ' * (11 - len(i.health))}  "
                     f"{esc(i.status)}")
        if i.message:
            lines.append(f"      {esc(i.message)}")
    counts = summary(items)
    tail = ", ".join(f"{n} {h}" for h, n in counts.items() if n)
    return "\n".join(["Live health of the managed resources:", "", *lines, "",
                      f"Status: {tail}."]) + "\n"


@click.command("status")
@click.argument("directory", default=".", type=click.Path(file_okay=False))
@format_option("text", "json")
@handle_errors
def command(directory: str, fmt: str) -> None:
    """Show the live health of every resource this workspace manages."""
    import asyncio

    from adaptive_deploy import engine, status

    async def run() -> list[status.Health]:
        session = await engine.open_session(directory, read_ahead=True)
        try:
            if session.platform.notice:
                click.echo(session.platform.notice, err=True)
            live, _requests = await engine.read_live(session)
            return status.health(session.store.read().resources, live)
        finally:
            await session.close()

    items = asyncio.run(run())
    if fmt == "json":
        doc: dict[str, Any] = {"format_version": "1.0",
                               "resources": [i.to_dict() for i in items],
                               "summary": status.summary(items)}
        click.echo(json.dumps(doc, indent=2))
    else:
        click.echo(render_text(items, color=use_color()), nl=False)
    sys.exit(status.exit_code(items))
