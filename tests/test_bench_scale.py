"""Regression guard for issue 12: the scale benchmark (bench/bench_scale.py) at 1,000 and
10,000 deployments with every limit twice as loose as its target.

A benchmark of ratios, not a timed unit test: validate against a bare CSafeLoader parse of the
same files, plan against that parse plus one ReadLive request, both measured in the same run,
and peak memory growth per deployment. A quadratic rule or renderer, or a lost cache, moves
these ratios far past the slack; a slow or busy machine moves both sides alike. The no-change
plan (whose set-up applies the jobs) and the 50,000-deployment size run in the benchmark
itself, not here.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


def test_scale_ratios_stay_within_twice_the_targets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sys.path.insert(0, str(BENCH))
    try:
        import bench_scale
    finally:
        sys.path.remove(str(BENCH))
    code = bench_scale.main(["--sizes", "1000,10000", "--runs", "1", "--slack", "2",
                             "--skip-no-change", "--dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert "validate at 10k / parse floor" in out and "plan (empty) at 10k" in out, out
    assert code == 0, out
