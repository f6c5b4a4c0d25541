"""The executor against a recording fake platform: order, parallelism, failures, state."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from adaptive_deploy.apply.executor import ExecutorOptions, execute, poll_delays
from adaptive_deploy.apply.hooks import CollectingHooks
from adaptive_deploy.config.models import StateConfig
from adaptive_deploy.errors import AuthError, PlatformError
from adaptive_deploy.live import LiveDeployment, LiveJob, LiveModel, LiveProject, LiveState
from adaptive_deploy.state import open_state
from adaptive_deploy.state.base import StateStore


class RecordingPlatform:
    """Implements the executor's part of `Platform`; records calls, fails on request."""

    request_count = 0
    notice = None
    poll_interval_s = 0.0

    def __init__(self, fail: set[str] | None = None, delay: float = 0.0,
                 forbid: set[str] | None = None, warnings: list[str] | None = None,
                 store: StateStore | None = None) -> None:
        self.calls: list[str] = []
        self.sent: list[dict[str, Any]] = []      # update_deployment keywords, in call order
        self.fail = fail or set()
        self.forbid = forbid or set()
        self.warnings = warnings or []
        self.delay = delay
        self.running = 0
        self.max_running = 0
        self.online: dict[str, bool] = {}
        self.store = store
        self.seen_in_state: dict[str, Any] = {}   # state record of the address at call time
        self.deploy_status = "ONLINE"             # the status deployModel answers with
        self.polls = 0                            # get_deployment calls
        self.attaching = self.max_attaching = 0   # attach_models calls in flight

    async def _call(self, name: str) -> None:
        self.running += 1
        self.max_running = max(self.max_running, self.running)
        try:
            await asyncio.sleep(self.delay)
            self.calls.append(name)
            if name in self.fail:
                raise PlatformError(f"{name} refused by the platform")
            if name in self.forbid:
                raise AuthError(f"the key in $ADAPTIVE_API_KEY may not change the platform "
                                f"({name}: missing permission)")
        finally:
            self.running -= 1

    def _peek(self, address: str) -> None:
        if self.store is not None:
            self.seen_in_state[address] = self.store.read().resources.get(address)

    async def create_project(self, key: str, *, name: str, description: str | None = None) -> LiveProject:
        self._peek(f"project.{key}")
        await self._call(f"create_project {key}")
        return LiveProject(id=f"p-{key}", key=key, name=name, description=description)

    async def update_project(self, key: str, **fields: Any) -> LiveProject:
        await self._call(f"update_project {key} {sorted(fields.items())}")
        return LiveProject(id=f"p-{key}", key=key, name=fields.get("name") or key)

    async def update_model_compute_config(self, model: str, **cc: Any) -> LiveModel:
        await self._call(f"update_model {model}")
        return LiveModel(id=f"m-{model}", key=model, name=model)

    async def attach_models(self, project: str, models: list[str]) -> dict[str, str]:
        self.attaching += 1
        self.max_attaching = max(self.max_attaching, self.attaching)
        try:
            await self._call(f"attach {project} {sorted(models)}")
        finally:
            self.attaching -= 1
        return {m: "refused by the platform" for m in models if f"attach {project}/{m}" in self.fail}

    async def deploy(self, project: str, model: str, *, attached: bool = False,
                     **fields: Any) -> LiveDeployment:
        self._peek(f"deployment.{project}/{model}")
        await self._call(f"deploy {project}/{model}" + ("" if attached else " (binds)"))
        return LiveDeployment(id=f"d-{project}-{model}", project=project, model=model,
                              status=self.deploy_status, compute_pools=fields["compute_pools"],
                              warnings=list(self.warnings))

    async def update_deployment(self, project: str, model: str, **fields: Any) -> LiveDeployment:
        await self._call(f"update_deployment {project}/{model} {sorted(fields)}")
        self.sent.append(fields)
        if "desired_online" in fields:
            self.online[f"{project}/{model}"] = fields["desired_online"]
        return await self._deployment(project, model, fields.get("compute_pools", []))

    async def remove_deployment(self, project: str, model: str) -> None:
        await self._call(f"remove {project}/{model}")

    async def _deployment(self, project: str, model: str, pools: list[str]) -> LiveDeployment:
        on = self.online.get(f"{project}/{model}", True)
        return LiveDeployment(id=f"d-{project}-{model}", project=project, model=model,
                              status="ONLINE" if on else "TURNED_OFF", desired_online=on,
                              compute_pools=pools)

    async def get_deployment(self, project: str, model: str) -> LiveDeployment | None:
        self.polls += 1
        return await self._deployment(project, model, [])

    async def create_job(self, *, name: str, **kwargs: Any) -> LiveJob:
        await self._call(f"create_job {name} {sorted(kwargs['args'].items())}")
        return LiveJob(id=f"j-{name}", name=name, status="COMPLETED",
                       output_model=f"{name}_accelerated")

    async def get_job(self, job_id: str) -> LiveJob:
        return LiveJob(id=job_id, name=job_id[2:], status="COMPLETED")


