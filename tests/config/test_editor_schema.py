"""The editor schema with the real yaml-language-server (the server behind VS Code's YAML
extension, Neovim and Helix), spoken to over stdio: initialize, didOpen, wait for
publishDiagnostics.

A file of a multi-file workspace gets no false "missing version" error; rule ranges
(num_draft_steps 1-8) and unknown keys are flagged as the user types; the examples' relative
modelines resolve; `schema --write` writes the schema the modeline names.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path
from queue import Empty, Queue
from typing import Any

import pytest

from adaptive_deploy.config import schema
from tests.e2e.helpers import run_cli
from tests.tools import require

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "schemas"
EDITOR_SCHEMA = SCHEMAS / schema.EDITOR_SCHEMA_NAME


class LanguageServer:
    """A minimal LSP client for yaml-language-server --stdio."""

    def __init__(self, root: Path) -> None:
        exe = require("yaml-language-server")
        self.proc = subprocess.Popen([exe, "--stdio"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.messages: Queue[dict[str, Any]] = Queue()
        self.next_id = 0
        threading.Thread(target=self._read, daemon=True).start()
        self.request("initialize", {
            "processId": None, "rootUri": root.as_uri(),
            "capabilities": {"textDocument": {"publishDiagnostics": {}},
                             "workspace": {"configuration": True}},
        })
        self.notify("initialized", {})
        self.notify("workspace/didChangeConfiguration", {"settings": self.settings})

    settings: dict[str, Any] = {"yaml": {"validate": True, "schemaStore": {"enable": False},
                                         "schemas": {}, "format": {"enable": False}}}

    def _read(self) -> None:
        stream = self.proc.stdout
        assert stream is not None
        while True:
            headers: dict[str, str] = {}
            while True:
                line = stream.readline()
                if not line:
                    return
                if line in (b"\r\n", b"\n"):
                    break
                name, _, value = line.decode().partition(":")
                headers[name.strip().lower()] = value.strip()
            body = stream.read(int(headers["content-length"]))
            self.messages.put(json.loads(body))

    def _send(self, message: dict[str, Any]) -> None:
        data = json.dumps({"jsonrpc": "2.0", **message}).encode()
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"Content-Length: {len(data)}\r\n\r\n".encode() + data)
        self.proc.stdin.flush()

    def notify(self, method: str, params: Any) -> None:
        self._send({"method": method, "params": params})

    def request(self, method: str, params: Any) -> Any:
        self.next_id += 1
        rid = self.next_id
        self._send({"id": rid, "method": method, "params": params})
        while True:
            msg = self._next(30)
            if msg.get("id") == rid and "method" not in msg:
                return msg.get("result")

    def _next(self, timeout: float) -> dict[str, Any]:
        msg = self.messages.get(timeout=timeout)
        if "method" in msg and "id" in msg:   # a request from the server: answer it
            result: Any = None
            if msg["method"] == "workspace/configuration":
                result = [self.settings.get(item.get("section", ""), self.settings)
                          if item.get("section") else self.settings
                          for item in msg["params"]["items"]]
            self._send({"id": msg["id"], "result": result})
        return msg

    def diagnostics(self, path: Path, text: str | None = None,
                    timeout: float = 60) -> list[dict[str, Any]]:
        """Open `path` and return the diagnostics the server publishes for it."""
        uri = path.as_uri()
        self.notify("textDocument/didOpen", {"textDocument": {
            "uri": uri, "languageId": "yaml", "version": 1,
            "text": path.read_text() if text is None else text}})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                msg = self._next(max(0.1, deadline - time.monotonic()))
            except Empty:
                break
            if msg.get("method") == "textDocument/publishDiagnostics" and \
                    msg["params"]["uri"] == uri:
                result: list[dict[str, Any]] = msg["params"]["diagnostics"]
                self._close(uri)
                return result
        raise AssertionError(f"no diagnostics published for {uri}")

    def _close(self, uri: str) -> None:
        """Close the document and drain the empty diagnostics the server sends for it, so
        the next open of the same file sees its own."""
        self.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                msg = self._next(max(0.1, deadline - time.monotonic()))
            except Empty:
                return
            if msg.get("method") == "textDocument/publishDiagnostics" and \
                    msg["params"]["uri"] == uri:
                return

    def close(self) -> None:
        try:
            self.request("shutdown", None)
            self.notify("exit", None)
            self.proc.wait(timeout=10)
        except Exception:
            self.proc.kill()


@pytest.fixture(scope="module")
def server() -> Any:
    ls = LanguageServer(ROOT)
    yield ls
    ls.close()


def _messages(diags: list[dict[str, Any]]) -> list[str]:
    return [d["message"] for d in diags]


PROJECTS_ONLY = """\
projects:
  support:
    name: Support
    deployments:
      qwen-3-8b:
        placement: {compute_pools: [pool-1]}
        num_draft_steps: 4
