"""Which platform a state belongs to.

A state describes objects of one platform installation; planning it against another would
read every recorded object as "deleted outside adaptive-deploy" and create them all again.
So the state records the identity of the platform it was applied to, and planning against a
different one is refused (`engine`).

The real API exposes no installation id. What it does expose, minted per installation, are the
compute pools' ids: UUIDs the platform generates when it registers the pools of its Helm chart
(the emulator mints its ids per database, so a restart on another port is the same platform and
a new database is another one). The identity is therefore:

- ``pools``: the sorted compute-pool ids. Two identities are the same platform when they share
  a pool id, so a pool added to or removed from the chart does not make a platform "new";
- ``url``: the normalised base URL without credentials, query or fragment (the fallback when
  either side has no pool ids). A URL built from ``${env:NAME}`` may be secret: only its
  sha256 is kept. The embedded platform is ``embedded:<database path>``;
- ``label``: how messages name it (never a secret).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from adaptive_deploy.config.models import PlatformConfig
    from adaptive_deploy.live import LiveState

_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class PlatformIdentity:
    pools: tuple[str, ...]
    url: str | None
    label: str

    @property
    def id(self) -> str:
        """A short, stable name for messages: `pools:<digest>` or `url:<url or its hash>`."""
        if self.pools:
            return "pools:" + _digest(",".join(self.pools))[:16]
        if self.url:
            return "url:" + (self.url[:23] if self.url.startswith("sha256:") else self.url)
        return "unknown"

    def to_dict(self) -> dict[str, Any]:
        """As stored in state and in a plan document."""
        return {"id": self.id, "label": self.label, "pools": list(self.pools), "url": self.url}

    def describe(self) -> str:
        return f"{self.label} [{self.id}]"


def describe(recorded: Mapping[str, Any]) -> str:
    """A recorded identity (a state's or a plan's) for messages."""
    return f"{recorded.get('label') or 'an unnamed platform'} [{recorded.get('id') or 'unknown'}]"


def normalise_url(url: str) -> str:
    """scheme://host[:port]/path: lower-case scheme and host, no user info, no default port,
    no query or fragment, no trailing slash."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"   # IPv6 literal
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = host if port is None or _DEFAULT_PORTS.get(scheme) == port else f"{host}:{port}"
    return f"{scheme}://{netloc}{parts.path.rstrip('/')}"


def origin(
    platform_cfg: PlatformConfig, workspace_dir: Path, env: Mapping[str, str]
) -> tuple[str, str]:
    """(url key, label) of the platform the configuration points at, as `client.connect`
    resolves it. Never holds a secret: a URL from `${env:NAME}` is hashed."""
    from adaptive_deploy.client import resolve_base_url
    from adaptive_deploy.client.embedded import DATA_DIR, DB_NAME

    url, sensitive, label = resolve_base_url(platform_cfg.base_url, env)
    if url is None:
        db = (Path(workspace_dir) / DATA_DIR / DB_NAME).resolve()
        return f"embedded:{db}", f"the embedded platform ({Path(workspace_dir) / DATA_DIR / DB_NAME})"
    key = normalise_url(url)
    if sensitive:
        return "sha256:" + _digest(key), label
    return key, key


def identify(live: LiveState, url: str, label: str) -> PlatformIdentity:
    """The identity of the platform `live` was read from (`url`, `label` from `origin`)."""
    pools = tuple(sorted({p.id for p in live.compute_pools.values() if p.id}))
    return PlatformIdentity(pools, url, label)


def same_platform(recorded: Mapping[str, Any], current: PlatformIdentity) -> bool | None:
    """True / False when the identities prove it, None when they cannot tell (neither pool
    ids nor URLs on both sides)."""
    recorded_pools = set(recorded.get("pools") or [])
    if recorded_pools and current.pools:
        return bool(recorded_pools & set(current.pools))
    recorded_url = recorded.get("url")
    if recorded_url and current.url:
        return bool(recorded_url == current.url)
    return None


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
