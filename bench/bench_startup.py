"""Start-up benchmark, whole processes, medians of several runs:

- `adaptive-deploy --version`: target ≤ 0.3 s;
- `adaptive-deploy validate examples/quickstart` against the floor of importing the libraries
  it is built on (`python -c "import yaml, pydantic, httpx"`), run in turn (A B A B …) so a
  drifting machine affects both alike: target median ratio ≤ 1.3.

The package is byte-compiled first (`compileall`), as a wheel install does: with
PYTHONDONTWRITEBYTECODE set, an editable install would otherwise recompile every module on
every run and the figure would measure the compiler.

    python bench/bench_startup.py [--runs 15]

Prints every run's figure, the medians and PASS/FAIL; exits 1 on FAIL.
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
TARGET_RATIO = 1.3
ROOT = Path(__file__).resolve().parents[1]


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


def paired(a: list[str], b: list[str], runs: int) -> tuple[list[float], list[float]]:
    """`a` and `b` run in turn, `runs` times each, after one warm-up of each."""
    measure(a, 1)
    measure(b, 1)
    times_a, times_b = [], []
    for _ in range(runs):
        times_a += measure(a, 1)
        times_b += measure(b, 1)
    return times_a, times_b


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and report PASS/FAIL against the targets."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args(argv)
    runs = max(10, args.runs)
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "adaptive_deploy")],
                   check=True)
    cmd = [*cli_path(), "--version"]
    measure(cmd, 1)  # warm the OS file cache; not counted
    times = measure(cmd, runs)
    median = statistics.median(times)
    print(f"runs: {', '.join(f'{t:.3f}' for t in times)}")
    ok = median <= TARGET_S
    print(f"adaptive-deploy --version: median {median:.3f} s over {len(times)} runs "
          f"(target ≤ {TARGET_S} s): {'PASS' if ok else 'FAIL'}")

    validate = [*cli_path(), "validate", str(ROOT / "examples" / "quickstart")]
    floor = [sys.executable, "-c", "import yaml, pydantic, httpx"]
    t_validate, t_floor = paired(validate, floor, runs)
    ratios = [a / b for a, b in zip(t_validate, t_floor, strict=True)]
    ratio = statistics.median(ratios)
    ratio_ok = ratio <= TARGET_RATIO
    print(f"validate examples/quickstart: median {statistics.median(t_validate):.3f} s; "
          f"floor (import yaml, pydantic, httpx): median {statistics.median(t_floor):.3f} s; "
          f"median ratio {ratio:.2f} (target ≤ {TARGET_RATIO}): "
          f"{'PASS' if ratio_ok else 'FAIL'}")
    return 0 if ok and ratio_ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
