"""config.loader: what a workspace directory holds besides plain files, and YAML 1.1 numbers.

Every `*.yaml` / `*.yml` entry is read or reported (a skipped one would silently drop what it
declares and plan deletes); hidden files belong to other tools; numbers that YAML 1.1 reads
differently than a person does, or that no field can hold, are refused with a hint.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
import yaml

from adaptive_deploy.config import codes
from adaptive_deploy.config.loader import load_config
from adaptive_deploy.diagnostics import Severity

BASE = """\
version: 1
workspace: test
compute_pools:
  pool-1: {gpu: H100-80GB, replicas: 2}
models:
  qwen-3-8b:
    architecture: qwen3-8b
    compute_config: {tp: TP, kv_cache_len: KV}
projects:
  support:
    deployments:
      qwen-3-8b:
        placement: {compute_pools: [pool-1]}
"""


def config(tp: str = "1", kv: str = "100000") -> str:
    return BASE.replace("TP", tp).replace("KV", kv)


def workspace(tmp_path: Path, text: str | None = None) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "main.yaml").write_text(config() if text is None else text)
    return ws


def codes_of(directory: Path) -> list[tuple[str, str]]:
    return [(d.code, d.severity.value) for d in load_config(directory).diagnostics]


# --------------------------------------------------------------------------- entries


def test_dangling_symlink_is_an_error_not_skipped(tmp_path: Path) -> None:
    ws = workspace(tmp_path)
    (ws / "shared.yaml").symlink_to("../gone/shared.yaml")
    loaded = load_config(ws)
    [diag] = loaded.diagnostics
    assert (diag.code, diag.severity) == (codes.NOT_A_FILE, Severity.ERROR)
    assert diag.file == str(ws / "shared.yaml")
    assert "../gone/shared.yaml, which does not exist" in diag.message
    assert loaded.workspace is None


def test_symlink_loop_is_an_error(tmp_path: Path) -> None:
    ws = workspace(tmp_path)
    (ws / "a.yaml").symlink_to("b.yaml")
    (ws / "b.yaml").symlink_to("a.yaml")
    loaded = load_config(ws)
    assert [d.code for d in loaded.diagnostics] == [codes.NOT_A_FILE] * 2
    assert all("symbolic link loop" in d.message for d in loaded.diagnostics)


def test_symlink_loop_given_as_the_path_is_an_error(tmp_path: Path) -> None:
    loop = tmp_path / "self.yaml"
    loop.symlink_to("self.yaml")
    [diag] = load_config(loop).diagnostics
    assert diag.code == codes.NOT_A_FILE
    assert "symbolic link loop" in diag.message


def test_directory_named_yaml_is_an_error(tmp_path: Path) -> None:
    ws = workspace(tmp_path)
    (ws / "models.yaml").mkdir()
    [diag] = load_config(ws).diagnostics
    assert diag.code == codes.NOT_A_FILE
    assert "is a directory" in diag.message


def test_fifo_named_yaml_is_an_error_and_never_opened(tmp_path: Path) -> None:
    ws = workspace(tmp_path)
    fifo = ws / "pipe.yaml"
    os.mkfifo(fifo)
    result: list[list[tuple[str, str]]] = []
    # Opening a FIFO for reading blocks until a writer comes; the loader must not open it.
    worker = threading.Thread(target=lambda: result.append(codes_of(ws)), daemon=True)
    worker.start()
    worker.join(timeout=20)
    if worker.is_alive():  # unblock the reader so the test process can end
        with open(fifo, "wb"):
            pass
        pytest.fail("the loader opened the FIFO and blocked")
    assert result == [[(codes.NOT_A_FILE, "error")]]


def test_symlink_leaving_the_workspace_is_a_warning_naming_the_target(tmp_path: Path) -> None:
    ws = workspace(tmp_path)
    outside = tmp_path / "elsewhere" / "jobs.yaml"
    outside.parent.mkdir()
    outside.write_text("jobs: {}\n")
    (ws / "jobs.yaml").symlink_to(outside)
    loaded = load_config(ws)
    [diag] = loaded.diagnostics
    assert (diag.code, diag.severity) == (codes.SYMLINK_OUTSIDE, Severity.WARNING)
    assert str(outside) in diag.message
    assert loaded.workspace is not None  # merged: a warning, not an error


def test_symlink_inside_the_workspace_is_silent(tmp_path: Path) -> None:
    ws = workspace(tmp_path)
    (ws / "shared").mkdir()
    (ws / "shared" / "jobs.txt").write_text("jobs: {}\n")
    (ws / "jobs.yaml").symlink_to("shared/jobs.txt")
    assert load_config(ws).diagnostics == []


def test_hidden_files_are_not_merged(tmp_path: Path) -> None:
    ws = workspace(tmp_path)
    # A pre-commit config would otherwise be an unknown top-level key (or worse, merge).
    (ws / ".pre-commit-config.yaml").write_text("repos: []\n")
    (ws / ".github").mkdir()
    (ws / ".github" / "plan.yml").write_text("on: push\n")
    loaded = load_config(ws)
    assert loaded.diagnostics == []
    assert [p.name for p in loaded.files] == ["main.yaml"]


def test_directory_of_hidden_files_only_says_they_are_not_read(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / ".pre-commit-config.yaml").write_text("repos: []\n")
    [diag] = load_config(ws).diagnostics
    assert diag.code == codes.NO_YAML_FILES
    assert ".pre-commit-config.yaml" in diag.message


def test_a_hidden_file_named_explicitly_is_read(tmp_path: Path) -> None:
    path = tmp_path / ".adaptive.yaml"
    path.write_text(config())
    assert load_config(path).diagnostics == []


# --------------------------------------------------------------------------- numbers


@pytest.mark.parametrize(
    ("tp", "kv", "shown"),
    [("010", "100000", "octal number 8, not 10"),
     ("1", "83:20:00", "base-60 number (300000)"),
     ("1", "0_7", "octal number 7"),
     ("1", "-1:30", "base-60 number (-90)"),
     ("1", "1:20.5", "base-60 number (80.5)")],
)
def test_yaml11_numbers_are_refused_with_a_hint_to_quote(tp: str, kv: str, shown: str,
                                                         tmp_path: Path) -> None:
    raw = config(tp, kv)
    # The anchor: PyYAML itself (YAML 1.1) reads these as numbers, not as written.
    parsed = yaml.safe_load(raw)["models"]["qwen-3-8b"]["compute_config"]
    assert isinstance(parsed["tp"], int) and isinstance(parsed["kv_cache_len"], int | float)
    [diag] = load_config(workspace(tmp_path, raw)).diagnostics
    assert diag.code == codes.YAML11_NUMBER
    assert shown in diag.message
    assert "quote it" in diag.message
    assert diag.line == 8


@pytest.mark.parametrize("kv", ["0", "10", "0x10", "1_000", "'010'", '"83:20:00"'])
def test_plain_decimal_hex_and_quoted_values_are_not_yaml11_surprises(kv: str,
                                                                      tmp_path: Path) -> None:
    found = [d.code for d in load_config(workspace(tmp_path, config(kv=kv))).diagnostics]
    assert codes.YAML11_NUMBER not in found


@pytest.mark.parametrize(
    ("kv", "code"),
    [("9" * 5000, codes.NUMBER_OUT_OF_RANGE),
     (str(10**40), codes.NUMBER_OUT_OF_RANGE),
     (str(2**63), codes.NUMBER_OUT_OF_RANGE),
     (str(2**31), codes.OUT_OF_RANGE),       # GraphQL Int is 32 bits: schema maximum
     (".inf", codes.NUMBER_OUT_OF_RANGE),
     (".nan", codes.NUMBER_OUT_OF_RANGE),
     ("1.0e+400", codes.NUMBER_OUT_OF_RANGE)],
)
def test_numbers_no_field_can_hold_are_errors(kv: str, code: str, tmp_path: Path) -> None:
    loaded = load_config(workspace(tmp_path, config(kv=kv)))
    assert [d.code for d in loaded.diagnostics] == [code]
    assert len(loaded.diagnostics[0].message) < 200  # the numeral itself is never echoed whole


def test_largest_32_bit_value_is_accepted(tmp_path: Path) -> None:
    loaded = load_config(workspace(tmp_path, config(kv=str(2**31 - 1))))
    assert [d.code for d in loaded.diagnostics] == []


# --------------------------------------------------------------------------- keys


@pytest.mark.parametrize(
    ("old", "new"),
    [("  support:", '  "":'), ("  support:", '  "a/b":'), ("      qwen-3-8b:", '      "x/y":'),
     ("  pool-1:", '  " pool":'), ("  qwen-3-8b:\n    arch", '  "m\\nx":\n    arch')],
)
def test_keys_that_cannot_form_an_address_are_refused(old: str, new: str,
                                                      tmp_path: Path) -> None:
    text = config().replace(old, new, 1)
    assert text != config()
    loaded = load_config(workspace(tmp_path, text))
    assert codes.PATTERN_MISMATCH in [d.code for d in loaded.diagnostics]
    diag = next(d for d in loaded.diagnostics if d.code == codes.PATTERN_MISMATCH)
    assert "cannot name a resource" in diag.message
    assert loaded.workspace is None
