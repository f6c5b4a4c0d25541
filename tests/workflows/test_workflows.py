"""The GitHub workflows and the pre-commit hook: actionlint-clean, and every
`adaptive-deploy ...` invocation in them is a real command with real options."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from adaptive_deploy.cli import main as cli_main

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
WORKFLOW_FILES = sorted(WORKFLOWS.glob("*.yml"))
EXPECTED = {"ci.yml", "plan.yml", "drift.yml", "apply.yml"}


def _actionlint() -> str:
    candidate = Path(sys.executable).parent / "actionlint"
    found = str(candidate) if candidate.exists() else shutil.which("actionlint")
    if not found:
        pytest.fail("actionlint is not installed; install the test extra: pip install -e '.[test]'")
    return found


def _load(path: Path) -> dict[Any, Any]:
    data: dict[Any, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return data


def _on(workflow: dict[Any, Any]) -> dict[str, Any]:
    # YAML 1.1 reads a bare `on` key as the boolean True.
    triggers: dict[str, Any] = workflow.get("on", workflow.get(True)) or {}
    return triggers


@dataclass(frozen=True)
class Invocation:
    source: str
    argv: tuple[str, ...]


def _run_scripts(workflow: dict[Any, Any]) -> Iterator[tuple[str, str]]:
    for job_name, job in workflow.get("jobs", {}).items():
        for i, step in enumerate(job.get("steps", [])):
            if "run" in step:
                yield f"{job_name}.steps[{i}] ({step.get('name', '')})", step["run"]


def invocations(script: str, source: str) -> list[Invocation]:
    """Each `adaptive-deploy ...` command line in a shell script, up to the first shell
    operator (redirection, pipe, `;`, `&&`)."""
    found = []
    logical = script.replace("\\\n", " ")
    for line in logical.splitlines():
        if "adaptive-deploy" not in line or line.lstrip().startswith("#"):
            continue
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        tokens = list(lexer)
        for start, token in enumerate(tokens):
            if token != "adaptive-deploy":
                continue
            argv = []
            for t in tokens[start + 1:]:
                if t and all(c in "();<>|&" for c in t):
                    break
                argv.append(t)
            found.append(Invocation(source, tuple(argv)))
    return found


def all_invocations() -> list[Invocation]:
    out = []
    for path in WORKFLOW_FILES:
        for where, script in _run_scripts(_load(path)):
            out += invocations(script, f"{path.name}: {where}")
    return out


def _resolve(argv: tuple[str, ...]) -> tuple[click.Command, list[str]]:
    """The click command an argv names, and the remaining arguments."""
    assert argv, "adaptive-deploy called without a command"
    name = argv[0]
    assert name in cli_main._COMMANDS, f"{name!r} is not an adaptive-deploy command"
    module = f"adaptive_deploy.cli.{cli_main._COMMANDS[name][0]}"
    if find_spec(module) is None:
        pytest.skip(f"command module {module} is not written yet")
    ctx = click.Context(cli_main.cli)
    command = cli_main.cli.get_command(ctx, name)
    assert command is not None
    rest = list(argv[1:])
    while isinstance(command, click.Group) and rest and not rest[0].startswith("-"):
        sub = command.get_command(ctx, rest[0])
        assert sub is not None, f"{name} has no subcommand {rest[0]!r}"
        command, rest = sub, rest[1:]
    return command, rest


def check_options(command: click.Command, args: list[str]) -> list[str]:
    """Problems with the options in `args`: unknown flags, values outside a Choice."""
    options = {opt: p for p in command.params if isinstance(p, click.Option)
               for opt in (*p.opts, *p.secondary_opts)}
    problems = []
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if not arg.startswith("-") or arg == "-":
            continue
        flag, eq, value = arg.partition("=")
        param = options.get(flag)
        if param is None:
            problems.append(f"unknown option {flag} (known: {', '.join(sorted(options))})")
            continue
        if param.is_flag:
            continue
        if not eq:
            if i >= len(args):
                problems.append(f"{flag} needs a value")
                continue
            value, i = args[i], i + 1
        choice = param.type
        if (isinstance(choice, click.Choice) and not value.startswith("$")
                and value not in choice.choices):
            problems.append(f"{flag} {value!r} not one of {list(choice.choices)}")
    return problems


# ------------------------------------------------------------------------------------------


def test_the_four_workflows_exist() -> None:
    assert {p.name for p in WORKFLOW_FILES} >= EXPECTED


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_actionlint_reports_nothing(path: Path) -> None:
    proc = subprocess.run(
        [_actionlint(), "-no-color", str(path)], cwd=ROOT, capture_output=True, text=True,
    )
    assert proc.returncode == 0 and not proc.stdout.strip(), proc.stdout + proc.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path: Path) -> None:
    # The check above can fail: a workflow with an undefined step output is a finding.
    bad = tmp_path / ".github" / "workflows" / "bad.yml"
    bad.parent.mkdir(parents=True)
    bad.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - run: echo ${{ steps.nope.outputs.x }}\n        if: ${{ github.nope == 1 }}\n"
    )
    proc = subprocess.run([_actionlint(), "-no-color", str(bad)], capture_output=True, text=True)
    assert proc.returncode != 0 and proc.stdout.strip()


@pytest.mark.parametrize(
    "invocation", all_invocations(), ids=lambda inv: f"{inv.source}: {' '.join(inv.argv)}",
)
def test_invoked_commands_and_options_exist(invocation: Invocation) -> None:
    command, rest = _resolve(invocation.argv)
    assert check_options(command, rest) == [], invocation.source


def test_the_workflows_invoke_the_promised_commands() -> None:
    used = {(inv.source.split(":")[0], " ".join(inv.argv)) for inv in all_invocations()}
    flat = {f"{wf} {cmd}" for wf, cmd in used}
    assert any(s.startswith("plan.yml validate") and "--format github" in s for s in flat)
    assert any(s.startswith("plan.yml plan") and "--format markdown --detailed-exitcode" in s
               for s in flat)
    assert any(s.startswith("plan.yml diff") and '--base origin/$BASE_REF --format markdown' in s
               for s in flat)
    assert any(s.startswith("drift.yml drift") and "--format markdown" in s for s in flat)
    assert any(s.startswith("apply.yml plan") and "--out" in s for s in flat)
    assert any(s.startswith("apply.yml apply $RUNNER_TEMP/adaptive-deploy.plan") for s in flat)


def test_option_checker_rejects_unknown_flags_and_choices() -> None:
    @click.command()
    @click.option("--format", type=click.Choice(["text", "json"]))
    @click.option("--out")
    @click.option("--detailed-exitcode", is_flag=True)
    def demo(**_: Any) -> None: ...

    assert check_options(demo, ["dir", "--format", "json", "--out=f", "--detailed-exitcode"]) == []
    assert len(check_options(demo, ["--format", "yaml", "--no-such-flag"])) == 2
    assert invocations("X=1 \\\n  adaptive-deploy plan d --out f > p.txt 2> e", "s") == [
        Invocation("s", ("plan", "d", "--out", "f")),
    ]


def test_no_secret_is_expanded_inside_a_script() -> None:
    for path in WORKFLOW_FILES:
        for where, script in _run_scripts(_load(path)):
            assert "secrets." not in script, f"{path.name}: {where} reads a secret inline"
            assert "${{" not in script, f"{path.name}: {where} interpolates an expression"


def test_actions_are_pinned_to_major_versions() -> None:
    for path in WORKFLOW_FILES:
        for job in _load(path)["jobs"].values():
            for step in job.get("steps", []):
                if "uses" in step:
                    assert re.fullmatch(r"[\w.-]+/[\w.-]+@v\d+", step["uses"]), step["uses"]


def test_config_dir_is_a_parameter_and_matches_path_filters() -> None:
    for name in ("plan.yml", "drift.yml", "apply.yml"):
        wf = _load(WORKFLOWS / name)
        directory = wf["env"]["ADAPTIVE_DEPLOY_DIR"]
        assert directory == "deploy/"
        for trigger in ("pull_request", "push"):
            paths = (_on(wf).get(trigger) or {}).get("paths")
            if paths is not None:
                assert f"{directory}**" in paths, (name, trigger)


def test_plan_workflow_sticky_comment_and_minimal_permissions() -> None:
    wf = _load(WORKFLOWS / "plan.yml")
    assert wf["permissions"] == {"contents": "read", "pull-requests": "write"}
    assert "pull_request" in _on(wf)
    text = (WORKFLOWS / "plan.yml").read_text()
    assert text.count("<!-- adaptive-deploy-plan -->") >= 2  # written into the body, searched for
    assert "updateComment" in text and "createComment" in text
    assert "secrets.ADAPTIVE_API_KEY_READONLY" in text


def test_drift_workflow_schedule_and_issue_handling() -> None:
    wf = _load(WORKFLOWS / "drift.yml")
    triggers = _on(wf)
    assert "workflow_dispatch" in triggers and triggers["schedule"][0]["cron"]
    steps = wf["jobs"]["drift"]["steps"]
    conditions = [s.get("if", "") for s in steps]
    assert "steps.drift.outputs.exitcode == '2'" in conditions
    assert "steps.drift.outputs.exitcode == '0'" in conditions
    text = (WORKFLOWS / "drift.yml").read_text()
    assert "labels: ['drift']" in text and "state: 'closed'" in text


def test_apply_workflow_is_gated_and_serialised() -> None:
    wf = _load(WORKFLOWS / "apply.yml")
    assert wf["concurrency"]["cancel-in-progress"] is False
    assert wf["concurrency"]["group"]
    job = wf["jobs"]["apply"]
    assert job["environment"] == "production"
    assert _on(wf)["push"]["branches"] == ["main"]


def test_ci_workflow_has_postgres_and_dsn() -> None:
    job = _load(WORKFLOWS / "ci.yml")["jobs"]["test"]
    assert job["services"]["postgres"]["image"] == "postgres:16"
    assert job["env"]["ADAPTIVE_DEPLOY_TEST_PG_DSN"].startswith("postgresql://")
    runs = " ".join(s.get("run", "") for s in job["steps"])
    assert "pip install -e '.[test]'" in runs and "pytest" in runs and "ruff check" in runs
    assert any(s.get("with", {}).get("python-version") == "3.11" for s in job["steps"])


def test_pre_commit_hook_entry_is_a_real_command() -> None:
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    [hook] = [h for h in hooks if h["id"] == "adaptive-deploy-validate"]
    assert hook["language"] == "python"
    assert hook["pass_filenames"] is False
    assert re.search(hook["files"], "deploy/models.yaml") and re.search(hook["files"], "a.yml")
    assert not re.search(hook["files"], "setup.py")
    program, *argv = shlex.split(hook["entry"])
    assert program == "adaptive-deploy"
    assert program in {ep.split("=")[0].strip() for ep in _console_scripts()}
    command, rest = _resolve(tuple(argv))
    assert command.name == "validate" and rest == []


def _console_scripts() -> list[str]:
    import tomllib

    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return [f"{k}={v}" for k, v in data["project"]["scripts"].items()]
