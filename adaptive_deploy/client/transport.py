"""GraphQL over `httpx.AsyncClient`: retries, backoff, auth errors and secret redaction.

One `GraphQLTransport` per connection. `execute(...)` posts one GraphQL document to
`{base_url}/api/graphql` and returns its `data`, or raises one of `adaptive_deploy.errors`:

    PlatformError
    ├── AuthError            401, 403, or a GraphQL error refusing the key or a permission
    ├── EntityNotFound       a GraphQL error whose message contains "EntityNotFound:"
    └── PlatformUnavailable  retries exhausted, connection refused, timeouts
        └── OutcomeUnknown   a non-idempotent mutation may or may not have been applied

GraphQL errors are read as the official SDK reads them: "EntityNotFound:" anywhere in the message
of any error means not found; `extensions.code` is optional (the SDK never reads it), so it is
used when present and the message's words otherwise.

Retries (exponential backoff, full jitter, `Retry-After` honoured) cover connection errors, 408,
429, 502, 503 and 504. A non-idempotent mutation is only re-sent when the request provably did
not reach the platform (connect errors, 429, 503); any other failure after sending raises
`OutcomeUnknown` so the caller can re-read live state before deciding to re-send.

The API key (and a base URL that came from an `${env:...}` template, and credentials inside a
base URL) never appears in any exception text, log record or repr: they are registered with
`adaptive_deploy.redaction`, every message is passed through `redact()` (errors the platform
echoes back included), and a logging filter scrubs the records httpx and httpcore emit. Any
other failure of the HTTP stack (an invalid URL, an ExceptionGroup from a connection attempt)
becomes one PlatformUnavailable line, never a traceback.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import httpx

from adaptive_deploy import redaction
from adaptive_deploy.errors import AuthError, EntityNotFound, PlatformError, PlatformUnavailable

log = logging.getLogger("adaptive_deploy.client")

GRAPHQL_PATH = "/api/graphql"
RETRY_STATUSES = frozenset({408, 429, 502, 503, 504})
# Statuses meaning "the server refused before doing anything": safe to re-send even a
# non-idempotent mutation. 408/502/504 may arrive after the work was done.
NOT_PROCESSED_STATUSES = frozenset({429, 503})
MAX_POOL = 64  # connections: --parallelism up to 32 plus headroom for concurrent reads
USER_AGENT = "adaptive-deploy/{version}"
# Optional error codes meaning "this key may not": the SDK proves none, servers differ.
_FORBIDDEN_CODES = frozenset({"FORBIDDEN", "PERMISSION_DENIED", "UNAUTHORIZED"})
_UNAUTHENTICATED_CODES = frozenset({"UNAUTHENTICATED"})
# ("not allowed" is left out: platform rules use it, e.g. for a tp a model does not support.)
_FORBIDDEN_WORDS = ("forbidden", "permission denied", "missing permission", "not authorized",
                    "unauthorized", "access denied", "insufficient permission")

Sleep = Callable[[float], Awaitable[None]]

# Secrets known to this process, scrubbed from httpx/httpcore log records.
_SECRETS: set[str] = set()


class OutcomeUnknown(PlatformUnavailable):
    """A non-idempotent mutation was sent but its outcome is unknown (timeout, dropped
    connection, 502/504 after sending). Re-read live state before re-sending."""


class _RedactingFilter(logging.Filter):
    """Scrubs known secrets from records of third-party loggers (httpx logs full URLs)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not _SECRETS:
            return True
        message = record.getMessage()
        cleaned = _scrub(message, _SECRETS)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


_FILTER = _RedactingFilter()
for _name in ("httpx", "httpcore"):
    logging.getLogger(_name).addFilter(_FILTER)


def _scrub(text: str, secrets: set[str] | frozenset[str]) -> str:
    # Longest first, so a URL is replaced whole before its host part; then every secret this
    # process knows, in each escaped form (redaction.register).
    for secret in sorted(secrets, key=len, reverse=True):
        if len(secret) >= redaction.MIN_LENGTH:
            text = text.replace(secret, "***")
    return redaction.redact(text)


