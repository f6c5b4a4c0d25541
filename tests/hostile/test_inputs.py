"""Hostile and unlucky inputs through the real CLI: odd files in the workspace, numbers and
keys that once crashed or were reinterpreted, usage mistakes. Each one exits 1 with one clear
message, no traceback, in bounded time and memory (tests/hostile/harness.py)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.hostile.harness import assert_bounded, assert_refused, run_bounded

CONFIG = """\
version: 1
workspace: hostile
compute_pools:
  pool-1: {gpu: H100-80GB, gpus_per_replica: 8, replicas: REPLICAS}
models:
  qwen-3-8b:
    compute_config: {tp: TP, kv_cache_len: KV}
projects:
  PROJECT:
    deployments:
      qwen-3-8b: {placement: {compute_pools: [pool-1]}}
JOBS"""


def config(*, tp: str = "1", kv: str = "100000", replicas: str = "2", project: str = "support",
           jobs: str = "") -> str:
    return (CONFIG.replace("REPLICAS", replicas).replace("TP", tp).replace("KV", kv)
            .replace("PROJECT", project).replace("JOBS", jobs))


def workspace(tmp_path: Path, text: str | None = None) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "main.yaml").write_text(config() if text is None else text)
    return ws


def _dangling(ws: Path) -> None:
    (ws / "shared.yaml").symlink_to("../missing/shared.yaml")


def _loop(ws: Path) -> None:
    (ws / "a.yaml").symlink_to("b.yaml")
    (ws / "b.yaml").symlink_to("a.yaml")


def _fifo(ws: Path) -> None:
    os.mkfifo(ws / "pipe.yaml")


def _directory(ws: Path) -> None:
    (ws / "models.yaml").mkdir()


ENTRIES: dict[str, tuple[Callable[[Path], None], str]] = {
    "dangling-symlink": (_dangling, "which does not exist"),
    "symlink-loop": (_loop, "symbolic link loop"),
    "fifo": (_fifo, "named pipe (FIFO)"),
    "directory-named-yaml": (_directory, "is a directory"),
}


@pytest.mark.parametrize("case", sorted(ENTRIES))
@pytest.mark.parametrize("command", ["validate", "plan"])
def test_workspace_entries_that_are_not_files(case: str, command: str, tmp_path: Path) -> None:
    ws = workspace(tmp_path)
    make, expected = ENTRIES[case]
    make(ws)
    outcome = run_bounded(command, str(ws))
    assert_refused(outcome, "error[AD116]", expected, max_messages=2)


@pytest.mark.parametrize(
    ("text", "code", "expected"),
    [(config(kv="9" * 5000), "AD115", "5000 characters"),
     (config(kv=str(10**40)), "AD115", "limited to 64 bits"),
     (config(kv=str(3 * 10**9)), "AD203", "2147483647"),
     (config(kv="83:20:00"), "AD114", "base-60"),
     (config(tp="010"), "AD114", "octal"),
     (config(project='""'), "AD206", "cannot name a resource"),
     (config(project='"a/b"'), "AD206", "cannot name a resource"),
     (config(jobs='jobs:\n  "":\n    recipe: r\n    project: support\n'), "AD206",
      "cannot name a resource"),
     (config(jobs='jobs:\n  "a/b":\n    recipe: r\n    project: support\n'), "AD206",
      "cannot name a resource")],
    ids=["5000-digits", "10**40", "beyond-int32", "sexagesimal", "octal", "empty-project-key",
         "slash-project-key", "empty-job-key", "slash-job-key"],
)
@pytest.mark.parametrize("command", ["validate", "plan"])
def test_values_that_crashed_or_were_reinterpreted(text: str, code: str, expected: str,
                                                   command: str, tmp_path: Path) -> None:
    ws = workspace(tmp_path, text)
    outcome = run_bounded(command, str(ws))
    assert_refused(outcome, f"error[{code}]", expected)
    # refused before anything was created: no platform, no state
    assert not (ws / ".adaptive-deploy").exists()


def test_a_billion_replicas_validate_in_bounded_time_and_memory(tmp_path: Path) -> None:
    ws = workspace(tmp_path, config(replicas="1000000000"))
    outcome = run_bounded("validate", str(ws))
    assert outcome.code == 0, outcome.describe()
    assert_bounded(outcome, wall_limit_s=20)


def test_hidden_files_are_not_merged(tmp_path: Path) -> None:
    ws = workspace(tmp_path)
    (ws / ".pre-commit-config.yaml").write_text("repos: []\n")
    outcome = run_bounded("validate", str(ws))
    assert outcome.code == 0, outcome.describe()


@pytest.mark.parametrize(
    "args",
    [["plan", "--no-such-flag"], ["validate", "--format", "yaml"], ["state", "show"],
     ["plan", "--target"], ["no-such-command"], ["apply", "--parallelism", "0"],
     ["fit", "--tp", "many"]],
    ids=["unknown-flag", "bad-format", "missing-argument", "missing-option-value",
         "unknown-command", "out-of-range", "not-a-number"],
)
def test_usage_errors_exit_1_never_2(args: list[str], tmp_path: Path) -> None:
    outcome = run_bounded(*args, cwd=tmp_path)
    info = outcome.describe()
    assert outcome.code == 1, info     # 2 means "changes" or "drift" to scripts and CI
    assert "Traceback" not in outcome.text
    assert "Error:" in outcome.err, info
    assert_bounded(outcome)


def test_out_under_a_file_is_one_message(tmp_path: Path) -> None:
    ws = workspace(tmp_path)
    (tmp_path / "afile").write_text("")
    outcome = run_bounded("plan", str(ws), "--out", str(tmp_path / "afile" / "plan.json"))
    assert_refused(outcome, "is not a directory")
    assert not (ws / ".adaptive-deploy").exists()   # refused before any work


def test_out_into_a_missing_directory_creates_it(tmp_path: Path) -> None:
    ws = workspace(tmp_path)
    target = tmp_path / "plans" / "new" / "plan.json"
    outcome = run_bounded("plan", str(ws), "--out", str(target))
    assert outcome.code == 0, outcome.describe()
    assert target.is_file()
