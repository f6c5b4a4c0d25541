"""config.overlay through config.loader: environments merged over a base directory.

Merge (mappings by key, scalars and lists whole), explicit removal, errors located in the
layer that produced the value, inherited version/workspace/platform/state refused, the
repository boundary, chains and cycles, and `explain`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from adaptive_deploy import rules
from adaptive_deploy.config import codes, overlay
from adaptive_deploy.config.loader import LoadedConfig, load_config

BASE = """\
models:
  qwen-3-8b:
    architecture: qwen3-8b
    compute_config: {tp: 1, kv_cache_len: 100000, max_seq_len: 32768}
  support-lora-v3:
    adapter_of: qwen-3-8b
    rank: 16
  llama-3.1-8b:
    compute_config: {tp: 1, kv_cache_len: 65536}
projects:
  support:
    name: Customer support
    description: Answers customer questions.
    deployments:
      qwen-3-8b:
        placement: {compute_pools: [general], max_ttft_ms: 30000}
        is_default: true
      support-lora-v3:
        placement: {compute_pools: [general]}
  sales:
    name: Sales
    deployments:
      llama-3.1-8b:
        placement: {compute_pools: [general]}
"""

STAGING = """\
version: 1
workspace: staging
base: ../base
compute_pools:
  general: {gpu: H100-80GB, gpus_per_replica: 8, replicas: 1}
"""


def write(directory: Path, **files: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name.replace("__", ".")).write_text(text, encoding="utf-8")
    return directory


def envs(tmp_path: Path, env: str = STAGING, **extra: str) -> Path:
    write(tmp_path / "base", main__yaml=BASE)
    return write(tmp_path / "staging", env__yaml=env, **extra)


def errors(loaded: LoadedConfig) -> list[tuple[str, str | None, int | None]]:
    return [(d.code, d.file, d.line) for d in loaded.diagnostics if d.is_error]


def line_of(path: Path, text: str) -> int:
    """1-based line of the first line of `path` containing `text`."""
    for i, line in enumerate(path.read_text().splitlines(), 1):
        if text in line:
            return i
    raise AssertionError(f"{text!r} not in {path}")


# ------------------------------------------------------------------------------ merge


def test_environment_inherits_the_base_and_merges_mappings_key_by_key(tmp_path: Path) -> None:
    env = envs(tmp_path, overrides__yaml="""\
models:
  qwen-3-8b:
    compute_config: {kv_cache_len: 200000}
projects:
  support:
    description: Staging copy.
""")
    loaded = load_config(env)
    assert loaded.diagnostics == []
    assert loaded.kind == "environment" and loaded.workspace is not None
    cc = loaded.raw["models"]["qwen-3-8b"]["compute_config"]
    # kv_cache_len from the overlay, tp and max_seq_len kept from the base.
    assert cc == {"tp": 1, "kv_cache_len": 200000, "max_seq_len": 32768}
    assert loaded.raw["models"]["qwen-3-8b"]["architecture"] == "qwen3-8b"
    assert loaded.raw["projects"]["support"]["name"] == "Customer support"
    assert loaded.raw["projects"]["support"]["description"] == "Staging copy."
    assert set(loaded.raw["projects"]["support"]["deployments"]) == {"qwen-3-8b", "support-lora-v3"}
    assert "base" not in loaded.raw and "remove" not in loaded.raw
    # Layers: the environment's own first; the loaded files are the environment's own.
    assert [(layer.directory.name, layer.role) for layer in loaded.layers] == [
        ("staging", "environment"), ("base", "base")]
    assert loaded.files == [env / "env.yaml", env / "overrides.yaml"]
    # The base is not changed by the merge (each layer keeps its own data for explain).
    assert loaded.layers[1].raw["models"]["qwen-3-8b"]["compute_config"]["kv_cache_len"] == 100000


def test_scalars_and_lists_replace_whole(tmp_path: Path) -> None:
    env = envs(tmp_path, STAGING + """\
  large: {gpu: H200-141GB}