def change(address: str, action: str, after: dict[str, Any] | None = None,
           depends_on: tuple[str, ...] = (), diff: tuple[str, ...] = (),
           before: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"address": address, "type": address.split(".")[0], "action": action,
            "after": after, "before": before, "depends_on": list(depends_on),
            "diff": [{"path": p} for p in diff]}


LIVE = LiveState(models={
    "base": LiveModel(id="m1", key="base", name="base"),
    "lora": LiveModel(id="m2", key="lora", name="lora", is_adapter=True, backbone="base"),
})


@pytest.fixture
def store(tmp_path: Path) -> StateStore:
    store, _ = open_state(StateConfig(), "exec", tmp_path)
    return store


def run(changes: list[dict[str, Any]], platform: RecordingPlatform, store: StateStore,
        parallelism: int = 4, env: dict[str, str] | None = None) -> Any:
    hooks = CollectingHooks()
    result = asyncio.run(execute(changes, platform, store, hooks, LIVE,  # type: ignore[arg-type]
                                 ExecutorOptions(parallelism=parallelism, env=env or {})))
    return result, hooks


def test_deletes_run_first_in_reverse_dependency_order(store: StateStore) -> None:
    platform = RecordingPlatform()
    changes = [
        change("project.new", "create", {"name": "New"}),
        change("deployment.new/base", "create", {"compute_pools": ["p1"]},
               depends_on=("project.new",)),
        change("project.old", "delete"),
        change("deployment.old/base", "delete"),
        change("deployment.old/lora", "delete"),
    ]
    result, _ = run(changes, platform, store)
    assert not result.failed
    order = platform.calls
    assert order.index("remove old/lora") < order.index("remove old/base")
    assert order.index("remove old/base") < order.index("update_project old [('is_archived', True)]")
    last_delete = order.index("update_project old [('is_archived', True)]")
    assert last_delete < order.index("create_project new") < order.index("deploy new/base")
    assert result.summary()["add"] == 2 and result.summary()["destroy"] == 3


def test_failure_skips_dependents_but_not_the_rest(store: StateStore) -> None:
    platform = RecordingPlatform(fail={"create_project a", "remove z/base"})
    changes = [
        change("project.a", "create", {"name": "A"}),
        change("deployment.a/base", "create", {"compute_pools": ["p1"]}, depends_on=("project.a",)),
        change("project.b", "create", {"name": "B"}),
        change("deployment.z/base", "delete"),
    ]
    result, hooks = run(changes, platform, store)
    failed = {r.address: r for r in result.failed}
    assert set(failed) == {"project.a", "deployment.a/base", "deployment.z/base"}
    assert failed["deployment.a/base"].skipped
    assert "refused by the platform" in (failed["project.a"].error or "")
    # a failed delete orders, but does not block, the creates
    assert "create_project b" in platform.calls
    snapshot = store.read()
    # project.a's create was refused: its intent stays recorded (pending), harmless — the next
    # plan creates it again, or forgets it when it leaves the configuration
    assert set(snapshot.resources) == {"project.a", "project.b"}
    assert snapshot.resources["project.a"].pending == "create"
    assert snapshot.resources["project.b"].pending is None
    assert any(e.kind == "skipped" for e in hooks.events)


