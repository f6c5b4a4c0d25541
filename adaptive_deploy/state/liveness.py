"""Is the process that took a lock still alive? Used to detect locks of dead local processes.

A lock records the holder's host, pid and (on Linux) the process start time from
`/proc/<pid>/stat`. A pid on this host is dead when `kill(pid, 0)` finds no process, when the
process is a zombie, or when the pid now belongs to a different process (its start time
differs from the recorded one: the pid was reused).
"""

from __future__ import annotations

import os
from pathlib import Path


def process_start_ticks(pid: int) -> int | None:
    """Start time of `pid` in clock ticks since boot (Linux), or None when unknown."""
    fields = _read_stat(pid)
    if fields is None:
        return None
    try:
        return int(fields[19])  # field 22 of stat(5); fields[0] is field 3 (state)
    except (IndexError, ValueError):
        return None


def _read_stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (state first), or None."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    # The command name is in parentheses and may itself contain spaces or ')'.
    _, _, rest = raw.rpartition(")")
    return rest.split()


def pid_alive(pid: int, start_ticks: int | None = None) -> bool:
    """True when `pid` runs on this host and, if `start_ticks` is given and the start time is
    readable, is the same process that was recorded (not a reused pid)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by another user
    stat = _read_stat(pid)
    if stat is None:
        return True  # no /proc (not Linux) or raced with exit: trust kill()
    if stat and stat[0] in ("Z", "X"):
        return False  # zombie: exited, only waiting to be reaped
    if start_ticks is not None:
        current = process_start_ticks(pid)
        if current is not None and current != start_ticks:
            return False
    return True