def display_url(url: str) -> str:
    """`url` fit to show: credentials in it masked (https://user:***@host/...)."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        return "the configured base URL"
    if parsed.password or parsed.username:
        user = parsed.username or ""
        parsed = parsed.copy_with(username=user or None, password="***" if parsed.password
                                  else None)
    shown = str(parsed)
    if "?" in shown:
        shown = shown.split("?", 1)[0] + "?***"
    return shown


def _leaf(exc: BaseException) -> BaseException:
    """The first non-group exception inside `exc` (anyio wraps connection errors)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def _describe(exc: BaseException) -> str:
    """A connection failure in a few words: the platform's address is named by the caller."""
    leaf = _leaf(exc)
    text = str(leaf).strip().splitlines()[0] if str(leaf).strip() else ""
    if "Name or service not known" in text or "nodename nor servname" in text or (
        "getaddrinfo" in text
    ):
        return "the host name does not resolve"
    if "All connection attempts failed" in text or "Connection refused" in text:
        return "connection refused (nothing listens there?)"
    if isinstance(leaf, OverflowError) or "port" in text.lower():
        return f"invalid address ({text})" if text else "invalid address"
    if "CERTIFICATE_VERIFY_FAILED" in text or "certificate" in text.lower():
        return f"TLS certificate not trusted ({text})"
    name = type(leaf).__name__
    return f"{name} ({text})" if text else name


