"""The `adaptive-deploy` command group. Subcommands load lazily so `--version` stays fast."""

from __future__ import annotations

import importlib
from typing import Any

import click

from adaptive_deploy import __version__

# command name → (module under adaptive_deploy.cli exposing `command`, one-line help).
# The help line lives here so `--help` lists commands without importing them.
_COMMANDS = {
    "validate": ("validate", "Validate the configuration: schema, rules, GPU memory."),
    "catalog": ("catalog", "List the model architectures, GPUs and weight formats known."),
    "fit": ("fit", "Show the GPU-memory breakdown per deployment and pool."),
    "schema": ("schema", "Print the configuration JSON Schema."),
    "plan": ("plan", "Refresh live state and show what apply would change."),
    "apply": ("apply", "Apply a fresh or saved plan to the platform."),
    "drift": ("drift", "Report changes made outside adaptive-deploy."),
    "diff": ("diff", "Semantic config-to-config diff against a git ref, with memory impact."),
    "import": ("import_", "Write config for live objects and adopt them into state."),
    "state": ("state", "Inspect state and release locks."),
    "emulator": ("emulator", "Run the reference platform (emulator)."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = _COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module = importlib.import_module(f"adaptive_deploy.cli.{entry[0]}")
        command: click.Command = module.command
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, help_line) for name, (_, help_line) in sorted(_COMMANDS.items())]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="adaptive-deploy")
def cli() -> None:
    """Configuration as code for the Adaptive Engine LLM-serving platform.

    Describe models, adapters, compute configs, placements and draft models in YAML; validate
    them (schema, GPU memory), plan against the live platform and apply.
    """


def main(argv: list[str] | None = None) -> Any:
    return cli.main(args=argv, prog_name="adaptive-deploy")
