"""Commands over environment directories, offline: validate and fit of several directories and
of a base, validate --explain, diff SOURCE TARGET (promotion), diff --base on an environment,
and plan/state refusing a base."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from adaptive_deploy.cli.main import cli
from tests.configdiff.gitrepo import GitRepo

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "environments"


def run(*args: str) -> Result:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert "Traceback" not in result.output
    return result


@pytest.fixture
def example(tmp_path: Path) -> Path:
    """A copy of examples/environments (base, staging, production)."""
    dest = tmp_path / "environments"
    shutil.copytree(EXAMPLE, dest, ignore=shutil.ignore_patterns(".adaptive-deploy"))
    return dest


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# ------------------------------------------------------------------------------ validate


def test_validate_several_directories_says_which_is_a_base(example: Path) -> None:
    dirs = [str(example / d) for d in ("base", "production", "staging")]
    result = run("validate", *dirs)
    assert result.exit_code == 0, result.output
    assert f"{dirs[0]}: base\n" in result.stdout
    assert "note: a base: it sets no version, workspace, platform or state" in result.stdout
    assert f"{dirs[1]}: environment over {dirs[0]}" in result.stdout
    assert "3 directories: 3 valid, 0 with errors." in result.stdout
    doc = json.loads(run("validate", *dirs, "--format", "json").stdout)
    assert doc["valid"] is True
    assert [(d["kind"], d["base"]) for d in doc["directories"]] == [
        ("base", None), ("environment", "../base"), ("environment", "../base")]
    assert [layer["role"] for layer in doc["directories"][1]["layers"]] == ["environment", "base"]


def test_validate_exits_with_the_worst_code_and_checks_every_directory(example: Path) -> None:
    write(example / "production" / "broken.yaml", "projects:\n  research:\n    deployments:\n"
          "      qwen-3-30b-a3b:\n        placement: {compute_pools: [pool-9]}\n")
    result = run("validate", str(example / "staging"), str(example / "production"))
    assert result.exit_code == 1
    out = result.stdout
    assert "Configuration is valid." in out.split(str(example / "production") + ":")[0]
    # The error is located in the production layer's file, at the overlay's line.
    assert f"{example / 'production' / 'broken.yaml'}:5:" in out and "error[AD360]" in out
    assert "2 directories: 1 valid, 1 with errors." in out
    gh = run("validate", str(example / "base"), str(example / "production"), "--format", "github")
    assert gh.exit_code == 1
    assert f"::notice title={example / 'base'}::" in gh.stdout
    assert "::error file=" in gh.stdout and "broken.yaml" in gh.stdout


def test_two_environments_with_one_workspace_name_are_warned(example: Path) -> None:
    env = example / "production" / "environment.yaml"
    env.write_text(env.read_text().replace("workspace: production", "workspace: staging"))
    result = run("validate", str(example / "staging"), str(example / "production"))
    assert result.exit_code == 0
    assert f"{env}:4:12: warning[AD156]: workspace 'staging' is also the workspace of " \
        f"{example / 'staging'}" in result.stdout


def test_a_single_plain_workspace_prints_as_before(tmp_path: Path) -> None:
    ws = Path(__file__).resolve().parents[2] / "examples" / "quickstart"
    result = run("validate", str(ws))
    assert result.exit_code == 0 and result.stdout == "Configuration is valid.\n"


def test_validate_a_base_alone_checks_its_structure(example: Path) -> None:
    base = example / "base"
    assert run("validate", str(base)).exit_code == 0
    write(base / "bad.yaml", "projects:\n  other:\n    deployments:\n      qwen-3-8b: {is_default: yes-please}\n")
    result = run("validate", str(base))
    assert result.exit_code == 1 and "error[AD202]" in result.stdout
    assert f"{base / 'bad.yaml'}:4:" in result.stdout


def test_explain_shows_the_layer_a_value_comes_from(example: Path) -> None:
    prod = example / "production"
    result = run("validate", str(prod), "--explain", "models.qwen-3-8b.compute_config.kv_cache_len",
                 "--explain", "models.qwen-3-8b.compute_config.max_seq_len",
                 "--explain", "projects.sales.deployments.legal-lora-v2")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "models.qwen-3-8b.compute_config.kv_cache_len = 300000" in out
    assert f"final value at {prod / 'cluster.yaml'}:8:" in out
    assert f"base        {example / 'base'} sets 65536  ({example / 'base' / 'models.yaml'}:9:" in out
    assert f"environment {prod} overrides with 300000  ({prod / 'cluster.yaml'}:8:" in out
    assert f"base        {example / 'base'} sets 32768" in out
    assert "projects.sales.deployments.legal-lora-v2 is not in the merged configuration" in out
    assert f"environment {prod} removes it  ({prod / 'environment.yaml'}:7:5)" in out
    doc = json.loads(run("validate", str(prod), "--explain", "compute_pools.pool-1.gpu",
                         "--format", "json").stdout)
    [item] = doc["explain"]
    assert item["value"] == "H100-80GB" and item["file"] == str(prod / "cluster.yaml")
    assert [(s["role"], s["action"]) for s in item["layers"]] == [("environment", "sets")]
    missing = run("validate", str(prod), "--explain", "models.nothing")
    assert missing.exit_code == 1 and "no layer defines this path" in missing.stdout


# ------------------------------------------------------------------------------ fit


def test_fit_several_directories_and_a_base(example: Path) -> None:
    result = run("fit", str(example / "staging"), str(example / "production"))
    assert result.exit_code == 0, result.output
    out = result.stdout
    staging, production = out.split(f"== {example / 'production'} (environment) ==")
    assert "L40S-48GB" in staging and "H200-141GB" not in staging
    assert "H200-141GB" in production and "L40S-48GB" not in production
    doc = json.loads(run("fit", str(example / "staging"), str(example / "production"),
                         "--format", "json").stdout)
    kv = {(d["directory"], r["deployment"], r["pool"]): r["kv_cache_len"]
          for d in doc["directories"] for r in d["memory"]}
    assert kv[(str(example / "staging"), "deployment.support/qwen-3-8b", "pool-1")] == 100000
    assert kv[(str(example / "production"), "deployment.support/qwen-3-8b", "pool-1")] == 300000
    base = run("fit", str(example / "base"))
    assert base.exit_code == 0 and "is a base" in base.stderr and "unchecked" in base.stdout


# ------------------------------------------------------------------------------ refusals


@pytest.mark.parametrize("args", [("plan",), ("apply", "--auto-approve"), ("drift",),
                                  ("state", "list"), ("import",), ("status",),
                                  ("destroy", "--auto-approve", "--allow-destroy")])
def test_commands_that_need_a_platform_refuse_a_base(example: Path, args: tuple[str, ...]) -> None:
    result = run(*args, str(example / "base"))
    assert result.exit_code == 1
    assert "is a base: it sets no version, workspace, platform or state" in result.output
    assert not (example / "base" / ".adaptive-deploy").exists()


# ------------------------------------------------------------------------------ diff


def promote(source: Path, target: Path, *extra: str) -> tuple[Result, dict[str, Any]]:
    result = run("diff", str(source), str(target), "--format", "json", *extra)
    return result, json.loads(result.stdout)


def test_promotion_diff_of_the_example(example: Path) -> None:
    result, doc = promote(example / "staging", example / "production")
    assert result.exit_code == 2, result.output
    # What staging has that production would get: the trial adapter, nothing else.
    assert [(c["address"], c["action"]) for c in doc["changes"]] == [
        ("model.triage-lora-v1", "add"), ("deployment.support/triage-lora-v1", "add")]
    # ... with the memory it costs on production's GPUs, not staging's.
    impact = {(m["deployment"], m["pool"]): m for m in doc["memory"]}
    row = impact[("deployment.support/qwen-3-8b", "pool-2")]
    assert row["gpu"] == "H200-141GB" and row["before"]["kv_cache_len"] == 300000
    assert row["after"]["adapters_gib"] > row["before"]["adapters_gib"]
    # Production's own values are kept and listed, with where they are set.
    pinned = {(p["address"], p["path"]): p for p in doc["environment_specific"]}
    kv = pinned[("model.qwen-3-8b", "compute_config.kv_cache_len")]
    assert (kv["target"], kv["source"]) == (300000, 100000)
    assert kv["file"] == str(example / "production" / "cluster.yaml") and kv["line"] == 8
    assert pinned[("compute_pool.pool-1", "gpu")]["source"] == "L40S-48GB"
    legal = pinned[("deployment.sales/legal-lora-v2", "")]
    assert legal["removed"] is True and legal["line"] == 7
    assert ("workspace", "value") in pinned and doc["valid"] is True
    # The trial adapter comes from staging's own file, not the base: listed with its lines,
    # as it may be meant for staging alone. Staging's pools and caches are pinned, not carried.
    trial = example / "staging" / "trial.yaml"
    assert [(c["address"], c["path"], c["value"], c["file"], c["line"])
            for c in doc["source_specific"]] == [
        ("deployment.support/triage-lora-v1", "placement.compute_pools", ["pool-1", "pool-2"],
         str(trial), 10),
        ("model.triage-lora-v1", "adapter_of", "qwen-3-8b", str(trial), 5),
        ("model.triage-lora-v1", "rank", 64, str(trial), 5)]
    text = run("diff", str(example / "staging"), str(example / "production")).stdout
    assert f"  + model.triage-lora-v1 rank: 64 ({trial}:5)" in text
    assert "From " in text and "own files: 3 values carried." in text
    assert text.startswith(f"Promoting {example / 'staging'} to {example / 'production'} would change:")
    assert "Environment-specific (set in" in text
    assert "  = model.qwen-3-8b compute_config.kv_cache_len: 300000 here, 100000 in" in text


def test_promoting_back_and_the_same_environment(example: Path) -> None:
    result, doc = promote(example / "production", example / "staging")
    # Staging's own layer (its trial adapter, its pools and compute configs) stays staging's;
    # what production's configuration would change there: the legal adapter, which only
    # production's own layer removes, goes.
    assert result.exit_code == 2
    assert [(c["address"], c["action"]) for c in doc["changes"]] == [
        ("deployment.sales/legal-lora-v2", "remove")]
    pinned = {(p["address"], p["path"]): p for p in doc["environment_specific"]}
    trial = pinned[("deployment.support/triage-lora-v1", "placement.compute_pools")]
    assert trial["source"] is None and trial["target"] == ["pool-1", "pool-2"]
    # ... and that removal is production's own, not the base's: carried, with its line.
    assert doc["source_specific"] == [
        {"address": "deployment.sales/legal-lora-v2", "path": "", "value": None,
         "file": str(example / "production" / "environment.yaml"), "line": 7, "removed": True}]
    same, doc = promote(example / "staging", example / "staging")
    assert same.exit_code == 0 and doc["changes"] == [] and doc["environment_specific"] == []
    assert doc["source_specific"] == []


def test_a_promotion_that_would_make_the_target_invalid_exits_1(tmp_path: Path) -> None:
    write(tmp_path / "base" / "m.yaml", "models:\n  qwen-3-8b:\n    compute_config: {tp: 1, kv_cache_len: 100000}\n"
          "projects:\n  support:\n    deployments:\n      qwen-3-8b:\n"
          "        placement: {compute_pools: [pool-1]}\n")
    big = write(tmp_path / "big" / "e.yaml", "version: 1\nworkspace: big\nbase: ../base\n"
                "compute_pools:\n  pool-1: {gpu: H200-141GB}\n"
                "models:\n  qwen-3-8b:\n    compute_config: {kv_cache_len: 600000}\n")
    write(tmp_path / "small" / "e.yaml", "version: 1\nworkspace: small\nbase: ../base\n"
          "compute_pools:\n  pool-1: {gpu: H100-80GB}\n")
    result, doc = promote(tmp_path / "big", tmp_path / "small")
    assert result.exit_code == 1
    [d] = doc["diagnostics"]
    # Located at the node the rule names (the placement's pool, which the base defines).
    assert d["code"] == "AD301" and d["file"] == str(tmp_path / "base" / "m.yaml")
    assert doc["memory"][0]["after"]["verdict"] == "does-not-fit"
    assert doc["changes"][0]["fields"][0]["path"] == "compute_config.kv_cache_len"
    text = run("diff", str(tmp_path / "big"), str(tmp_path / "small")).stdout
    assert "Promoting would make" in text and "error[AD301]" in text
    # The promoted value is big's own, not pinned by small: a change, not environment-specific.
    assert doc["environment_specific"] == [
        {"address": "compute_pool.pool-1", "path": "gpu", "target": "H100-80GB",
         "source": "H200-141GB", "file": str(tmp_path / "small" / "e.yaml"), "line": 5,
         "removed": False},
        {"address": "workspace", "path": "value", "target": "small", "source": "big",
         "file": str(tmp_path / "small" / "e.yaml"), "line": 2, "removed": False}]
    # ... and listed as big's own value that the promotion carries over.
    assert doc["source_specific"] == [
        {"address": "model.qwen-3-8b", "path": "compute_config.kv_cache_len", "value": 600000,
         "file": str(big), "line": 8, "removed": False}]
    assert big.exists()


def test_two_plain_workspaces_are_compared_directly(tmp_path: Path) -> None:
    model = "models:\n  qwen-3-8b:\n    compute_config: {{kv_cache_len: {kv}}}\n"
    write(tmp_path / "a" / "w.yaml", "version: 1\nworkspace: a\n" + model.format(kv=1000))
    write(tmp_path / "b" / "w.yaml", "version: 1\nworkspace: b\n" + model.format(kv=2000))
    result, doc = promote(tmp_path / "a", tmp_path / "b")
    assert result.exit_code == 2
    [change] = doc["changes"]
    assert change["fields"][0]["before"] == 2000 and change["fields"][0]["after"] == 1000
    assert [(p["address"], p["target"]) for p in doc["environment_specific"]] == [("workspace", "b")]


def test_diff_usage_errors(example: Path) -> None:
    both = run("diff", str(example / "staging"), str(example / "production"), "--base", "HEAD")
    assert both.exit_code == 1 and "not both" in both.output
    three = run("diff", str(example / "staging"), str(example / "production"), str(example / "base"))
    assert three.exit_code == 1
    neither = run("diff", str(example / "staging"))
    assert neither.exit_code == 1 and "two directories" in neither.output
    base = run("diff", str(example / "base"), str(example / "production"))
    assert base.exit_code == 1 and "is a base" in base.output


def test_diff_base_ref_reads_the_base_directory_at_the_ref(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "repo", subdir="deploy/envs/prod")
    base = tmp_path / "repo" / "deploy" / "base"
    write(base / "models.yaml", "models:\n  qwen-3-8b:\n    compute_config: {tp: 1, kv_cache_len: 100000}\n"
          "projects:\n  support:\n    deployments:\n      qwen-3-8b:\n"
          "        placement: {compute_pools: [pool-1]}\n")
    repo.write("env.yaml", "version: 1\nworkspace: prod\nbase: ../../base\n"
               "compute_pools:\n  pool-1: {gpu: H100-80GB}\n")
    repo.commit("one")
    # A change in the base only: the environment's own files are untouched.
    write(base / "models.yaml", (base / "models.yaml").read_text().replace("100000", "200000"))
    result = run("diff", str(repo.workspace), "--base", "HEAD", "--format", "json")
    assert result.exit_code == 2, result.output
    doc = json.loads(result.stdout)
    [change] = doc["changes"]
    assert change["address"] == "model.qwen-3-8b"
    assert change["fields"][0]["before"] == 100000 and change["fields"][0]["after"] == 200000
    assert doc["memory"] and doc["memory"][0]["pool"] == "pool-1"
    # An error on the base side at the ref names the file as REF:path.
    write(base / "models.yaml", "models: [broken\n")
    repo.commit("broken base")
    write(base / "models.yaml", "models: {}\n")
    bad = run("diff", str(repo.workspace), "--base", "HEAD")
    assert bad.exit_code == 1
    assert "HEAD:deploy/base/models.yaml:" in bad.output and "error[AD105]" in bad.output


# ------------------------------------------------------------------------------ environments


def test_environments_lists_kinds_layers_and_targets(example: Path) -> None:
    dirs = [str(example / d) for d in ("base", "production", "staging")]
    doc = json.loads(run("environments", *dirs, "--format", "json").stdout)
    assert doc["targets"] == dirs[1:]
    assert [(d["kind"], d["touched"]) for d in doc["directories"]] == [
        ("base", None), ("environment", None), ("environment", None)]
    assert doc["directories"][1]["layers"] == [dirs[1], dirs[0]]
    text = run("environments", *dirs).stdout
    assert f"{dirs[2]}: environment over {dirs[0]}" in text


def test_environments_changed_since_a_ref_follows_bases(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "repo", subdir="")
    shutil.copytree(EXAMPLE, repo.root / "envs", ignore=shutil.ignore_patterns(".adaptive-deploy"))
    repo.commit("environments")
    envs = repo.root / "envs"
    dirs = [str(envs / d) for d in ("base", "production", "staging")]

    def targets() -> list[str]:
        result = run("environments", *dirs, "--changed-since", "HEAD", "--format", "json")
        assert result.exit_code == 0, result.output
        found: list[str] = json.loads(result.stdout)["targets"]
        return found

    assert targets() == []
    trial = envs / "staging" / "trial.yaml"
    trial.write_text(trial.read_text() + "# tweak\n")
    assert targets() == [dirs[2]]
    repo.commit("staging only")
    (envs / "base" / "projects.yaml").unlink()  # a base change (here a removal) touches both
    assert targets() == dirs[1:]
    repo.commit("base")
    notes = envs / "README.md"   # beside the environments, in none of their directories
    notes.write_text("notes\n")
    repo.commit("docs")
    notes.write_text("more notes\n")
    assert targets() == []
    arch = envs / "production" / "models" / "config.json"   # a file a configuration may name
    arch.parent.mkdir()
    arch.write_text("{}\n")
    repo.commit("architecture")
    arch.write_text('{"model_type": "qwen3"}\n')
    assert targets() == [dirs[1]]
    bad = run("environments", *dirs, "--changed-since", "no-such-ref")
    assert bad.exit_code == 1 and "unknown git ref" in bad.output
