"""config.loader: positions, merging, duplicates, env refs, secrets, digest."""

from __future__ import annotations

from pathlib import Path

import pytest

from adaptive_deploy.config import codes, envref, loader
from adaptive_deploy.config.loader import config_digest, load_config, looks_like_secret
from adaptive_deploy.diagnostics import Severity
from adaptive_deploy.errors import ConfigError

BASE = """\
version: 1
workspace: test
compute_pools:
  pool-1: {gpu: H100-80GB, replicas: 2}
models:
  qwen-3-8b:
    architecture: qwen3-8b
    compute_config:
      tp: 1
      kv_cache_len: 100000
projects:
  support:
    deployments:
      qwen-3-8b:
        placement:
          compute_pools: [pool-1]
"""


def write(directory: Path, **files: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name.replace("__", ".")).write_text(text, encoding="utf-8")
    return directory


def only_codes(loaded: loader.LoadedConfig) -> list[str]:
    return [d.code for d in loaded.diagnostics]


def test_valid_config_builds_workspace_and_records_positions(tmp_path: Path) -> None:
    loaded = load_config(write(tmp_path, main__yaml=BASE))
    assert loaded.diagnostics == []
    assert loaded.workspace is not None
    assert loaded.workspace.models["qwen-3-8b"].compute_config is not None
    assert loaded.workspace.models["qwen-3-8b"].compute_config.kv_cache_len == 100000
    f = str(tmp_path / "main.yaml")
    # Key position of a mapping entry, value position with value=True (1-based).
    assert loaded.source.locate(("models", "qwen-3-8b", "compute_config", "tp")) == (f, 9, 7)
    assert loaded.source.locate(("models", "qwen-3-8b", "compute_config", "tp"), value=True) == (
        f, 9, 11)
    assert loaded.source.locate(("compute_pools", "pool-1", "replicas"), value=True) == (f, 4, 38)
    path = ("projects", "support", "deployments", "qwen-3-8b", "placement", "compute_pools", 0)
    assert loaded.source.locate(path) == (f, 16, 27)


def test_locate_falls_back_to_nearest_ancestor(tmp_path: Path) -> None:
    loaded = load_config(write(tmp_path, main__yaml=BASE))
    f = str(tmp_path / "main.yaml")
    assert loaded.source.locate(("models", "qwen-3-8b", "rank")) == (f, 6, 3)
    assert loaded.source.locate(("nothing", "here")) == (f, 1, 1)
    diag = loaded.source.diagnostic(Severity.WARNING, "AD999", "msg", ("models", "qwen-3-8b"))
    assert (diag.file, diag.line, diag.column, diag.path) == (f, 6, 3, ("models", "qwen-3-8b"))


def test_single_file_path_is_accepted(tmp_path: Path) -> None:
    write(tmp_path, main__yaml=BASE, other__yaml="not: [valid")
    loaded = load_config(tmp_path / "main.yaml")
    assert loaded.diagnostics == []
    assert loaded.files == [tmp_path / "main.yaml"]
    assert loaded.directory == tmp_path


def test_reads_yaml_and_yml_sorted_not_recursive_skipping_state_dir(tmp_path: Path) -> None:
    head, _, rest = BASE.partition("models:")
    write(tmp_path, b__yml="models:" + rest, a__yaml=head, notes__txt="version: 2")
    write(tmp_path / "sub", x__yaml="version: 99")
    write(tmp_path / ".adaptive-deploy", y__yaml="version: 99")
    loaded = load_config(tmp_path)
    assert [p.name for p in loaded.files] == ["a.yaml", "b.yml"]
    assert loaded.diagnostics == []


