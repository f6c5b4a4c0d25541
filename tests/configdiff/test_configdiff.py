"""configdiff over raw dicts: addresses, set semantics, list collapsing, memory impact."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from adaptive_deploy import gitsource
from adaptive_deploy.configdiff import compare, diff_configs, memory_impact, resources_of
from adaptive_deploy.errors import UsageError
from adaptive_deploy.render.configdiff import render_markdown, render_text
from tests.configdiff.gitrepo import GitRepo

RAW: dict[str, Any] = {
    "version": 1,
    "workspace": "prod",
    "compute_pools": {"pool-1": {"gpu": "H100-80GB"}, "pool-2": {"gpu": "H200-141GB"}},
    "models": {
        "qwen-3-8b": {"compute_config": {"tp": 1, "kv_cache_len": 300000, "max_seq_len": 32768}},
        "support-lora-v3": {"adapter_of": "qwen-3-8b", "rank": 16},
    },
    "projects": {
        "support": {
            "name": "Customer support",
            "deployments": {
                "qwen-3-8b": {"placement": {"compute_pools": ["pool-1", "pool-2"]}},
                "support-lora-v3": {"placement": {"compute_pools": ["pool-1"]}},
            },
        },
    },
    "jobs": {"train": {"recipe": "specdec_alignment", "project": "support",
                       "args": {"datasets": ["a", "b"], "token": "${env:HF_TOKEN}"}}},
}


def edited(path: str, value: Any) -> dict[str, Any]:
    """A copy of RAW with the value at `path` ("models:qwen-3-8b:rank") replaced."""
    raw = copy.deepcopy(RAW)
    *parents, last = path.split(":")
    node = raw
    for p in parents:
        node = node[p]
    node[last] = value
    return raw


def test_resources_are_split_by_address() -> None:
    res = resources_of(RAW)
    assert set(res) == {
        "version", "workspace", "compute_pool.pool-1", "compute_pool.pool-2",
        "model.qwen-3-8b", "model.support-lora-v3", "project.support",
        "deployment.support/qwen-3-8b", "deployment.support/support-lora-v3", "job.train",
    }
    assert "deployments" not in res["project.support"]


def test_identical_and_reordered_configs_have_no_differences() -> None:
    reordered = copy.deepcopy(RAW)
    reordered["projects"]["support"]["deployments"]["qwen-3-8b"]["placement"]["compute_pools"] = [
        "pool-2", "pool-1"]
    reordered["models"] = dict(reversed(list(reordered["models"].items())))
    assert compare(RAW, reordered).resources == []
    assert not diff_configs(RAW, reordered).has_differences


def test_other_lists_keep_their_order_and_are_reported_whole() -> None:
    d = compare(RAW, edited("jobs:train:args:datasets", ["b", "a"]))
    [change] = d.resources
    assert change.address == "job.train"
    [f] = change.fields
    assert (f.path, f.kind, f.before, f.after) == ("args.datasets", "changed", ["a", "b"], ["b", "a"])
    assert not f.affects_memory


def test_added_removed_and_changed_fields() -> None:
    head = copy.deepcopy(RAW)
    head["models"]["qwen-3-8b"]["precision"] = "fp8"
    del head["models"]["qwen-3-8b"]["compute_config"]["max_seq_len"]
    head["projects"]["support"]["description"] = "Tier 1"
    d = compare(RAW, head)
    by = {r.address: {f.path: f for f in r.fields} for r in d.resources}
    assert by["model.qwen-3-8b"]["precision"].kind == "added"
    assert by["model.qwen-3-8b"]["precision"].affects_memory
    removed = by["model.qwen-3-8b"]["compute_config.max_seq_len"]
    assert (removed.kind, removed.before, removed.after) == ("removed", 32768, None)
    assert not removed.affects_memory
    assert by["project.support"]["description"].after == "Tier 1"


def test_templates_are_compared_as_text() -> None:
    d = compare(RAW, edited("jobs:train:args:token", "${env:OTHER_TOKEN}"))
    [f] = d.resources[0].fields
    assert (f.before, f.after) == ("${env:HF_TOKEN}", "${env:OTHER_TOKEN}")


def test_whole_resources_added_and_removed_sort_in_apply_order() -> None:
    head = copy.deepcopy(RAW)
    del head["jobs"]["train"]
    head["projects"]["sales"] = {"deployments": {"qwen-3-8b": {}}}
    d = compare(RAW, head)
    assert [(r.address, r.action) for r in d.resources] == [
        ("project.sales", "add"), ("job.train", "remove"), ("deployment.sales/qwen-3-8b", "add"),
    ]
    assert d.summary() == {"add": 2, "change": 0, "remove": 1}
    # An empty deployment still moves memory (a new replica of the model).
    assert d.resources[2].affects_memory and d.resources[2].fields == ()


def _row(dep: str, pool: str, total: float, verdict: str = "fits", **extra: Any) -> dict[str, Any]:
    return {"deployment": dep, "pool": pool, "gpu": "H100-80GB", "tp": 1, "kv_cache_len": 1,
            "total_gib": total, "usable_gib": 71.26, "verdict": verdict, **extra}


def test_memory_impact_keeps_only_rows_that_moved_and_names_related_causes() -> None:
    head = edited("models:support-lora-v3:rank", 64)
    head["projects"]["support"]["name"] = "Support"
    d = compare(RAW, head)
    base_rows = [_row("deployment.support/qwen-3-8b", "pool-1", 59.5),
                 _row("deployment.support/qwen-3-8b", "pool-2", 59.5)]
    head_rows = [_row("deployment.support/qwen-3-8b", "pool-1", 59.8),
                 _row("deployment.support/qwen-3-8b", "pool-2", 59.5)]
    [impact] = memory_impact(d, base_rows, head_rows, (RAW, head))
    assert (impact.deployment, impact.pool) == ("deployment.support/qwen-3-8b", "pool-1")
    # The adapter's rank change explains it; the project rename does not.
    assert impact.causes == ("model.support-lora-v3 rank 16 → 64",)


def test_diff_configs_uses_the_fit_rows_of_both_workspaces() -> None:
    seen = []

    def rows(ws: Any, only: set[str] | None) -> list[dict[str, Any]]:
        seen.append((ws, only))
        return [_row("support/qwen-3-8b", "pool-1", 50.0 if ws == "base" else 80.0,
                     "fits" if ws == "base" else "does-not-fit", max_kv_cache_len=250000)]

    head = edited("models:qwen-3-8b:compute_config:kv_cache_len", 500000)
    d = diff_configs(RAW, head, base_workspace="base", head_workspace="head", fit_rows=rows)
    # Only the deployments the change reaches are computed (the adapter has no rows).
    reach = {"deployment.support/qwen-3-8b", "deployment.support/support-lora-v3"}
    assert seen == [("base", reach), ("head", reach)]
    [impact] = d.memory
    assert impact.deployment == "deployment.support/qwen-3-8b"
    text = render_text(d.to_dict())
    assert ("deployment.support/qwen-3-8b on pool-1: 50.0 → 80.0 GiB of 71.3 usable per "
            "H100-80GB, does-not-fit (was fits); largest kv_cache_len that fits: 250000") in text
    md = render_markdown(d.to_dict())
    assert "| 50.0 → 80.0 / 71.3 | ❌ **does-not-fit** (was fits) |" in md
    assert "Largest `kv_cache_len` that fits: 250,000." in md
    # A change with no memory effect never calls the memory model.
    seen.clear()
    diff_configs(RAW, edited("workspace", "dev"), base_workspace="b", head_workspace="h",
                 fit_rows=rows)
    assert seen == []
    # A memory rule reaches every deployment.
    head = copy.deepcopy(RAW)
    head["rules"] = {"memory": {"utilization": 0.92}}
    diff_configs(RAW, head, base_workspace="b", head_workspace="h", fit_rows=rows)
    assert seen == [("b", None), ("h", None)]


def test_pool_gpu_change_reaches_only_deployments_on_that_pool() -> None:
    seen: list[set[str] | None] = []

    def rows(ws: Any, only: set[str] | None) -> list[dict[str, Any]]:
        seen.append(only)
        return []

    diff_configs(RAW, edited("compute_pools:pool-2:gpu", "A100-80GB"), base_workspace="b",
                 head_workspace="h", fit_rows=rows)
    assert seen == [{"deployment.support/qwen-3-8b"}] * 2


def test_markdown_escapes_table_breaking_characters() -> None:
    d = compare(RAW, edited("projects:support:name", "A | B `x`"))
    out = render_markdown(d.to_dict())
    assert "`` \"A \\| B `x`\" ``" in out or "`` A \\| B `x` ``" in out


def test_gitsource_reads_only_the_directory_at_the_ref(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "r", subdir="infra/deploy")
    repo.write("a.yaml", "version: 1\n")
    repo.write("b.yml", "workspace: x\n")
    repo.write("notes.txt", "not config\n")
    (repo.workspace / "nested").mkdir()
    (repo.workspace / "nested" / "c.yaml").write_text("ignored: true\n")
    (repo.root / "top.yaml").write_text("outside: true\n")
    repo.commit("one")
    repo.write("a.yaml", "version: 2\n")  # working tree only: the ref is what is read
    dest = tmp_path / "out"
    dest.mkdir()
    snap = gitsource.snapshot(repo.workspace, "HEAD", dest)
    assert snap.prefix == "infra/deploy/"
    assert snap.names == {"infra/deploy/a.yaml": "infra/deploy/a.yaml",
                          "infra/deploy/b.yml": "infra/deploy/b.yml"}
    assert snap.own == ("infra/deploy/a.yaml", "infra/deploy/b.yml")
    assert snap.workspace_dir == dest / "infra" / "deploy"
    assert (snap.workspace_dir / "a.yaml").read_text() == "version: 1\n"
    assert snap.relabel(str(snap.workspace_dir / "a.yaml")) == "HEAD:infra/deploy/a.yaml"
    assert snap.relabel("elsewhere.yaml") == "elsewhere.yaml"


def test_gitsource_refuses_option_like_refs(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "r")
    repo.commit("empty")
    with pytest.raises(UsageError, match="invalid git ref"):
        gitsource.resolve_ref(repo.root, "--output=/tmp/x")
    with pytest.raises(UsageError, match="unknown git ref 'HEAD~5'"):
        gitsource.resolve_ref(repo.root, "HEAD~5")


def test_affected_deployments_match_related_for_every_deployment(tmp_path: Path) -> None:
    """`_MemoryIndex.affected` finds the deployments `related(d) & changed` selects, without
    building `related` for each (a generated workspace, many change sets)."""
    import random
    import sys

    import yaml

    from adaptive_deploy.configdiff import _MemoryIndex

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    from genworkspace import generate

    ws = generate(tmp_path / "ws", deployments=300, projects=20, models=60)
    raw: dict[str, Any] = {}
    for f in sorted(ws.glob("*.yaml")):
        for key, value in (yaml.safe_load(f.read_text()) or {}).items():
            if isinstance(value, dict):
                raw.setdefault(key, {}).update(value)
    index = _MemoryIndex.build((raw, {}))
    every = sorted(set().union(*index.deployments_of.values()))
    addresses = [*every, *(f"model.{m}" for m in raw["models"]),
                 *(f"compute_pool.{p}" for p in raw["compute_pools"]), "project.x", "workspace"]
    rng = random.Random(7)
    for size in (1, 2, 5, 20):
        for _ in range(40):
            changed = set(rng.sample(addresses, size))
            expected = {d for d in every if index.related(d) & changed}
            assert index.affected(changed) == expected, changed
