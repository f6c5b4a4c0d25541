"""The main step of the composite action (`action.yml`): validate, then run one command on a
workspace, write the report and set the step's outputs.

Inputs arrive as environment variables (COMMAND, DIR, FORMAT, PLAN_FILE, LOCK_TIMEOUT,
ALLOW_DESTROY, BASE_REF, FAIL_ON_ERROR), never interpolated into a script. Outputs go to
$GITHUB_OUTPUT, the report also to $GITHUB_STEP_SUMMARY. Standard library only: it runs with
whatever Python the action set up. Exit status: 1 when the tool failed and FAIL_ON_ERROR is
'true', else 0 (the `exitcode` output carries the tool's code).

Environments (README "Environments"): `command: environments` lists the directories in DIR
(several, space-separated; globs expanded) that are workspaces or environments — with
BASE_REF, only those a change since it touches, a base's change touching every environment
over it — as the `matrix`, `targets` and `touched` outputs, for a matrix of jobs. For the other
commands, the credentials the step was given under the generic names (ADAPTIVE_API_KEY,
ADAPTIVE_BASE_URL, ADAPTIVE_DEPLOY_STATE_DSN) are also passed under the names the
directory's configuration reads (`platform.api_key_env`, `${env:NAME}` in `platform.base_url`,
`state.dsn_env`) when those are not set, so one workflow serves environments whose
configurations name their own variables (STAGING_ADAPTIVE_API_KEY, ...).
"""

from __future__ import annotations

import glob
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

EXT = {"markdown": "md", "text": "txt", "json": "json"}
COMMANDS = ("plan", "drift", "apply", "diff", "validate", "environments")
# generic variable (what the workflows set) → key of `environments --format json` variables
GENERIC = (("ADAPTIVE_API_KEY", "api_key_env"), ("ADAPTIVE_BASE_URL", "base_url_env"),
           ("ADAPTIVE_DEPLOY_STATE_DSN", "dsn_env"))


