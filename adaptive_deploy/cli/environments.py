"""`adaptive-deploy environments [DIR]... [--changed-since GIT_REF] [--format text|json]`: the
kind (workspace, environment, base) and layers of each directory, and which ones a change
touches — what a CI workflow needs to run one plan per environment (a matrix) and to skip the
environments a pull request does not touch. A change to a base touches every environment that
extends it; a base itself is never a target. Offline. Exit 0, or 1 on a usage error (unknown
ref, not a git repository)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from adaptive_deploy.cli.common import format_option, handle_errors


@click.command("environments")
@click.argument("directories", nargs=-1, type=click.Path(file_okay=False, dir_okay=True))
@click.option("--changed-since", "changed_since", metavar="GIT_REF",
              help="Mark the directories whose configuration (or a base's) differs between "
              "GIT_REF and the working tree; `targets` lists only those.")
@format_option("text", "json")
@handle_errors
def command(directories: tuple[str, ...], changed_since: str | None, fmt: str) -> None:
    """List each DIRECTORY's kind and layers, and the targets: the workspaces and environments
    (not bases), with --changed-since only those a change touches.

    JSON: {"directories": [{directory, kind, layers, touched, name, id, variables}],
    "targets": [DIR, ...], "matrix": [{directory, name, id}, ...]} — `matrix` feeds a GitHub
    Actions matrix (the action's `environments` command sets it as an output); `id` is the
    directory name as an identifier (STAGING) for per-environment secret names; `variables`
    the environment variables each configuration reads. Exit 0; 1 on a usage error.
    """
    from adaptive_deploy import environments
    from adaptive_deploy.errors import UsageError

    dirs = directories or (".",)
    for d in dirs:
        if not Path(d).is_dir():
            raise UsageError(f"{d}: no such directory")
    changed = environments.changed_since(changed_since, Path(dirs[0])) if changed_since else None
    layouts = [environments.layout(d, changed) for d in dirs]
    targets = [x.directory for x in layouts if x.kind != "base" and x.touched is not False]
    if fmt == "json":
        matrix = [{"directory": x.directory, "name": x.name, "id": x.id}
                  for x in layouts if x.directory in targets]
        doc = {"directories": [x.to_dict() for x in layouts], "targets": targets,
               "matrix": matrix}
        click.echo(json.dumps(doc, indent=2))
        return
    for x in layouts:
        mark = "" if x.touched is None else ("  touched" if x.touched else "  untouched")
        chain = " → ".join(x.layers[1:])
        over = f" over {chain}" if chain else ""
        click.echo(f"{x.directory}: {x.kind}{over}{mark}")
    click.echo(f"targets: {' '.join(targets) if targets else '(none)'}")