projects:
  support:
    deployments:
      qwen-3-8b:
        placement: {compute_pools: [large]}
""")
    loaded = load_config(env)
    assert errors(loaded) == []
    placement = loaded.raw["projects"]["support"]["deployments"]["qwen-3-8b"]["placement"]
    # The list is the overlay's, not [general, large]; max_ttft_ms merged from the base.
    assert placement == {"compute_pools": ["large"], "max_ttft_ms": 30000}


def test_a_value_of_another_type_replaces_whole_and_the_schema_judges_it(tmp_path: Path) -> None:
    env = envs(tmp_path, overrides__yaml="models:\n  qwen-3-8b:\n    compute_config: big\n")
    loaded = load_config(env)
    [(code, file, line)] = errors(loaded)
    assert code == codes.WRONG_TYPE and file == str(env / "overrides.yaml") and line == 3


def test_null_in_an_overlay_stays_invalid_and_points_at_the_overlay(tmp_path: Path) -> None:
    env = envs(tmp_path, overrides__yaml="models:\n  llama-3.1-8b:\n    compute_config: ~\n")
    loaded = load_config(env)
    assert errors(loaded) == [(codes.EXPLICIT_NULL, str(env / "overrides.yaml"), 3)]
    assert loaded.workspace is None


def test_a_key_left_out_keeps_the_base_value(tmp_path: Path) -> None:
    env = envs(tmp_path, overrides__yaml="projects:\n  sales: {name: Sales team}\n")
    loaded = load_config(env)
    assert errors(loaded) == []
    assert "llama-3.1-8b" in loaded.raw["projects"]["sales"]["deployments"]


def test_same_key_in_base_and_overlay_is_an_override_not_a_duplicate(tmp_path: Path) -> None:
    env = envs(tmp_path, overrides__yaml="projects:\n  sales: {name: Sales team}\n")
    assert [d.code for d in load_config(env).diagnostics] == []


def test_a_key_defined_twice_within_one_layer_names_both_places(tmp_path: Path) -> None:
    write(tmp_path / "base", main__yaml=BASE, more__yaml="projects:\n  sales: {name: Again}\n")
    env = write(tmp_path / "staging", env__yaml=STAGING)
    loaded = load_config(env)
    [d] = [d for d in loaded.diagnostics if d.is_error]
    assert d.code == codes.DUPLICATE_ACROSS_FILES
    assert d.file == str(tmp_path / "base" / "more.yaml") and d.line == 2
    assert f"{tmp_path / 'base' / 'main.yaml'}:" in d.message
    # And in the environment's own layer, too.
    write(tmp_path / "other" / "base", main__yaml=BASE)
    env2 = write(tmp_path / "other" / "prod", env__yaml=STAGING.replace("staging", "prod"),
                 a__yaml="rules: {adapters_per_base_model: 3}\n",
                 b__yaml="rules: {adapters_per_base_model: 4}\n")
    [d2] = [d for d in load_config(env2).diagnostics if d.is_error]
    assert d2.code == codes.DUPLICATE_ACROSS_FILES and d2.file == str(env2 / "b.yaml")


# ------------------------------------------------------------------------------ provenance


def test_every_node_points_at_the_layer_that_produced_its_final_value(tmp_path: Path) -> None:
    env = envs(tmp_path, overrides__yaml="""\
models:
  qwen-3-8b:
    compute_config: {kv_cache_len: 200000}
