"""The client against a platform that is slow, endless or echoes secrets back; and base URLs
and API keys that cannot work. Unit level (the in-memory fake); the real CLI against the
emulator behind a misbehaving proxy is in tests/hostile/test_platform.py."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from adaptive_deploy import redaction
from adaptive_deploy.client import api_key_problem, base_url_problem, connect
from adaptive_deploy.client.platform import (
    MAX_PAGES,
    SETTLE_CHECKS,
    GraphQLPlatform,
    job_base_name,
    job_run_name,
)
from adaptive_deploy.client.transport import GraphQLTransport, display_url
from adaptive_deploy.config.models import PlatformConfig
from adaptive_deploy.errors import AuthError, ConfigError, PlatformError
from tests.client.fakes import FakePlatform


class Clock:
    """Sleeps recorded, not slept."""

    def __init__(self) -> None:
        self.slept: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


def make(fake: FakePlatform, clock: Clock, *, timeout_s: float = 30.0,
         page: int = 500) -> GraphQLPlatform:
    transport = GraphQLTransport(
        "http://fake.test", "key-0123456789", transport=fake.transport(), sleep=clock.sleep,
        max_retries=3, timeout_s=timeout_s,
    )
    return GraphQLPlatform(transport, jobs_page_size=page, sleep=clock.sleep)


@pytest.fixture
def fake() -> FakePlatform:
    f = FakePlatform()
    f.add_project("support", "Customer support")
    return f


@pytest.fixture(autouse=True)
def _forget_secrets() -> Any:
    yield
    redaction.clear()


# --------------------------------------------------------------------------- 1. duplicate job


def _lands_late(fake: FakePlatform, op: str, after_reads: int) -> list[dict[str, Any]]:
    """`op` times out on the client while the platform is still working: its change commits
    only after `after_reads` more requests (reads) have been answered."""
    real = getattr(fake, f"op_{op}")
    held: list[dict[str, Any]] = []
    reads = {"n": 0}
    original_handle = fake.handle

    def slow(v: dict[str, Any]) -> dict[str, Any]:
        if not held and fake.calls[op] == 1:
            held.append(v)
            raise httpx.ReadTimeout("the platform is still working")
        return real(v)

    def handle(request: httpx.Request) -> httpx.Response:
        response = original_handle(request)
        if held:
            reads["n"] += 1
            if reads["n"] >= after_reads:
                real(held.pop())
        return response

    setattr(fake, f"op_{op}", slow)
    fake.handle = handle  # type: ignore[method-assign]
    return held


async def test_create_job_completed_after_the_client_timeout_is_not_duplicated(
    fake: FakePlatform,
) -> None:
    # The createJob the client gave up on lands after the first re-read: the old client then
    # re-sent it and two jobs existed.
    clock = Clock()
    _lands_late(fake, "CreateJob", after_reads=1)
    job = await make(fake, clock, timeout_s=7.0).create_job(
        name="train", recipe="r", project="support", args={})
    assert fake.calls["CreateJob"] == 1, "re-sent although the first run was landing"
    assert fake.commits["CreateJob"] == 1 and len(fake.jobs) == 1
    assert job.id == fake.jobs[0]["id"] and job.name == "train"
    # it waited at least the request timeout before concluding anything
    assert clock.slept and min(clock.slept) >= 7.0


async def test_each_run_has_a_name_of_its_own(fake: FakePlatform) -> None:
    p = make(fake, Clock())
    first = await p.create_job(name="train", recipe="r", project="support", args={})
    second = await p.create_job(name="train", recipe="r", project="support", args={})
    names = [j["name"] for j in fake.jobs]
    assert len(set(names)) == 2 and all(job_base_name(n) == "train" for n in names)
    assert all(n.startswith("train@") for n in names)
    assert first.name == second.name == "train"
    live = await p.read_live()
    assert list(live.jobs) == ["train"] and live.jobs["train"].id == second.id


async def test_a_run_that_never_lands_is_resent_only_after_waiting_and_rereading(
    fake: FakePlatform,
) -> None:
    clock = Clock()
    fake.fail_before_commit["CreateJob"] = 1      # lost before the platform saw it
    await make(fake, clock, timeout_s=5.0).create_job(name="t", recipe="r", project="support",
                                                      args={})
    assert fake.calls["CreateJob"] == 2 and fake.commits["CreateJob"] == 1
    waits = [s for s in clock.slept if s >= 5.0]
    assert len(waits) == SETTLE_CHECKS >= 2       # more than once, each ≥ the timeout
    # re-read by the run's own name each time: at once, then after each wait
    listed = [b for b in fake.bodies if b["operationName"] == "ListJobs"]
    assert len(listed) == 1 + SETTLE_CHECKS
    run_name = fake.jobs[0]["name"]
    assert all(b["variables"]["filter"] == {"name": run_name} for b in listed)
    creates = [b for b in fake.bodies if b["operationName"] == "CreateJob"]
    assert {b["variables"]["input"]["name"] for b in creates} == {run_name}  # same name resent


@pytest.mark.parametrize("op", ["CreateProject", "DeployModel"])
async def test_every_create_waits_before_resending(fake: FakePlatform, op: str) -> None:
    clock = Clock()
    _lands_late(fake, op, after_reads=2)
    p = make(fake, clock, timeout_s=3.0)
    if op == "CreateProject":
        await p.create_project("late", name="Late")
    else:
        await p.deploy("support", "qwen-3-8b", compute_pools=["pool-1"])
    assert fake.calls[op] == 1 and fake.commits[op] == 1
    assert any(s >= 3.0 for s in clock.slept)


def test_run_names_round_trip() -> None:
    assert job_base_name(job_run_name("train-qwen-draft", "abc123")) == "train-qwen-draft"
    assert job_base_name("made-elsewhere") == "made-elsewhere"
    assert job_base_name("@odd") == "@odd"


# --------------------------------------------------------------------------- 4. paging


def _endless(fake: FakePlatform, cursor: Any) -> None:
    real_page = fake._page

    def page(p: dict[str, Any], flt: dict[str, Any] | None) -> dict[str, Any]:
        out = real_page(p, flt)
        out["pageInfo"] = {"hasNextPage": True, "endCursor": cursor()}
        return out

    fake._page = page  # type: ignore[method-assign]


async def test_a_repeated_cursor_stops_the_read(fake: FakePlatform) -> None:
    _endless(fake, lambda: "0")
    with pytest.raises(PlatformError, match="same page cursor twice"):
        await make(fake, Clock()).read_live()
    assert fake.calls["ListJobs"] <= 2


async def test_new_cursors_forever_stop_at_what_total_count_allows(fake: FakePlatform) -> None:
    counter = iter(range(10**9))
    _endless(fake, lambda: str(next(counter)))
    fake.jobs = [{"id": f"j{i}", "name": f"j{i}", "status": "COMPLETED", "createdAt": i}
                 for i in range(3)]
    with pytest.raises(PlatformError, match="does not end"):
        await make(fake, Clock(), page=1).read_live()
    assert fake.calls["ListJobs"] <= 5          # totalCount 3 at 1 per page, plus slack


async def test_without_total_count_the_hard_bound_holds(fake: FakePlatform) -> None:
    counter = iter(range(10**9))
    real_page = fake._page

    def page(p: dict[str, Any], flt: dict[str, Any] | None) -> dict[str, Any]:
        out = real_page(p, flt)
        out.pop("totalCount")
        out["pageInfo"] = {"hasNextPage": True, "endCursor": str(next(counter))}
        return out

    fake._page = page  # type: ignore[method-assign]
    with pytest.raises(PlatformError, match="does not end"):
        await make(fake, Clock()).read_live()
    assert fake.calls["ListJobs"] == MAX_PAGES - 1


async def test_ordinary_paging_still_reads_everything(fake: FakePlatform) -> None:
    fake.jobs = [{"id": f"j{i}", "name": f"job-{i}", "status": "COMPLETED", "createdAt": i}
                 for i in range(7)]
    live = await make(fake, Clock(), page=2).read_live()
    assert len(live.jobs) == 7


# --------------------------------------------------------------------------- 3. secrets


async def test_errors_the_platform_echoes_back_are_redacted(fake: FakePlatform) -> None:
    secret = "hf_TopSecretToken0123456789"
    redaction.register(secret)                       # as envref.resolve does

    def echo(v: dict[str, Any]) -> dict[str, Any]:
        raise LookupError(f"invalid args: {v['input']['args']} (key key-0123456789)")

    fake.op_CreateJob = echo  # type: ignore[method-assign]
    with pytest.raises(PlatformError) as info:
        await make(fake, Clock()).create_job(name="t", recipe="r", project="support",
                                             args={"token": secret})
    assert secret not in str(info.value)
    assert "key-0123456789" not in str(info.value)
    assert "***" in str(info.value)


@pytest.mark.parametrize(
    ("key", "problem"),
    [("abc\ndefghij", "line break"), ("abcdéfghij", "non-ASCII"), ("abc defghij", "space"),
     ("abc\x00defghij", "control"), ("ok-key_0123/+=", None)],
)
def test_api_keys_that_cannot_be_sent(key: str, problem: str | None, tmp_path: Any) -> None:
    found = api_key_problem(key)
    assert (found is None) if problem is None else (problem in (found or ""))
    if problem is None:
        return
    cfg = PlatformConfig(base_url="http://127.0.0.1:9")
    with pytest.raises(AuthError) as info:
        connect(cfg, tmp_path, {"ADAPTIVE_API_KEY": key})
    message = str(info.value)
    assert "$ADAPTIVE_API_KEY" in message
    for part in key.replace("\n", " ").replace("\x00", " ").split():
        assert part not in message or len(part) < 4


@pytest.mark.parametrize(
    ("url", "problem"),
    [("http://127.0.0.1:99999", "out of range"), ("htp://x", "must start with"),
     ("http://[::1", "port"), ("http://256.1.1.1", "IPv4"), ("https://", "no host"),
     ("http://host/ path", "whitespace"), ("https://host?x=1", "query"),
     ("https://adaptive.example.com", None), ("http://127.0.0.1:8765/prefix", None)],
)
def test_base_urls_are_checked_before_any_request(url: str, problem: str | None,
                                                  tmp_path: Any) -> None:
    found = base_url_problem(url)
    assert (found is None) if problem is None else (problem in (found or ""))
    if problem is not None:
        with pytest.raises(ConfigError, match="is not a valid URL"):
            connect(PlatformConfig(base_url=url), tmp_path, {"ADAPTIVE_API_KEY": "k" * 20})


def test_credentials_in_a_base_url_are_masked() -> None:
    assert display_url("https://ops:hunter2-pass@host/x") == "https://ops:***@host/x"
    assert "tok" not in display_url("https://host/?token=tok123")


async def test_a_404_on_a_url_ending_in_api_graphql_says_to_drop_the_path() -> None:
    def not_found(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, text="<html>not found</html>")

    for base, hint in (("https://adaptive.example.com/api/graphql",
                        "without /api/graphql (the tool adds it): use "
                        "https://adaptive.example.com"),
                       ("https://adaptive.example.com/wrong", "no GraphQL endpoint there")):
        transport = GraphQLTransport(base, "key-0123456789",
                                     transport=httpx.MockTransport(not_found))
        with pytest.raises(PlatformError) as info:
            await transport.execute("{ me { name } }", operation_name="Me")
        assert "404 Not Found" in str(info.value) and hint in str(info.value)
        assert "\n" not in str(info.value)
        await transport.aclose()


async def test_an_exception_group_from_the_http_stack_is_one_line() -> None:
    def explode(request: httpx.Request) -> httpx.Response:
        raise ExceptionGroup("unhandled errors in a TaskGroup", [OverflowError("port!")])

    transport = GraphQLTransport("http://127.0.0.1:1", "key-0123456789", max_retries=1,
                                 transport=httpx.MockTransport(explode), sleep=Clock().sleep)
    with pytest.raises(PlatformError) as info:
        await transport.execute("{ me { name } }", operation_name="Me")
    assert "ExceptionGroup" not in str(info.value) and "\n" not in str(info.value)
    assert "invalid address" in str(info.value)
    await transport.aclose()
