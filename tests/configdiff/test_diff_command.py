"""`adaptive-deploy diff --base REF` end to end over real temporary git repositories."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from adaptive_deploy.cli.main import cli
from tests.configdiff.gitrepo import BASE_MAIN, BASE_MODELS, HEAD_MODELS, GitRepo


def run_diff(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, ["diff", *args], env=env, catch_exceptions=False)


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    """Two commits: the base config, then kv_cache_len raised + pools reordered + a comment."""
    r = GitRepo(tmp_path / "repo")
    r.write("main.yaml", BASE_MAIN)
    r.write("models.yaml", BASE_MODELS)
    r.commit("base")
    r.write("models.yaml", HEAD_MODELS)
    r.commit("raise kv cache")
    return r


def doc_of(result: Result) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_reports_exactly_the_changed_field_with_memory_impact(repo: GitRepo) -> None:
    result = run_diff(str(repo.workspace), "--base", "HEAD~1", "--format", "json")
    assert result.exit_code == 2, result.output
    doc = doc_of(result)
    assert doc["changes"] == [{
        "address": "model.qwen-3-8b", "action": "change",
        "fields": [{
            "path": "compute_config.kv_cache_len", "kind": "changed",
            "before": 300000, "after": 400000, "affects_memory": True,
        }],
    }]
    impacts = {(m["deployment"], m["pool"]): m for m in doc["memory"]}
    assert set(impacts) == {
        ("deployment.support/qwen-3-8b", "pool-1"), ("deployment.support/qwen-3-8b", "pool-2"),
    }
    h100 = impacts[("deployment.support/qwen-3-8b", "pool-1")]
    assert h100["gpu"] == "H100-80GB"
    assert h100["before"]["kv_cache_len"] == 300000 and h100["after"]["kv_cache_len"] == 400000
    # 100k more tokens of Qwen3-8B KV (147,456 B/token, reference/memory.md) ≈ 13.7 GiB.
    grown = h100["after"]["total_gib"] - h100["before"]["total_gib"]
    assert grown == pytest.approx(100_000 * 147_456 / 2**30, abs=0.05)
    assert h100["after"]["usable_gib"] == h100["before"]["usable_gib"]
    assert h100["causes"] == ["model.qwen-3-8b compute_config.kv_cache_len 300000 → 400000"]
    assert doc["summary"] == {"add": 0, "change": 1, "remove": 0}


def test_text_output_names_old_and_new_values_and_gpu_figures(repo: GitRepo) -> None:
    result = run_diff(str(repo.workspace), "--base", "HEAD~1", env={"NO_COLOR": "1"})
    assert result.exit_code == 2
    out = result.stdout
    assert "~ model.qwen-3-8b" in out
    assert "compute_config.kv_cache_len: 300000 → 400000" in out
    assert "GiB of 71.3 usable per H100-80GB" in out
    assert "usable per H200-141GB, fits" in out
    # Pool order, comments and key order are not differences.
    assert "compute_pools" not in out and "deployment.support/qwen-3-8b\n" not in out
    assert out.rstrip().endswith("Diff: 0 to add, 1 to change, 0 to remove.")


def test_markdown_output_is_a_pr_comment_table(repo: GitRepo) -> None:
    result = run_diff(str(repo.workspace), "--base", "HEAD~1", "--format", "markdown")
    assert result.exit_code == 2
    out = result.stdout
    assert out.startswith("### adaptive-deploy diff against `HEAD~1")
    assert "| `~` | `model.qwen-3-8b` | `compute_config.kv_cache_len` 🧮 | `300000` → `400000` |" in out
    assert "#### Memory impact per GPU" in out
    assert "| `support/qwen-3-8b` | `pool-1` H100-80GB |" in out


def test_formatting_only_commit_is_no_difference(repo: GitRepo) -> None:
    # Move the project into its own file and reformat: same merged configuration.
    models, _, projects = HEAD_MODELS.partition("projects:")
    repo.write("models.yaml", models)
    repo.write("projects.yml", "projects:" + projects.replace("[pool-2, pool-1]", "[pool-1, pool-2]"))
    repo.commit("split files")
    result = run_diff(str(repo.workspace), "--base", "HEAD~1")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("No differences. The configuration matches HEAD~1")
    # The working tree is compared, not HEAD: an uncommitted edit is a difference.
    repo.write("projects.yml", (repo.workspace / "projects.yml").read_text().replace(
        "name: Customer support", "name: Support"))
    result = run_diff(str(repo.workspace), "--base", "HEAD", "--format", "json")
    assert result.exit_code == 2
    assert doc_of(result)["changes"] == [{
        "address": "project.support", "action": "change",
        "fields": [{"path": "name", "kind": "changed", "before": "Customer support",
                    "after": "Support", "affects_memory": False}],
    }]
    assert doc_of(result)["memory"] == []


def test_files_added_and_removed_between_refs(repo: GitRepo) -> None:
    repo.write("jobs.yaml", """\
