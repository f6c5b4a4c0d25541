"""Helpers for end-to-end tests: run the real CLI as a subprocess, write workspaces."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

CLI = [str(Path(sys.executable).with_name("adaptive-deploy"))]


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


def run_cli(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 120,
    stdin: str | None = None,
) -> Result:
    """Run `adaptive-deploy ARGS` with NO_COLOR, non-interactive; never raises on exit code."""
    # No ADAPTIVE_* from the caller's environment — except the session's request recording
    # (tests/fixtures/contract.py), so the embedded platform's requests are checked too.
    full_env = {k: v for k, v in os.environ.items()
                if not k.startswith("ADAPTIVE_") or k == "ADAPTIVE_DEPLOY_RECORD_REQUESTS"}
    full_env.update({"NO_COLOR": "1", "COLUMNS": "120"})
    full_env.update(env or {})
    proc = subprocess.run(
        [*CLI, *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout,
        input=stdin if stdin is not None else "",
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    return Result(proc.returncode, proc.stdout, proc.stderr)


def write_workspace(directory: Path, config: dict[str, Any]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "adaptive-deploy.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return directory


def remote_env(server: Any, key: str | None = None) -> dict[str, str]:
    """Environment pointing the tool at an emulator server over HTTP."""
    return {"ADAPTIVE_BASE_URL": server.base_url, "ADAPTIVE_API_KEY": key or server.admin_key}


def base_config(workspace: str, **sections: Any) -> dict[str, Any]:
    config: dict[str, Any] = {"version": 1, "workspace": workspace}
    config.update(sections)
    return config


def small_workspace(workspace: str, kv_cache_len: int = 200000, protect: bool = False) -> dict[str, Any]:
    """One project, one base model with an adapter, on pool-1."""
    deployment: dict[str, Any] = {
        "placement": {"compute_pools": ["pool-1"], "max_ttft_ms": 30000},
        "is_default": True,
    }
    if protect:
        deployment["protect"] = True
    return base_config(
        workspace,
        compute_pools={"pool-1": {"gpu": "H100-80GB", "gpus_per_replica": 8, "replicas": 2}},
        models={
            "qwen-3-8b": {"compute_config": {"tp": 1, "kv_cache_len": kv_cache_len, "max_seq_len": 32768}},
            "support-lora-v3": {"adapter_of": "qwen-3-8b", "rank": 16},
        },
        projects={
            f"{workspace}-support": {
                "name": "Customer support",
                "deployments": {
                    "qwen-3-8b": deployment,
                    "support-lora-v3": {"placement": {"compute_pools": ["pool-1"]}},
                },
            }
        },
    )
