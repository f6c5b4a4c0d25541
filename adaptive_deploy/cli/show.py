"""`adaptive-deploy show PLANFILE`: render a saved plan, as `plan` showed it, in any format.

Offline: it reads only the plan file (no platform, state or configuration), so a CI artifact
can be reviewed anywhere. Sensitive values stay redacted.
"""

from __future__ import annotations

import sys

import click

from adaptive_deploy.cli.common import format_option, handle_errors


@click.command("show")
@click.argument("planfile", type=click.Path(exists=True, dir_okay=False))
@click.option("--detailed-exitcode", is_flag=True, help="Exit 0 no changes, 2 changes, 1 error.")
@format_option("text", "json", "markdown")
@handle_errors
def command(planfile: str, detailed_exitcode: bool, fmt: str) -> None:
    """Show the saved plan PLANFILE (written by `plan --out`) without contacting anything."""
    from adaptive_deploy.cli.plan import render_plan
    from adaptive_deploy.plan import planfile as planfile_mod

    plan_dict = planfile_mod.load(planfile).to_dict()
    rendered = render_plan(plan_dict, fmt)
    click.echo(rendered, nl=not rendered.endswith("\n"))
    if detailed_exitcode and plan_dict.get("has_changes"):
        sys.exit(2)
