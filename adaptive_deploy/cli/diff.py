"""`adaptive-deploy diff [DIR] --base GIT_REF` and `diff SOURCE TARGET`: offline
config-to-config diff with memory impact — against a git ref, or the promotion of one
environment's configuration to another (adaptive_deploy/environments.py).

Needs no platform, no state and no secrets, so it runs in pull requests from forks. Exit codes:
0 no differences, 2 differences, 1 error (unknown ref, not a git repository, invalid config on
either side).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from adaptive_deploy.cli.common import format_option, handle_errors, use_color

if TYPE_CHECKING:
    from adaptive_deploy.gitsource import GitSnapshot

EXIT_NO_DIFFERENCES = 0
EXIT_DIFFERENCES = 2


def _load_checked(directory: Path, side: str, snap: GitSnapshot | None = None) -> Any:
    """Load one side with the project's loader; invalid config raises ConfigError whose
    diagnostics name the file the user knows (`REF:path` for the base side)."""
    import dataclasses

    from adaptive_deploy.config.loader import load_config
    from adaptive_deploy.diagnostics import has_errors, sorted_diagnostics
    from adaptive_deploy.errors import ConfigError

    loaded = load_config(directory, root=snap.directory if snap is not None else None)
    diagnostics = list(loaded.diagnostics)
    if snap is not None:
        diagnostics = [dataclasses.replace(d, file=snap.relabel(d.file)) for d in diagnostics]
    if has_errors(diagnostics):
        errors = [d for d in sorted_diagnostics(diagnostics) if d.is_error]
        click.echo(f"Error: the configuration {side} is invalid:", err=True)
        raise ConfigError(f"the configuration {side} is invalid", errors)
    # Positions only serve diagnostics, and this side's are final: free them before the
    # other side is loaded (about 2 KB per deployment).
    from adaptive_deploy.config.sourcemap import SourceMap

    loaded.source = SourceMap()
    for layer in loaded.layers:
        layer.source = SourceMap()
    return loaded


def compute_diff(directory: Path, base_ref: str) -> dict[str, Any]:
    """Load the working tree's configuration in `directory` and the one at `base_ref`, and
    return the `ConfigDiff` document (see `adaptive_deploy.configdiff`)."""
    from adaptive_deploy.config.loader import reusing_parses

    with reusing_parses():
        return _compute_diff(directory, base_ref)


def _compute_diff(directory: Path, base_ref: str) -> dict[str, Any]:
    from adaptive_deploy import gitsource
    from adaptive_deploy.configdiff import diff_configs

    # Files unchanged since the base are parsed once (config.loader.reusing_parses).
    head = _load_checked(directory, f"in {directory}")
    with tempfile.TemporaryDirectory(prefix="adaptive-deploy-base-") as tmp:
        snap = gitsource.snapshot(directory, base_ref, Path(tmp))
        where = f"{base_ref} ({snap.commit[:12]})"
        if snap.own:
            base = _load_checked(snap.workspace_dir, f"at {base_ref}", snap)
            base_raw, base_workspace = base.raw, base.workspace
            if base_workspace is not None:
                from adaptive_deploy.config import overlay
                from adaptive_deploy.rules.hfconfig import GitRefSource

                def at_ref(layer_dir: Path) -> GitRefSource:
                    rel = layer_dir.resolve().relative_to(snap.directory.resolve()).as_posix()
                    prefix = "" if rel == "." else rel + "/"
                    return GitRefSource(snap.repo_root, snap.commit, prefix, base_ref)

                # A config.json architecture is read as committed at the ref, too (from the
                # directory, then from each base, as in the working tree).
                base_workspace._files = overlay.file_source(base.layers, at_ref)
        else:
            # The workspace did not exist at the base: everything is an addition.
            base_raw, base_workspace = {}, None
        result = diff_configs(
            base_raw, head.raw, base_workspace=base_workspace, head_workspace=head.workspace,
            base=where, head=f"working tree ({snap.prefix or './'})",
        )
        if not snap.own:
            result.notes.append(f"no configuration files in {snap.prefix or './'} at {base_ref}")
    return result.to_dict()


class _UsageError(click.UsageError):
    exit_code = 1


class _DiffCommand(click.Command):
    """Exit 2 means "differences" for this command, so usage errors (a missing --base, an
    unknown option), which click reports with exit 2, exit 1 like every other error."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            raise _UsageError(exc.format_message(), exc.ctx) from None


@click.command("diff", cls=_DiffCommand)
@click.argument(
    "directories", nargs=-1,
    type=click.Path(file_okay=False, path_type=Path),
)
@click.option(
    "--base", "base_ref", metavar="GIT_REF",
    help="Git ref to compare DIR against, e.g. origin/main or HEAD~1.",
)
@format_option("text", "json", "markdown")
@handle_errors
def command(directories: tuple[Path, ...], base_ref: str | None, fmt: str) -> None:
    """Compare the configuration in DIR with the one committed at GIT_REF (`diff DIR --base
    REF`), or show what promoting SOURCE's configuration to TARGET would change (`diff
    SOURCE TARGET`, two environment directories, e.g. envs/staging envs/production).

    Reports per address the added, removed and changed fields, and the per-GPU memory impact
    of changes to kv_cache_len, tp, precision, draft, adapters, placement pools or
    architecture. A promotion keeps the values TARGET sets in its own files and lists them as
    environment-specific. Offline: no platform, state or secrets needed. Exit 0: no
    differences, 2: differences, 1: error (or a promotion that would make TARGET invalid).
    """
    from adaptive_deploy.errors import UsageError

    if len(directories) == 2:
        if base_ref is not None:
            raise UsageError("diff takes either --base GIT_REF (one directory) or two "
                             "directories (SOURCE TARGET), not both")
        _promotion(directories[0], directories[1], fmt)
        return
    if len(directories) > 2:
        raise UsageError("diff compares one directory with --base GIT_REF, or two directories "
                         f"(SOURCE TARGET); got {len(directories)} directories")
    if base_ref is None:
        raise UsageError("diff needs --base GIT_REF (compare DIR with a git ref) or two "
                         "directories (SOURCE TARGET: what promoting SOURCE to TARGET changes)")
    from adaptive_deploy.render import configdiff as render

    doc = compute_diff(directories[0] if directories else Path("."), base_ref)
    if fmt == "json":
        out = render.render_json(doc)
    elif fmt == "markdown":
        out = render.render_markdown(doc)
    else:
        out = render.render_text(doc, color=use_color())
    click.echo(out, nl=False)
    sys.exit(EXIT_DIFFERENCES if doc["differences"] else EXIT_NO_DIFFERENCES)


def _promotion(source: Path, target: Path, fmt: str) -> None:
    from adaptive_deploy.environments import promotion
    from adaptive_deploy.errors import UsageError
    from adaptive_deploy.render import promotion as render

    for directory in (source, target):
        if not directory.is_dir():
            raise UsageError(f"{directory}: no such directory")
    result = promotion(source, target)
    doc = result.to_dict()
    if fmt == "json":
        out = render.render_json(doc)
    elif fmt == "markdown":
        out = render.render_markdown(doc)
    else:
        out = render.render_text(doc, color=use_color())
    click.echo(out, nl=False)
    if not result.valid:
        sys.exit(1)
    sys.exit(EXIT_DIFFERENCES if doc["differences"] else EXIT_NO_DIFFERENCES)
