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

__all__ = ["BASE_URL_ENV", "api_key_problem", "base_url_problem", "connect", "resolve_base_url"]

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
        from adaptive_deploy import redaction

        url = _ENV_REF.sub(lambda m: env[m.group(1)], configured)
        for name in names:
            redaction.register(env[name])
        redaction.register(url)
        return url, True, f"the platform (base_url from {configured})"
    from_env = env.get(BASE_URL_ENV) or None
    return from_env, False, from_env or ""


def base_url_problem(url: str) -> str | None:
    """Why `url` cannot be a platform base URL, or None. Checked before any request, so a
    typo is one line instead of a failure deep in the HTTP stack."""
    import httpx

    if any(c.isspace() or ord(c) < 32 for c in url):
        return "it contains whitespace or control characters"
    if not url.startswith(("http://", "https://")):
        return "it must start with http:// or https://"
    try:
        parsed = httpx.URL(url)
        port = parsed.port
    except (httpx.InvalidURL, ValueError, TypeError) as exc:
        return str(exc) or "it cannot be parsed"
    if not parsed.host:
        return "it has no host name"
    if port is not None and not 0 < port < 65536:
        return f"port {port} is out of range (1-65535)"
    if parsed.query or parsed.fragment:
        return "it has a query or fragment; give the control plane's root URL"
    return None


def api_key_problem(key: str) -> str | None:
    """What makes `key` unusable in an HTTP header, or None; never quotes the key."""
    for position, char in enumerate(key, 1):
        if char in "\r\n":
            return f"contains a line break (character {position})"
        if char.isspace():
            what = "a tab" if char == "\t" else "a space"
            return f"contains {what} (character {position})"
        if not 0x21 <= ord(char) <= 0x7E:
            return f"contains a control or non-ASCII character (character {position})"
    return None


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
    from adaptive_deploy import redaction
    from adaptive_deploy.client.transport import display_url

    if sensitive:
        redaction.register(url)
    redaction.register_url(url)
    # Shown as given, unless it may carry credentials (user:password@host).
    shown = label if sensitive else repr(display_url(url) if "@" in url else url)
    problem = base_url_problem(url)
    if problem is not None:
        source = "platform.base_url" if platform_cfg.base_url else BASE_URL_ENV
        raise ConfigError(f"{source} {shown} is not a valid URL: {problem}")
    if not sensitive:
        label = display_url(url)
    key_env = platform_cfg.api_key_env
    key = env.get(key_env, "").strip()
    if not key:
        raise AuthError(
            f"no API key: set ${key_env} (named by platform.api_key_env) to use {label}"
        )
    redaction.register(key)
    bad = api_key_problem(key)
    if bad is not None:
        raise AuthError(
            f"the API key in ${key_env} {bad}; an API key is printable ASCII without spaces "
            "(check how it was exported; the key itself is never shown)"
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
