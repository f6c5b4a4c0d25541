"""Child process for the cross-process state tests: `python -m tests.state.worker JSON`.

JSON: {"backend", "dsn_env", "path", "workspace", "dir", "action", ...}. The DSN comes from the
environment, as in production. Actions:
  hold     acquire the lock, print it as JSON, hold it until stdin closes, release
  acquire  try to acquire with `timeout_s`; print {"ok", "elapsed", "lock", "message"};
           with "hold", keep a lock it got until stdin closes
  puts     put_resource model.m00000, m00001, ... printing each index after its commit
  hold_put acquire and print the lock; on each stdin line, try put_resource(record(N)) and print
           {"ok", "error", "type"}; release when stdin closes
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

from adaptive_deploy.config.models import StateConfig
from adaptive_deploy.errors import AdaptiveDeployError, LockHeld
from adaptive_deploy.state import open_state
from adaptive_deploy.state.base import ResourceRecord


def record(i: int) -> ResourceRecord:
    """The i-th record of a `puts` stream (tests check the prefix against this)."""
    return ResourceRecord(
        address=f"model.m{i:05d}",
        type="model",
        applied={"i": i, "compute_config": {"tp": 1 + i % 4, "kv_cache_len": 1000 * i},
                 "pools": [f"pool-{j}" for j in range(i % 3)]},
        observed={"i": i, "status": "ONLINE"},
        fingerprint=f"fp-{i}",
        platform_id=f"id-{i}",
        updated_at=1_700_000_000.0 + i,
    )


def _emit(doc: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(doc) + "\n")
    sys.stdout.flush()


def main(spec: dict[str, Any]) -> int:
    cfg = StateConfig(**{k: spec[k] for k in ("backend", "dsn_env", "path", "lock_lease_s")
                         if spec.get(k)})
    store, locker = open_state(cfg, spec["workspace"], Path(spec["dir"]))
    action = spec["action"]
    if action == "hold":
        lock = locker.acquire(spec.get("operation", "apply"), timeout_s=spec.get("timeout_s", 0))
        _emit(dataclasses.asdict(lock))
        sys.stdin.read()  # until the parent closes our stdin (or kills us)
        locker.release(lock)
    elif action == "acquire":
        started = time.monotonic()
        try:
            lock = locker.acquire(spec.get("operation", "plan"), timeout_s=spec["timeout_s"])
        except LockHeld as exc:
            _emit({"ok": False, "elapsed": time.monotonic() - started, "message": str(exc),
                   "lock": dataclasses.asdict(exc.lock)})
        else:
            _emit({"ok": True, "elapsed": time.monotonic() - started,
                   "lock": dataclasses.asdict(lock)})
            if spec.get("hold"):
                sys.stdin.read()  # keep the lock until the parent closes our stdin
            locker.release(lock)
    elif action == "hold_put":
        lock = locker.acquire(spec.get("operation", "apply"), timeout_s=spec.get("timeout_s", 0))
        _emit(dataclasses.asdict(lock))
        for n, _line in enumerate(sys.stdin):
            try:
                store.put_resource(record(n))
            except AdaptiveDeployError as exc:
                _emit({"ok": False, "error": str(exc), "type": type(exc).__name__})
            else:
                _emit({"ok": True, "error": None, "type": None})
        locker.release(lock)
    elif action == "puts":
        for i in range(spec["count"]):
            store.put_resource(record(i))
            sys.stdout.write(f"{i}\n")
            sys.stdout.flush()
    store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(json.loads(sys.argv[1])))
