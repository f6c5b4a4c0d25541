"""`adaptive-deploy validate [DIR]... [--explain PATH]... [--format text|json|github|markdown]`: stage 1
(structure) and stage 2 (semantic and GPU-memory rules) of each directory; no platform needed.

Several directories (`validate envs/*`) are checked one by one; the exit code is the worst:
0 when every one is valid (warnings allowed), 1 when any has errors. A base directory
(environments: no version, workspace, platform or state) is said to be one and checked for what
needs no workspace. `--explain PATH` shows instead which layer (environment or base, file and
line) the value at a YAML path comes from.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from adaptive_deploy.cli.common import format_option, handle_errors, use_color


def run_validation(directory: str) -> list[Any]:
    """Stage 1 then, when it passed, stage 2 of one directory (environments.check)."""
    from adaptive_deploy.environments import check

    return check(directory).diagnostics


@click.command("validate")
@click.argument("directories", nargs=-1, type=click.Path(file_okay=True, dir_okay=True))
@click.option("--explain", "explain", multiple=True, metavar="PATH",
              help="Show which layer (environment or base, file and line) sets the value at "
              "the dotted YAML PATH, e.g. models.qwen-3-8b.compute_config.kv_cache_len; "
              "repeatable. Exit 1 when no layer defines it.")
@format_option("text", "json", "github", "markdown")
@handle_errors
def command(directories: tuple[str, ...], explain: tuple[str, ...], fmt: str) -> None:
    """Validate the configuration in each DIRECTORY (default: the current directory).

    Exit 0 when every directory is valid (warnings allowed), 1 when any has errors.
    """
    from adaptive_deploy.diagnostics import has_errors, sorted_diagnostics
    from adaptive_deploy.environments import check, shared_workspace_names
    from adaptive_deploy.render import diagnostics as render
    from adaptive_deploy.render import environments as render_env
    from adaptive_deploy.render.escape import md_code, md_text

    dirs = directories or (".",)
    if explain:
        _explain(dirs, explain, fmt)
        return
    checks = [check(d) for d in dirs]
    shared_workspace_names(checks)
    every = sorted_diagnostics([d for c in checks for d in c.diagnostics])
    plain = len(checks) == 1 and checks[0].kind == "workspace"
    if fmt == "json":
        doc = json.loads(render.render_json(every))
        doc["directories"] = [
            {**c.to_dict(), "diagnostics": json.loads(render.render_json(c.diagnostics))["diagnostics"]}
            for c in checks
        ]
        out = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    elif fmt == "github":
        notes = [f"::notice title={c.directory}::{c.directory} is {note}"
                 for c in checks for note in c.notes]
        out = "".join(f"{n}\n" for n in notes) + render.render_github(every)
    elif fmt == "markdown":
        if plain:
            out = render.render_markdown(every)
        else:
            out = "\n".join(
                "\n".join([f"#### {md_code(c.directory)}: {md_text(c.kind)}", "",
                           *[f"_{md_text(note)}_\n" for note in c.notes]])
                + "\n" + render.render_markdown(c.diagnostics)
                for c in checks)
    elif plain:
        out = render.render_text(every, color=use_color(sys.stdout))
    else:
        sections = []
        for c in checks:
            head = [render_env.heading(c.to_dict())] + [f"  note: {note}" for note in c.notes]
            sections.append("\n".join(head) + "\n"
                            + render.render_text(c.diagnostics, color=use_color(sys.stdout)))
        out = "\n".join(sections)
        if len(checks) > 1:
            valid = sum(1 for c in checks if c.valid)
            out += f"\n{len(checks)} directories: {valid} valid, {len(checks) - valid} with errors.\n"
    click.echo(out, nl=False)
    sys.exit(1 if has_errors(every) else 0)


def _explain(dirs: tuple[str, ...], paths: tuple[str, ...], fmt: str) -> None:
    from adaptive_deploy.config import overlay
    from adaptive_deploy.config.loader import load_config
    from adaptive_deploy.render import environments as render_env

    items: list[dict[str, Any]] = []
    texts: list[str] = []
    missing = False
    for directory in dirs:
        loaded = load_config(directory)
        for text in paths:
            found = overlay.explain(text, loaded.raw, loaded.source, loaded.layers)
            if found is None:
                missing = True
                items.append({"directory": directory, "path": text, "defined": False,
                              "layers": []})
                texts.append(f"{directory}: {text}: no layer defines this path\n")
                continue
            doc = {"directory": directory, **found.to_dict()}
            items.append(doc)
            texts.append((f"{directory}: " if len(dirs) > 1 else "") + render_env.explain_text(doc))
    if fmt == "json":
        click.echo(render_env.explain_json(items), nl=False)
    else:
        click.echo("".join(texts), nl=False)
    sys.exit(1 if missing else 0)
