"""`adaptive-deploy fit [DIR] [--gpu G] [--tp N] [--format text|json|markdown]`: the per-GPU
memory breakdown of every deployment on every pool of its placement, offline. `--gpu` and
`--tp` are what-if overrides applied to every row. Exit 0 when everything fits (tight allowed),
1 when some deployment does not fit or the configuration is invalid."""

from __future__ import annotations

import sys

import click

from adaptive_deploy.cli.common import format_option, handle_errors, make_console, use_color


@click.command("fit")
@click.argument("directory", default=".", type=click.Path(file_okay=True, dir_okay=True))
@click.option("--gpu", "gpu", metavar="G", help="What if every pool had this GPU (e.g. H200-141GB).")
@click.option("--tp", "tp", type=click.IntRange(min=1), metavar="N",
              help="What if every model ran at this tensor-parallel degree.")
@format_option("text", "json", "markdown")
@handle_errors
def command(directory: str, gpu: str | None, tp: int | None, fmt: str) -> None:
    """Show the GPU-memory breakdown per deployment and pool for DIRECTORY."""
    from adaptive_deploy.config.loader import load_config
    from adaptive_deploy.diagnostics import has_errors
    from adaptive_deploy.errors import ConfigError, UsageError
    from adaptive_deploy.render import fit as render
    from adaptive_deploy.rules.catalog import gpus
    from adaptive_deploy.rules.memory import DOES_NOT_FIT, fit_report

    loaded = load_config(directory)
    if loaded.workspace is None or has_errors(loaded.diagnostics):
        raise ConfigError("the configuration is invalid", loaded.diagnostics)
    try:
        rows = fit_report(loaded.workspace, gpu=gpu, tp=tp)
    except ValueError:
        known = ", ".join(sorted(gpus()))
        raise UsageError(f"unknown GPU {gpu!r} for --gpu; known GPUs: {known}") from None
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
    sys.exit(1 if any(r.verdict == DOES_NOT_FIT for r in rows) else 0)
