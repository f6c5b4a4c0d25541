"""Benchmark: `apply` of all creates of a generated workspace (1,000 deployments / 100 projects /
200 models) against the emulator at 20 ms latency, at --parallelism 1 and 16, in one run.

Target (SPEC §7): parallelism 16 at least 6x faster than parallelism 1.

    python bench/bench_apply.py [--dir /tmp/bench-apply] [--deployments 1000]
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale import CLI, EmulatorProcess, prepare, run_timed

TARGET_SPEEDUP = 6.0


def apply_once(root: Path, workspace: Path, seed: Path, parallelism: int) -> float:
    shutil.rmtree(workspace / ".adaptive-deploy", ignore_errors=True)
    db = root / f"platform-p{parallelism}.db"
    db.unlink(missing_ok=True)
    with EmulatorProcess(db, seed, latency_ms=20) as emu:
        wall, rss, proc = run_timed(
            [CLI, "apply", str(workspace), "--auto-approve", "--parallelism", str(parallelism)],
            emu.env,
        )
        if proc.returncode != 0:
            raise SystemExit(f"apply -p {parallelism} failed: {proc.stderr[-2000:]}")
        summary = proc.stdout.strip().splitlines()[-1]
        requests = emu.stats()["requests"].get("total", 0)
    print(f"--parallelism {parallelism:>2}: {wall:7.2f} s, {requests} requests, peak RSS {rss} MB"
          f" ({summary})")
    return wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--dir", default="/tmp/bench-apply")
    parser.add_argument("--deployments", type=int, default=1000)
    args = parser.parse_args()
    root = Path(args.dir)
    shutil.rmtree(root, ignore_errors=True)
    workspace, seed = prepare(root, deployments=args.deployments)
    serial = apply_once(root, workspace, seed, 1)
    parallel = apply_once(root, workspace, seed, 16)
    speedup = serial / parallel
    ok = speedup >= TARGET_SPEEDUP
    print(f"speed-up {speedup:.1f}x -> {'PASS' if ok else 'FAIL'} (target ≥ {TARGET_SPEEDUP}x)")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