def test_parallelism_bounds_concurrent_platform_calls(store: StateStore) -> None:
    platform = RecordingPlatform(delay=0.02)
    changes = [change(f"project.p{i}", "create", {"name": f"P{i}"}) for i in range(12)]
    result, _ = run(changes, platform, store, parallelism=3)
    assert not result.failed
    assert platform.max_running == 3
    platform1 = RecordingPlatform(delay=0.01)
    run([change(f"project.q{i}", "create", {"name": "Q"}) for i in range(5)], platform1, store,
        parallelism=1)
    assert platform1.max_running == 1


def test_each_success_is_recorded_with_applied_and_observed(store: StateStore) -> None:
    platform = RecordingPlatform()
    changes = [
        change("deployment.a/base", "create",
               {"compute_pools": ["p1"], "protect": True, "num_draft_steps": 3}),
        change("model.base", "forget"),
    ]
    store.put_resource(store.read().resources.get("model.base") or _record("model.base"))
    result, _ = run(changes, platform, store)
    assert not result.failed
    snapshot = store.read()
    record = snapshot.resources["deployment.a/base"]
    assert record.applied["num_draft_steps"] == 3 and record.applied["protect"] is True
    assert record.observed["compute_pools"] == ["p1"]
    assert record.platform_id == "d-a-base"
    assert "model.base" not in snapshot.resources


def test_protect_only_update_sends_nothing(store: StateStore) -> None:
    platform = RecordingPlatform()
    changes = [change("deployment.a/base", "update", {"compute_pools": ["p1"], "protect": False},
                      diff=("protect",))]
    result, _ = run(changes, platform, store)
    assert not result.failed
    assert platform.calls == []
    assert store.read().resources["deployment.a/base"].applied["protect"] is False


def test_job_args_resolved_from_env_but_state_keeps_the_template(store: StateStore) -> None:
    platform = RecordingPlatform()
    after = {"recipe": "specdec_alignment", "project": "a",
             "args": {"dataset": "${env:DATASET_TOKEN}"}}
    result, hooks = run([change("job.train", "run", after)], platform, store,
                        env={"DATASET_TOKEN": "s3cr3t-value"})
    assert not result.failed
    assert "s3cr3t-value" in platform.calls[0]
    record = store.read().resources["job.train"]
    assert record.applied["args"]["dataset"] == "${env:DATASET_TOKEN}"
    assert "s3cr3t-value" not in repr(record)
    assert any(e.extra.get("output_model") == "train_accelerated" for e in hooks.events)
    assert not any("acceptance" in str(e.extra) for e in hooks.events)


def _record(address: str) -> Any:
    from adaptive_deploy.state.base import ResourceRecord

    return ResourceRecord(address=address, type="model", applied={"tp": 1}, observed={"tp": 1},
                          fingerprint="sha256:x")


def test_replace_restarts_in_place_and_never_unbinds(store: StateStore) -> None:
    # --replace (or a deployment in ERROR): turned off, then on again with the whole placement
    # and the draft steps; removeModelFromProject would delete a model with its last binding.
    platform = RecordingPlatform()
    restart = change("deployment.a/base", "update",
                     {"compute_pools": ["p1", "p2"], "num_draft_steps": 3, "protect": False},
                     before={"compute_pools": ["p1", "p2"], "max_ttft_ms": 7000})
    restart["replace"] = True
    result, hooks = run([restart], platform, store)
    assert not result.failed, result.failed
    assert not any(c.startswith("remove") or c.startswith("deploy") for c in platform.calls)
    assert platform.sent == [
        {"desired_online": False},
        {"desired_online": True, "compute_pools": ["p1", "p2"], "max_ttft_ms": 7000,
         "num_draft_steps": 3},
    ]
    statuses = [e.message for e in hooks.events if e.address == "deployment.a/base"
                and e.message.startswith("status")]
    assert statuses == ["status TURNED_OFF", "status ONLINE"]
    assert result.summary() == {"add": 0, "change": 1, "destroy": 0, "run": 0, "forget": 0,
                                "failed": 0}
    assert store.read().resources["deployment.a/base"].platform_id == "d-a-base"