def _version() -> str:
    from adaptive_deploy import __version__

    return __version__


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class GraphQLTransport:
    """Posts GraphQL documents with retries; see the module docstring for the error rules."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        api_key_env: str = "ADAPTIVE_API_KEY",
        timeout_s: float = 30.0,
        max_retries: int = 5,
        transport: httpx.AsyncBaseTransport | None = None,
        sensitive: tuple[str, ...] = (),
        label: str | None = None,
        sleep: Sleep | None = None,
        rand: Callable[[], float] = random.random,
        base_delay_s: float = 0.25,
        max_delay_s: float = 8.0,
        max_retry_after_s: float = 60.0,
    ) -> None:
        self._api_key = api_key
        self.api_key_env = api_key_env
        self.max_retries = max_retries
        self.timeout_s = timeout_s
        self.request_count = 0
        self.base_url = base_url.rstrip("/")
        self.label = label or display_url(base_url)
        self._secrets = frozenset(s for s in (api_key, *sensitive) if s)
        _SECRETS.update(self._secrets)
        for secret in self._secrets:
            redaction.register(secret)
        redaction.register_url(base_url)
        self._sleep: Sleep = sleep or asyncio.sleep
        self._rand = rand
        self._base_delay = base_delay_s
        self._max_delay = max_delay_s
        self._max_retry_after = max_retry_after_s
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {api_key}", "Accept": "application/json",
                     "User-Agent": USER_AGENT.format(version=_version())},
            timeout=httpx.Timeout(timeout_s),
            limits=httpx.Limits(max_connections=MAX_POOL, max_keepalive_connections=MAX_POOL),
            verify=True,
            transport=transport,
            follow_redirects=False,
        )
        if transport is None:
            from adaptive_deploy.client import pool

            pool.install(self._client)

    def __repr__(self) -> str:
        return f"GraphQLTransport({self.label!r}, key={self.key_ref})"

    @property
    def key_ref(self) -> str:
        """How messages name the key's source: `$NAME` for an environment variable."""
        env = self.api_key_env
        return f"${env}" if env.isidentifier() else env

    def redact(self, text: str) -> str:
        """`text` with the API key and sensitive values replaced by ***."""
        return _scrub(text, self._secrets)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self._max_retry_after)
        # Full jitter (AWS architecture blog): uniform in [0, min(cap, base * 2^attempt)].
        return self._rand() * min(self._max_delay, self._base_delay * 2.0**attempt)

    async def execute(
        self,
        document: str,
        variables: Mapping[str, Any] | None = None,
        *,
        operation_name: str,
        mutation: bool = False,
        idempotent: bool = True,
    ) -> dict[str, Any]:
        """Send one GraphQL operation and return its `data`.

        `idempotent=False` marks a mutation that must not be re-sent blindly: failures that
        may have happened after the platform applied it raise `OutcomeUnknown`.
        """
        payload = {
            "query": document,
            "operationName": operation_name,
            "variables": dict(variables or {}),
        }
        attempt = 0
        while True:
            retry_after: float | None = None
            try:
                self.request_count += 1
                response = await self._client.post(GRAPHQL_PATH, json=payload)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                # Never reached the platform: always safe to retry.
                reason = f"cannot connect to {self.label}: {_describe(exc)}"
            except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
                reason = f"{type(exc).__name__} talking to {self.label} during {operation_name}"
                if not idempotent:
                    raise OutcomeUnknown(self.redact(reason)) from None
            except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
                raise PlatformUnavailable(self.redact(
                    f"invalid platform base URL {self.label}: {exc}")) from None
            except (httpx.HTTPError, OSError, OverflowError, BaseExceptionGroup) as exc:
                # Whatever else the HTTP stack raises (an ExceptionGroup of a failed connection
                # attempt, an invalid port): the request never got an answer.
                reason = f"cannot reach {self.label}: {_describe(exc)}"
                if not idempotent:
                    raise OutcomeUnknown(self.redact(reason)) from None
            else:
                status = response.status_code
                if status in RETRY_STATUSES:
                    reason = f"HTTP {status} from {self.label} during {operation_name}"
                    if not idempotent and status not in NOT_PROCESSED_STATUSES:
                        raise OutcomeUnknown(self.redact(reason))
                    retry_after = parse_retry_after(response.headers.get("retry-after"))
                else:
                    return self._interpret(response, operation_name, mutation)
            if attempt >= self.max_retries:
                raise PlatformUnavailable(
                    self.redact(f"{reason}; gave up after {attempt + 1} attempts")
                ) from None
            delay = self._backoff(attempt, retry_after)
            log.info(
                "%s; retrying in %.2f s (attempt %d of %d)",
                self.redact(reason), delay, attempt + 2, self.max_retries + 1,
            )
            attempt += 1
            await self._sleep(delay)

    def _interpret(
        self, response: httpx.Response, operation_name: str, mutation: bool
    ) -> dict[str, Any]:
        status = response.status_code
        env = self.key_ref
        if status == 401:
            raise AuthError(
                f"the platform rejected the API key in {env} (401 Unauthorized); "
                f"check that {env} holds a valid key for {self.label}"
            )
        if status == 403:
            raise AuthError(self._forbidden_message(operation_name, mutation))
        if status in (404, 405):
            raise PlatformError(self.redact(self._not_found_message(status)))
        try:
            body = response.json()
        except ValueError:
            kind = response.headers.get("content-type", "unknown content type")
            raise PlatformError(
                self.redact(
                    f"{self.label} answered {operation_name} with HTTP {status} and a non-JSON "
                    f"body ({kind}); is base_url the Adaptive control plane?"
                )
            ) from None
        if not isinstance(body, dict):
            raise PlatformError(f"unexpected GraphQL response to {operation_name}")
        errors = body.get("errors")
        if errors:
            raise self._graphql_error(errors, operation_name, mutation)
        if status >= 400:
            raise PlatformError(self.redact(f"HTTP {status} from {self.label} during {operation_name}"))
        data = body.get("data")
        if not isinstance(data, dict):
            raise PlatformError(f"the platform returned no data for {operation_name}")
        return data

    def _not_found_message(self, status: int) -> str:
        where = display_url(self.base_url + GRAPHQL_PATH) if self.label == display_url(
            self.base_url) else f"{self.label} ({GRAPHQL_PATH})"
        what = "404 Not Found" if status == 404 else "405 Method Not Allowed"
        if self.base_url.rstrip("/").endswith(GRAPHQL_PATH):
            fix = "drop it"
            if self.label == display_url(self.base_url):   # not a sensitive URL: show it
                fix = "use " + display_url(self.base_url.rstrip("/")[: -len(GRAPHQL_PATH)])
            return (f"{where} answered {what}: base_url must be the control plane's root, "
                    f"without {GRAPHQL_PATH} (the tool adds it): {fix}")
        return (f"{where} answered {what}: no GraphQL endpoint there; is base_url the Adaptive "
                "control plane's root URL?")

    def _forbidden_message(self, operation_name: str, mutation: bool, detail: str = "") -> str:
        env = self.key_ref
        # The platform's own words usually name the missing permission: keep them. Role names
        # are the platform's to define, so none is assumed here.
        why = detail or "permission denied"
        if mutation:
            return (f"the key in {env} may not change the platform ({operation_name}: {why}); "
                    "apply needs a key whose role grants it")
        return f"the key in {env} may not read {operation_name} ({why})"

    def _graphql_error(
        self, errors: Any, operation_name: str, mutation: bool
    ) -> PlatformError:
        items = errors if isinstance(errors, list) else [errors]
        messages: list[str] = []
        codes: set[str] = set()
        for item in items:
            if isinstance(item, dict):
                messages.append(str(item.get("message", "")))
                ext = item.get("extensions")
                if isinstance(ext, dict) and ext.get("code"):
                    codes.add(str(ext["code"]))
            else:
                messages.append(str(item))
        text = self.redact("; ".join(m for m in messages if m) or "unknown error")
        if codes & _UNAUTHENTICATED_CODES:
            return AuthError(
                f"the platform rejected the API key in {self.key_ref}: {text}"
            )
        if any("EntityNotFound:" in m for m in messages):
            return EntityNotFound(text)
        lowered = text.lower()
        if codes & _FORBIDDEN_CODES or any(w in lowered for w in _FORBIDDEN_WORDS):
            return AuthError(self._forbidden_message(operation_name, mutation, text))
        return PlatformError(f"{operation_name} failed: {text}")
