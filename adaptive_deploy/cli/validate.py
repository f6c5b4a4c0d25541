"""`adaptive-deploy validate [DIR] [--format text|json|github]`: stage 1 (structure) and stage 2
(semantic and GPU-memory rules); no platform needed. Exit 0 when valid (warnings allowed), 1 on
errors."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any

import click

from adaptive_deploy.cli.common import format_option, handle_errors, use_color


def run_validation(directory: str) -> list[Any]:
    """Stage 1 then, when it passed, stage 2 (`adaptive_deploy.rules.validate`) if available."""
    from adaptive_deploy.config.loader import load_config

    loaded = load_config(directory)
    diags = list(loaded.diagnostics)
    if loaded.workspace is not None:
        rules = importlib.import_module("adaptive_deploy.rules")
        # Stage 2 lives in the rules package; a build without it validates structure only.
        rules_validate: Callable[..., list[Any]] | None = getattr(rules, "validate", None)
        if rules_validate is not None:
            diags.extend(rules_validate(loaded))
    return diags


@click.command("validate")
@click.argument("directory", default=".", type=click.Path(file_okay=True, dir_okay=True))
@format_option("text", "json", "github", "markdown")
@handle_errors
def command(directory: str, fmt: str) -> None:
    """Validate the configuration in DIRECTORY (default: the current directory)."""
    from adaptive_deploy.diagnostics import has_errors, sorted_diagnostics
    from adaptive_deploy.render import diagnostics as render

    diags = sorted_diagnostics(run_validation(directory))
    if fmt == "json":
        out = render.render_json(diags)
    elif fmt == "github":
        out = render.render_github(diags)
    elif fmt == "markdown":
        out = render.render_markdown(diags)
    else:
        out = render.render_text(diags, color=use_color(sys.stdout))
    click.echo(out, nl=False)
    sys.exit(1 if has_errors(diags) else 0)