def test_restart_keeps_a_deployment_meant_to_be_off_off(store: StateStore) -> None:
    platform = RecordingPlatform()
    restart = change("deployment.a/base", "update",
                     {"compute_pools": ["p1"], "desired_online": False}, before={})
    restart["replace"] = True
    result, _ = run([restart], platform, store)
    assert not result.failed
    assert platform.sent == [{"desired_online": False},
                             {"desired_online": False, "compute_pools": ["p1"]}]


@pytest.mark.parametrize(("after", "before", "diff", "sent"), [
    # pools change: max_ttft_ms travels with them (the platform replaces a placement whole)
    ({"compute_pools": ["p1", "p2"], "max_ttft_ms": 30000},
     {"compute_pools": ["p1"], "max_ttft_ms": 30000}, ("compute_pools",),
     {"compute_pools": ["p1", "p2"], "max_ttft_ms": 30000}),
    # max_ttft_ms left out of the configuration (unmanaged): the live value is kept
    ({"compute_pools": ["p1", "p2"]}, {"compute_pools": ["p1"], "max_ttft_ms": 7000},
     ("compute_pools",), {"compute_pools": ["p1", "p2"], "max_ttft_ms": 7000}),
    # only max_ttft_ms changes: the pools travel with it
    ({"compute_pools": ["p1"], "max_ttft_ms": 5}, {"compute_pools": ["p1"], "max_ttft_ms": 9},
     ("max_ttft_ms",), {"compute_pools": ["p1"], "max_ttft_ms": 5}),
    # no placement change: no placement sent
    ({"compute_pools": ["p1"], "is_default": True}, {"compute_pools": ["p1"], "max_ttft_ms": 9},
     ("is_default",), {"is_default": True}),
])
def test_placement_is_sent_whole(store: StateStore, after: dict[str, Any],
                                 before: dict[str, Any], diff: tuple[str, ...],
                                 sent: dict[str, Any]) -> None:
    platform = RecordingPlatform()
    result, _ = run([change("deployment.a/base", "update", after, diff=diff, before=before)],
                    platform, store)
    assert not result.failed
    assert platform.sent == [sent]


def test_create_intent_is_recorded_before_the_platform_call(store: StateStore) -> None:
    platform = RecordingPlatform(store=store)
    changes = [change("project.a", "create", {"name": "A"}),
               change("deployment.a/base", "create", {"compute_pools": ["p1"]},
                      depends_on=("project.a",))]
    result, _ = run(changes, platform, store)
    assert not result.failed
    for address in ("project.a", "deployment.a/base"):
        intent = platform.seen_in_state[address]
        assert intent is not None and intent.pending == "create", address
        assert intent.platform_id is None
        done = store.read().resources[address]
        assert done.pending is None and done.platform_id is not None


def test_a_refused_key_stops_the_apply_at_once(store: StateStore) -> None:
    """Who may apply is the platform's answer: the first permission error ends the apply, and
    nothing after it is attempted."""
    platform = RecordingPlatform(forbid={"create_project a"})
    changes = [change(f"project.{k}", "create", {"name": k}) for k in "abcd"]
    result, _ = run(changes, platform, store, parallelism=1)
    assert isinstance(result.stopped_by, AuthError)
    assert "$ADAPTIVE_API_KEY" in str(result.stopped_by)
    assert platform.calls == ["create_project a"]
    skipped = [r for r in result.results if r.skipped]
    assert len(skipped) == 3 and all("refused the key" in (r.error or "") for r in skipped)


def test_deploy_warnings_reach_the_hooks(store: StateStore) -> None:
    warning = "pool-1 is at capacity: the model loads when GPUs free up"
    platform = RecordingPlatform(warnings=[warning])
    result, hooks = run([change("deployment.a/base", "create", {"compute_pools": ["pool-1"]})],
                        platform, store)
    assert not result.failed
    assert [(e.address, e.message) for e in hooks.events if e.kind == "warning"] == [
        ("deployment.a/base", warning)]