""")
    loaded = load_config(env)
    base_file, over_file = tmp_path / "base" / "main.yaml", env / "overrides.yaml"
    kv = ("models", "qwen-3-8b", "compute_config", "kv_cache_len")
    tp = ("models", "qwen-3-8b", "compute_config", "tp")
    assert loaded.source.locate(kv)[:2] == (str(over_file), 3)
    assert loaded.source.locate(tp)[:2] == (str(base_file), line_of(base_file, "kv_cache_len: 100000"))
    # A mapping merged from both layers stays at the layer that defined it first.
    assert loaded.source.locate(("models", "qwen-3-8b"))[:2] == (str(base_file), 2)
    # Settings and pools the environment sets itself point at the environment.
    assert loaded.source.locate(("compute_pools", "general", "gpu"))[0] == str(env / "env.yaml")
    # A missing top-level key is the environment's to add.
    assert loaded.source.locate(())[0] == str(env / "env.yaml")


def test_rule_diagnostics_are_located_in_the_right_layer(tmp_path: Path) -> None:
    env = envs(tmp_path, overrides__yaml="""\
models:
  llama-3.1-8b:
    compute_config: {tp: 3}
projects:
  support:
    deployments:
      qwen-3-8b:
        placement: {compute_pools: [nowhere]}
""")
    loaded = load_config(env)
    assert errors(loaded) == [] and loaded.workspace is not None
    found = {(d.code, d.file, d.line) for d in rules.validate(loaded) if d.is_error}
    over = str(env / "overrides.yaml")
    assert ("AD310", over, 3) in found          # tp 3 set by the overlay
    assert ("AD360", over, 8) in found          # unknown pool named by the overlay
    # An error on a value the base produced points at the base.
    env2 = write(tmp_path / "prod", env__yaml=STAGING.replace("staging", "prod").replace(
        "general:", "large:"))
    found2 = {(d.code, d.file) for d in rules.validate(load_config(env2)) if d.is_error}
    assert ("AD360", str(tmp_path / "base" / "main.yaml")) in found2


# ------------------------------------------------------------------------------ remove


def test_remove_deletes_what_the_base_defines(tmp_path: Path) -> None:
    env = envs(tmp_path, STAGING + "remove:\n  - projects.support.deployments.support-lora-v3\n"
               "  - models.support-lora-v3\n")
    loaded = load_config(env)
    assert loaded.diagnostics == []
    assert set(loaded.raw["projects"]["support"]["deployments"]) == {"qwen-3-8b"}
    assert "support-lora-v3" not in loaded.raw["models"]
    # The base's positions of what was removed are gone with it.
    assert ("models", "support-lora-v3") not in loaded.source.keys
    assert [r.path for r in loaded.layers[0].removals] == [
        ("projects", "support", "deployments", "support-lora-v3"), ("models", "support-lora-v3")]


def test_remove_then_define_replaces_instead_of_merging(tmp_path: Path) -> None:
    env = envs(tmp_path, STAGING + """\
remove: [projects.support.deployments.qwen-3-8b.placement]
projects:
  support:
    deployments:
      qwen-3-8b:
        placement: {compute_pools: [general]}
