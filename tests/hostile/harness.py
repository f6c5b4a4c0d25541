"""Run the real console script on a hostile case and hold it to SPEC §7 "hostile input":
exit 1, one clear message, no traceback, no secret, bounded time and memory.

`run_bounded` starts `adaptive-deploy` under an address-space limit (a runaway allocation fails
fast instead of eating the machine) and reads the child's own peak RSS and wall time from
`wait4`; `assert_refused` checks an outcome.
"""

from __future__ import annotations

import os
import re
import resource
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

CLI = str(Path(sys.executable).with_name("adaptive-deploy"))
# Generous for a loaded 2-core machine; a hang or a per-replica loop takes far longer.
WALL_LIMIT_S = 45.0
# A plan of the SPEC's 1,000-deployment workspace stays under 250 MB; a hostile small input
# must stay well under that.
RSS_LIMIT_MB = 250.0
ADDRESS_SPACE_LIMIT = 3 * 1024**3
NOTICE_PREFIXES = ("Using the embedded local platform",)
_DIAGNOSTIC = re.compile(r"(warning|error)\[AD\d{3}\]")


@dataclass
class Outcome:
    args: tuple[str, ...]
    code: int
    out: str
    err: str
    wall_s: float
    max_rss_mb: float

    @property
    def text(self) -> str:
        return self.out + self.err

    def describe(self) -> str:
        return (f"adaptive-deploy {' '.join(self.args)} → exit {self.code} in "
                f"{self.wall_s:.1f}s, {self.max_rss_mb:.0f} MB\n--- stdout\n{self.out}"
                f"--- stderr\n{self.err}")


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADAPTIVE_")}
    env.update({"NO_COLOR": "1", "COLUMNS": "120"})
    env.update(extra or {})
    return env


def run_bounded(
    *args: str,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 120.0,
    stdin: str = "",
    bound_by_permissions: bool = False,
    before: Callable[[], None] | None = None,
) -> Outcome:
    """Run `adaptive-deploy ARGS`. `bound_by_permissions`: when root, without the
    capabilities that let root read and write past file modes, so a file or directory its owner
    cannot write is refused to it too (ourselves otherwise)."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_LIMIT, ADDRESS_SPACE_LIMIT))
        if before is not None:
            before()

    prefix: list[str] = []
    if bound_by_permissions and os.geteuid() == 0:
        # Still root, so the interpreter and the checkout stay reachable wherever they live
        # (another user could not enter a private clone directory); only the override of file
        # modes is gone, dropped from the bounding set that the exec'd CLI inherits.
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running root bound by file modes needs setpriv (util-linux)")
        prefix = [setpriv, "--bounding-set=-dac_override,-dac_read_search",
                  "--inh-caps=-dac_override,-dac_read_search"]
    started = time.monotonic()
    proc = subprocess.Popen(
        [*prefix, CLI, *args], cwd=cwd, env=clean_env(env), stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=limit,
    )
    chunks: dict[str, bytes] = {}

    def read(name: str, stream: object) -> None:
        chunks[name] = stream.read()  # type: ignore[attr-defined]

    readers = [threading.Thread(target=read, args=("out", proc.stdout)),
               threading.Thread(target=read, args=("err", proc.stderr))]
    for r in readers:
        r.start()
    assert proc.stdin is not None
    try:
        proc.stdin.write(stdin.encode())
        proc.stdin.close()
    except BrokenPipeError:
        pass
    deadline = started + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            proc.kill()
            pid, status, usage = os.wait4(proc.pid, 0)
            break
        time.sleep(0.02)
    wall = time.monotonic() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    for r in readers:
        r.join(10)
    return Outcome(
        tuple(args), proc.returncode, chunks.get("out", b"").decode("utf-8", "replace"),
        chunks.get("err", b"").decode("utf-8", "replace"), wall, usage.ru_maxrss / 1024,
    )


def assert_refused(
    outcome: Outcome,
    *expected: str,
    secrets: Iterable[str] = (),
    max_messages: int = 1,
    wall_limit_s: float = WALL_LIMIT_S,
) -> None:
    """Exit 1, 1..max_messages error messages and nothing else on stderr (notices aside), no
    traceback, no secret, within the time and memory bounds; every `expected` text shown."""
    info = outcome.describe()
    assert outcome.code == 1, info
    assert "Traceback" not in outcome.text, info
    assert "ExceptionGroup" not in outcome.text, info
    # `validate` reports diagnostics on stdout (its report); other commands on stderr.
    lines = [ln for ln in outcome.text.splitlines() if ln.strip()]
    messages = [ln for ln in lines if ln.startswith("Error:") or _DIAGNOSTIC.search(ln)]
    errors = [ln for ln in messages if ln.startswith("Error:") or "error[" in ln]
    assert 1 <= len(errors) <= max_messages, info
    stderr = [ln for ln in outcome.err.splitlines() if ln.strip()]
    noise = [ln for ln in stderr if ln not in messages and not ln.startswith(NOTICE_PREFIXES)]
    assert noise == [], info
    for text in expected:
        assert text in outcome.text, f"{text!r} missing\n{info}"
    for secret in secrets:
        assert secret not in outcome.text, f"secret {secret!r} shown\n{info}"
    assert_bounded(outcome, wall_limit_s)


def assert_bounded(outcome: Outcome, wall_limit_s: float = WALL_LIMIT_S) -> None:
    info = outcome.describe()
    assert outcome.wall_s < wall_limit_s, info
    assert outcome.max_rss_mb < RSS_LIMIT_MB, info
