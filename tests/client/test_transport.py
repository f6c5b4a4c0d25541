"""GraphQLTransport: retries, backoff, Retry-After, auth errors, secret redaction.

Everything runs against `httpx.MockTransport` with an injected sleep, so no test really waits.
"""

from __future__ import annotations

import email.utils
import json
import logging
import time
from collections.abc import Callable

import httpx
import pytest

from adaptive_deploy.client.transport import (
    GraphQLTransport,
    OutcomeUnknown,
    parse_retry_after,
)
from adaptive_deploy.errors import AuthError, EntityNotFound, PlatformError, PlatformUnavailable

KEY = "sk-SECRET-KEY-4242-do-not-leak"
SECRET_URL = "https://secret-host.internal.example"

Handler = Callable[[httpx.Request], httpx.Response]


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def make(handler: Handler, *, max_retries: int = 3, rand: float = 1.0,
         sensitive: tuple[str, ...] = ()) -> tuple[GraphQLTransport, Sleeps]:
    sleeps = Sleeps()
    t = GraphQLTransport(
        SECRET_URL, KEY, api_key_env="MY_KEY_VAR", max_retries=max_retries,
        transport=httpx.MockTransport(handler), sleep=sleeps, rand=lambda: rand,
        sensitive=sensitive, label="the platform" if sensitive else None,
    )
    return t, sleeps


def ok(data: object) -> httpx.Response:
    return httpx.Response(200, json={"data": data})


def sequence(*responses: httpx.Response | Exception) -> tuple[Handler, list[httpx.Request]]:
    seen: list[httpx.Request] = []
    items = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        item = items.pop(0) if len(items) > 1 else items[0]
        if isinstance(item, Exception):
            raise item
        return item

    return handler, seen


async def test_sends_bearer_and_document() -> None:
    handler, seen = sequence(ok({"me": {"name": "x"}}))
    t, _ = make(handler)
    data = await t.execute("query Me { me { name } }", {"a": 1}, operation_name="Me")
    assert data == {"me": {"name": "x"}}
    req = seen[0]
    assert req.url.path == "/api/graphql"
    assert req.headers["authorization"] == f"Bearer {KEY}"
    body = json.loads(req.content)
    assert body == {"query": "query Me { me { name } }", "operationName": "Me", "variables": {"a": 1}}
    assert t.request_count == 1
    await t.aclose()


@pytest.mark.parametrize("status", [408, 429, 502, 503, 504])
async def test_retries_retryable_statuses_then_succeeds(status: int) -> None:
    handler, seen = sequence(httpx.Response(status), httpx.Response(status), ok({"x": 1}))
    t, sleeps = make(handler)
    assert await t.execute("q", operation_name="Q") == {"x": 1}
    assert len(seen) == 3
    assert t.request_count == 3
    # rand() == 1.0 → the full exponential ceiling: 0.25, 0.5
    assert sleeps.calls == [0.25, 0.5]


async def test_full_jitter_uses_random_fraction_and_cap() -> None:
    handler, _ = sequence(*[httpx.Response(503)] * 8, ok({}))
    t, sleeps = make(handler, max_retries=10, rand=0.5)
    await t.execute("q", operation_name="Q")
    assert sleeps.calls == [0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 4.0, 4.0]  # 0.5 * min(8, 0.25 * 2^n)


async def test_retries_exhausted_raise_unavailable() -> None:
    handler, seen = sequence(httpx.Response(503))
    t, sleeps = make(handler, max_retries=2)
    with pytest.raises(PlatformUnavailable, match="gave up after 3 attempts"):
        await t.execute("q", operation_name="Q")
    assert len(seen) == 3 and len(sleeps.calls) == 2


async def test_retry_after_seconds_honoured() -> None:
    handler, _ = sequence(httpx.Response(429, headers={"Retry-After": "7"}), ok({}))
    t, sleeps = make(handler)
    await t.execute("q", operation_name="Q")
    assert sleeps.calls == [7.0]


