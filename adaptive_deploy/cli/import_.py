"""`adaptive-deploy import`: write config for live projects and adopt them into state."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from adaptive_deploy.cli.common import format_option, handle_errors


def render_text(report: dict[str, Any]) -> str:
    """The import report as text."""
    lines: list[str] = []
    for d in report.get("diagnostics", []):
        loc = ":".join(str(d[k]) for k in ("file", "line", "column") if d.get(k) is not None)
        lines.append(f"{loc}: {d['severity']}[{d['code']}]: {d['message']}")
    if report["written"]:
        lines.append(f"Imported {len(report['projects'])} project(s) into workspace "
                     f"{report['workspace']!r} ({report['directory']}):")
        lines += [f"  wrote {path}" for path in report["written"]]
    for skipped in report["skipped"]:
        lines.append(f"  skipped {skipped}")
    for note in report["notes"]:
        lines.append(f"Note: {note}")
    if report["written"]:
        lines.append(f"Adopted {len(report['adopted'])} resource(s) into state. "
                     f"`adaptive-deploy plan {report['directory']}` should show no changes.")
    elif report["adopted"]:
        lines.append(f"Adopted into the state of workspace {report['workspace']!r}, as they are "
                     f"on the platform: {', '.join(report['adopted'])}.")
        lines.append(f"`adaptive-deploy plan {report['directory']}` shows what the "
                     "configuration changes on them.")
    return "\n".join(lines) + "\n"


def split_arguments(args: tuple[str, ...]) -> tuple[str, tuple[str, ...]]:
    """`import [ADDR]... [DIR]` in any order: an argument that names an existing directory is
    the workspace directory, one that parses as a resource address is an address."""
    from adaptive_deploy.addresses import Address
    from adaptive_deploy.errors import UsageError

    directory: str | None = None
    addresses: list[str] = []
    for arg in args:
        if Path(arg).is_dir():
            if directory is not None:
                raise UsageError(f"import: two directories given ({directory}, {arg})")
            directory = arg
            continue
        try:
            addresses.append(str(Address.parse(arg)))
        except ValueError:
            raise UsageError(f"import {arg}: neither a directory nor a resource address "
                             "(project.<key>, deployment.<project>/<model>)") from None
    return directory or ".", tuple(addresses)


@click.command("import")
@click.argument("arguments", nargs=-1, metavar="[ADDR]... [DIR]")
@click.option("--project", "projects", multiple=True, metavar="KEY",
              help="Import this live project (repeatable); default: every non-archived one.")
@click.option("--out", "out", type=click.Path(file_okay=False, dir_okay=True),
              help="Write the new files (and adopt into the state of) this directory; default DIR.")
@click.option("--workspace", "workspace", metavar="NAME",
              help="Workspace name when the directory has none yet; default: the directory name.")
@click.option("--lock-timeout", default=0.0, show_default=True, type=click.FloatRange(0),
              help="Seconds to wait for the workspace lock.")
@format_option("text", "json")
@handle_errors
def command(
    arguments: tuple[str, ...], projects: tuple[str, ...], out: str | None,
    workspace: str | None, lock_timeout: float, fmt: str,
) -> None:
    """Write configuration for live projects (deployments, model compute configs, pools) as new
    files and adopt them into state, so `plan` right after shows no changes. Never overwrites
    a file or redefines a key the configuration already has.

    With addresses (`import project.support`, `import deployment.support/qwen-3-8b`): adopt
    those live objects, as `plan` asks when one already exists on the platform. An object the
    configuration in DIR already defines is adopted into its state as it is live (the next
    plan shows what the configuration changes on it); a project it does not define is written
    as new configuration, like --project."""
    import asyncio

    from adaptive_deploy.importer import import_workspace

    directory, addresses = split_arguments(arguments)
    result = asyncio.run(import_workspace(
        directory, projects=projects, addresses=addresses, out=out, workspace=workspace,
        lock_timeout_s=lock_timeout,
    ))
    if result.notice:
        click.echo(result.notice, err=True)
    report = result.to_dict()
    if fmt == "json":
        click.echo(json.dumps(report, indent=2))
    else:
        click.echo(render_text(report), nl=False)


__all__ = ["command", "render_text"]
