"""`adaptive-deploy schema`: print the configuration's JSON Schema (the committed file)."""

from __future__ import annotations

import click

from adaptive_deploy.cli.common import handle_errors


@click.command("schema")
@handle_errors
def command() -> None:
    """Print the JSON Schema of configuration format v1."""
    from adaptive_deploy.config.schema import PACKAGE_SCHEMA

    click.echo(PACKAGE_SCHEMA.read_text(encoding="utf-8"), nl=False)
