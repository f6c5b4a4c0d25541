"""A slow, endless, echoing or unreachable platform, through the real CLI: the emulator behind
a misbehaving proxy (tests/hostile/proxy.py) or the emulator's own fault injection. Each case:
exit 1 with one message (or success where the tool must cope), no traceback, no secret,
bounded time and memory, nothing duplicated, nothing lost."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.fixtures.emulator import EmulatorServer
from tests.hostile.harness import assert_bounded, assert_refused, run_bounded
from tests.hostile.proxy import Proxy

TOKEN = "hf_SecretDatasetToken_7c1e9a0b"
JOB = "train-draft"


def config(workspace: str, *, platform: dict[str, Any] | None = None,
           token: bool = False) -> dict[str, Any]:
    args: dict[str, Any] = {"target_model": "qwen-3-8b", "draft_model": "qwen-3-500m",
                            "dataset": "prompts"}
    if token:
        args["hf_token"] = "${env:HF_TOKEN}"
    doc: dict[str, Any] = {
        "version": 1, "workspace": workspace,
        "platform": {"request_timeout_s": 2, "max_retries": 1, **(platform or {})},
        "compute_pools": {"pool-1": {"gpu": "H100-80GB", "gpus_per_replica": 8,
                                     "replicas": 2}},
        "models": {"qwen-3-8b": {"compute_config": {"tp": 1, "kv_cache_len": 100000}}},
        "projects": {f"{workspace}-p": {"name": "Hostile"}},
        "jobs": {JOB: {"recipe": "specdec_alignment", "project": f"{workspace}-p",
                       "num_gpus": 2, "compute_pool": "pool-1", "args": args}},
    }
    return doc


def workspace(tmp_path: Path, doc: dict[str, Any]) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "main.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return ws


@pytest.fixture
def proxy(emulator: EmulatorServer) -> Iterator[Proxy]:
    p = Proxy(emulator.base_url).start()
    yield p
    p.stop()


def env_for(base_url: str, key: str, **extra: str) -> dict[str, str]:
    return {"ADAPTIVE_BASE_URL": base_url, "ADAPTIVE_API_KEY": key, **extra}


def jobs_named(server: EmulatorServer, base: str) -> list[str]:
    nodes = server.data("{ jobs(page: {}) { nodes { id name } } }")["jobs"]["nodes"]
    return [n["id"] for n in nodes if n["name"] == base or n["name"].startswith(base + "@")]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --------------------------------------------------------------------------- 1. duplicates


def test_create_job_completed_after_the_client_timeout_runs_once(
    emulator: EmulatorServer, proxy: Proxy, tmp_path: Path,
) -> None:
    # The platform completes createJob 3 s after it arrives; the client gives up at 2 s.
    proxy.hold("CreateJob", 3.0)
    ws = workspace(tmp_path, config("dupjob"))
    outcome = run_bounded("apply", str(ws), "--auto-approve",
                          env=env_for(proxy.base_url, emulator.admin_key))
    assert outcome.code == 0, outcome.describe()
    assert "Traceback" not in outcome.text
    assert proxy.calls["CreateJob"] == 1, "re-sent while the first request was landing"
    assert len(jobs_named(emulator, JOB)) == 1
    assert_bounded(outcome, wall_limit_s=60)
    again = run_bounded("plan", str(ws), "--detailed-exitcode",
                        env=env_for(emulator.base_url, emulator.admin_key))
    assert again.code == 0, again.describe()      # nothing lost: state knows the run


def test_dropped_and_failed_answers_duplicate_nothing(emulator: EmulatorServer,
                                                     tmp_path: Path) -> None:
    # every answer to a mutation lost after the commit: only creates here (an update whose
    # every answer is lost cannot succeed, and is not at risk of duplicating anything)
    emulator.faults(drop_rate=1.0, drop_style="mixed", seed=3)
    doc = config("dropped")
    del doc["models"]
    ws = workspace(tmp_path, doc)
    outcome = run_bounded("apply", str(ws), "--auto-approve",
                          env=env_for(emulator.base_url, emulator.admin_key))
    emulator.clear_faults()
    assert outcome.code == 0, outcome.describe()
    assert len(jobs_named(emulator, JOB)) == 1
    projects = [p["key"] for p in emulator.data("{ projects { key } }")["projects"]]
    assert projects.count("dropped-p") == 1


# --------------------------------------------------------------------------- 4. paging


def _jobs_never_end(proxy: Proxy, cursor: Any, total: int | None) -> None:
    def page(body: dict[str, Any], answer: dict[str, Any]) -> dict[str, Any]:
        jobs = answer["data"]["jobs"]
        jobs["pageInfo"] = {"hasNextPage": True, "endCursor": cursor()}
        jobs["totalCount"] = total
        return answer

    proxy.patch("ReadLive", page)
    proxy.answer("ListJobs", lambda body: (200, {"data": {"jobs": {
        "totalCount": total, "nodes": [],
        "pageInfo": {"hasNextPage": True, "endCursor": cursor()}}}}))


@pytest.mark.parametrize("case", ["repeated-cursor", "new-cursors-small-total",
                                  pytest.param("new-cursors-huge-total",
                                               marks=pytest.mark.slow)])
def test_a_job_list_that_never_ends_is_an_error(case: str, emulator: EmulatorServer,
                                                proxy: Proxy, tmp_path: Path) -> None:
    counter = iter(range(10**9))
    if case == "repeated-cursor":
        _jobs_never_end(proxy, lambda: "same", 10)
    elif case == "new-cursors-small-total":
        _jobs_never_end(proxy, lambda: f"c{next(counter)}", 10)
    else:                     # a platform that lies about its size too: the hard page cap
        _jobs_never_end(proxy, lambda: f"c{next(counter)}", 10**9)
    ws = workspace(tmp_path, config("paging"))
    outcome = run_bounded("plan", str(ws), env=env_for(proxy.base_url, emulator.admin_key))
    assert_refused(outcome, "does not end", wall_limit_s=90)


# --------------------------------------------------------------------------- 11. base URL


@pytest.mark.parametrize(
    ("make_url", "expected"),
    [(lambda e: f"http://127.0.0.1:{closed_port()}", "connection refused"),
     (lambda e: "http://127.0.0.1:99999", "port 99999 is out of range"),
     (lambda e: "http://[::1", "is not a valid URL"),
     (lambda e: "http://no-such-host.invalid", "does not resolve"),
     (lambda e: e.base_url + "/api/graphql", "without /api/graphql (the tool adds it): use "),
     (lambda e: e.base_url + "/somewhere", "no GraphQL endpoint there")],
    ids=["unreachable", "port-out-of-range", "unparsable", "unknown-host", "path-api-graphql",
         "wrong-path"],
)
def test_base_url_errors_are_one_line(make_url: Any, expected: str, emulator: EmulatorServer,
                                      tmp_path: Path) -> None:
    ws = workspace(tmp_path, config("urls"))
    outcome = run_bounded("plan", str(ws), env=env_for(make_url(emulator), emulator.admin_key))
    assert_refused(outcome, expected, secrets=[emulator.admin_key])
    if "api/graphql" in expected:
        assert f"use {emulator.base_url}" in outcome.err


# --------------------------------------------------------------------------- 3. secrets


def test_secrets_echoed_by_the_platform_never_show(emulator: EmulatorServer, proxy: Proxy,
                                                   tmp_path: Path) -> None:
    key = emulator.admin_key

    def echo(body: dict[str, Any]) -> tuple[int, Any]:
        return 200, {"data": None, "errors": [{"message": (
            f"invalid job input {json.dumps(body['variables'])} sent with key {key}")}]}

    proxy.answer("CreateJob", echo)
    ws = workspace(tmp_path, config("echo", token=True))
    env = env_for(proxy.base_url, key, HF_TOKEN=TOKEN)
    for fmt in ("text", "json"):
        outcome = run_bounded("apply", str(ws), "--auto-approve", "--format", fmt, env=env)
        assert outcome.code == 1, outcome.describe()
        assert "Traceback" not in outcome.text
        assert "invalid job input" in outcome.text     # the platform's words are kept ...
        assert TOKEN not in outcome.text and key not in outcome.text   # ... not its secrets
        if fmt == "json":
            json.loads(outcome.out)                     # still valid JSON
    debug = run_bounded("apply", str(ws), "--auto-approve", env={**env,
                                                                 "ADAPTIVE_DEPLOY_DEBUG": "1"})
    assert TOKEN not in debug.text and key not in debug.text
    out = tmp_path / "plan.json"
    run_bounded("plan", str(ws), "--out", str(out), env=env)
    for path in (out, ws / ".adaptive-deploy" / "state.db"):
        assert TOKEN.encode() not in path.read_bytes(), path


def test_a_secret_in_job_progress_never_shows(emulator: EmulatorServer, proxy: Proxy,
                                              tmp_path: Path) -> None:
    def fail_with_secret(body: dict[str, Any], answer: dict[str, Any]) -> dict[str, Any]:
        job = answer["data"].get("job")
        if job:
            job["status"], job["error"] = "FAILED", f"dataset refused token {TOKEN}"
        return answer

    proxy.patch("DescribeJob", fail_with_secret)
    ws = workspace(tmp_path, config("progress", token=True))
    outcome = run_bounded("apply", str(ws), "--auto-approve",
                          env=env_for(proxy.base_url, emulator.admin_key, HF_TOKEN=TOKEN))
    assert outcome.code == 1, outcome.describe()
    assert "dataset refused token ***" in outcome.text
    assert TOKEN not in outcome.text and "Traceback" not in outcome.text


@pytest.mark.parametrize("how", ["env-template", "credentials"])
def test_a_secret_in_the_base_url_never_shows(how: str, emulator: EmulatorServer,
                                              tmp_path: Path) -> None:
    port = closed_port()
    if how == "env-template":
        secret = "tok-7f3a9c21e8"
        doc = config("urlsecret", platform={"base_url": "${env:MY_PLATFORM_URL}"})
        env = {"MY_PLATFORM_URL": f"http://127.0.0.1:{port}/{secret}",
               "ADAPTIVE_API_KEY": emulator.admin_key}
    else:
        secret = "pw-4d2b7e9a11"
        doc = config("urlsecret")
        env = env_for(f"http://ops:{secret}@127.0.0.1:{port}", emulator.admin_key)
    ws = workspace(tmp_path, doc)
    for extra in ({}, {"ADAPTIVE_DEPLOY_DEBUG": "1"}):
        outcome = run_bounded("plan", str(ws), env={**env, **extra})
        assert outcome.code == 1, outcome.describe()
        assert secret not in outcome.text, outcome.describe()
        assert emulator.admin_key not in outcome.text
        if not extra:
            assert_refused(outcome, "connection refused", secrets=[secret])


@pytest.mark.parametrize("key", ["line1-abcdef\nline2-ghijkl", "clé-secrète-€-0123456789",
                                 "k7f3-first\tk9e2-second"])
def test_an_api_key_that_cannot_be_sent_is_refused_unshown(key: str, emulator: EmulatorServer,
                                                           tmp_path: Path) -> None:
    ws = workspace(tmp_path, config("badkey"))
    for extra in ({}, {"ADAPTIVE_DEPLOY_DEBUG": "1"}):
        outcome = run_bounded("plan", str(ws), env={**env_for(emulator.base_url, key), **extra})
        assert outcome.code == 1, outcome.describe()
        for part in key.replace("\t", "\n").splitlines():
            assert part not in outcome.text, outcome.describe()
        if not extra:
            assert_refused(outcome, "the API key in $ADAPTIVE_API_KEY")


# --------------------------------------------------------------------------- 5. the emulator


def test_a_100000_deep_json_body_is_a_400_and_the_emulator_lives_on(
    emulator: EmulatorServer,
) -> None:
    body = "[" * 100_000 + "]" * 100_000
    response = httpx.post(emulator.graphql_url, content=body, timeout=30,
                          headers={"Authorization": f"Bearer {emulator.readonly_key}"})
    assert response.status_code == 400
    assert "nested too deeply" in response.text
    assert "Traceback" not in response.text
    assert httpx.get(f"{emulator.base_url}/_emulator/health", timeout=10).status_code == 200
    log = emulator.log_path.read_text(errors="replace")
    assert "Traceback" not in log and "RecursionError" not in log


def _peak_rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmHWM:")[1].split()[0]) / 1024


def test_large_distinct_queries_from_a_read_only_key_stay_bounded(
    emulator: EmulatorServer,
) -> None:
    # Each query is distinct and ~3 MB (10 MB bodies are accepted); the emulator once parsed
    # and cached up to 512 of them (6.8 GB). Now they are refused before parsing.
    assert emulator.process is not None
    before = _peak_rss_mb(emulator.process.pid)
    fields = " ".join(f"a{j}: name" for j in range(300_000))
    with httpx.Client(timeout=60) as client:
        for i in range(15):
            response = client.post(
                emulator.graphql_url, json={"query": f"query Q{i} {{ me {{ {fields} }} }}"},
                headers={"Authorization": f"Bearer {emulator.readonly_key}"})
            assert response.status_code == 200
            error = response.json()["errors"][0]
            assert error["extensions"]["code"] == "QUERY_TOO_LARGE"
    growth = _peak_rss_mb(emulator.process.pid) - before
    assert growth < 100, f"the emulator grew by {growth:.0f} MB"
    assert httpx.get(f"{emulator.base_url}/_emulator/health", timeout=10).status_code == 200


# --------------------------------------------------------------------------- 5. wrong shapes


def _reshape(what: str) -> Any:
    def patch(body: dict[str, Any], answer: dict[str, Any]) -> Any:
        data = answer["data"]
        if what == "models-not-a-list":
            data["models"] = "all of them"
        elif what == "tp-not-a-number":
            data["models"][0]["computeConfig"] = {"tp": "eight", "kvCacheLen": 1,
                                                  "maxSeqLen": 1}
        elif what == "services-an-object":
            data["projects"][0]["modelServices"] = {"key": "x"}
        elif what == "job-status-a-number-beside-secret-args":
            data["jobs"]["nodes"] = [{"id": "j1", "name": "x", "status": 42,
                                      "details": {"args": {"token": TOKEN}}}]
        elif what == "data-null":
            answer["data"] = None
        elif what == "a-list-instead-of-an-object":
            return [answer]
        return answer
    return patch


@pytest.mark.parametrize("what", ["models-not-a-list", "tp-not-a-number", "services-an-object",
                                  "job-status-a-number-beside-secret-args", "data-null",
                                  "a-list-instead-of-an-object"])
def test_an_answer_of_the_wrong_shape_is_one_message(what: str, emulator: EmulatorServer,
                                                     proxy: Proxy, tmp_path: Path) -> None:
    proxy.patch("ReadLive", _reshape(what))
    ws = workspace(tmp_path, config("shapes"))
    outcome = run_bounded("plan", str(ws), env=env_for(proxy.base_url, emulator.admin_key))
    assert_refused(outcome, "ReadLive", secrets=[TOKEN, emulator.admin_key])


def test_an_html_page_instead_of_json_is_one_message(emulator: EmulatorServer, proxy: Proxy,
                                                     tmp_path: Path) -> None:
    proxy.answer("ReadLive", lambda body: (200, "<html>login</html>"))
    ws = workspace(tmp_path, config("html"))
    outcome = run_bounded("plan", str(ws), env=env_for(proxy.base_url, emulator.admin_key))
    assert_refused(outcome, "ReadLive")
