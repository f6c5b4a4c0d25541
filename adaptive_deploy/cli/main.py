"""The `adaptive-deploy` command group. Subcommands load lazily so `--version` stays fast."""

from __future__ import annotations

import errno
import importlib
import os
import re
import sys
from collections.abc import Sequence
from typing import Any

import click

from adaptive_deploy import __version__
from adaptive_deploy.cli.common import DEBUG_ENV, redacted_output, report_unexpected

# command name → (module under adaptive_deploy.cli exposing `command`, one-line help).
# The help line lives here so `--help` lists commands without importing them.
_COMMANDS = {
    "validate": ("validate", "Validate the configuration: schema, rules, GPU memory."),
    "catalog": ("catalog", "List the model architectures, GPUs and weight formats known."),
    "fit": ("fit", "Show the GPU-memory breakdown per deployment and pool."),
    "schema": ("schema", "Print the configuration JSON Schema."),
    "plan": ("plan", "Refresh live state and show what apply would change."),
    "apply": ("apply", "Apply a fresh or saved plan to the platform."),
    "destroy": ("destroy", "Remove everything this workspace manages."),
    "show": ("show", "Show a saved plan file."),
    "status": ("status", "Live health of every managed resource."),
    "drift": ("drift", "Report changes made outside adaptive-deploy."),
    "diff": ("diff", "Semantic config-to-config diff (against a git ref, or a promotion), with memory impact."),
    "import": ("import_", "Write config for live objects and adopt them into state."),
    "environments": ("environments", "List directories' kinds and layers; which a change touches."),
    "state": ("state", "Inspect state and release locks."),
    "emulator": ("emulator", "Run the reference platform (emulator)."),
}

# Shown at the end of every command's --help. Usage errors exit 1 everywhere, because 2
# means "changes / drift / differences / unhealthy" to scripts and CI.
EXIT_CODES = {
    "validate": "0 every directory valid (warnings allowed), 1 errors in any; --explain: "
                "0 explained, 1 a path no layer defines.",
    "fit": "0 everything fits (tight allowed), 1 something does not fit or an error.",
    "schema": "0 printed or written, 1 error.",
    "catalog": "0 listed, 1 error.",
    "plan": "0 ok; with --detailed-exitcode 0 no changes, 2 changes; 1 error or a plan that "
            "cannot be applied.",
    "apply": "0 done (or nothing to do), 1 error, refusal or partial failure.",
    "destroy": "0 done (or nothing to destroy), 1 error, refusal or partial failure.",
    "show": "0 shown; with --detailed-exitcode 0 no changes, 2 changes; 1 error.",
    "status": "0 every managed resource is healthy, 2 something is unhealthy or missing, "
              "1 error.",
    "drift": "0 no drift, 2 drift or pending changes, 1 error.",
    "diff": "0 no differences, 2 differences, 1 error (or a promotion that would make "
            "TARGET invalid).",
    "environments": "0 listed, 1 error (no such directory, unknown git ref).",
    "import": "0 written and adopted, 1 error.",
    "state": "0 done, 1 error (no such resource, lock not held, ...).",
    "emulator": "0 stopped cleanly, 1 error.",
}


