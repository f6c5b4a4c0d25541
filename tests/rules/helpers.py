"""Helpers for rule tests: build a Workspace from a dict, run rules with a fake locator, and
the seeded emulator inventory as a LiveState."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from adaptive_deploy.config.models import Workspace
from adaptive_deploy.diagnostics import Diagnostic, YamlPath
from adaptive_deploy.live import (
    LiveComputeConfig,
    LiveComputePool,
    LiveDeployment,
    LiveHarmonyGroup,
    LiveModel,
    LiveProject,
    LiveState,
)
from adaptive_deploy.rules import validate_workspace
from adaptive_deploy.rules.context import RuleContext

BASE: dict[str, Any] = {
    "version": 1,
    "workspace": "test",
    "compute_pools": {
        "pool-1": {"gpu": "H100-80GB", "gpus_per_replica": 8, "replicas": 2},
        "pool-2": {"gpu": "H200-141GB", "gpus_per_replica": 8, "replicas": 1},
    },
    "models": {
        "qwen-3-8b": {"compute_config": {"tp": 1, "kv_cache_len": 100000}},
        "support-lora-v3": {"adapter_of": "qwen-3-8b", "rank": 16},
    },
    "projects": {
        "support": {
            "deployments": {
                "qwen-3-8b": {"placement": {"compute_pools": ["pool-1"]}},
                "support-lora-v3": {"placement": {"compute_pools": ["pool-1"]}},
            }
        }
    },
}


def fake_locate(path: YamlPath) -> tuple[str | None, int | None, int | None]:
    """A deterministic stand-in for SourceMap.locate: line = depth of the path."""
    return ("ws.yaml", len(path) + 1, 3)


def workspace(**changes: Any) -> Workspace:
    """BASE with top-level keys replaced (deep-copied)."""
    data = copy.deepcopy(BASE)
    data.update(copy.deepcopy(changes))
    return Workspace.model_validate(data)


def run(rule: Callable[[RuleContext], list[Diagnostic]], ws: Workspace, live: LiveState | None = None) -> list[Diagnostic]:
    return rule(RuleContext(ws, fake_locate, live))


def codes_of(diags: list[Diagnostic]) -> list[str]:
    return sorted(d.code for d in diags)


def seed_live() -> LiveState:
    """The seeded emulator inventory (notes/seed.md), as the client would read it."""
    def pool(key: str, gpu: str, groups: int, caps: list[str]) -> LiveComputePool:
        return LiveComputePool(
            id=key, key=key, name=key, capabilities=caps,
            groups=[LiveHarmonyGroup(key=f"{key}-g{i}", world_size=8, gpu_total=8, gpu_types=gpu)
                    for i in range(groups)],
        )

    def model(key: str, family: str, tps: list[int], tp: int = 1, **kw: Any) -> LiveModel:
        return LiveModel(id=key, key=key, name=key, family=family, supported_tp=tps,
                         compute_config=LiveComputeConfig(tp=tp, kv_cache_len=65536, max_seq_len=32768), **kw)

    models = [
        model("qwen-3-8b", "qwen3", [1, 2, 4, 8]),
        model("qwen-3-500m", "qwen3", [1, 2], is_spec_dec_draft=True),
        model("qwen-3-30b-a3b", "qwen3", [1, 2, 4]),
        model("llama-3.1-8b", "llama3", [1, 2, 4, 8]),
        model("llama-3.1-70b", "llama3", [2, 4, 8], tp=4),
        model("llama-3.2-1b", "llama3", [1, 2]),
        model("mistral-7b-v0.3", "mistral", [1, 2, 4, 8]),
        model("gemma-3-27b", "gemma3", [1, 2, 4, 8]),
    ]
    for name in ("support-lora-v3", "sales-lora-v1", "legal-lora-v2", "triage-lora-v1", "billing-lora-v1"):
        models.append(LiveModel(id=name, key=name, name=name, is_adapter=True, backbone="qwen-3-8b", family="qwen3"))
    for name in ("summarizer-lora-v1", "code-lora-v1"):
        models.append(LiveModel(id=name, key=name, name=name, is_adapter=True, backbone="llama-3.1-8b", family="llama3"))
    return LiveState(
        models={m.key: m for m in models},
        projects={"playground": LiveProject(id="p", key="playground", name="Playground")},
        deployments={("playground", "llama-3.2-1b"): LiveDeployment(
            id="d", project="playground", model="llama-3.2-1b", status="ONLINE",
            compute_pools=["pool-a100"])},
        compute_pools={
            "pool-1": pool("pool-1", "NVIDIA H100 80GB HBM3", 2, ["INFERENCE", "JOB"]),
            "pool-2": pool("pool-2", "NVIDIA H200", 1, ["INFERENCE", "JOB"]),
            "pool-a100": pool("pool-a100", "NVIDIA A100-SXM4-80GB", 1, ["INFERENCE"]),
        },
    )


__all__ = ["BASE", "codes_of", "fake_locate", "run", "seed_live", "validate_workspace", "workspace"]
