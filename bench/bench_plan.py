"""Benchmark: `plan` on a generated workspace of 1,000 deployments / 100 projects / 200 models
against the emulator at 20 ms injected latency.

Targets (SPEC §7): plan ≤ 2 s wall, ≤ 10 HTTP requests to refresh, peak RSS ≤ 250 MB.
Measured twice: the first plan (everything to create) and the steady-state plan after an
apply (no changes). Prints medians of several runs.

    python bench/bench_plan.py [--runs 5] [--dir /tmp/bench-plan]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale import CLI, EmulatorProcess, prepare, run_timed

WALL_S, REQUESTS, RSS_MB = 2.0, 10, 250


def measure(emu: EmulatorProcess, workspace: Path, runs: int, label: str) -> bool:
    walls, rss, requests = [], [], []
    for _ in range(runs):
        emu.stats(reset=True)
        wall, peak, proc = run_timed([CLI, "plan", str(workspace)], emu.env)
        if proc.returncode != 0:
            print(proc.stdout[-2000:], proc.stderr[-2000:])
            raise SystemExit(f"plan failed (exit {proc.returncode})")
        walls.append(wall)
        rss.append(peak)
        requests.append(emu.stats()["requests"].get("total", 0))
    wall_med, rss_max, req_max = statistics.median(walls), max(rss), max(requests)
    ok = wall_med <= WALL_S and req_max <= REQUESTS and rss_max <= RSS_MB
    print(f"{label}: wall median {wall_med:.2f} s (runs: {', '.join(f'{w:.2f}' for w in walls)}), "
          f"requests {req_max}, peak RSS {rss_max} MB -> {'PASS' if ok else 'FAIL'} "
          f"(targets ≤ {WALL_S} s, ≤ {REQUESTS} requests, ≤ {RSS_MB} MB)")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--dir", default="/tmp/bench-plan")
    args = parser.parse_args()
    root = Path(args.dir)
    shutil.rmtree(root, ignore_errors=True)
    workspace, seed = prepare(root)
    with EmulatorProcess(root / "platform.db", seed, latency_ms=20) as emu:
        ok = measure(emu, workspace, args.runs, "plan, everything to create")
        _, _, proc = run_timed([CLI, "apply", str(workspace), "--auto-approve", "--parallelism", "16"],
                               emu.env)
        if proc.returncode != 0:
            raise SystemExit(f"apply failed: {proc.stderr[-2000:]}")
        ok = measure(emu, workspace, args.runs, "plan, no changes after apply") and ok
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
