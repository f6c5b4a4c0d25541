"""The GitHub Action, the reusable workflows, the example caller workflows and the pre-commit
hook: actionlint- and zizmor-clean, third-party actions pinned by commit SHA, least
permissions, and the action's script run for real against the embedded platform."""

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
from tests.e2e.helpers import CLI

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
EXAMPLES = ROOT / "examples" / "github" / "workflows"
WORKFLOW_FILES = sorted(WORKFLOWS.glob("*.yml")) + sorted(EXAMPLES.glob("*.yml"))
EXPECTED = {"ci.yml", "plan-comment.yml", "drift.yml", "apply.yml", "environments.yml"}
REUSABLE = ("plan-comment.yml", "drift.yml", "apply.yml", "environments.yml")
ACTION = ROOT / "action.yml"


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


def test_only_ci_is_active_here_the_rest_is_reusable() -> None:
    assert {p.name for p in WORKFLOWS.glob("*.yml")} == EXPECTED
    assert set(_on(_load(WORKFLOWS / "ci.yml"))) == {"push", "pull_request"}
    for name in REUSABLE:
        # Triggered only when a user's workflow calls it: nothing runs on its own here.
        assert set(_on(_load(WORKFLOWS / name))) == {"workflow_call"}, name
    examples = {p.name for p in EXAMPLES.glob("*.yml")}
    assert examples == {"adaptive-deploy-plan.yml", "adaptive-deploy-drift.yml",
                        "adaptive-deploy-apply.yml", "environments-plan.yml",
                        "environments-drift.yml", "environments-apply.yml"}


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