async def test_retry_after_http_date_honoured() -> None:
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    handler, _ = sequence(httpx.Response(429, headers={"Retry-After": when}), ok({}))
    t, sleeps = make(handler)
    await t.execute("q", operation_name="Q")
    assert 28.0 <= sleeps.calls[0] <= 30.5


def test_parse_retry_after_forms() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("-1") == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    date = email.utils.formatdate(1000.0 + 12, usegmt=True)
    assert parse_retry_after(date, now=1000.0) == pytest.approx(12.0)


async def test_connection_errors_retried_even_for_mutations() -> None:
    handler, seen = sequence(httpx.ConnectError("refused"), ok({"createJob": {"id": "1"}}))
    t, _ = make(handler)
    data = await t.execute("m", operation_name="CreateJob", mutation=True, idempotent=False)
    assert data == {"createJob": {"id": "1"}} and len(seen) == 2


@pytest.mark.parametrize(
    "failure",
    [httpx.Response(502), httpx.Response(504), httpx.Response(408),
     httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("dropped")],
)
async def test_non_idempotent_unknown_outcome_not_resent(
    failure: httpx.Response | Exception,
) -> None:
    handler, seen = sequence(failure, ok({}))
    t, _ = make(handler)
    with pytest.raises(OutcomeUnknown):
        await t.execute("m", operation_name="DeployModel", mutation=True, idempotent=False)
    assert len(seen) == 1


@pytest.mark.parametrize("status", [429, 503])
async def test_non_idempotent_resent_when_provably_not_processed(status: int) -> None:
    handler, seen = sequence(httpx.Response(status), ok({"ok": True}))
    t, _ = make(handler)
    await t.execute("m", operation_name="DeployModel", mutation=True, idempotent=False)
    assert len(seen) == 2


async def test_idempotent_read_timeout_retried() -> None:
    handler, seen = sequence(httpx.ReadTimeout("slow"), ok({"ok": True}))
    t, _ = make(handler)
    await t.execute("q", operation_name="Q")
    assert len(seen) == 2


async def test_401_names_env_var_and_is_not_retried() -> None:
    handler, seen = sequence(httpx.Response(401, json={"error": "bad key"}))
    t, _ = make(handler)
    with pytest.raises(AuthError, match=r"rejected the API key in \$MY_KEY_VAR"):
        await t.execute("q", operation_name="Q")
    assert len(seen) == 1


async def test_403_on_mutation_names_the_env_var() -> None:
    handler, _ = sequence(httpx.Response(403))
    t, _ = make(handler)
    with pytest.raises(AuthError, match=r"the key in \$MY_KEY_VAR may not change the platform "
                                         r"\(DeployModel: permission denied\)") as info:
        await t.execute("m", operation_name="DeployModel", mutation=True)
    assert "admin" not in str(info.value), "role names are the platform's, not ours to assume"


async def test_graphql_forbidden_on_mutation_is_auth_error() -> None:
    body = {"data": None, "errors": [{"message": "missing permission model:write",
                                      "extensions": {"code": "FORBIDDEN"}}]}
    handler, _ = sequence(httpx.Response(200, json=body))
    t, _ = make(handler)
    with pytest.raises(AuthError, match=r"\$MY_KEY_VAR may not change the platform "
                                         r"\(CreateProject: missing permission model:write\)"):
        await t.execute("m", operation_name="CreateProject", mutation=True)


async def test_permission_error_without_extensions_code_is_auth_error() -> None:
    """The SDK never reads extensions.code: a server need not send one."""
    body = {"data": None, "errors": [{"message": "Permission denied: model:write"}]}
    handler, _ = sequence(httpx.Response(200, json=body))
    t, _ = make(handler)
    with pytest.raises(AuthError, match=r"\$MY_KEY_VAR may not change the platform"):
        await t.execute("m", operation_name="DeployModel", mutation=True)


