"""Pool capacity costs what the models cost, never what the pool's replica count is.

`replicas: 1000000000` once made `validate` take 26 s and 7.8 GB: the packing check allocated
one bin per replica.
"""

from __future__ import annotations

import resource
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from adaptive_deploy.rules.capacity import check_capacity, packs
from tests.rules.helpers import run, workspace


def test_packs_with_a_billion_bins_is_instant() -> None:
    start = time.perf_counter()
    assert packs([8, 8, 4, 4], 10**9, 8)
    assert not packs([16], 10**9, 8)          # one replica lives in one node
    assert packs([8] * 100, 10**18, 8)
    assert time.perf_counter() - start < 0.5


def test_packs_still_refuses_what_does_not_pack() -> None:
    assert not packs([6, 6, 4], 2, 8)
    assert packs([6, 6, 4], 3, 8)
    assert not packs([8, 8, 8], 2, 8)


def test_check_capacity_on_a_billion_replicas() -> None:
    pools = {"pool-1": {"gpu": "H100-80GB", "gpus_per_replica": 8, "replicas": 10**9}}
    start = time.perf_counter()
    assert run(check_capacity, workspace(compute_pools=pools)) == []
    assert time.perf_counter() - start < 0.5


def test_validate_a_billion_replicas_in_bounded_time_and_memory(tmp_path: Path) -> None:
    (tmp_path / "main.yaml").write_text(textwrap.dedent("""\
        version: 1
        workspace: big
        compute_pools:
          pool-1: {gpu: H100-80GB, gpus_per_replica: 8, replicas: 1000000000}
        models:
          qwen-3-8b:
            compute_config: {tp: 1, kv_cache_len: 100000}
        projects:
          p:
            deployments:
              qwen-3-8b: {placement: {compute_pools: [pool-1]}}
        """))
    limit = 512 * 1024 * 1024  # a per-replica list of a billion ints needs ~8 GB

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "adaptive_deploy", "validate", str(tmp_path)],
        capture_output=True, text=True, timeout=60, preexec_fn=cap, check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Configuration is valid" in proc.stdout
    assert time.monotonic() - start < 20