def _deployments(projects: str, models: tuple[str, ...]) -> list[dict[str, Any]]:
    changes = []
    for p in projects:
        changes.append(change(f"project.{p}", "create", {"name": p}))
        for m in models:
            deps = [f"project.{p}"] + ([f"deployment.{p}/base"] if m == "lora" else [])
            changes.append(change(f"deployment.{p}/{m}", "create", {"compute_pools": ["p1"]},
                                  depends_on=tuple(deps)))
    return changes


@pytest.mark.parametrize("parallelism", [1, 8])
def test_models_are_bound_in_one_request_per_project(store: StateStore, parallelism: int) -> None:
    """addModelsToProject takes a list: one request per project binds all the models its new
    deployments use (an adapter's too, though its deployment waits for its base's)."""
    platform = RecordingPlatform()
    result, _ = run(_deployments("ab", ("base", "lora")), platform, store, parallelism)
    assert not result.failed
    attaches = [c for c in platform.calls if c.startswith("attach")]
    assert sorted(attaches) == ["attach a ['base', 'lora']", "attach b ['base', 'lora']"]
    # Each deployment is deployed as already bound, after its project's batch.
    assert not [c for c in platform.calls if c.endswith("(binds)")]
    for p in "ab":
        assert platform.calls.index(f"attach {p} ['base', 'lora']") < platform.calls.index(
            f"deploy {p}/base")


def test_a_model_the_platform_refuses_to_bind_fails_its_deployment_only(
    store: StateStore,
) -> None:
    platform = RecordingPlatform(fail={"attach a/lora"})
    result, _ = run(_deployments("a", ("base", "lora")), platform, store)
    failed = {r.address: r.error for r in result.failed}
    assert list(failed) == ["deployment.a/lora"]
    assert "refused by the platform" in (failed["deployment.a/lora"] or "")
    assert "deploy a/base" in platform.calls and "deploy a/lora" not in platform.calls


def test_a_model_that_does_not_exist_yet_binds_on_its_own(store: StateStore) -> None:
    """A job's output model exists only once the job ran: it cannot join the project's batch."""
    platform = RecordingPlatform()
    changes = [change("deployment.a/base", "create", {"compute_pools": ["p1"]}),
               change("deployment.a/base_accelerated", "create", {"compute_pools": ["p1"]})]
    result, _ = run(changes, platform, store)
    assert not result.failed
    assert "attach a ['base']" in platform.calls
    assert "deploy a/base_accelerated (binds)" in platform.calls


def test_no_status_poll_when_the_deploy_answer_is_already_final(store: StateStore) -> None:
    platform = RecordingPlatform()
    result, _ = run(_deployments("a", ("base",)), platform, store)
    assert not result.failed
    assert platform.polls == 0


def test_a_pending_deploy_answer_is_polled_until_online(store: StateStore) -> None:
    platform = RecordingPlatform()
    platform.deploy_status = "PENDING"
    result, hooks = run(_deployments("a", ("base",)), platform, store)
    assert not result.failed
    assert platform.polls == 1
    statuses = [e.message for e in hooks.events if e.kind == "progress"]
    assert statuses == ["status PENDING", "status ONLINE"]


def test_polls_start_at_a_tenth_of_a_second_and_double_up_to_the_interval() -> None:
    delays = poll_delays(1.0)
    assert [next(delays) for _ in range(7)] == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0]
    short = poll_delays(0.05)
    assert [next(short) for _ in range(3)] == [0.05, 0.05, 0.05]


class SlowToLoad(RecordingPlatform):
    """deployModel answers PENDING; the deployment is ONLINE from the third poll on."""

    async def get_deployment(self, project: str, model: str) -> LiveDeployment | None:
        self.polls += 1
        return LiveDeployment(id=f"d-{project}-{model}", project=project, model=model,
                              status="ONLINE" if self.polls >= 3 else "PENDING",
                              compute_pools=["p1"])


