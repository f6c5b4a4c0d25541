"""Validate benchmark: median wall time of `adaptive-deploy validate` on a generated workspace of
1,000 deployments, 100 projects, 200 models (target ≤ 1.5 s, start-up included).

    python bench/bench_validate.py [--runs 7] [--deployments 1000]

Prints every run's figure, the median and PASS/FAIL; exits 1 on FAIL.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_startup import cli_path
from genworkspace import generate

TARGET_S = 1.5


def main(argv: list[str] | None = None) -> int:
    """Generate the workspace, time `validate` on it and report PASS/FAIL."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--deployments", type=int, default=1000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        ws = generate(Path(tmp) / "ws", deployments=args.deployments)
        cmd = [*cli_path(), "validate", str(ws)]
        times = []
        for i in range(max(5, args.runs) + 1):
            start = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            elapsed = time.perf_counter() - start
            if proc.returncode != 0:
                print(proc.stdout + proc.stderr)
                print(f"FAIL: validate exited {proc.returncode} on the generated workspace")
                return 1
            if i:  # the first run warms the OS file cache
                times.append(elapsed)
    median = statistics.median(times)
    print(f"runs: {', '.join(f'{t:.3f}' for t in times)}")
    verdict = "PASS" if median <= TARGET_S else "FAIL"
    print(f"adaptive-deploy validate ({args.deployments} deployments): median {median:.3f} s over "
          f"{len(times)} runs (target ≤ {TARGET_S} s): {verdict}")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    raise SystemExit(main())
