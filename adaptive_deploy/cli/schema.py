"""`adaptive-deploy schema`: print the configuration's JSON Schema, or write the editor schema
where a `yaml-language-server` modeline can point."""

from __future__ import annotations

import click

from adaptive_deploy.cli.common import handle_errors


@click.command("schema")
@click.option("--write", "write_dir", type=click.Path(file_okay=False), metavar="DIR",
              help="Write the editor schema to DIR/adaptive-deploy.schema.json.")
@click.option("--editor", is_flag=True,
              help="Print the editor schema (one file of a workspace; rule ranges included).")
@handle_errors
def command(write_dir: str | None, editor: bool) -> None:
    """Print the JSON Schema of configuration format v1.

    With --write DIR, write the editor schema for yaml-language-server (VS Code's YAML
    extension, Neovim, Helix, ...) to DIR and print the modeline to put on the first line of
    each configuration file. The editor schema suits a single file of a multi-file workspace
    (no required root keys) and includes the ranges the rules check (num_draft_steps 1-8).
    """
    from adaptive_deploy.config import schema

    if write_dir is not None:
        path = schema.write_editor_schema(write_dir)
        click.echo(f"Wrote {path}.")
        click.echo("Put this line at the top of each configuration file in that directory "
                   "(the path is relative to the YAML file):")
        click.echo(f"  # yaml-language-server: $schema={schema.EDITOR_SCHEMA_NAME}")
        return
    if editor:
        click.echo(schema.dumps(schema.editor_schema()), nl=False)
        return
    click.echo(schema.PACKAGE_SCHEMA.read_text(encoding="utf-8"), nl=False)
