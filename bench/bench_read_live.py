"""read_live benchmark: a 1,000-deployment platform read in ≤ 10 requests and ≤ 1 s at 20 ms latency.

    python bench/bench_read_live.py [--deployments 1000] [--projects 100] [--latency-ms 20]
                                    [--runs 7] [--db PATH]

How the inventory is seeded: the emulator is created in-process on a SQLite file (the default
seed: 3 pools, 8 base models, 7 adapters) and the client itself creates `--projects` projects and
`--deployments` deployments through ordinary GraphQL mutations (createProject, addModelsToProject,
deployModel) over `httpx.ASGITransport`. Models cannot be created through the API (the platform
creates them), so each project deploys up to 10 of the seeded models and adapters. Then
`adaptive-deploy emulator serve --db PATH --latency-ms N` serves that file over real HTTP on a
free loopback port and `read_live()` is timed `--runs` times through `client.connect`.

Prints requests per read, every run's wall time, the median and PASS/FAIL (exits 1 on FAIL),
and the median of the ReadLive POST alone (the emulator's share, without the client's parsing).
A `--db` that already holds the inventory is reused (seeding is skipped).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from adaptive_deploy.client import connect
from adaptive_deploy.client.platform import GraphQLPlatform
from adaptive_deploy.client.transport import GraphQLTransport
from adaptive_deploy.config.models import PlatformConfig

TARGET_S = 1.0
TARGET_REQUESTS = 10
# Seeded models that load on pool-1 with their default compute config; two adapters (within the
# limit of 4 per base model) make it ten per project.
MODELS = ["qwen-3-8b", "qwen-3-500m", "qwen-3-30b-a3b", "llama-3.1-8b", "llama-3.2-1b",
          "mistral-7b-v0.3", "gemma-3-27b", "llama-3.1-70b", "support-lora-v3",
          "summarizer-lora-v1"]


async def seed(db: Path, deployments: int, projects: int, parallelism: int = 16) -> float:
    """Create the inventory through GraphQL mutations on an in-process emulator; seconds taken."""
    from adaptive_deploy.emulator.app import create_app

    key = secrets.token_urlsafe(16)
    app = create_app(db, seed="default", api_keys={key: "admin"}, online_delay_s=0.0)
    transport = GraphQLTransport(
        "http://seed.invalid", key, transport=httpx.ASGITransport(app=app), timeout_s=120
    )
    platform = GraphQLPlatform(transport)
    start = time.perf_counter()
    live = await platform.read_live()
    have = len(live.deployments)
    if have >= deployments:
        await platform.aclose()
        return 0.0
    gate = asyncio.Semaphore(parallelism)
    per_project = -(-deployments // projects)
    if per_project > len(MODELS):
        raise SystemExit(f"at most {len(MODELS) * projects} deployments with {projects} projects")

    async def one_project(i: int) -> None:
        key_ = f"bench-{i:03d}"
        async with gate:
            if key_ not in live.projects:
                await platform.create_project(key_, name=f"Bench project {i}")
        todo = min(per_project, deployments - i * per_project)
        for model in MODELS[: max(0, todo)]:
            if (key_, model) in live.deployments:
                continue
            async with gate:
                await platform.deploy(key_, model, compute_pools=["pool-1"], max_ttft_ms=30000)

    await asyncio.gather(*(one_project(i) for i in range(projects)))
    await platform.aclose()
    return time.perf_counter() - start


def serve(db: Path, latency_ms: float, key: str) -> tuple[subprocess.Popen[str], str]:
    """`adaptive-deploy emulator serve` on a free loopback port; returns (process, base URL)."""
    argv = [sys.executable, "-m", "adaptive_deploy", "emulator", "serve", "--host", "127.0.0.1",
            "--port", "0", "--db", str(db), "--latency-ms", str(latency_ms),
            "--api-key", f"{key}:admin"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        match = re.search(r"Listening on (http://127\.0\.0\.1:\d+)", line)
        if match:
            return proc, match.group(1)
    proc.kill()
    raise SystemExit("the emulator did not start (no 'Listening on' line)")


async def measure(base_url: str, key: str, runs: int) -> tuple[list[float], list[int], int]:
    """Wall times and request counts of `runs` read_live calls, and the deployments read."""
    cfg = PlatformConfig(base_url=base_url)
    platform = connect(cfg, Path(tempfile.gettempdir()), env={"ADAPTIVE_API_KEY": key})
    times, counts, size = [], [], 0
    try:
        await platform.read_live()  # warm the connection pool, as a CLI run's first read would not
        for _ in range(runs):
            before = platform.request_count
            start = time.perf_counter()
            live = await platform.read_live()
            times.append(time.perf_counter() - start)
            counts.append(platform.request_count - before)
            size = len(live.deployments)
    finally:
        await platform.aclose()
    return times, counts, size


def raw_posts(base_url: str, key: str, runs: int) -> list[float]:
    """Wall times of the ReadLive POST alone (the emulator's answer and its transfer, without
    the client's parsing): how much of a read is the reference platform's."""
    from adaptive_deploy.client import documents

    body = {"query": documents.document("ReadLive"), "operationName": "ReadLive",
            "variables": {"jobsPage": {"first": 500}}}
    times = []
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {key}"},
                      timeout=120) as http:
        http.post("/api/graphql", json=body).raise_for_status()
        for _ in range(runs):
            start = time.perf_counter()
            http.post("/api/graphql", json=body).raise_for_status()
            times.append(time.perf_counter() - start)
    return times


def main() -> int:
    """Seed, serve, measure, report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deployments", type=int, default=1000)
    parser.add_argument("--projects", type=int, default=100)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--db", type=Path, default=None)
    args = parser.parse_args()

    tmp = tempfile.TemporaryDirectory(prefix="bench-read-live-")
    db = args.db or Path(tmp.name) / "platform.db"
    seconds = asyncio.run(seed(db, args.deployments, args.projects))
    print(f"seeded {args.deployments} deployments in {args.projects} projects "
          f"({seconds:.1f} s; 0 = reused) at {db}")
    key = secrets.token_urlsafe(16)
    proc, url = serve(db, args.latency_ms, key)
    try:
        times, counts, size = asyncio.run(measure(url, key, args.runs))
        posts = raw_posts(url, key, args.runs)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        tmp.cleanup()
    median = statistics.median(times)
    print(f"deployments read: {size}; requests per read: {counts}")
    print("runs (s): " + " ".join(f"{t:.3f}" for t in times))
    print(f"of which the platform: the ReadLive POST alone, median {statistics.median(posts):.3f} s "
          "(runs: " + " ".join(f"{t:.3f}" for t in posts) + ")")
    ok = median <= TARGET_S and max(counts) <= TARGET_REQUESTS and size >= args.deployments
    print(f"median {median:.3f} s at {args.latency_ms:g} ms latency "
          f"(target ≤ {TARGET_S} s, ≤ {TARGET_REQUESTS} requests): {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    os.environ.setdefault("NO_COLOR", "1")
    sys.exit(main())