def _zizmor(*paths: Path) -> subprocess.CompletedProcess[str]:
    candidate = Path(sys.executable).parent / "zizmor"
    exe = str(candidate) if candidate.exists() else shutil.which("zizmor")
    if not exe:
        pytest.fail("zizmor is not installed; install the test extra: pip install -e '.[test]'")
    return subprocess.run([exe, "--offline", "--no-progress", *map(str, paths)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_zizmor_reports_nothing() -> None:
    proc = _zizmor(*WORKFLOW_FILES, ACTION)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No findings to report" in proc.stdout + proc.stderr


def test_zizmor_catches_an_insecure_workflow(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: pull_request_target\npermissions: write-all\njobs:\n  a:\n"
        "    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v4\n"
        "        with: {ref: '${{ github.event.pull_request.head.sha }}'}\n"
        "      - run: echo ${{ github.event.pull_request.title }}\n"
    )
    proc = _zizmor(bad)
    assert proc.returncode != 0 and "template-injection" in proc.stdout + proc.stderr


def _steps() -> Iterator[tuple[str, dict[str, Any]]]:
    for path in WORKFLOW_FILES:
        for job_name, job in _load(path)["jobs"].items():
            for step in job.get("steps", []):
                yield f"{path.name}:{job_name}", step
    for step in _load(ACTION)["runs"]["steps"]:
        yield "action.yml", step


def test_third_party_actions_are_pinned_by_commit_sha() -> None:
    for where, step in _steps():
        uses = step.get("uses")
        if uses is None or uses.startswith("./"):
            continue
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", uses), (where, uses)
    # The SHAs are the release tags' commits (actions/checkout v7.0.1, setup-python v7.0.0,
    # github-script v8.0.0), named in a comment beside each.
    for path in [*WORKFLOW_FILES, ACTION]:
        for line in path.read_text().splitlines():
            if re.search(r"uses: [\w.-]+/[\w.-]+@[0-9a-f]{40}", line):
                assert re.search(r"# v\d+\.\d+\.\d+$", line), (path.name, line)


def test_checkouts_do_not_persist_credentials() -> None:
    for where, step in _steps():
        if str(step.get("uses", "")).startswith("actions/checkout@"):
            assert step.get("with", {}).get("persist-credentials") is False, where


def test_least_privilege_permissions() -> None:
    for name in REUSABLE:
        wf = _load(WORKFLOWS / name)
        assert wf["permissions"] == {}, name
        for job_name, job in wf["jobs"].items():
            perms = job["permissions"]
            assert perms.get("contents") == "read", (name, job_name)
            assert set(perms.values()) <= {"read", "write"}
    assert _load(WORKFLOWS / "plan-comment.yml")["jobs"]["plan"]["permissions"] == {
        "contents": "read", "pull-requests": "write"}
    assert _load(WORKFLOWS / "drift.yml")["jobs"]["drift"]["permissions"] == {
        "contents": "read", "issues": "write"}
    assert _load(WORKFLOWS / "apply.yml")["jobs"]["apply"]["permissions"] == {"contents": "read"}
    for path in EXAMPLES.glob("*.yml"):
        assert _load(path)["permissions"] == {}, path.name


def test_no_secret_is_expanded_inside_a_script() -> None:
    for where, step in _steps():
        script = step.get("run", "")
        assert "secrets." not in script, f"{where} reads a secret inline"
        assert "${{" not in script, f"{where} interpolates an expression"
        assert "${{" not in str(step.get("with", {}).get("script", "")), where


def test_sticky_comment_per_directory_marker_at_the_start_and_run_link() -> None:
    text = (WORKFLOWS / "plan-comment.yml").read_text()
    assert "<!-- adaptive-deploy-plan: ${dir" in text
    assert "c.body.startsWith(marker + '\\n')" in text
    assert "updateComment" in text and "createComment" in text
    assert "/actions/runs/${context.runId}" in text
    steps = _load(WORKFLOWS / "plan-comment.yml")["jobs"]["plan"]["steps"]
    tool = next(s for s in steps if s.get("id") == "tool")
    # The comment is posted whatever the tool said (a failed validation replaces the plan).
    assert tool["with"]["fail-on-error"] == "false"
    post = next(s for s in steps if s.get("name") == "Post or update the sticky comment")
    assert post["if"].startswith("always()")
    # A pull request that does not touch the workspace still passes the check; "touched"
    # follows an environment's bases (the tool's `environments --changed-since`).
    touched = next(s for s in steps if s.get("id") == "touched")
    assert touched["with"]["command"] == "environments"
    assert touched["with"]["base-ref"] == "origin/${{ github.base_ref }}"
    assert steps.index(touched) < steps.index(tool)
    assert tool["if"] == "steps.touched.outputs.touched == 'true'"
    example = _load(EXAMPLES / "adaptive-deploy-plan.yml")
    assert "paths" not in (_on(example)["pull_request"] or {})
    dirs = {job["with"]["working-directory"] for job in example["jobs"].values() if "with" in job}
    assert len(dirs) == 2   # two workspaces, two comments


def test_drift_workflow_one_issue_per_directory() -> None:
    text = (WORKFLOWS / "drift.yml").read_text()
    assert "<!-- adaptive-deploy-drift: ${dir" in text
    assert "labels: ['drift']" in text and "state: 'closed'" in text
    example = _load(EXAMPLES / "adaptive-deploy-drift.yml")
    assert "workflow_dispatch" in _on(example) and _on(example)["schedule"][0]["cron"]


def test_apply_workflow_is_gated_and_serialised() -> None:
    job = _load(WORKFLOWS / "apply.yml")["jobs"]["apply"]
    assert job["concurrency"]["cancel-in-progress"] is False
    assert "inputs.working-directory" in job["concurrency"]["group"]
    assert job["environment"] == "${{ inputs.environment }}"
    commands = [s["with"]["command"] for s in job["steps"] if "with" in s and "command" in s["with"]]
    assert commands == ["plan", "apply"]
    example = _load(EXAMPLES / "adaptive-deploy-apply.yml")
    assert _on(example)["push"]["branches"] == ["main"]
    assert "deploy/**" in _on(example)["push"]["paths"]


def test_action_inputs_and_outputs() -> None:
    action = _load(ACTION)
    assert action["runs"]["using"] == "composite"
    assert {"command", "working-directory", "format", "plan-file", "lock-timeout"} <= set(
        action["inputs"])
    assert {"adds", "changes", "destroys", "forgets", "exitcode", "report"} <= set(
        action["outputs"])


def test_ci_workflow_has_postgres_and_dsn() -> None:
    job = _load(WORKFLOWS / "ci.yml")["jobs"]["test"]
    assert job["services"]["postgres"]["image"] == "postgres:16"
    assert job["env"]["ADAPTIVE_DEPLOY_TEST_PG_DSN"].startswith("postgresql://")
    runs = " ".join(s.get("run", "") for s in job["steps"])
    assert "pip install -e '.[test]'" in runs and "pytest" in runs and "ruff check" in runs
    assert "cmark-gfm" in runs and "yaml-language-server" in runs
    assert any(s.get("with", {}).get("python-version") == "3.11" for s in job["steps"])


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


# -- the action's script, run for real -------------------------------------------------------

QUICKSTART = ROOT / "examples" / "quickstart"


def _run_action(tmp_path: Path, **inputs: str) -> tuple[int, dict[str, str], str, str]:
    """Run action/run.py as the composite step does; return its status, outputs, report
    and step summary."""
    import os

    out, summary = tmp_path / "out.txt", tmp_path / "summary.md"
    out.write_text(""), summary.write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADAPTIVE_")}
    env.update({"GITHUB_OUTPUT": str(out), "GITHUB_STEP_SUMMARY": str(summary),
                "RUNNER_TEMP": str(tmp_path / "runner"),
                "PATH": f"{Path(CLI[0]).parent}:{env.get('PATH', '')}", **inputs})
    proc = subprocess.run([sys.executable, str(ROOT / "action" / "run.py")], env=env,
                          capture_output=True, text=True, timeout=300)
    outputs = dict(line.split("=", 1) for line in out.read_text().splitlines())
    report = Path(outputs["report"]).read_text() if "report" in outputs else ""
    return proc.returncode, outputs, report, summary.read_text()


def test_action_plan_sets_outputs_from_the_json_summary(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    shutil.copytree(QUICKSTART, ws, ignore=shutil.ignore_patterns(".adaptive-deploy"))
    code, outputs, report, summary = _run_action(tmp_path, COMMAND="plan", DIR=str(ws))
    assert code == 0, outputs
    assert outputs["exitcode"] == "2" and outputs["validation-failed"] == "false"
    assert (outputs["adds"], outputs["changes"], outputs["destroys"], outputs["forgets"]) == (
        "3", "1", "0", "0")
    assert report.startswith("**Plan: 3 to add, 1 to change, 0 to destroy.**")
    assert summary == report

    # apply the plan the action saved, then the same plan is empty
    plan_file = str(tmp_path / "runner" / "adaptive-deploy" / "adaptive-deploy.plan")
    code, outputs, report, _ = _run_action(tmp_path, COMMAND="apply", DIR=str(ws),
                                           PLAN_FILE=plan_file, FORMAT="text")
    assert code == 0 and outputs["exitcode"] == "0", report
    assert "Apply complete! Resources: 3 added, 1 changed, 0 destroyed." in report
    assert outputs["adds"] == "3"


def test_action_reports_a_failed_validation_instead_of_a_plan(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    shutil.copytree(QUICKSTART, ws, ignore=shutil.ignore_patterns(".adaptive-deploy"))
    config = ws / "adaptive-deploy.yaml"
    config.write_text(config.read_text().replace("kv_cache_len: 300000", "kv_cache_len: 900000"))
    code, outputs, report, _ = _run_action(tmp_path, COMMAND="plan", DIR=str(ws),
                                           FAIL_ON_ERROR="false")
    assert code == 0 and outputs["exitcode"] == "1"
    assert outputs["validation-failed"] == "true"
    assert "is invalid; nothing was planned" in report and "AD301" in report
    code, outputs, _, _ = _run_action(tmp_path, COMMAND="plan", DIR=str(ws))
    assert code == 1   # fail-on-error defaults to true


def _script_invocations() -> list[Invocation]:
    """Every command line action/run.py builds: `tool(...)` calls and `args = [...]` lists,
    literal strings only (variables become placeholders)."""
    import ast

    tree = ast.parse((ROOT / "action" / "run.py").read_text())
    found = []
    for node in ast.walk(tree):
        elts: list[ast.expr] | None = None
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "tool":
            elts = list(node.args)
        elif isinstance(node, ast.List) and node.elts and isinstance(node.elts[0], ast.Constant) \
                and node.elts[0].value in cli_main._COMMANDS:
            elts = list(node.elts)
        if elts and isinstance(elts[0], ast.Constant) and elts[0].value in cli_main._COMMANDS:
            argv = tuple(e.value if isinstance(e, ast.Constant) else "$VALUE" for e in elts
                         if not isinstance(e, ast.Starred))
            found.append(Invocation(f"action/run.py:{node.lineno}", argv))
    return found


@pytest.mark.parametrize(
    "invocation", _script_invocations() + all_invocations(),
    ids=lambda inv: f"{inv.source}: {' '.join(inv.argv)}",
)
def test_invoked_commands_and_options_exist(invocation: Invocation) -> None:
    command, rest = _resolve(invocation.argv)
    assert check_options(command, rest) == [], invocation.source


def test_the_action_invokes_the_promised_commands() -> None:
    flat = {" ".join(inv.argv) for inv in _script_invocations()}
    for expected in ("validate $VALUE --format github", "show $VALUE --format json",
                     "plan $VALUE --format $VALUE --detailed-exitcode --out $VALUE",
                     "drift $VALUE --format $VALUE", "diff $VALUE --base $VALUE --format $VALUE",
                     "apply $VALUE --lock-timeout $VALUE"):
        assert expected in flat, (expected, flat)


# -- environments: one job per environment -------------------------------------------------

ENV_EXAMPLES = {name: _load(EXAMPLES / f"environments-{name}.yml")
                for name in ("plan", "drift", "apply")}


def test_environments_workflow_lists_targets_with_the_action() -> None:
    wf = _load(WORKFLOWS / "environments.yml")
    assert set(_on(wf)["workflow_call"]["outputs"]) == {"matrix", "targets", "touched"}
    [job] = wf["jobs"].values()
    assert job["permissions"] == {"contents": "read"}
    tool = next(s for s in job["steps"] if s.get("id") == "tool")
    assert tool["with"]["command"] == "environments"
    assert tool["with"]["base-ref"] == "${{ inputs.base-ref }}"
    checkout = job["steps"][0]
    assert checkout["with"]["fetch-depth"] == 0   # the changed-files check needs history


def test_environment_examples_run_one_job_per_environment() -> None:
    plan = ENV_EXAMPLES["plan"]["jobs"]
    assert plan["environments"]["with"]["base-ref"] == "origin/${{ github.base_ref }}"
    matrix = plan["plan"]["strategy"]["matrix"]["target"]
    assert matrix == "${{ fromJSON(needs.environments.outputs.matrix) }}"
    assert plan["plan"]["strategy"]["fail-fast"] is False
    assert plan["plan"]["with"]["working-directory"] == "${{ matrix.target.directory }}"
    assert plan["plan"]["uses"].split("@")[0].endswith("/plan-comment.yml")
    # The required check reports on every pull request, planned or not.
    assert plan["planned"]["if"] == "always()"
    assert set(plan["planned"]["needs"]) == {"environments", "plan"}
    drift = ENV_EXAMPLES["drift"]["jobs"]
    assert "base-ref" not in drift["environments"]["with"]   # every environment, every day
    assert drift["drift"]["uses"].split("@")[0].endswith("/drift.yml")
    assert drift["drift"]["with"]["working-directory"] == "${{ matrix.target.directory }}"
    # Secrets are named statically (a computed secrets[...] would provision them all).
    for name, wf in ENV_EXAMPLES.items():
        for job in wf["jobs"].values():
            for value in (job.get("secrets") or {}).values():
                assert "secrets[" not in value and "secrets." in value, (name, value)


def test_environment_apply_promotes_staging_before_production() -> None:
    jobs = ENV_EXAMPLES["apply"]["jobs"]
    assert jobs["environments"]["with"]["base-ref"] == "${{ github.event.before }}"
    assert jobs["staging"]["with"]["environment"] == "staging"
    assert jobs["production"]["with"]["environment"] == "production"
    assert "staging" in jobs["production"]["needs"]
    cond = jobs["production"]["if"]
    assert "needs.staging.result == 'success'" in cond and "always()" in cond
    assert "needs.staging.result == 'failure'" not in cond


ENVIRONMENTS = ROOT / "examples" / "environments"


def _git(repo: Path, *args: str) -> None:
    import os

    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"}
    subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)


def test_action_environments_lists_what_a_change_touches(tmp_path: Path) -> None:
    import json
    import os

    repo = tmp_path / "repo"
    shutil.copytree(ENVIRONMENTS, repo / "envs", ignore=shutil.ignore_patterns(".adaptive-deploy"))
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "environments")
    cwd = os.getcwd()
    os.chdir(repo)   # the action runs in the checkout; DIR is relative to it
    try:
        code, outputs, _, summary = _run_action(tmp_path, COMMAND="environments", DIR="envs/*",
                                                BASE_REF="main")
        assert code == 0 and outputs["touched"] == "false" and outputs["targets"] == "[]"
        assert "Nothing to plan" in summary
        models = repo / "envs" / "base" / "models.yaml"
        models.write_text(models.read_text().replace("rank: 32", "rank: 16"))
        code, outputs, _, summary = _run_action(tmp_path, COMMAND="environments", DIR="envs/*",
                                                BASE_REF="main")
        assert code == 0 and outputs["touched"] == "true"
        assert json.loads(outputs["matrix"]) == [
            {"directory": "envs/production", "name": "production", "id": "PRODUCTION"},
            {"directory": "envs/staging", "name": "staging", "id": "STAGING"}]
        # Without a ref (a scheduled drift run, or a new branch's push): every environment.
        code, outputs, _, _ = _run_action(tmp_path, COMMAND="environments", DIR="envs/*",
                                          BASE_REF="0" * 40)
        assert json.loads(outputs["targets"]) == ["envs/production", "envs/staging"]
    finally:
        os.chdir(cwd)


def test_action_passes_credentials_under_the_names_an_environment_reads(
        tmp_path: Path) -> None:
    """The workflows give the step ADAPTIVE_API_KEY / ADAPTIVE_BASE_URL; the staging
    environment reads STAGING_ADAPTIVE_API_KEY and ${env:STAGING_ADAPTIVE_BASE_URL}."""
    from tests.fixtures.emulator import EmulatorServer

    envs = tmp_path / "envs"
    shutil.copytree(ENVIRONMENTS, envs, ignore=shutil.ignore_patterns(".adaptive-deploy"))
    server = EmulatorServer(db_path=tmp_path / "staging.db", log_path=tmp_path / "staging.log",
                            extra_args=["--seed", "staging"])
    server.start()
    try:
        code, outputs, report, _ = _run_action(
            tmp_path, COMMAND="plan", DIR=str(envs / "staging"),
            ADAPTIVE_API_KEY=server.readonly_key, ADAPTIVE_BASE_URL=server.base_url)
    finally:
        server.stop()
    assert code == 0 and outputs["exitcode"] == "2", report
    assert outputs["adds"] != "0" and "Plan:" in report
    assert server.readonly_key not in report