""")
    loaded = load_config(env)
    assert errors(loaded) == []
    placement = loaded.raw["projects"]["support"]["deployments"]["qwen-3-8b"]["placement"]
    assert placement == {"compute_pools": ["general"]}  # no max_ttft_ms from the base


def test_keys_holding_dots_can_be_removed_as_written_or_quoted(tmp_path: Path) -> None:
    env = envs(tmp_path, STAGING + 'remove: [projects.sales.deployments.llama-3.1-8b, '
               'models."llama-3.1-8b".compute_config]\n')
    loaded = load_config(env)
    assert loaded.diagnostics == []
    assert loaded.raw["projects"]["sales"]["deployments"] == {}
    assert loaded.raw["models"]["llama-3.1-8b"] == {}


def test_a_remove_path_that_matches_nothing_is_an_error_at_the_entry(tmp_path: Path) -> None:
    env = envs(tmp_path, STAGING + "remove:\n  - projects.support.deployments.support-lora-v4\n")
    loaded = load_config(env)
    [d] = [d for d in loaded.diagnostics if d.is_error]
    assert (d.code, d.file, d.line, d.column) == (
        codes.OVERLAY_REMOVE_NOTHING, str(env / "env.yaml"), 7, 5)
    assert "did you mean 'support-lora-v3'?" in d.message
    assert loaded.workspace is None


def test_remove_applies_to_the_base_not_to_the_overlay_itself(tmp_path: Path) -> None:
    env = envs(tmp_path, STAGING + "remove: [compute_pools.general]\n")
    assert [d.code for d in load_config(env).diagnostics] == [codes.OVERLAY_REMOVE_NOTHING]


def test_remove_without_base_and_malformed_directives(tmp_path: Path) -> None:
    ws = write(tmp_path / "ws", main__yaml="version: 1\nworkspace: w\nremove: [models.x]\n")
    assert [d.code for d in load_config(ws).diagnostics] == [codes.OVERLAY_DIRECTIVE]
    bad = envs(tmp_path, STAGING.replace("base: ../base", "base: [../base]"))
    assert codes.OVERLAY_DIRECTIVE in [d.code for d in load_config(bad).diagnostics]
    bad2 = write(tmp_path / "b2", main__yaml=STAGING + "remove: projects.sales\n")
    assert codes.OVERLAY_DIRECTIVE in [d.code for d in load_config(bad2).diagnostics]


# ------------------------------------------------------------------------------ settings


@pytest.mark.parametrize("key, text", [
    ("workspace", "workspace: shared\n"),
    ("state", "state: {backend: local}\n"),
    ("platform", "platform: {server_timeout_s: 90}\n"),
    ("version", "version: 1\n"),
])
def test_a_base_never_provides_environment_settings(tmp_path: Path, key: str, text: str) -> None:
    base = write(tmp_path / "base", main__yaml=BASE, settings__yaml=text)
    env = write(tmp_path / "staging", env__yaml=STAGING)
    loaded = load_config(env)
    [d] = [d for d in loaded.diagnostics if d.is_error]
    assert (d.code, d.file, d.line) == (codes.OVERLAY_INHERITED_KEY, str(base / "settings.yaml"), 1)
    assert f"'{key}'" in d.message and loaded.workspace is None


def test_an_environment_without_its_own_workspace_is_refused(tmp_path: Path) -> None:
    write(tmp_path / "base", main__yaml=BASE, ws__yaml="workspace: shared\n")
    env = write(tmp_path / "staging", env__yaml="version: 1\nbase: ../base\n")
    found = [(d.code, d.file) for d in load_config(env).diagnostics]
    # Refused in the base; once it is gone, missing in the environment (located there).
    assert found == [(codes.OVERLAY_INHERITED_KEY, str(tmp_path / "base" / "ws.yaml"))]
    (tmp_path / "base" / "ws.yaml").unlink()
    loaded = load_config(env)
    assert [(d.code, d.file) for d in loaded.diagnostics] == [
        (codes.MISSING_REQUIRED, str(env / "env.yaml"))]
    assert "'workspace'" in loaded.diagnostics[0].message


# ------------------------------------------------------------------------------ the base path


def test_base_that_does_not_exist_or_is_empty(tmp_path: Path) -> None:
    env = write(tmp_path / "staging", env__yaml=STAGING)
    [d] = load_config(env).diagnostics
    assert (d.code, d.file, d.line) == (codes.OVERLAY_BASE_NOT_FOUND, str(env / "env.yaml"), 3)
    (tmp_path / "base").mkdir()
    [d] = load_config(env).diagnostics
    assert d.code == codes.OVERLAY_BASE_NOT_FOUND and "holds no" in d.message


def test_absolute_or_escaping_base_is_refused(tmp_path: Path) -> None:
    write(tmp_path / "base", main__yaml=BASE)
    env = write(tmp_path / "staging", env__yaml=STAGING.replace("../base", str(tmp_path / "base")))
    [d] = load_config(env).diagnostics
    assert d.code == codes.OVERLAY_OUTSIDE_ROOT and "absolute" in d.message
    # In a repository, the repository root is the boundary; the base may sit anywhere in it.
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    write(repo / "deploy" / "base", main__yaml=BASE)
    inside = write(repo / "deploy" / "envs" / "staging",
                   env__yaml=STAGING.replace("../base", "../../base"))
    assert load_config(inside).diagnostics == []
    outside = write(repo / "deploy" / "envs" / "prod",
                    env__yaml=STAGING.replace("../base", "../../../../base"))
    [d] = load_config(outside).diagnostics
    assert d.code == codes.OVERLAY_OUTSIDE_ROOT and str(repo) in d.message
    # A symbolic link does not get around it.
    (repo / "deploy" / "link").symlink_to(tmp_path / "base")
    linked = write(repo / "deploy" / "envs" / "qa", env__yaml=STAGING.replace("../base", "../../link"))
    assert [d.code for d in load_config(linked).diagnostics] == [codes.OVERLAY_OUTSIDE_ROOT]
    # Outside a repository, the environment's parent directory is the boundary.
    loose = write(tmp_path / "loose" / "staging", env__yaml=STAGING)
    assert [d.code for d in load_config(loose).diagnostics] == [codes.OVERLAY_BASE_NOT_FOUND]
    far = write(tmp_path / "loose" / "far", env__yaml=STAGING.replace("../base", "../../base"))
    assert [d.code for d in load_config(far).diagnostics] == [codes.OVERLAY_OUTSIDE_ROOT]


def test_chains_of_bases_merge_in_order(tmp_path: Path) -> None:
    write(tmp_path / "base", main__yaml=BASE)
    write(tmp_path / "prod-common", main__yaml="""\
