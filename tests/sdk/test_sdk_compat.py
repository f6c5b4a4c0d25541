"""The official SDK (adaptive-sdk 0.14.2), in its own virtualenv, against the emulator.

The virtualenv is the `sdk_python` fixture (tests/fixtures/sdk.py): `.venv-sdk/` in the repository
root, created once and reused.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.emulator import EmulatorServer

SCRIPT = Path(__file__).with_name("sdk_script.py")

pytestmark = [pytest.mark.sdk, pytest.mark.slow]


def _run(sdk_python: Path, server: EmulatorServer) -> dict[str, Any]:
    result = subprocess.run(
        [str(sdk_python), str(SCRIPT), server.base_url, server.admin_key],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    observed: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return observed


def test_sdk_round_trip(sdk_python: Path, emulator: EmulatorServer) -> None:
    out = _run(sdk_python, emulator)
    assert {"qwen-3-8b", "qwen-3-500m", "llama-3.1-70b", "support-lora-v3",
            "code-lora-v1"} <= set(out["model_keys"])
    assert out["adapter"] == {"key": "support-lora-v3", "is_adapter": True,
                              "backbone": "qwen-3-8b"}
    assert out["missing_model"] is None
    assert out["compute_config"] == {"tp": 2, "kvCacheLen": 120000, "maxSeqLen": 32768}
    assert out["pools"]["pool-1"] == {"capabilities": ["INFERENCE", "JOB"], "groups": 2,
                                      "gpu": "NVIDIA H100 80GB HBM3"}
    assert out["pools"]["pool-a100"]["capabilities"] == ["INFERENCE"]
    assert out["project_created"] == {"key": "sdk-project", "name": "SDK project",
                                      "description": "made by the SDK"}
    assert out["project_keys"] == ["playground", "sdk-project"]
    assert out["attached"] == {"key": "qwen-3-8b", "desired_online": True}
    assert out["deployed"] == "support-lora-v3"
    assert out["updated_default"] is True
    assert out["services"] == ["qwen-3-8b", "support-lora-v3"]
    assert out["detached"] is True
    assert out["services_after_detach"] == ["qwen-3-8b"]
    assert "qwen-3-8b" in out["terminated"]
    # "EntityNotFound: model ..." triggers the SDK's own not-found translation.
    assert out["deploy_missing_error"].startswith("Model key does not exist")
    assert out["job_created"] == {"name": "sdk-draft", "status": "PENDING"}
    final = out["job_final"]
    assert final["status"] == "COMPLETED" and final["progress"] == 1.0
    [artifact] = final["artifacts"]
    assert artifact["kind"] == "MODEL" and artifact["name"] == "llama-3.1-8b_accelerated"
    # harmony-client's model artifact metadata, and the byproducts union member the SDK knows
    assert artifact["metadata"] == {"model_key": "llama-3.1-8b_accelerated"}
    assert artifact["byproducts"] == "ModelByproducts"
    assert out["jobs_listed"] == ["sdk-draft"]
    assert out["accelerated"] == "llama-3.1-8b_accelerated"
