"""State backends: local (SQLite) and postgres, behind the StateStore and Locker protocols.

    store, locker = open_state(workspace_cfg.state, "prod", Path("examples/quickstart"))
    lock = locker.acquire("apply", timeout_s=30)
    try:
        store.put_resource(record)
    finally:
        locker.release(lock)
        store.close()
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from adaptive_deploy.errors import StateError
from adaptive_deploy.state.base import (
    Claim,
    HistoryEntry,
    Locker,
    LockInfo,
    ResourceRecord,
    StateSnapshot,
    StateStore,
)

if TYPE_CHECKING:
    from adaptive_deploy.config.models import StateConfig

__all__ = [
    "Claim",
    "HistoryEntry",
    "LockInfo",
    "Locker",
    "ResourceRecord",
    "StateSnapshot",
    "StateStore",
    "init_state",
    "local_state_path",
    "open_state",
]

STATE_DIR = ".adaptive-deploy"


def local_state_path(cfg: StateConfig, workspace_dir: Path) -> Path:
    """Where the local backend keeps its SQLite file: `cfg.path` relative to the workspace
    directory, else `.adaptive-deploy/state.db` in it."""
    if cfg.path:
        return Path(workspace_dir) / cfg.path
    return Path(workspace_dir) / STATE_DIR / "state.db"


def _prepare_dir(directory: Path) -> None:
    """Create the state folder; a folder we create gets a `.gitignore` of `*` so state and the
    embedded platform database are never committed."""
    default = directory.name == STATE_DIR
    created = not directory.exists()
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StateError(f"cannot create state folder {directory}: {exc}") from None
    if created or default:
        try:
            with (directory / ".gitignore").open("x", encoding="utf-8") as f:
                f.write("*\n")
        except FileExistsError:
            pass  # the user's own .gitignore wins
        except OSError as exc:
            raise StateError(f"cannot write {directory / '.gitignore'}: {exc}") from None


def _postgres_dsn(cfg: StateConfig, env: Mapping[str, str]) -> str:
    if not cfg.dsn_env:
        raise StateError(
            "state.backend is postgres but state.dsn_env is not set: set it to the NAME of "
            "the environment variable that holds the PostgreSQL DSN"
        )
    dsn = env.get(cfg.dsn_env)
    if not dsn:
        raise StateError(
            f"the postgres state backend reads its DSN from the environment variable "
            f"{cfg.dsn_env}, which is not set"
        )
    from adaptive_deploy import redaction

    redaction.register(dsn)
    redaction.register_url(dsn)
    for part in dsn.split():                  # key=value form: password=...
        key, _, value = part.partition("=")
        if key.strip().lower() == "password":
            redaction.register(value.strip("'\""))
    return dsn


def open_state(
    cfg: StateConfig,
    workspace: str,
    workspace_dir: Path,
    env: Mapping[str, str] = os.environ,
) -> tuple[StateStore, Locker]:
    """Open (creating on first use) the state of `workspace` and its lock.

    local: SQLite under `workspace_dir`; postgres: the database whose DSN is in the environment
    variable named by `cfg.dsn_env` (the DSN itself is never shown: it may hold a password).
    """
    if cfg.backend == "local":
        from adaptive_deploy.state._common import Lease
        from adaptive_deploy.state.sqlite import SqliteLocker, SqliteStateStore

        path = local_state_path(cfg, workspace_dir)
        _prepare_dir(path.parent)
        lease = Lease(workspace)
        return SqliteStateStore(path, workspace, lease), SqliteLocker(path, workspace, lease)
    if cfg.backend == "postgres":
        dsn = _postgres_dsn(cfg, env)
        assert cfg.dsn_env is not None
        from adaptive_deploy.state._common import Lease
        from adaptive_deploy.state.postgres import PostgresLocker, PostgresStateStore

        lease = Lease(workspace, duration_s=cfg.lock_lease_s)
        store = PostgresStateStore(dsn, workspace, dsn_env=cfg.dsn_env, lease=lease)
        return store, PostgresLocker(dsn, workspace, dsn_env=cfg.dsn_env, lease=lease)
    raise StateError(f"unknown state backend {cfg.backend!r} (expected local or postgres)")


def init_state(
    cfg: StateConfig,
    workspace: str,
    workspace_dir: Path,
    env: Mapping[str, str] = os.environ,
    *,
    force: bool = False,
) -> str:
    """`state init`: create the state of `workspace` where there is none. A state that traces
    show existed but is damaged (see errors.StateDamaged) is refused unless `force`: local
    moves the damaged file aside, postgres recreates missing tables and starts a new lineage
    (history kept). Returns a sentence saying what was done."""
    if cfg.backend == "local":
        from adaptive_deploy.state.sqlite import init_database

        path = local_state_path(cfg, workspace_dir)
        _prepare_dir(path.parent)
        return init_database(path, workspace, force)
    if cfg.backend == "postgres":
        from adaptive_deploy.state.postgres import init_state as init_postgres

        dsn = _postgres_dsn(cfg, env)
        assert cfg.dsn_env is not None
        return init_postgres(dsn, workspace, dsn_env=cfg.dsn_env, force=force)
    raise StateError(f"unknown state backend {cfg.backend!r} (expected local or postgres)")
