"""`adaptive-deploy fit [DIR]... [--gpu G] [--tp N] [--format text|json|markdown]`: the per-GPU
memory breakdown of every deployment on every pool of its placement, offline. `--gpu` and
`--tp` are what-if overrides applied to every row. Several directories (`fit envs/*`) are
shown one after the other; a base directory (environments) shows what it can without its
environments' pools. Exit 0 when everything fits (tight allowed), 1 when some deployment does
not fit or a configuration is invalid."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

import click

from adaptive_deploy.cli.common import format_option, handle_errors, make_console, use_color

if TYPE_CHECKING:
    from adaptive_deploy.rules.memory import FitRow


def _rows(directory: str, gpu: str | None, tp: int | None) -> tuple[Any, list[FitRow]]:
    from adaptive_deploy.config.loader import load_config
    from adaptive_deploy.diagnostics import has_errors
    from adaptive_deploy.errors import ConfigError, UsageError
    from adaptive_deploy.rules.catalog import gpus
    from adaptive_deploy.rules.memory import fit_report

    loaded = load_config(directory)
    workspace = loaded.workspace or loaded.as_base
    if workspace is None or has_errors(loaded.diagnostics):
        raise ConfigError("the configuration is invalid", loaded.diagnostics)
    try:
        return loaded, fit_report(workspace, gpu=gpu, tp=tp)
    except ValueError:
        known = ", ".join(sorted(gpus()))
        raise UsageError(f"unknown GPU {gpu!r} for --gpu; known GPUs: {known}") from None


@click.command("fit")
@click.argument("directories", nargs=-1, type=click.Path(file_okay=True, dir_okay=True))
@click.option("--gpu", "gpu", metavar="G", help="What if every pool had this GPU (e.g. H200-141GB).")
@click.option("--tp", "tp", type=click.IntRange(min=1), metavar="N",
              help="What if every model ran at this tensor-parallel degree.")
@format_option("text", "json", "markdown")
@handle_errors
def command(directories: tuple[str, ...], gpu: str | None, tp: int | None, fmt: str) -> None:
    """Show the GPU-memory breakdown per deployment and pool for each DIRECTORY."""
    from adaptive_deploy.environments import BASE_NOTE
    from adaptive_deploy.errors import ConfigError
    from adaptive_deploy.render import fit as render
    from adaptive_deploy.rules.memory import DOES_NOT_FIT

    dirs = directories or (".",)
    if len(dirs) == 1:
        loaded, rows = _rows(dirs[0], gpu, tp)
        if loaded.kind == "base":
            click.echo(f"{dirs[0]} is {BASE_NOTE}.", err=True)
        _show(rows, fmt)
        sys.exit(1 if any(r.verdict == DOES_NOT_FIT for r in rows) else 0)

    failed = False
    docs: list[dict[str, Any]] = []
    for i, directory in enumerate(dirs):
        try:
            loaded, rows = _rows(directory, gpu, tp)
        except ConfigError as exc:
            failed = True
            for d in exc.diagnostics:
                click.echo(d.format(), err=True)
            docs.append({"directory": directory, "valid": False, "memory": [], "summary": {}})
            continue
        failed = failed or any(r.verdict == DOES_NOT_FIT for r in rows)
        if fmt == "json":
            docs.append({"directory": directory, "kind": loaded.kind, "valid": True,
                         **json.loads(render.render_json(rows))})
            continue
        kind = "base, pools of its environments unknown" if loaded.kind == "base" else loaded.kind
        if fmt == "markdown":
            click.echo(f"{'' if i == 0 else chr(10)}#### `{directory}` ({kind})\n")
        else:
            click.echo(f"{'' if i == 0 else chr(10)}== {directory} ({kind}) ==")
        _show(rows, fmt)
    if fmt == "json":
        click.echo(json.dumps({"directories": docs}, indent=2))
    sys.exit(1 if failed else 0)


def _show(rows: list[FitRow], fmt: str) -> None:
    from adaptive_deploy.render import fit as render

    if fmt == "json":
        click.echo(render.render_json(rows), nl=False)
    elif fmt == "markdown":
        click.echo(render.render_markdown(rows), nl=False)
    elif use_color(sys.stdout):
        console = make_console()
        for item in render.renderables(rows):
            console.print(item, soft_wrap=True)
    else:
        click.echo(render.render_text(rows), nl=False)