async def test_entity_not_found() -> None:
    body = {"data": None, "errors": [{"message": "EntityNotFound: model nope"}]}
    handler, _ = sequence(httpx.Response(200, json=body))
    t, _ = make(handler)
    with pytest.raises(EntityNotFound, match=r"^EntityNotFound: model nope$"):
        await t.execute("q", operation_name="Q")


@pytest.mark.parametrize("errors", [
    # as the SDK reads it: "EntityNotFound:" anywhere in the message...
    [{"message": "Query failed: EntityNotFound: project support"}],
    # ... of any error, with or without extensions
    [{"message": "something else"}, {"message": "EntityNotFound: model x",
                                     "extensions": {"code": "NOT_FOUND"}}],
])
async def test_entity_not_found_anywhere_in_any_error(errors: list[dict[str, object]]) -> None:
    handler, _ = sequence(httpx.Response(200, json={"data": None, "errors": errors}))
    t, _ = make(handler)
    with pytest.raises(EntityNotFound):
        await t.execute("q", operation_name="Q")


async def test_requests_name_the_client() -> None:
    handler, seen = sequence(ok({}))
    t, _ = make(handler)
    await t.execute("q", operation_name="Q")
    assert seen[0].headers["user-agent"].startswith("adaptive-deploy/")


@pytest.mark.parametrize("message", ["tp 3 not supported", "tp 3 is not allowed on pool-1"])
async def test_other_graphql_error_is_platform_error(message: str) -> None:
    body = {"data": None, "errors": [{"message": message}]}
    handler, _ = sequence(httpx.Response(200, json=body))
    t, _ = make(handler)
    with pytest.raises(PlatformError, match=f"DeployModel failed: {message}") as info:
        await t.execute("m", operation_name="DeployModel", mutation=True)
    assert not isinstance(info.value, (AuthError, EntityNotFound))


async def test_non_json_body_is_clear_error() -> None:
    handler, _ = sequence(httpx.Response(200, text="<html>", headers={"content-type": "text/html"}))
    t, _ = make(handler)
    with pytest.raises(PlatformError, match="non-JSON body"):
        await t.execute("q", operation_name="Q")


def _leaky_responses() -> list[httpx.Response | Exception]:
    """Every error path, each echoing the key and URL back where a server might."""
    echo = f"bad token {KEY} at {SECRET_URL}"
    return [
        httpx.Response(401, json={"errors": [{"message": echo}]}),
        httpx.Response(403, text=echo),
        httpx.Response(200, json={"errors": [{"message": echo}]}),
        httpx.Response(200, json={"errors": [{"message": f"EntityNotFound: {echo}"}]}),
        httpx.Response(200, json={"errors": [{"message": echo, "extensions": {"code": "UNAUTHENTICATED"}}]}),
        httpx.Response(500, text=echo),
        httpx.Response(503, text=echo),
        httpx.ConnectError(echo),
        httpx.ReadTimeout(echo),
    ]


@pytest.mark.parametrize("failure", _leaky_responses())
@pytest.mark.parametrize("idempotent", [True, False])
async def test_key_and_sensitive_url_never_leak(
    failure: httpx.Response | Exception, idempotent: bool, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    handler, _ = sequence(failure)
    t, _ = make(handler, max_retries=1, sensitive=(SECRET_URL,))
    with pytest.raises(PlatformError) as info:
        await t.execute("m", operation_name="DeployModel", mutation=True, idempotent=idempotent)
    exc = info.value
    for text in (str(exc), repr(exc), repr(t), caplog.text,
                 *(r.getMessage() for r in caplog.records)):
        assert KEY not in text
        assert SECRET_URL not in text
        assert "secret-host" not in text
    assert exc.__cause__ is None
    await t.aclose()


async def test_httpx_request_logs_are_scrubbed(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    handler, _ = sequence(ok({}))
    t, _ = make(handler, sensitive=(SECRET_URL,))
    await t.execute("q", operation_name="Q")
    assert any(r.name == "httpx" for r in caplog.records), "httpx logs each request"
    assert SECRET_URL not in caplog.text