def test_waiting_for_a_deployment_polls_with_a_growing_delay(
    store: StateStore, monkeypatch: pytest.MonkeyPatch,
) -> None:
    slept: list[float] = []
    real_sleep = asyncio.sleep

    async def sleep(delay: float, *args: Any) -> Any:
        if delay:
            slept.append(delay)
        return await real_sleep(0, *args)

    monkeypatch.setattr(asyncio, "sleep", sleep)
    platform = SlowToLoad()
    platform.deploy_status = "PENDING"
    hooks = CollectingHooks()
    result = asyncio.run(execute(_deployments("a", ("base",)), platform, store, hooks,
                                 LIVE,  # type: ignore[arg-type]
                                 ExecutorOptions(parallelism=1, poll_interval_s=1.0)))
    assert not result.failed and platform.polls == 3
    assert slept == [0.1, 0.2, 0.4]   # not 3 x 1.0 s: an early ONLINE is seen early


def test_an_error_in_the_deploy_answer_fails_without_polling(store: StateStore) -> None:
    platform = RecordingPlatform()
    platform.deploy_status = "ERROR"
    result, _ = run(_deployments("a", ("base",)), platform, store)
    assert [r.address for r in result.failed] == ["deployment.a/base"]
    assert "ERROR" in (result.failed[0].error or "")
    assert platform.polls == 0


class ThreadRecordingStore:
    """A state store that notes which thread each commit runs on."""

    def __init__(self, inner: StateStore) -> None:
        self.inner = inner
        self.threads: list[int] = []
        self.order: list[str] = []

    def put_resource(self, record: Any) -> int:
        import threading

        self.threads.append(threading.get_ident())
        self.order.append(f"{record.address}:{record.pending or 'done'}")
        return self.inner.put_resource(record)

    def delete_resource(self, address: str) -> int:
        import threading

        self.threads.append(threading.get_ident())
        return self.inner.delete_resource(address)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_state_commits_run_on_one_worker_thread_not_the_event_loop(store: StateStore) -> None:
    import threading

    recording = ThreadRecordingStore(store)
    platform = RecordingPlatform()
    result, _ = run(_deployments("ab", ("base", "lora")), platform, recording)  # type: ignore[arg-type]
    assert not result.failed
    assert recording.threads and threading.get_ident() not in recording.threads
    assert len(set(recording.threads)) == 1, "one dedicated thread keeps commits in order"
    # Still one commit per resource (and the intent of each create before it).
    for address in ("project.a", "deployment.a/base", "deployment.b/lora"):
        assert recording.order.index(f"{address}:create") < recording.order.index(
            f"{address}:done")
    assert len(recording.order) == 2 * 6
    assert set(store.read().resources) == {c["address"] for c in _deployments("ab", ("base", "lora"))}


def test_deployments_waiting_for_their_bind_hold_no_parallelism_slot(store: StateStore) -> None:
    """With two slots and two projects of several deployments, both projects' binds are in
    flight together: the deployments waiting for the first one do not sit on the other slot."""
    platform = RecordingPlatform(delay=0.05)
    changes = _deployments("ab", ("base", "lora"))
    changes += [change(f"deployment.{p}/m{i}", "create", {"compute_pools": ["p1"]},
                       depends_on=(f"project.{p}",)) for p in "ab" for i in range(4)]
    live = LiveState(models={**LIVE.models, **{f"m{i}": LiveModel(id=f"m-{i}", key=f"m{i}",
                                                                  name=f"m{i}")
                                               for i in range(4)}})
    hooks = CollectingHooks()
    result = asyncio.run(execute(changes, platform, store, hooks, live,  # type: ignore[arg-type]
                                 ExecutorOptions(parallelism=2)))
    assert not result.failed
    assert platform.max_running <= 2
    assert platform.max_attaching == 2
    assert sorted(c for c in platform.calls if c.startswith("attach")) == [
        "attach a ['base', 'lora', 'm0', 'm1', 'm2', 'm3']",
        "attach b ['base', 'lora', 'm0', 'm1', 'm2', 'm3']"]
