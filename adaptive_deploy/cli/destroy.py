"""`adaptive-deploy destroy`: remove everything the workspace manages.

The plan is made by the planner's normal path against an empty configuration
(`plan --destroy` shows it): models are forgotten, projects archived, `protect` refuses, and
every rule of a delete applies as if the resources had been removed from the configuration.
"""

from __future__ import annotations

import click

from adaptive_deploy.cli.apply import run_apply
from adaptive_deploy.cli.common import complete_address, format_option, handle_errors


@click.command("destroy")
@click.argument("directory", default=".", type=click.Path(file_okay=False))
@click.option("--auto-approve", is_flag=True, help="Skip the interactive approval.")
@click.option("--allow-destroy", is_flag=True,
              help="Needed when not interactive (with --auto-approve), as for apply.")
@click.option("--parallelism", default=8, show_default=True, type=click.IntRange(1, 64),
              help="Resource actions run at once.")
@click.option("--lock-timeout", default=0.0, show_default=True, type=click.FloatRange(0),
              help="Seconds to wait for the workspace lock.")
@click.option("--target", "targets", multiple=True, metavar="ADDR", shell_complete=complete_address,
              help="Destroy only ADDR (and what depends on it being removed first).")
@format_option("text", "json")
@handle_errors
def command(
    directory: str, auto_approve: bool, allow_destroy: bool, parallelism: int,
    lock_timeout: float, targets: tuple[str, ...], fmt: str,
) -> None:
    """Remove everything this workspace manages from the platform.

    Same as removing every model, project and job from the configuration and applying:
    models are forgotten (never deleted), projects archived, protected deployments refused.
    Review it first with `adaptive-deploy plan --destroy`.

    \\b
    Exit codes: 0 done (or nothing to destroy), 1 error, refusal or partial failure.
    """
    run_apply(directory, auto_approve=auto_approve, parallelism=parallelism,
              allow_destroy=allow_destroy, lock_timeout=lock_timeout, targets=targets,
              replace=(), refresh_only=False, destroy=True, config_dir=None, fmt=fmt)
