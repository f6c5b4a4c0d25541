"""`adaptive-deploy validate` in every format, and `adaptive-deploy schema`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from adaptive_deploy.cli.main import cli
from adaptive_deploy.config import schema

VALID = """\
version: 1
workspace: cli
compute_pools:
  pool-1: {gpu: H100-80GB}
models:
  qwen-3-8b:
    compute_config: {tp: 1, kv_cache_len: 65536}
projects:
  p:
    deployments:
      qwen-3-8b: {placement: {compute_pools: [pool-1]}}
"""


@pytest.fixture
def valid_dir(tmp_path: Path) -> Path:
    d = tmp_path / "valid"
    d.mkdir()
    (d / "main.yaml").write_text(VALID)
    return d


@pytest.fixture
def invalid_dir(tmp_path: Path) -> Path:
    text = VALID.replace("tp: 1", "tp: one").replace("workspace: cli", "workspace: cli\nmodel: {}")
    d = tmp_path / "invalid"
    d.mkdir()
    (d / "main.yaml").write_text(text)
    return d


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def test_text_valid(valid_dir: Path) -> None:
    code, out = invoke("validate", str(valid_dir))
    assert code == 0
    assert out.splitlines()[-1].startswith("Configuration is valid")


def test_text_invalid_lists_located_errors_and_summary(invalid_dir: Path) -> None:
    code, out = invoke("validate", str(invalid_dir))
    assert code == 1
    lines = out.splitlines()
    f = str(invalid_dir / "main.yaml")
    assert lines[0] == f"{f}:3:1: error[AD201]: unknown key 'model'; did you mean 'models'? (model)"
    assert lines[1].startswith(f"{f}:8:26: error[AD202]: 'tp' must be an integer")
    assert lines[-1] == "2 errors, 0 warnings"


def test_default_directory_is_cwd_and_paths_are_relative(
    invalid_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(invalid_dir)
    code, out = invoke("validate")
    assert code == 1
    assert out.startswith("main.yaml:3:1: error[AD201]")
    code, out = invoke("validate", str(invalid_dir))
    assert out.startswith("main.yaml:3:1: ")  # absolute paths under cwd shown relative


def test_json_format(invalid_dir: Path, valid_dir: Path) -> None:
    code, out = invoke("validate", str(invalid_dir), "--format", "json")
    assert code == 1
    doc = json.loads(out)
    assert doc["valid"] is False
    first = doc["diagnostics"][0]
    assert set(first) == {"severity", "code", "message", "file", "line", "column", "path"}
    assert (first["code"], first["line"], first["column"], first["path"]) == ("AD201", 3, 1, "model")
    code, out = invoke("validate", str(valid_dir), "--format", "json")
    assert code == 0 and json.loads(out)["valid"] is True


def test_github_format(invalid_dir: Path) -> None:
    code, out = invoke("validate", str(invalid_dir), "--format", "github")
    assert code == 1
    f = os.path.relpath(invalid_dir / "main.yaml") if str(invalid_dir).startswith(os.getcwd()) \
        else str(invalid_dir / "main.yaml")
    assert out.splitlines()[0] == (
        f"::error file={f},line=3,col=1,title=AD201::unknown key 'model'; did you mean 'models'? (model)")


def test_missing_directory_is_a_diagnostic_not_a_traceback(tmp_path: Path) -> None:
    code, out = invoke("validate", str(tmp_path / "nope"))
    assert code == 1 and "error[AD100]" in out and "Traceback" not in out


def test_schema_command_prints_committed_schema() -> None:
    code, out = invoke("schema")
    assert code == 0
    assert json.loads(out) == schema.load()
    assert out == schema.PACKAGE_SCHEMA.read_text(encoding="utf-8")
