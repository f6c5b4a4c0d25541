"""Shared set-up of the scale benchmarks: a generated workspace (bench/genworkspace.py) and an
emulator whose inventory holds every model and pool that workspace uses.

    python bench/scale.py DIR     # writes DIR/workspace and DIR/seed.yaml

`EmulatorProcess` runs `adaptive-deploy emulator serve` with that seed and the given latency.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from genworkspace import generate

from adaptive_deploy.rules import catalog, memory

GIB = 1024**3
CLI = str(Path(sys.executable).with_name("adaptive-deploy"))


def seed_for(workspace: Path) -> dict[str, Any]:
    """An emulator seed with the workspace's pools, base models and adapters (no projects)."""
    pools_cfg: dict[str, Any] = {}
    models_cfg: dict[str, Any] = {}
    for path in sorted(workspace.glob("*.yaml")):
        data = yaml.safe_load(path.read_text()) or {}
        pools_cfg.update(data.get("compute_pools") or {})
        models_cfg.update(data.get("models") or {})
    gpus: dict[str, float] = {}
    pools = []
    for key, pool in pools_cfg.items():
        gpu = catalog.find_gpu(pool["gpu"])
        assert gpu is not None, pool["gpu"]
        live_name = gpu.live_names[0] if gpu.live_names else gpu.name
        gpus[live_name] = round(gpu.cuda_total_bytes / GIB, 2)
        pools.append({"key": key, "name": key, "gpu": live_name, "groups": pool["replicas"],
                      "world_size": pool["gpus_per_replica"], "capabilities": ["INFERENCE", "JOB"]})
    models = [_model("qwen-3-500m", "qwen3-0.6b", draft=True)]
    adapters = {}
    for key, spec in models_cfg.items():
        if spec.get("adapter_of"):
            adapters[key] = spec["adapter_of"]
        elif not spec.get("produced_by"):
            models.append(_model(key, spec["architecture"]))
    return {"usable_fraction": 0.9, "gpus": gpus, "compute_pools": pools, "models": models,
            "adapters": adapters,
            "recipes": [{"key": "specdec_alignment", "name": "Speculative decoding draft alignment",
                         "args": ["target_model", "draft_model", "dataset"]}],
            "projects": [],
            "roles": {"admin": ["model:write"], "read-only": ["model:read"]}}


def _model(key: str, arch_name: str, draft: bool = False) -> dict[str, Any]:
    arch = catalog.find_architecture(arch_name)
    assert arch is not None, arch_name
    params = memory.param_counts(arch).total
    kv = memory.kv_bytes_per_token(arch, 1).full
    entry: dict[str, Any] = {
        "key": key, "name": key, "family": arch.family, "size": params,
        "supported_tp": [1, 2, 4, 8],
        "compute_config": {"tp": 1, "kv_cache_len": 16384, "max_seq_len": 32768},
        "memory": {"weights_gib": round(memory.weight_bytes(arch) / GIB, 2),
                   "kv_bytes_per_token": int(kv), "kv_heads": arch.num_kv_heads},
    }
    if draft:
        entry["spec_dec_draft"] = True
    return entry


def prepare(directory: Path, deployments: int = 1000, projects: int = 100,
            models: int = 200) -> tuple[Path, Path]:
    """Write the workspace and its emulator seed under `directory`."""
    workspace = generate(directory / "workspace", deployments, projects, models)
    seed = directory / "seed.yaml"
    seed.write_text(yaml.safe_dump(seed_for(workspace), sort_keys=False))
    return workspace, seed


@dataclass
class EmulatorProcess:
    db: Path
    seed: Path
    latency_ms: float = 20.0
    key: str = ""
    base_url: str = ""
    proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> EmulatorProcess:
        self.key = "bench-" + secrets.token_hex(8)
        self.proc = subprocess.Popen(
            [CLI, "emulator", "serve", "--port", "0", "--db", str(self.db), "--seed", str(self.seed),
             "--latency-ms", str(self.latency_ms), "--online-delay-s", "0",
             "--job-pending-s", "0", "--job-running-s", "0", "--api-key", f"{self.key}:admin",
             "--log-level", "warning"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            match = re.match(r"Listening on (\S+)", line)
            if match:
                self.base_url = match.group(1)
                break
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base_url}/_emulator/health", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError("emulator did not start")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "ADAPTIVE_BASE_URL": self.base_url, "ADAPTIVE_API_KEY": self.key,
                "NO_COLOR": "1"}

    def stats(self, reset: bool = False) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.key}"}
        if reset:
            httpx.post(f"{self.base_url}/_emulator/stats/reset", headers=headers, timeout=5)
            return {}
        result: dict[str, Any] = httpx.get(f"{self.base_url}/_emulator/stats", headers=headers,
                                           timeout=5).json()
        return result


def run_timed(args: list[str], env: dict[str, str]) -> tuple[float, int, subprocess.CompletedProcess[str]]:
    """Run a command; return wall seconds, peak RSS in MB (from /usr/bin/time) and the result."""
    timer = ["/usr/bin/time", "-f", "%M"] if Path("/usr/bin/time").exists() else []
    started = time.perf_counter()
    proc = subprocess.run([*timer, *args], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    rss_mb = 0
    if timer:
        last = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "0"
        rss_mb = int(last) // 1024 if last.isdigit() else 0
    return wall, rss_mb, proc


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "bench-scale")
    ws, seed = prepare(out)
    print(f"workspace {ws}\nseed {seed}")
