"""The embedded default platform: the emulator in-process, reached through `httpx.ASGITransport`.

Used when neither `platform.base_url` nor `ADAPTIVE_BASE_URL` is set. The emulator persists to
`<workspace>/.adaptive-deploy/platform.db` (a folder git-ignored by its own `.gitignore`), so
state and platform survive between commands. The same `GraphQLTransport` and `GraphQLPlatform`
code serves it as a remote control plane: only the httpx transport differs.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import httpx

from adaptive_deploy.client.platform import GraphQLPlatform
from adaptive_deploy.client.transport import GraphQLTransport
from adaptive_deploy.errors import PlatformUnavailable

DATA_DIR = ".adaptive-deploy"
DB_NAME = "platform.db"
# Short, so a quickstart apply visibly waits for ONLINE without being slow.
ONLINE_DELAY_S = 1.0
EMBEDDED_URL = "http://embedded.adaptive-deploy.invalid"
EMBEDDED_KEY_ENV = "the embedded platform's internal key"  # no user env var is involved


def data_dir(workspace_dir: Path) -> Path:
    """`<workspace>/.adaptive-deploy/`, created with a `.gitignore` that ignores everything."""
    folder = workspace_dir / DATA_DIR
    folder.mkdir(parents=True, exist_ok=True)
    ignore = folder / ".gitignore"
    if not ignore.exists():
        ignore.write_text("*\n", encoding="utf-8")
    return folder


def notice(workspace_dir: Path) -> str:
    """The one-line notice the CLI shows when the embedded platform is used."""
    return (
        f"Using the embedded local platform (state and platform under "
        f"{workspace_dir}/{DATA_DIR}/); set platform.base_url or ADAPTIVE_BASE_URL to use a "
        "real one."
    )


def embedded_platform(
    workspace_dir: Path,
    *,
    timeout_s: float = 30.0,
    max_retries: int = 5,
    online_delay_s: float = ONLINE_DELAY_S,
    seed: str = "default",
) -> GraphQLPlatform:
    """A `GraphQLPlatform` served by an in-process emulator persisted under the workspace."""
    import sqlite3

    from adaptive_deploy.emulator.app import create_app

    folder = workspace_dir / DATA_DIR
    db_path = folder / DB_NAME
    # A fresh admin key per process: it only ever travels inside this process.
    key = "embedded-" + secrets.token_urlsafe(24)
    try:
        data_dir(workspace_dir)
        for path in (folder, *(p for p in folder.glob(DB_NAME + "*") if p.is_file())):
            # SQLite opens a read-only file without complaint; every change would then fail
            # one by one deep in an apply.
            if not os.access(path, os.W_OK):
                raise PlatformUnavailable(
                    f"cannot use the embedded local platform: {path} is not writable (the "
                    "workspace's .adaptive-deploy folder and its files must be writable)"
                )
        app = create_app(db_path, seed=seed, api_keys={key: "admin"},
                         online_delay_s=online_delay_s)
    except OSError as exc:
        where = exc.filename or folder
        raise PlatformUnavailable(
            f"cannot open the embedded local platform under {folder}: {exc.strerror} ({where}); "
            "the workspace directory must be writable"
        ) from None
    except sqlite3.Error as exc:
        raise PlatformUnavailable(
            f"cannot open the embedded local platform's database {db_path}: {exc}; the "
            "workspace directory and that file must be writable"
        ) from None
    transport = GraphQLTransport(
        EMBEDDED_URL,
        key,
        api_key_env=EMBEDDED_KEY_ENV,
        timeout_s=timeout_s,
        max_retries=max_retries,
        transport=httpx.ASGITransport(app=app),
        label="the embedded platform",
    )
    return GraphQLPlatform(transport, notice=notice(workspace_dir), poll_interval_s=0.2)