"""


def test_committed_editor_schema_is_current() -> None:
    assert EDITOR_SCHEMA.read_text() == schema.dumps(schema.editor_schema()), (
        "run: adaptive-deploy schema --write schemas")


def test_a_file_of_a_multi_file_workspace_has_no_false_errors(server: LanguageServer,
                                                              tmp_path: Path) -> None:
    editor = tmp_path / "projects.yaml"
    editor.write_text(f"# yaml-language-server: $schema={EDITOR_SCHEMA.as_uri()}\n"
                      + PROJECTS_ONLY)
    assert _messages(server.diagnostics(editor)) == []
    # The validation schema (a whole workspace) would flag the missing root keys: the
    # test can tell the difference.
    strict = tmp_path / "strict.yaml"
    strict.write_text(f"# yaml-language-server: $schema={(SCHEMAS / 'adaptive-deploy.v1.schema.json').as_uri()}\n"
                      + PROJECTS_ONLY)
    assert any("version" in m for m in _messages(server.diagnostics(strict)))


def test_rule_ranges_and_unknown_keys_are_flagged(server: LanguageServer,
                                                  tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"# yaml-language-server: $schema={EDITOR_SCHEMA.as_uri()}\n"
                   + PROJECTS_ONLY.replace("num_draft_steps: 4", "num_draft_steps: 12")
                   .replace("name: Support", "name: Support\n    nmae: typo"))
    messages = _messages(server.diagnostics(bad))
    assert any("8" in m and ("maximum" in m.lower() or "less" in m.lower()) for m in messages), \
        messages
    assert any("nmae" in m for m in messages), messages


@pytest.mark.parametrize("example", sorted((ROOT / "examples").glob("*/*.yaml")),
                         ids=lambda p: p.parent.name)
def test_examples_point_at_the_schema_with_a_relative_modeline(
        server: LanguageServer, example: Path, tmp_path: Path) -> None:
    first = example.read_text().splitlines()[0]
    assert first == "# yaml-language-server: $schema=../../schemas/adaptive-deploy.schema.json"
    assert _messages(server.diagnostics(example)) == []
    # The same layout elsewhere, with a mistake (the server caches an opened file's text, so
    # the broken copy gets its own path).
    copy = tmp_path / "examples" / example.parent.name / example.name
    copy.parent.mkdir(parents=True)
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / EDITOR_SCHEMA.name).write_text(EDITOR_SCHEMA.read_text())
    copy.write_text(example.read_text().replace("version: 1", "version: 1\nversoin: 1", 1))
    assert any("versoin" in m for m in _messages(server.diagnostics(copy)))


def test_schema_write_puts_the_schema_where_the_modeline_points(server: LanguageServer,
                                                                tmp_path: Path) -> None:
    result = run_cli("schema", "--write", str(tmp_path))
    assert result.code == 0, result.text
    assert "# yaml-language-server: $schema=adaptive-deploy.schema.json" in result.out
    doc = tmp_path / "projects.yaml"
    doc.write_text("# yaml-language-server: $schema=adaptive-deploy.schema.json\n"
                   + PROJECTS_ONLY.replace("num_draft_steps: 4", "num_draft_steps: 0"))
    assert any("1" in m for m in _messages(server.diagnostics(doc)))


def test_editor_schema_titles_defaults_and_ranges() -> None:
    editor = schema.editor_schema()
    assert "required" not in editor
    defs = editor["$defs"]
    assert all(d.get("title") for d in defs.values())
    assert defs["DeploymentSpec"]["title"] == "Deployment"
    steps = defs["DeploymentSpec"]["properties"]["num_draft_steps"]
    assert (steps["minimum"], steps["maximum"]) == (1, 8)
    assert defs["PlatformConfig"]["properties"]["api_key_env"]["default"] == "ADAPTIVE_API_KEY"
    # The validation schema leaves the range to the rule (AD340): one error, with its code.
    validation = schema.load()
    assert "maximum" not in validation["$defs"]["DeploymentSpec"]["properties"]["num_draft_steps"]
    assert validation["required"] == ["version", "workspace"]


@pytest.mark.parametrize("example", sorted((ROOT / "examples" / "environments").glob("*/*.yaml")),
                         ids=lambda p: f"{p.parent.name}/{p.name}")
def test_environment_and_base_files_in_the_editor(
        server: LanguageServer, example: Path, tmp_path: Path) -> None:
    """A base's files (no version, workspace, platform or state) and an environment's files
    (base, remove) have no false errors; a mistyped directive is flagged."""
    first = example.read_text().splitlines()[0]
    assert first == "# yaml-language-server: $schema=../../../schemas/adaptive-deploy.schema.json"
    assert _messages(server.diagnostics(example)) == []
    if example.name != "environment.yaml":
        return
    copy = tmp_path / "examples" / "environments" / example.parent.name / example.name
    copy.parent.mkdir(parents=True)
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / EDITOR_SCHEMA.name).write_text(EDITOR_SCHEMA.read_text())
    copy.write_text(example.read_text().replace("base: ../base", "base: [../base]\nbsae: x"))
    messages = _messages(server.diagnostics(copy))
    assert any("bsae" in m for m in messages), messages
    assert any("string" in m.lower() for m in messages), messages