def test_sections_merge_across_files(tmp_path: Path) -> None:
    head, _, rest = BASE.partition("projects:")
    write(tmp_path, main__yaml=head,
          projects__yaml="projects:" + rest,
          more__yaml="models:\n  llama:\n    architecture: llama-3.1-8b\n")
    loaded = load_config(tmp_path)
    assert loaded.diagnostics == []
    assert sorted(loaded.raw["models"]) == ["llama", "qwen-3-8b"]
    assert loaded.source.locate(("models", "llama", "architecture"))[0] == str(
        tmp_path / "more.yaml")
    assert loaded.source.locate(("projects", "support"))[0] == str(tmp_path / "projects.yaml")


def test_duplicate_key_in_one_file_cites_both_lines(tmp_path: Path) -> None:
    text = BASE.replace("      tp: 1\n", "      tp: 1\n      tp: 2\n")
    loaded = load_config(write(tmp_path, main__yaml=text))
    (d,) = loaded.diagnostics
    assert d.code == codes.DUPLICATE_KEY
    assert (d.line, d.column) == (10, 7)
    assert "line 9" in d.message
    assert loaded.workspace is None


def test_duplicate_entry_across_files_names_both_places(tmp_path: Path) -> None:
    write(tmp_path, a__yaml=BASE, b__yaml="models:\n  other: {}\n  qwen-3-8b: {}\n")
    loaded = load_config(tmp_path)
    (d,) = loaded.diagnostics
    assert d.code == codes.DUPLICATE_ACROSS_FILES
    assert (d.file, d.line, d.column) == (str(tmp_path / "b.yaml"), 3, 3)
    assert f"{tmp_path / 'a.yaml'}:6:3" in d.message
    assert d.path == ("models", "qwen-3-8b")


def test_scalar_and_block_keys_only_once(tmp_path: Path) -> None:
    write(tmp_path, a__yaml=BASE, b__yaml="rules: {adapters_per_base_model: 2}\nversion: 1\n")
    loaded = load_config(tmp_path)
    assert only_codes(loaded) == [codes.DUPLICATE_ACROSS_FILES]
    assert loaded.diagnostics[0].path == ("version",)
    assert loaded.raw["rules"] == {"adapters_per_base_model": 2}


def test_empty_file_contributes_nothing(tmp_path: Path) -> None:
    write(tmp_path, a__yaml=BASE, b__yaml="# only a comment\n")
    assert load_config(tmp_path).diagnostics == []


def test_missing_directory_and_no_yaml(tmp_path: Path) -> None:
    missing = load_config(tmp_path / "nope")
    assert only_codes(missing) == [codes.PATH_NOT_FOUND]
    (tmp_path / "README.md").write_text("hi")
    empty = load_config(tmp_path)
    assert only_codes(empty) == [codes.NO_YAML_FILES]
    assert str(tmp_path) in empty.diagnostics[0].message
    assert empty.workspace is None


def test_file_size_limit_checked_before_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, main__yaml=BASE + "#" * 200 + "\n")
    monkeypatch.setattr(loader, "MAX_FILE_BYTES", 100)
    (d,) = load_config(tmp_path).diagnostics
    assert (d.code, d.line, d.column) == (codes.FILE_TOO_LARGE, 1, 1)


def test_invalid_utf8_position(tmp_path: Path) -> None:
    (tmp_path / "main.yaml").write_bytes(b"version: 1\nworkspace: \xc3\x28x\n")
    (d,) = load_config(tmp_path).diagnostics
    assert (d.code, d.line, d.column) == (codes.BINARY_FILE, 2, 12)


def test_syntax_error_carries_parser_position(tmp_path: Path) -> None:
    loaded = load_config(write(tmp_path, main__yaml="version: 1\nworkspace: [a, b\n"))
    (d,) = loaded.diagnostics
    assert d.code == codes.YAML_SYNTAX
    assert d.line == 3 and d.file == str(tmp_path / "main.yaml")


def test_tab_indentation_points_at_the_tab(tmp_path: Path) -> None:
    loaded = load_config(write(tmp_path, main__yaml="version: 1\nplatform:\n  \tbase_url: x\n"))
    (d,) = loaded.diagnostics
    assert (d.code, d.line, d.column) == (codes.TAB_INDENTATION, 3, 3)