jobs:
  train-qwen-draft:
    recipe: specdec_alignment
    project: support
    args: {target_model: qwen-3-8b, dataset: "${env:DATASET_NAME}"}
""")
    repo.commit("add a job file")
    result = run_diff(
        str(repo.workspace), "--base", "HEAD~1", "--format", "json",
        env={"DATASET_NAME": "top-secret-dataset"},
    )
    assert result.exit_code == 2
    doc = doc_of(result)
    assert [(c["address"], c["action"]) for c in doc["changes"]] == [("job.train-qwen-draft", "add")]
    # Templates are compared as templates, never resolved.
    assert "${env:DATASET_NAME}" in result.stdout
    assert "top-secret-dataset" not in result.stdout

    repo.remove("jobs.yaml")
    result = run_diff(str(repo.workspace), "--base", "HEAD", "--format", "json")
    assert result.exit_code == 2
    removed = doc_of(result)["changes"]
    assert [(c["address"], c["action"]) for c in removed] == [("job.train-qwen-draft", "remove")]
    assert {f["path"] for f in removed[0]["fields"]} == {"recipe", "project", "args"}


def test_placement_pool_membership_change_reports_memory(repo: GitRepo) -> None:
    repo.write("models.yaml", HEAD_MODELS.replace("[pool-2, pool-1]", "[pool-2]"))
    result = run_diff(str(repo.workspace), "--base", "HEAD", "--format", "json")
    assert result.exit_code == 2
    doc = doc_of(result)
    change = doc["changes"][0]
    assert change["address"] == "deployment.support/qwen-3-8b"
    assert change["fields"][0]["path"] == "placement.compute_pools"
    assert change["fields"][0]["before"] == ["pool-2", "pool-1"]
    assert change["fields"][0]["after"] == ["pool-2"]
    [impact] = doc["memory"]
    assert (impact["pool"], impact["after"]) == ("pool-1", None)
    assert impact["causes"] == [
        "deployment.support/qwen-3-8b placement.compute_pools [pool-2, pool-1] → [pool-2]"
    ]


def test_workspace_absent_at_base_is_all_additions(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "repo")
    (repo.root / "README.md").write_text("nothing yet\n")
    repo.commit("empty")
    repo.write("main.yaml", BASE_MAIN)
    repo.write("models.yaml", BASE_MODELS)
    result = run_diff(str(repo.workspace), "--base", "HEAD", "--format", "json")
    assert result.exit_code == 2, result.output
    doc = doc_of(result)
    assert doc["summary"]["add"] == len(doc["changes"]) > 0
    assert "model.qwen-3-8b" in {c["address"] for c in doc["changes"]}
    assert any(m["before"] is None and m["after"] for m in doc["memory"])
    assert any("no configuration files" in n for n in doc["notes"])


def test_bad_ref_exits_1_with_a_clear_message(repo: GitRepo) -> None:
    result = run_diff(str(repo.workspace), "--base", "no-such-branch")
    assert result.exit_code == 1
    assert "unknown git ref 'no-such-branch'" in result.stderr
    assert "Traceback" not in result.output
    result = run_diff(str(repo.workspace), "--base", "--upload-pack=evil")
    assert result.exit_code == 1
    assert "invalid git ref" in result.stderr


def test_usage_errors_exit_1_not_2(repo: GitRepo) -> None:
    # 2 means "differences"; a missing --base or an unknown option must not look like that.
    result = run_diff(str(repo.workspace))
    assert result.exit_code == 1
    assert "--base" in result.output
    result = run_diff(str(repo.workspace), "--base", "HEAD", "--format", "yaml")
    assert result.exit_code == 1


def test_not_a_git_repository_exits_1(tmp_path: Path) -> None:
    (tmp_path / "main.yaml").write_text(BASE_MAIN)
    result = run_diff(str(tmp_path), "--base", "HEAD")
    assert result.exit_code == 1
    assert "not inside a usable git repository" in result.stderr
    assert "not a git repository" in result.stderr


def test_invalid_base_config_reports_ref_file_and_line(repo: GitRepo) -> None:
    repo.write("models.yaml", BASE_MODELS.replace("precision: bf16", "precison: bf16"))
    repo.commit("typo")
    repo.write("models.yaml", BASE_MODELS)
    result = run_diff(str(repo.workspace), "--base", "HEAD")
    assert result.exit_code == 1
    assert "the configuration at HEAD is invalid" in result.stderr
    # The diagnostic names the file as it is in git, with its line, and a code.
    assert "HEAD:deploy/models.yaml:4:" in result.stderr
    assert "error[AD" in result.stderr
    assert "adaptive-deploy-base-" not in result.stderr


def test_invalid_head_config_exits_1(repo: GitRepo) -> None:
    repo.write("models.yaml", HEAD_MODELS.replace("kv_cache_len: 400000", "kv_cache_len: -5"))
    result = run_diff(str(repo.workspace), "--base", "HEAD~1")
    assert result.exit_code == 1
    assert "models.yaml:4:" in result.stderr
    assert "error[AD" in result.stderr


def test_draft_and_adapter_impact_is_attributed_per_pool(repo: GitRepo) -> None:
    text = HEAD_MODELS.replace(
        "    architecture: qwen3-8b\n", "    architecture: qwen3-8b\n    draft: qwen3-0.6b\n",
    ).replace(
        "projects:\n",
        "  support-lora-v3:\n    adapter_of: qwen-3-8b\n    rank: 16\nprojects:\n",
    ).replace(
        "    deployments:\n",
        "    deployments:\n      support-lora-v3:\n        placement: {compute_pools: [pool-1]}\n",
    )
    repo.write("models.yaml", text)
    result = run_diff(str(repo.workspace), "--base", "HEAD", "--format", "json")
    assert result.exit_code == 2, result.output
    doc = doc_of(result)
    assert [(c["address"], c["action"]) for c in doc["changes"]] == [
        ("model.qwen-3-8b", "change"), ("model.support-lora-v3", "add"),
        ("deployment.support/support-lora-v3", "add"),
    ]
    impacts = {m["pool"]: m for m in doc["memory"]}
    draft = "model.qwen-3-8b draft added: qwen3-0.6b"
    # The adapter is placed on pool-1 only: it explains pool-1's growth, not pool-2's.
    assert impacts["pool-1"]["causes"] == [
        draft, "model.support-lora-v3 added", "deployment.support/support-lora-v3 added",
    ]
    assert impacts["pool-2"]["causes"] == [draft]
    assert impacts["pool-1"]["after"]["adapters"] == 1 and impacts["pool-2"]["after"]["adapters"] == 0
    # The 0.6B draft adds its weights and 114,688 B/token of KV (reference/memory.md).
    grown = impacts["pool-2"]["after"]["total_gib"] - impacts["pool-2"]["before"]["total_gib"]
    assert grown == pytest.approx(1.11 + 400_000 * 114_688 / 2**30, abs=0.1)
    assert impacts["pool-1"]["after"]["verdict"] == "does-not-fit"
    assert impacts["pool-2"]["after"]["verdict"] == "fits"


def test_byte_identical_files_are_parsed_once(
    repo: GitRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two sides of `diff --base` share their unchanged files' parse (main.yaml here); the
    reused side still locates its diagnostics in its own file."""
    from adaptive_deploy.config import loader

    parsed: list[str] = []
    real = loader._parse

    def counting(text: str, name: str, diags: list[Any]) -> Any:
        parsed.append(Path(name).name)
        return real(text, name, diags)

    monkeypatch.setattr(loader, "_parse", counting)
    result = run_diff(str(repo.workspace), "--base", "HEAD~1", "--format", "json")
    assert result.exit_code == 2, result.output
    assert sorted(parsed) == ["main.yaml", "models.yaml", "models.yaml"]
    assert loader._reuse is None   # the cache lives for one diff only


def test_a_reused_parse_locates_positions_in_its_own_file(tmp_path: Path) -> None:
    from adaptive_deploy.config.loader import load_config, reusing_parses

    for side in ("a", "b"):
        (tmp_path / side).mkdir()
        (tmp_path / side / "main.yaml").write_text(BASE_MAIN + BASE_MODELS)
    with reusing_parses():
        first = load_config(tmp_path / "a")
        second = load_config(tmp_path / "b")
    assert first.raw == second.raw and first.raw is not second.raw
    path = ("models", "qwen-3-8b", "compute_config", "kv_cache_len")
    assert first.source.locate(path, value=True)[1:] == second.source.locate(path, value=True)[1:]
    assert second.source.locate(path, value=True)[0] == str(tmp_path / "b" / "main.yaml")
