"""Benchmark: `apply` of all creates of a generated workspace (1,000 deployments / 100 projects /
200 models) against the emulator at 20 ms latency and no online delay, at --parallelism 1 and
16, alternating, `--runs` times each.

Targets (SPEC §7, raised by the scale issue): parallelism 16 at least 10x faster than
parallelism 1 (median of the per-run speed-ups), and at most 2 HTTP requests per created
deployment (every request of the apply, its plan's read included, divided by the deployments
it created; the worst run counts).

    python bench/bench_apply.py [--dir /tmp/bench-apply] [--deployments 1000] [--runs 3]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale import CLI, EmulatorProcess, prepare, run_timed

TARGET_SPEEDUP = 10.0
TARGET_REQUESTS_PER_DEPLOYMENT = 2.0


@dataclass
class Run:
    wall: float
    requests: int
    operations: dict[str, int]
    rss_mb: int
    summary: str


def count_deployments(workspace: Path) -> int:
    """Deployments the workspace declares (all of them are creates on a fresh platform)."""
    total = 0
    for path in workspace.glob("*.yaml"):
        data = yaml.safe_load(path.read_text()) or {}
        for project in (data.get("projects") or {}).values():
            total += len((project or {}).get("deployments") or {})
    return total


def apply_once(root: Path, workspace: Path, seed: Path, parallelism: int) -> Run:
    shutil.rmtree(workspace / ".adaptive-deploy", ignore_errors=True)
    db = root / f"platform-p{parallelism}.db"
    for stale in root.glob(f"platform-p{parallelism}.db*"):
        stale.unlink()
    with EmulatorProcess(db, seed, latency_ms=20) as emu:
        emu.stats(reset=True)
        wall, rss, proc = run_timed(
            [CLI, "apply", str(workspace), "--auto-approve", "--parallelism", str(parallelism)],
            emu.env,
        )
        if proc.returncode != 0:
            raise SystemExit(f"apply -p {parallelism} failed: {proc.stderr[-2000:]}")
        stats = emu.stats()
    return Run(wall, stats["requests"].get("total", 0), stats.get("operations", {}), rss,
               proc.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--dir", default="/tmp/bench-apply")
    parser.add_argument("--deployments", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    root = Path(args.dir)
    shutil.rmtree(root, ignore_errors=True)
    workspace, seed = prepare(root, deployments=args.deployments)
    deployments = count_deployments(workspace)
    print(f"workspace: {deployments} deployments to create")
    speedups, per_deployment = [], []
    walls: dict[int, list[float]] = {1: [], 16: []}
    for i in range(args.runs):
        runs = {}
        for parallelism in (1, 16):
            run = apply_once(root, workspace, seed, parallelism)
            runs[parallelism] = run
            walls[parallelism].append(run.wall)
            ratio = run.requests / deployments
            per_deployment.append(ratio)
            ops = ", ".join(f"{k} {v}" for k, v in sorted(run.operations.items(),
                                                           key=lambda kv: -kv[1]))
            print(f"run {i + 1} --parallelism {parallelism:>2}: {run.wall:7.2f} s, "
                  f"{run.requests} requests ({ratio:.2f} per created deployment: {ops}), "
                  f"peak RSS {run.rss_mb} MB ({run.summary})")
        speedups.append(runs[1].wall / runs[16].wall)
        print(f"run {i + 1} speed-up {speedups[-1]:.1f}x")
    speedup = statistics.median(speedups)
    worst = max(per_deployment)
    ok_speed = speedup >= TARGET_SPEEDUP
    ok_requests = worst <= TARGET_REQUESTS_PER_DEPLOYMENT
    print(f"--parallelism 1 wall median {statistics.median(walls[1]):.2f} s, "
          f"--parallelism 16 wall median {statistics.median(walls[16]):.2f} s")
    print(f"speed-up median {speedup:.1f}x (runs: {', '.join(f'{s:.1f}' for s in speedups)}) -> "
          f"{'PASS' if ok_speed else 'FAIL'} (target ≥ {TARGET_SPEEDUP:g}x)")
    print(f"requests per created deployment ≤ {worst:.2f} -> "
          f"{'PASS' if ok_requests else 'FAIL'} (target ≤ {TARGET_REQUESTS_PER_DEPLOYMENT:g})")
    return 0 if ok_speed and ok_requests else 1


if __name__ == "__main__":
    raise SystemExit(main())