def test_alias_reuse_is_fine_but_bombs_stop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = BASE + "jobs:\n  j:\n    recipe: r\n    project: support\n    args:\n" \
        "      a: &a [1, 2, 3, 4]\n      b: [*a, *a, *a, *a]\n"
    assert load_config(write(tmp_path, main__yaml=text)).diagnostics == []
    monkeypatch.setattr(loader, "MAX_ALIAS_EXPANSION", 10)
    (d,) = load_config(tmp_path).diagnostics
    assert d.code == codes.ALIAS_LIMIT


def test_merge_key_explicit_wins(tmp_path: Path) -> None:
    text = BASE.replace("compute_pools:\n  pool-1: {gpu: H100-80GB, replicas: 2}\n",
                        "compute_pools:\n  pool-1: &p {gpu: H100-80GB, replicas: 2}\n"
                        "  pool-2: {<<: *p, replicas: 3}\n")
    loaded = load_config(write(tmp_path, main__yaml=text))
    assert loaded.diagnostics == []
    assert loaded.raw["compute_pools"]["pool-2"] == {"gpu": "H100-80GB", "replicas": 3}


def test_keys_are_names_even_when_yaml_reads_numbers(tmp_path: Path) -> None:
    text = BASE.replace("  support:\n", "  on:\n").replace("  qwen-3-8b:\n    arch",
                                                          "  8:\n    arch")
    loaded = load_config(write(tmp_path, main__yaml=text))
    assert "on" in loaded.raw["projects"] and "8" in loaded.raw["models"]


def test_env_refs_allowed_places_and_sensitive_paths(tmp_path: Path) -> None:
    text = BASE + "platform:\n  base_url: ${env:URL}\njobs:\n  j:\n    recipe: r\n" \
        "    project: support\n    args: {key: '${env:HF_TOKEN}', nested: [x, 'a${env:B}']}\n"
    loaded = load_config(write(tmp_path, main__yaml=text))
    assert loaded.diagnostics == []
    assert loaded.sensitive_paths() == [
        ("platform", "base_url"), ("jobs", "j", "args", "key"), ("jobs", "j", "args", "nested", 1)]


def test_env_ref_outside_allowed_places(tmp_path: Path) -> None:
    text = BASE.replace("architecture: qwen3-8b", "architecture: ${env:ARCH}")
    loaded = load_config(write(tmp_path, main__yaml=text))
    (d,) = loaded.diagnostics
    assert (d.code, d.path, d.line) == (codes.ENV_REF_NOT_ALLOWED,
                                        ("models", "qwen-3-8b", "architecture"), 7)
    assert loaded.workspace is None


def test_malformed_env_ref(tmp_path: Path) -> None:
    text = BASE + "platform:\n  base_url: ${env:bad-name}\n"
    assert only_codes(load_config(write(tmp_path, main__yaml=text))) == [codes.ENV_REF_MALFORMED]


@pytest.mark.parametrize("value", [
    "sk-proj-abcdefghijklmnop1234", "ghp_0123456789abcdefABCDEF012345", "eyJhbGciOiJIUzI1NiJ9.e30.x",
    "a8f9c0d1e2b3c4d5e6f7a8b9", "xK9mP2vL8qR4tW7yZ3bN6cF1",
])
def test_literal_api_key_refused_without_echo(tmp_path: Path, value: str) -> None:
    text = BASE + f"platform:\n  api_key_env: {value}\n"
    loaded = load_config(write(tmp_path, main__yaml=text))
    assert only_codes(loaded) == [codes.LITERAL_API_KEY]
    assert all(value not in d.message for d in loaded.diagnostics)


@pytest.mark.parametrize("name", ["ADAPTIVE_API_KEY", "MY_KEY_2", "adaptive_key", "PROD_ADAPTIVE_API_KEY_EU_WEST_1"])
def test_env_var_names_are_not_secrets(name: str) -> None:
    assert not looks_like_secret(name)


