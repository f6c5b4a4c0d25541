"""Start-up benchmark: median wall time of `adaptive-deploy --version` (target ≤ 0.3 s).

    python bench/bench_startup.py [--runs 15]

Prints every run's figure, the median and PASS/FAIL; exits 1 on FAIL.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

TARGET_S = 0.3


def cli_path() -> list[str]:
    """The installed console script beside this interpreter, else `python -m adaptive_deploy`."""
    script = Path(sys.executable).with_name("adaptive-deploy")
    if script.exists():
        return [str(script)]
    found = shutil.which("adaptive-deploy")
    return [found] if found else [sys.executable, "-m", "adaptive_deploy"]


def measure(argv: list[str], runs: int) -> list[float]:
    """Wall time of `runs` executions of `argv`; each must exit 0."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.run(argv, capture_output=True, check=False)
        times.append(time.perf_counter() - start)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} exited {proc.returncode}: {proc.stderr.decode()}")
    return times


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and report PASS/FAIL against the target."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args(argv)
    cmd = [*cli_path(), "--version"]
    measure(cmd, 1)  # warm the OS file cache; not counted
    times = measure(cmd, max(10, args.runs))
    median = statistics.median(times)
    print(f"runs: {', '.join(f'{t:.3f}' for t in times)}")
    verdict = "PASS" if median <= TARGET_S else "FAIL"
    print(f"adaptive-deploy --version: median {median:.3f} s over {len(times)} runs "
          f"(target ≤ {TARGET_S} s): {verdict}")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    raise SystemExit(main())
