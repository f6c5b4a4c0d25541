"""`adaptive-deploy catalog [QUERY] [--format text|json]`: the architectures, GPUs and weight
formats the memory rules know, optionally only those whose name, alias, Hugging Face name or
live GPU string contains QUERY. Exit 0, or 1 when nothing matches."""

from __future__ import annotations

import sys

import click

from adaptive_deploy.cli.common import format_option, handle_errors


@click.command("catalog")
@click.argument("query", required=False)
@format_option("text", "json")
@handle_errors
def command(query: str | None, fmt: str) -> None:
    """List the model architectures, GPUs and weight formats the memory rules know."""
    from adaptive_deploy.render import catalog as render

    view = render.entries(query)
    click.echo(render.render_json(view) if fmt == "json" else render.render_text(view), nl=False)
    sys.exit(1 if view.empty else 0)
