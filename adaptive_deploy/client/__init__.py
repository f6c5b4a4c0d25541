"""The platform client: GraphQL over `httpx.AsyncClient`, remote or embedded.

`connect(platform_cfg, workspace_dir)` returns a `Platform` (see `client.protocol`):

- remote when `platform.base_url` (may be `${env:NAME}`) or `ADAPTIVE_BASE_URL` is set; the API
  key comes only from the environment variable named by `platform.api_key_env`;
- otherwise the embedded emulator in-process, persisted under `<workspace>/.adaptive-deploy/`.

Heavy imports (httpx, pydantic) happen inside `connect`, so importing this package is cheap.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from adaptive_deploy.errors import AuthError, ConfigError

if TYPE_CHECKING:
    from adaptive_deploy.client.protocol import Platform
    from adaptive_deploy.config.models import PlatformConfig

__all__ = ["BASE_URL_ENV", "connect", "resolve_base_url"]

BASE_URL_ENV = "ADAPTIVE_BASE_URL"
_ENV_REF = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}")


def resolve_base_url(
    configured: str | None, env: Mapping[str, str]
) -> tuple[str | None, bool, str]:
    """(url, sensitive, label). `url` is None when no platform is configured (embedded).

    A URL built from an `${env:NAME}` template is sensitive: `label`, the text used in messages,
    then names the variable instead of showing the value.
    """
    if configured:
        names = _ENV_REF.findall(configured)
        if not names:
            return configured, False, configured
        missing = [n for n in names if not env.get(n)]
        if missing:
            raise ConfigError(
                f"platform.base_url refers to ${{env:{missing[0]}}}, but {missing[0]} is not set"
            )
        url = _ENV_REF.sub(lambda m: env[m.group(1)], configured)
        return url, True, f"the platform (base_url from {configured})"
    from_env = env.get(BASE_URL_ENV) or None
    return from_env, False, from_env or ""


def connect(
    platform_cfg: PlatformConfig, workspace_dir: Path, env: Mapping[str, str] = os.environ
) -> Platform:
    """A `Platform` for this configuration: remote over HTTP(S), or the embedded emulator."""
    from adaptive_deploy.client.platform import GraphQLPlatform
    from adaptive_deploy.client.transport import GraphQLTransport

    url, sensitive, label = resolve_base_url(platform_cfg.base_url, env)
    if url is None:
        from adaptive_deploy.client.embedded import embedded_platform

        return embedded_platform(
            Path(workspace_dir),
            timeout_s=platform_cfg.request_timeout_s,
            max_retries=platform_cfg.max_retries,
        )
    if not url.startswith(("http://", "https://")):
        shown = label if sensitive else repr(url)
        raise ConfigError(f"platform.base_url {shown} must start with http:// or https://")
    key_env = platform_cfg.api_key_env
    key = env.get(key_env, "").strip()
    if not key:
        raise AuthError(
            f"no API key: set ${key_env} (named by platform.api_key_env) to use {label}"
        )
    transport = GraphQLTransport(
        url,
        key,
        api_key_env=key_env,
        timeout_s=platform_cfg.request_timeout_s,
        max_retries=platform_cfg.max_retries,
        sensitive=(url,) if sensitive else (),
        label=label,
    )
    return GraphQLPlatform(transport)