def tool(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run `adaptive-deploy ARGS` without colour; stdout and stderr kept apart."""
    full = {**(os.environ if env is None else env), "NO_COLOR": "1"}
    return subprocess.run(["adaptive-deploy", *args], capture_output=True, text=True, env=full,
                          check=False)


def bound_env(directory: str) -> dict[str, str]:
    """os.environ plus the generic credentials under the names `directory`'s configuration
    reads, where those are unset (see the module docstring)."""
    env = dict(os.environ)
    listed = tool("environments", directory, "--format", "json")
    if listed.returncode != 0:
        return env
    [entry] = json.loads(listed.stdout)["directories"]
    for generic, key in GENERIC:
        names = entry["variables"].get(key) or []
        for name in [names] if isinstance(names, str) else names:
            if name != generic and not env.get(name) and env.get(generic):
                env[name] = env[generic]
    return env


def directories(text: str) -> list[str]:
    """DIR as several directories: space-separated, each glob expanded (sorted)."""
    out: list[str] = []
    for item in text.split():
        found = sorted(glob.glob(item)) if glob.has_magic(item) else [item]
        out += [d for d in found if d not in out]
    return out


def list_environments(text: str, base_ref: str) -> int:
    """`command: environments`: set the matrix / targets / touched outputs."""
    args = ["environments", *directories(text), "--format", "json"]
    if base_ref:
        args += ["--changed-since", base_ref]
    result = tool(*args)
    if result.returncode != 0:
        print(f"::error::{result.stderr.strip() or 'adaptive-deploy environments failed'}")
        set_output("exitcode", str(result.returncode))
        return 1
    doc = json.loads(result.stdout)
    set_output("matrix", json.dumps(doc["matrix"], separators=(",", ":")))
    set_output("targets", json.dumps(doc["targets"], separators=(",", ":")))
    set_output("touched", "true" if doc["targets"] else "false")
    set_output("exitcode", "0")
    lines = [f"- `{d['directory']}`: {d['kind']}"
             + ("" if d["touched"] is None else (" (touched)" if d["touched"] else " (untouched)"))
             for d in doc["directories"]]
    summary = ("Nothing to plan: the change touches no workspace or environment in "
               f"`{text}`.\n" if not doc["targets"] else
               "adaptive-deploy directories:\n\n" + "\n".join(lines) + "\n")
    step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if step_summary:
        with open(step_summary, "a", encoding="utf-8") as f:
            f.write(summary)
    print(summary, end="")
    return 0


def fenced(text: str) -> str:
    """`text` in a Markdown code block no line of it can close."""
    runs = [len(m) for m in re.findall(r"`{3,}|~{3,}", text)]
    fence = "`" * max(3, max(runs, default=0) + 1)
    return f"{fence}text\n{text.rstrip()}\n{fence}\n"


def set_output(name: str, value: str) -> None:
    path = os.environ.get("GITHUB_OUTPUT")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(f"{name}={value}\n")


def main() -> int:
    command = os.environ.get("COMMAND", "plan")
    directory = os.environ.get("DIR") or "."
    fmt = os.environ.get("FORMAT") or "markdown"
    plan_file = os.environ.get("PLAN_FILE", "")
    if command not in COMMANDS:
        print(f"::error::unknown command {command!r}; one of {', '.join(COMMANDS)}")
        return 1
    if fmt not in EXT:
        print(f"::error::unknown format {fmt!r}; one of markdown, text, json")
        return 1
    if command == "environments":
        base_ref = os.environ.get("BASE_REF", "")
        # A push that creates a branch has no "before" commit (forty zeros): list them all.
        return list_environments(os.environ.get("DIR") or ".",
                                 "" if re.fullmatch(r"0+", base_ref) else base_ref)
    out_dir = Path(os.environ.get("RUNNER_TEMP") or tempfile.gettempdir()) / "adaptive-deploy"
    out_dir.mkdir(parents=True, exist_ok=True)
    report_path = out_dir / f"report.{EXT[fmt]}"

    # Validation first: its errors become annotations on the changed lines, and, when it
    # fails, the report (so a plan comment shows the failure instead of a stale plan).
    annotations = tool("validate", directory, "--format", "github")
    sys.stdout.write(annotations.stdout)
    validation_failed = annotations.returncode != 0
    set_output("validation-failed", "true" if validation_failed else "false")
    summary: dict[str, int] = {}
    if validation_failed or command == "validate":
        vfmt = {"markdown": "markdown", "text": "text", "json": "json"}[fmt]
        result = tool("validate", directory, "--format", vfmt)
        code = result.returncode
        report = result.stdout + result.stderr
        if validation_failed and fmt == "markdown":
            report = (f"**❌ The configuration in `{directory}` is invalid; nothing was "
                      f"{'planned' if command != 'validate' else 'checked further'}.**\n\n"
                      + report)
    else:
        args: list[str]
        if command == "plan":
            saved = plan_file or str(out_dir / "adaptive-deploy.plan")
            args = ["plan", directory, "--format", fmt, "--detailed-exitcode", "--out", saved]
        elif command == "drift":
            args = ["drift", directory, "--format", fmt]
        elif command == "diff":
            base = os.environ.get("BASE_REF", "")
            if not base:
                print("::error::diff needs the base-ref input")
                return 1
            args = ["diff", directory, "--base", base, "--format", fmt]
        else:  # apply
            target = plan_file or directory
            args = ["apply", target, "--lock-timeout", os.environ.get("LOCK_TIMEOUT") or "0"]
            if not plan_file:
                args.append("--auto-approve")
            if os.environ.get("ALLOW_DESTROY") == "true":
                args.append("--allow-destroy")
            if fmt == "json":
                args += ["--format", "json"]
        result = tool(*args, env=bound_env(directory))
        code = result.returncode
        sys.stderr.write(result.stderr)
        report = result.stdout
        if command == "apply" and fmt == "markdown":
            report = fenced(report) if report.strip() else ""
        if code == 1:
            errors = result.stderr.strip() or "(no message)"
            report += ("\n**❌ adaptive-deploy failed (exit 1):**\n\n" + fenced(errors)
                       if fmt == "markdown" else "\n" + errors + "\n")
        summary_plan = (plan_file if command == "apply" else
                        (args[-1] if command == "plan" else ""))
        if summary_plan and Path(summary_plan).is_file():
            shown = tool("show", summary_plan, "--format", "json")
            if shown.returncode == 0:
                summary = json.loads(shown.stdout).get("summary") or {}
    report_path.write_text(report, encoding="utf-8")
    step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if step_summary:
        with open(step_summary, "a", encoding="utf-8") as f:
            f.write(report if fmt == "markdown" else fenced(report))
    for output, key in (("adds", "add"), ("changes", "change"), ("destroys", "destroy"),
                        ("forgets", "forget"), ("runs", "run")):
        set_output(output, str(int(summary.get(key, 0))))
    set_output("exitcode", str(code))
    set_output("report", str(report_path))
    print(f"adaptive-deploy {command} {directory}: exit {code}")
    if code == 1 and os.environ.get("FAIL_ON_ERROR", "true") == "true":
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