def _no_color(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        os.environ["NO_COLOR"] = "1"


def _decorate(name: str, command: click.Command) -> None:
    """Every command (and subcommand) gets `--no-color` and its exit codes in --help."""
    if not any(p.name == "no_color" for p in command.params):
        command.params.append(click.Option(
            ["--no-color"], is_flag=True, expose_value=False, is_eager=True,
            callback=_no_color, help="No colour in the output (as NO_COLOR=1 does)."))
    codes = EXIT_CODES.get(name)
    if codes and not (command.epilog or "").startswith("Exit codes"):
        command.epilog = f"Exit codes: {codes}"
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _decorate(name, sub)


class LazyGroup(click.Group):
    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """click's main, except that every failure exits 1: click exits 2 on a usage error
        (unknown flag, bad --format value, missing argument), and 2 means "changes" or
        "drift" to scripts using --detailed-exitcode and to the CI workflows. Anything
        unexpected is one redacted line (a traceback only with --debug)."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        argv = list(sys.argv[1:] if args is None else args)
        # `--debug` anywhere before `--` (adaptive-deploy plan --debug reads naturally).
        cut = argv.index("--") if "--" in argv else len(argv)
        previous = os.environ.get(DEBUG_ENV)
        if "--debug" in argv[:cut]:
            argv = [a for i, a in enumerate(argv) if not (a == "--debug" and i < cut)]
            os.environ[DEBUG_ENV] = "1"
        try:
            with redacted_output():
                rv = self._main_inner(argv, prog_name, complete_var, extra)
        finally:
            if previous is None:
                os.environ.pop(DEBUG_ENV, None)
            else:
                os.environ[DEBUG_ENV] = previous
        sys.exit(rv)

    def _main_inner(self, argv: list[str], prog_name: str | None, complete_var: str | None,
                    extra: dict[str, Any]) -> int:
        try:
            rv = super().main(argv, prog_name, complete_var, False, **extra)
        except click.ClickException as exc:
            exc.show()
            hint = single_dash_hint(argv) if isinstance(exc, click.UsageError) else None
            if hint:
                click.echo(f"Hint: {hint}", err=True)
            sys.exit(1)
        except click.Abort:
            click.echo("Aborted.", err=True)
            sys.exit(1)
        except OSError as exc:
            if exc.errno == errno.EPIPE:   # `adaptive-deploy plan | head`
                sys.exit(1)
            report_unexpected(exc)
            sys.exit(1)
        except Exception as exc:
            report_unexpected(exc)
            sys.exit(1)
        return rv if isinstance(rv, int) else 0

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = _COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module = importlib.import_module(f"adaptive_deploy.cli.{entry[0]}")
        command: click.Command = module.command
        _decorate(cmd_name, command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, help_line) for name, (_, help_line) in sorted(_COMMANDS.items())]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]},
             epilog="Shell completion (bash, zsh, fish): eval \"$(_ADAPTIVE_DEPLOY_COMPLETE="
                    "bash_source adaptive-deploy)\" — see the README.")
@click.version_option(__version__, prog_name="adaptive-deploy")
@click.option("--no-color", is_flag=True, expose_value=False, is_eager=True,
              callback=_no_color, help="No colour in the output (as NO_COLOR=1 does).")
@click.option("--debug", is_flag=True, expose_value=False, is_eager=True,
              help="Show tracebacks (secrets still redacted); also ADAPTIVE_DEPLOY_DEBUG=1.")
def cli() -> None:
    """Configuration as code for the Adaptive Engine LLM-serving platform.

    Describe models, adapters, compute configs, placements and draft models in YAML; validate
    them (schema, GPU memory), plan against the live platform and apply.
    """


_SINGLE_DASH = re.compile(r"^-([a-z][a-z0-9]*(?:-[a-z0-9]+)+|[a-z]{2,}[a-z0-9-]*)(=.*)?$")


def single_dash_hint(args: list[str]) -> str | None:
    """`-auto-approve` → `did you mean --auto-approve?` (Terraform spells flags with one dash)."""
    for arg in args:
        if arg == "--":
            break
        m = _SINGLE_DASH.match(arg)
        if m:
            return f"did you mean -{arg}? (adaptive-deploy options take two dashes)"
    return None


def main(argv: list[str] | None = None) -> Any:
    """The console script: `cli` in standalone mode (see LazyGroup.main for the exit codes)."""
    import gc

    # A command builds one large heap that lives until exit (configuration, live state, plan)
    # and makes few reference cycles. With the default thresholds (700, 10, 10) the cyclic GC
    # walks that growing heap again and again: 25-40 % of a 10,000-deployment validate, plan
    # or diff. Collect young objects every 100,000 allocations and the old generations rarely.
    gc.set_threshold(100_000, 50, 100)
    return cli.main(args=list(sys.argv[1:] if argv is None else argv),
                    prog_name="adaptive-deploy")