def test_literal_secret_under_secret_named_key(tmp_path: Path) -> None:
    text = BASE + "jobs:\n  j:\n    recipe: r\n    project: support\n" \
        "    args: {hf_token: abc123secret, max_tokens: '512', password: '${env:PW}'}\n"
    loaded = load_config(write(tmp_path, main__yaml=text))
    (d,) = loaded.diagnostics
    assert (d.code, d.path) == (codes.LITERAL_SECRET, ("jobs", "j", "args", "hf_token"))
    assert "abc123secret" not in d.message


def test_schema_errors_are_located_with_codes(tmp_path: Path) -> None:
    text = BASE.replace("tp: 1", "tp: 0").replace("kv_cache_len: 100000", "kv_cache_len: x") \
        .replace("replicas: 2", "replica: 2")
    loaded = load_config(write(tmp_path, main__yaml=text))
    got = {(d.code, d.line) for d in loaded.diagnostics}
    assert got == {(codes.OUT_OF_RANGE, 9), (codes.WRONG_TYPE, 10), (codes.UNKNOWN_KEY, 4)}
    unknown = next(d for d in loaded.diagnostics if d.code == codes.UNKNOWN_KEY)
    assert "did you mean 'replicas'?" in unknown.message
    assert unknown.path == ("compute_pools", "pool-1", "replica")


def test_pydantic_errors_are_mapped_to_locations() -> None:
    from adaptive_deploy.config.sourcemap import Location, SourceMap

    source = SourceMap()
    source.add(("models",), Location("f.yaml", 3, 3), Location("f.yaml", 2, 1))
    raw = {"version": 1, "workspace": "w", "models": {"m": {"rank": -1}}}
    workspace, diags = loader._build_workspace(raw, source)
    assert workspace is None
    (d,) = diags
    assert (d.code, d.path, d.file, d.line) == (codes.OUT_OF_RANGE, ("models", "m", "rank"),
                                                "f.yaml", 3)
    assert "pydantic" not in d.message and "https://" not in d.message


def test_digest_is_canonical_and_keeps_templates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = BASE + "platform:\n  base_url: ${env:URL}\n"
    one = load_config(write(tmp_path / "one", main__yaml=text))
    head, _, rest = text.partition("models:")
    two = load_config(write(tmp_path / "two", b__yaml="models:" + rest, a__yaml=head))
    assert one.digest == two.digest == config_digest(one.raw)
    assert len(one.digest) == 64
    monkeypatch.setenv("URL", "https://secret.example")
    assert load_config(tmp_path / "one").digest == one.digest
    changed = load_config(write(tmp_path / "three", main__yaml=text.replace("100000", "100001")))
    assert changed.digest != one.digest


def test_envref_resolve() -> None:
    value = {"a": "${env:X}/v1", "b": ["${env:Y}", 3], "c": "plain"}
    assert envref.resolve(value, {"X": "https://h", "Y": "y"}) == {
        "a": "https://h/v1", "b": ["y", 3], "c": "plain"}
    assert envref.is_template("${env:X}") and not envref.is_template("$X")
    with pytest.raises(ConfigError) as info:
        envref.resolve("${env:MISSING}", {}, path=("platform", "base_url"))
    (d,) = info.value.diagnostics
    assert d.code == codes.ENV_VAR_UNSET and d.path == ("platform", "base_url")


def test_envref_resolve_locates_with_source(tmp_path: Path) -> None:
    loaded = load_config(write(tmp_path, main__yaml=BASE + "platform:\n  base_url: ${env:U}\n"))
    with pytest.raises(ConfigError) as info:
        envref.resolve(loaded.raw["platform"]["base_url"], {}, path=("platform", "base_url"),
                       source=loaded.source)
    (d,) = info.value.diagnostics
    assert (d.line, d.column) == (18, 13)
