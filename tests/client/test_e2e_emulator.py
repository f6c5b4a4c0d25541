"""The client end to end: against the emulator over real HTTP, and the embedded default."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest

from adaptive_deploy.client import connect
from adaptive_deploy.client.platform import GraphQLPlatform
from adaptive_deploy.config.models import PlatformConfig
from adaptive_deploy.errors import AuthError, EntityNotFound, PlatformError
from adaptive_deploy.live import LiveDeployment
from tests.fixtures.emulator import EmulatorServer


def remote(server: EmulatorServer, key: str, **cfg: object) -> GraphQLPlatform:
    platform = connect(
        PlatformConfig(base_url=server.base_url, **cfg),
        Path("."), env={"ADAPTIVE_API_KEY": key},
    )
    assert isinstance(platform, GraphQLPlatform)
    return platform


async def wait_online(p: GraphQLPlatform, project: str, model: str) -> LiveDeployment:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        dep = await p.get_deployment(project, model)
        assert dep is not None
        if dep.status in ("ONLINE", "ERROR"):
            return dep
        await asyncio.sleep(0.1)
    raise AssertionError("deployment did not settle")


def _services(server: EmulatorServer, project: str, model: str) -> int:
    data = server.data(
        "query($p: IdOrKey!) { project(idOrKey: $p) { modelServices { key } } }", {"p": project}
    )
    return sum(1 for s in data["project"]["modelServices"] if s["key"] == model)


async def test_lifecycle_over_http(emulator_module: EmulatorServer) -> None:
    server = emulator_module
    server.clear_faults()
    p = remote(server, server.admin_key)
    try:
        before = p.request_count
        live = await p.read_live()
        assert p.request_count - before == 1
        assert live.compute_pools["pool-1"].gpus_per_replica == 8
        assert live.compute_pools["pool-1"].replicas == 2
        assert "NVIDIA H100" in (live.compute_pools["pool-1"].gpu_types or "")
        assert live.models["support-lora-v3"].backbone == "qwen-3-8b"
        assert ("playground", "llama-3.2-1b") in live.deployments

        proj = await p.create_project("e2e-support", name="Support", description="e2e")
        assert proj.key == "e2e-support" and proj.description == "e2e"
        dep = await p.deploy("e2e-support", "qwen-3-8b", compute_pools=["pool-1", "pool-2"],
                             max_ttft_ms=30000, num_draft_steps=4, is_default=True)
        assert dep.compute_pools == ["pool-1", "pool-2"] and dep.is_default
        assert (await wait_online(p, "e2e-support", "qwen-3-8b")).status == "ONLINE"

        dep = await p.update_deployment("e2e-support", "qwen-3-8b", max_ttft_ms=20000)
        assert dep.max_ttft_ms == 20000 and dep.compute_pools == ["pool-1", "pool-2"]
        model = await p.update_model_compute_config("qwen-3-8b", kv_cache_len=50000)
        assert model.compute_config is not None and model.compute_config.kv_cache_len == 50000

        live = await p.read_live(projects=["e2e-support"])
        assert set(live.projects) == {"e2e-support"}
        assert live.deployments[("e2e-support", "qwen-3-8b")].max_ttft_ms == 20000

        await p.remove_deployment("e2e-support", "qwen-3-8b")
        await p.remove_deployment("e2e-support", "qwen-3-8b")   # already gone: no error
        assert await p.get_deployment("e2e-support", "qwen-3-8b") is None
        archived = await p.update_project("e2e-support", is_archived=True)
        assert archived.is_archived
    finally:
        await p.aclose()


async def test_specdec_job_over_http(emulator_module: EmulatorServer) -> None:
    server = emulator_module
    server.clear_faults()
    p = remote(server, server.admin_key)
    try:
        await p.create_project("e2e-jobs", name="Jobs")
        job = await p.create_job(
            name="train-draft", recipe="specdec_alignment", project="e2e-jobs",
            args={"target_model": "qwen-3-8b", "draft_model": "qwen-3-500m", "dataset": "d"},
            num_gpus=2,
        )
        assert job.status in ("PENDING", "RUNNING") and job.num_gpus == 2
        deadline = time.monotonic() + 15
        while job.status not in ("COMPLETED", "FAILED") and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            job = await p.get_job(job.id)
        assert job.status == "COMPLETED"
        assert job.output_model == "qwen-3-8b_accelerated"   # the artifact's ModelByproducts
        live = await p.read_live()
        assert live.jobs["train-draft"].id == job.id
        assert "qwen-3-8b_accelerated" in live.models
        with pytest.raises(EntityNotFound):
            await p.get_job("00000000-0000-0000-0000-000000000000")
    finally:
        await p.aclose()


async def test_read_only_key_cannot_apply(emulator_module: EmulatorServer) -> None:
    server = emulator_module
    server.clear_faults()
    p = remote(server, server.readonly_key)
    try:
        assert (await p.read_live()).models
        with pytest.raises(AuthError, match=r"the key in \$ADAPTIVE_API_KEY may not change the "
                                             r"platform \(CreateProject: ") as info:
            await p.create_project("e2e-ro", name="nope")
        assert "missing permission" in str(info.value), "the platform's reason is kept"
        with pytest.raises(AuthError, match="may not change the platform"):
            await p.deploy("playground", "qwen-3-8b", compute_pools=["pool-1"])
    finally:
        await p.aclose()


async def test_bad_key_is_rejected_without_leaking(
    emulator_module: EmulatorServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server = emulator_module
    server.clear_faults()
    key = "sk-e2e-WRONG-key-987654"
    p = remote(server, key, api_key_env="ADAPTIVE_API_KEY")
    try:
        with pytest.raises(AuthError, match=r"rejected the API key in \$ADAPTIVE_API_KEY") as info:
            await p.read_live()
        assert p.request_count == 1, "401 is not retried"
        assert key not in str(info.value) and key not in repr(info.value)
        assert key not in caplog.text and key not in repr(p)
    finally:
        await p.aclose()


async def test_platform_rule_errors_are_platform_errors(emulator_module: EmulatorServer) -> None:
    server = emulator_module
    server.clear_faults()
    p = remote(server, server.admin_key)
    try:
        with pytest.raises(PlatformError, match="numDraftSteps"):
            await p.deploy("playground", "qwen-3-8b", compute_pools=["pool-1"], num_draft_steps=9)
        with pytest.raises(EntityNotFound):
            await p.update_model_compute_config("no-such-model", tp=1)
    finally:
        await p.aclose()


async def test_dropped_responses_create_exactly_once(emulator_module: EmulatorServer) -> None:
    """Every mutation commits and then loses its response: nothing is created twice."""
    server = emulator_module
    server.clear_faults()
    p = remote(server, server.admin_key)
    try:
        server.faults(drop_rate=1.0, drop_style="mixed", seed=7)
        proj = await p.create_project("e2e-drop", name="Dropped")
        assert proj.key == "e2e-drop"
        dep = await p.deploy("e2e-drop", "llama-3.1-8b", compute_pools=["pool-1"])
        assert dep.compute_pools == ["pool-1"]
        job = await p.create_job(
            name="drop-job", recipe="specdec_alignment", project="e2e-drop",
            args={"target_model": "llama-3.1-8b", "draft_model": "llama-3.2-1b", "dataset": "d"},
        )
        server.clear_faults()
        live = await p.read_live(projects=["e2e-drop"])
        assert _services(server, "e2e-drop", "llama-3.1-8b") == 1
        # each run is named drop-job@<run id> on the platform
        jobs = server.data('{ jobs(page: {}) { nodes { id name } } }')["jobs"]["nodes"]
        assert [j["id"] for j in jobs if j["name"].startswith("drop-job@")] == [job.id]
        assert job.name == "drop-job"
        assert list(live.projects) == ["e2e-drop"]
    finally:
        server.clear_faults()
        await p.aclose()


@pytest.mark.slow  # real backoff sleeps (jittered, up to a few seconds in total)
async def test_converges_under_5xx_and_429(emulator_module: EmulatorServer) -> None:
    server = emulator_module
    server.clear_faults()
    p = remote(server, server.admin_key, max_retries=10)
    try:
        server.faults(fail_rate=0.3, rate_limit_rate=0.2, retry_after_s=0.01, drop_rate=0.2,
                      seed=11)
        await p.create_project("e2e-flaky", name="Flaky")
        for model in ("qwen-3-8b", "mistral-7b-v0.3", "llama-3.2-1b"):
            await p.deploy("e2e-flaky", model, compute_pools=["pool-2"])
        live = await p.read_live(projects=["e2e-flaky"])
        server.clear_faults()
        assert sorted(m for _, m in live.deployments) == ["llama-3.2-1b", "mistral-7b-v0.3", "qwen-3-8b"]
        for model in ("qwen-3-8b", "mistral-7b-v0.3", "llama-3.2-1b"):
            assert _services(server, "e2e-flaky", model) == 1
        assert p.request_count > 6, "faults forced retries"
    finally:
        server.clear_faults()
        await p.aclose()


async def test_embedded_default(tmp_path: Path) -> None:
    """No base_url, no ADAPTIVE_BASE_URL: the emulator in-process, persisted in the workspace."""
    p = connect(PlatformConfig(), tmp_path, env={})
    assert isinstance(p, GraphQLPlatform)
    data = tmp_path / ".adaptive-deploy"
    assert p.notice == (
        f"Using the embedded local platform (state and platform under {tmp_path}/.adaptive-deploy/); "
        "set platform.base_url or ADAPTIVE_BASE_URL to use a real one."
    )
    assert (data / ".gitignore").read_text() == "*\n"
    try:
        await p.create_project("local", name="Local")
        await p.deploy("local", "qwen-3-8b", compute_pools=["pool-1"])
        dep = await p.get_deployment("local", "qwen-3-8b")
        assert dep is not None and dep.status == "PENDING", "the embedded platform loads visibly"
        assert (await wait_online(p, "local", "qwen-3-8b")).status == "ONLINE"
    finally:
        await p.aclose()
    assert (data / "platform.db").exists()
    again = connect(PlatformConfig(), tmp_path, env={})
    try:
        live = await again.read_live()
        assert ("local", "qwen-3-8b") in live.deployments, "persisted across connections"
    finally:
        await again.aclose()


async def test_bare_binding_then_deploy(emulator_module: EmulatorServer) -> None:
    server = emulator_module
    server.clear_faults()
    p = remote(server, server.admin_key)
    try:
        await p.create_project("e2e-bound", name="Bound")
        server.data('mutation { addModelsToProject(input: {project: "e2e-bound", '
                    'models: ["gemma-3-27b"]}) { success } }')
        assert ("e2e-bound", "gemma-3-27b") not in (await p.read_live()).deployments
        assert await p.get_deployment("e2e-bound", "gemma-3-27b") is None
        dep = await p.deploy("e2e-bound", "gemma-3-27b", compute_pools=["pool-2"])
        assert dep.compute_pools == ["pool-2"]
        assert _services(server, "e2e-bound", "gemma-3-27b") == 1
    finally:
        await p.aclose()


async def test_deploy_warnings_come_back_from_the_emulator(tmp_path: Path) -> None:
    """deployModel's `warnings` reach the caller (the emulator warns when a model is deployed
    again where it already runs)."""
    p = connect(PlatformConfig(), tmp_path, env={})
    try:
        first = await p.deploy("playground", "qwen-3-8b", compute_pools=["pool-1"])
        assert first.warnings == []
        again = await p.deploy("playground", "qwen-3-8b", compute_pools=["pool-1"])
        assert again.warnings == ["model qwen-3-8b was already deployed in project playground"]
    finally:
        await p.aclose()


async def test_requests_do_not_look_for_a_module_each_time(emulator_module: EmulatorServer) -> None:
    """httpcore runs `import sniffio` on every request: with sniffio installed (a declared
    dependency) that is a sys.modules hit; without it, a failed search of sys.path each time."""
    import importlib.abc
    import sys

    lookups: list[str] = []

    class Recorder(importlib.abc.MetaPathFinder):
        def find_spec(self, name: str, path: object = None, target: object = None) -> None:
            lookups.append(name)

    server = emulator_module
    server.clear_faults()
    p = remote(server, server.admin_key)
    try:
        await p.read_live()                     # connection and lazy imports settle first
        sys.meta_path.insert(0, Recorder())
        try:
            for _ in range(20):
                await p.read_live()
        finally:
            sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, Recorder)]
    finally:
        await p.aclose()
    assert lookups.count("sniffio") == 0, lookups[:10]