base: ../base
models:
  qwen-3-8b:
    compute_config: {kv_cache_len: 300000}
remove: [projects.sales]
""")
    env = write(tmp_path / "prod-eu", main__yaml="""\
version: 1
workspace: prod-eu
base: ../prod-common
compute_pools:
  general: {gpu: H200-141GB}
models:
  qwen-3-8b:
    compute_config: {tp: 2}
""")
    loaded = load_config(env)
    assert loaded.diagnostics == []
    assert [layer.directory.name for layer in loaded.layers] == ["prod-eu", "prod-common", "base"]
    assert loaded.raw["models"]["qwen-3-8b"]["compute_config"] == {
        "tp": 2, "kv_cache_len": 300000, "max_seq_len": 32768}
    assert "sales" not in loaded.raw["projects"]
    # The middle directory alone is a base (it sets no workspace).
    middle = load_config(tmp_path / "prod-common")
    assert middle.kind == "base" and middle.workspace is None and middle.as_base is not None


def test_a_cycle_of_bases_is_an_error_naming_the_directories(tmp_path: Path) -> None:
    write(tmp_path / "a", main__yaml="base: ../b\nmodels: {x: {}}\n")
    write(tmp_path / "b", main__yaml="base: ../a\nmodels: {y: {}}\n")
    env = write(tmp_path / "env", main__yaml="version: 1\nworkspace: e\nbase: ../a\n")
    [d] = load_config(env).diagnostics
    assert d.code == codes.OVERLAY_CHAIN and d.file == str(tmp_path / "b" / "main.yaml")
    assert "a → " in d.message.replace(str(tmp_path) + "/", "")
    itself = write(tmp_path / "self", main__yaml="version: 1\nworkspace: s\nbase: .\n")
    assert [d.code for d in load_config(itself).diagnostics] == [codes.OVERLAY_CHAIN]


# ------------------------------------------------------------------------------ a base alone


def test_a_base_alone_is_checked_without_a_workspace(tmp_path: Path) -> None:
    base = write(tmp_path / "base", main__yaml=BASE)
    loaded = load_config(base)
    assert loaded.kind == "base" and loaded.diagnostics == []
    assert loaded.workspace is None and loaded.as_base is not None
    assert set(loaded.as_base.projects) == {"support", "sales"}
    # Structure is still checked.
    write(base, bad__yaml="jobs:\n  train: {project: support}\n")
    bad = load_config(base)
    assert [d.code for d in bad.diagnostics] == [codes.MISSING_REQUIRED]
    assert bad.kind == "base" and bad.as_base is None


def test_a_plain_workspace_is_one_layer_and_unchanged(tmp_path: Path) -> None:
    ws = write(tmp_path / "ws", main__yaml="version: 1\nworkspace: w\n" + BASE)
    loaded = load_config(ws)
    assert loaded.kind == "workspace" and [layer.role for layer in loaded.layers] == ["workspace"]
    missing = write(tmp_path / "missing", main__yaml="version: 1\n" + BASE)
    assert [d.code for d in load_config(missing).diagnostics] == [codes.MISSING_REQUIRED]


def test_digest_covers_the_base(tmp_path: Path) -> None:
    env = envs(tmp_path)
    before = load_config(env).digest
    write(tmp_path / "base", more__yaml="projects:\n  other: {name: Other}\n")
    assert load_config(env).digest != before


# ------------------------------------------------------------------------------ explain


def test_explain_names_every_layer_that_touched_a_path(tmp_path: Path) -> None:
    env = envs(tmp_path, STAGING + "remove: [projects.sales]\n", overrides__yaml="""\
models:
  qwen-3-8b:
    compute_config: {kv_cache_len: 200000}
""")
    loaded = load_config(env)
    kv = overlay.explain("models.qwen-3-8b.compute_config.kv_cache_len", loaded.raw,
                         loaded.source, loaded.layers)
    assert kv is not None and kv.value == 200000 and kv.file == str(env / "overrides.yaml")
    assert [(s.role, s.action, s.value) for s in kv.steps] == [
        ("base", "sets", 100000), ("environment", "overrides", 200000)]
    merged = overlay.explain("models.qwen-3-8b", loaded.raw, loaded.source, loaded.layers)
    assert merged is not None and [s.action for s in merged.steps] == ["sets", "merges"]
    removed = overlay.explain("projects.sales.name", loaded.raw, loaded.source, loaded.layers)
    assert removed is not None and removed.value is overlay.MISSING
    assert [(s.role, s.action) for s in removed.steps] == [("base", "sets"), ("environment", "removes")]
    assert removed.steps[1].line == line_of(env / "env.yaml", "remove:")
    assert overlay.explain("models.nothing", loaded.raw, loaded.source, loaded.layers) is None


# ------------------------------------------------------------------------------ named files


def test_a_config_json_architecture_is_found_in_the_layer_that_holds_it(tmp_path: Path) -> None:
    """`architecture: path/config.json` in a base is read from the base directory; an
    environment's own file of the same path wins (it is the environment's layer)."""
    import json

    from tests.rules.test_hfconfig import QWEN3_8B

    base = write(tmp_path / "base", main__yaml="""\
models:
  my-model:
    architecture: models/my-model/config.json
    compute_config: {tp: 1, kv_cache_len: 100000}
projects:
  p:
    deployments:
      my-model: {placement: {compute_pools: [general]}}
""")
    (base / "models" / "my-model").mkdir(parents=True)
    (base / "models" / "my-model" / "config.json").write_text(json.dumps(QWEN3_8B))
    env = write(tmp_path / "staging", env__yaml=STAGING)
    loaded = load_config(env)
    assert loaded.diagnostics == [] and rules.validate(loaded) == []
    from adaptive_deploy.rules.memory import fit_report

    assert loaded.workspace is not None
    [row] = fit_report(loaded.workspace)
    assert row.verdict == "fits" and round(row.breakdown.weights / 2**30, 2) == 15.26  # type: ignore[union-attr]
    # The environment's own copy (here a smaller model) is the one read.
    (env / "models" / "my-model").mkdir(parents=True)
    small = {**QWEN3_8B, "num_hidden_layers": 18}
    (env / "models" / "my-model" / "config.json").write_text(json.dumps(small))
    [row2] = fit_report(load_config(env).workspace)  # type: ignore[arg-type]
    assert row2.breakdown is not None and row.breakdown is not None
    assert row2.breakdown.weights < row.breakdown.weights
