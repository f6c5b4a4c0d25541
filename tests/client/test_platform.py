"""GraphQLPlatform against the in-memory fake: mapping, batching, unknown-outcome handling."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from adaptive_deploy.client.platform import GraphQLPlatform
from adaptive_deploy.client.transport import GraphQLTransport
from adaptive_deploy.errors import PlatformError, PlatformUnavailable
from tests.client.fakes import FakePlatform
from tests.contract.checker import check_request, contract_schema


async def _no_sleep(seconds: float) -> None:
    return None


def make(fake: FakePlatform, *, page: int = 500, max_retries: int = 3) -> GraphQLPlatform:
    transport = GraphQLTransport(
        "http://fake.test", "key-123", transport=fake.transport(), sleep=_no_sleep,
        max_retries=max_retries,
    )
    return GraphQLPlatform(transport, jobs_page_size=page, sleep=_no_sleep)


@pytest.fixture
def fake() -> Iterator[FakePlatform]:
    f = FakePlatform()
    f.add_project("support", "Customer support")
    yield f
    # Every request the client sent in the test passes the SDK-derived contract.
    problems = [f"{b['operationName']}: {p}" for b in f.bodies
                for p in check_request(contract_schema(), b)]
    assert problems == []


async def test_read_live_maps_everything_in_one_request(fake: FakePlatform) -> None:
    fake.add_project("playground")
    svc = fake.add_service("playground", "qwen-3-8b", ["pool-id-2", "pool-1"])
    svc["placement"]["maxTtftMs"] = 30000
    deleted = fake.add_service("playground", "support-lora-v3", ["pool-1"])
    deleted["deleted"] = True
    p = make(fake)
    for _ in range(2):
        await p.create_job(name="train", recipe="specdec_alignment", project="support", args={"a": 1})
    fake.jobs[-1]["artifacts"] = [{"kind": "MODEL", "name": "qwen-3-8b_accelerated",
                                   "metadata": {"model_key": "qwen-3-8b_accelerated"},
                                   "byproducts": {"__typename": "ModelByproducts",
                                                  "model": {"key": "qwen-3-8b_accelerated"}}}]
    before = p.request_count
    live = await p.read_live()
    assert p.request_count - before == 1

    model = live.models["qwen-3-8b"]
    assert model.supported_tp == [1, 2, 4, 8] and model.family == "qwen3"
    assert model.compute_config is not None and model.compute_config.kv_cache_len == 65536
    assert live.models["support-lora-v3"].is_adapter
    assert live.models["support-lora-v3"].backbone == "qwen-3-8b"

    pool = live.compute_pools["pool-1"]
    assert pool.gpus_per_replica == 8 and pool.replicas == 2
    assert pool.gpu_types == "NVIDIA H100 80GB HBM3"
    assert pool.groups[0].online_models == ["qwen-3-8b"]

    assert set(live.projects) == {"support", "playground"}
    assert live.projects["support"].name == "Customer support"
    dep = live.deployments[("playground", "qwen-3-8b")]
    assert dep.compute_pools == ["pool-2", "pool-1"]   # ids resolved to keys, order kept
    assert dep.max_ttft_ms == 30000
    assert ("playground", "support-lora-v3") not in live.deployments

    job = live.jobs["train"]
    assert job.id == fake.jobs[-1]["id"], "the newest job of a name wins"
    assert job.output_model == "qwen-3-8b_accelerated"
    assert job.args == {"a": 1} and job.num_gpus == 1 and job.project == "support"


async def test_read_live_filters_projects(fake: FakePlatform) -> None:
    fake.add_project("other")
    fake.add_service("other", "qwen-3-8b", ["pool-1"])
    fake.add_service("support", "qwen-3-8b", ["pool-1"])
    live = await make(fake).read_live(projects=["support"])
    assert set(live.projects) == {"support"}
    assert list(live.deployments) == [("support", "qwen-3-8b")]
    assert "qwen-3-8b" in live.models, "models stay complete"


async def test_read_live_pages_jobs(fake: FakePlatform) -> None:
    p = make(fake, page=2)
    for i in range(5):
        await p.create_job(name=f"j{i}", recipe="r", project="support", args={})
    before = p.request_count
    live = await p.read_live()
    assert sorted(live.jobs) == [f"j{i}" for i in range(5)]
    assert p.request_count - before == 3   # ReadLive + 2 more pages


async def test_deploy_sends_placement_draft_steps_and_flags(fake: FakePlatform) -> None:
    p = make(fake)
    dep = await p.deploy("support", "qwen-3-8b", compute_pools=["pool-1", "pool-2"],
                         max_ttft_ms=30000, num_draft_steps=4, is_default=True)
    assert dep.is_default and dep.compute_pools == ["pool-1", "pool-2"]
    deploy_body = next(b for b in fake.bodies if b["operationName"] == "DeployModel")
    assert deploy_body["variables"]["input"] == {
        "project": "support", "model": "qwen-3-8b",
        "placement": {"computePools": ["pool-1", "pool-2"], "maxTtftMs": 30000},
        "speculativeDecoding": {"numDraftSteps": 4},
    }
    assert fake.commits == {"AddModelsToProject": 1, "DeployModel": 1, "UpdateModel": 1}


async def test_deploy_skips_flags_update_when_already_matching(fake: FakePlatform) -> None:
    await make(fake).deploy("support", "qwen-3-8b", compute_pools=["pool-1"], desired_online=True)
    assert fake.calls["UpdateModel"] == 0


async def test_deploy_of_attached_model_skips_attach(fake: FakePlatform) -> None:
    fake.add_service("support", "qwen-3-8b")            # attached, not deployed
    await make(fake).deploy("support", "qwen-3-8b", compute_pools=["pool-1"])
    assert fake.commits["AddModelsToProject"] == 0 and fake.commits["DeployModel"] == 1


async def test_attach_refusal_is_an_error(fake: FakePlatform) -> None:
    def refuse(v: dict[str, object]) -> dict[str, object]:
        return {"addModelsToProject": {"success": False, "failures": [
            {"model": "qwen-3-8b", "reason": "adapter limit reached"}]}}
    fake.op_AddModelsToProject = refuse  # type: ignore[method-assign]
    with pytest.raises(PlatformError, match="adapter limit reached"):
        await make(fake).deploy("support", "qwen-3-8b", compute_pools=["pool-1"])


@pytest.mark.parametrize("drop_with", ["timeout", "502"])
@pytest.mark.parametrize("op", ["AddModelsToProject", "DeployModel"])
async def test_deploy_unknown_outcome_after_commit_is_not_resent(
    fake: FakePlatform, op: str, drop_with: str
) -> None:
    fake.drop_after_commit[op] = 1
    fake.drop_with = drop_with
    dep = await make(fake).deploy("support", "qwen-3-8b", compute_pools=["pool-1"])
    assert fake.commits[op] == 1
    assert fake.calls[op] == 1, "the platform showed it was applied: no second send"
    assert dep.compute_pools == ["pool-1"]
    # The re-read: the project's bindings (one request for a whole batch), or the service.
    reread = "ProjectModelServices" if op == "AddModelsToProject" else "DescribeModelService"
    assert fake.calls[reread] >= 1


async def test_deploy_unknown_outcome_before_commit_is_resent_once(fake: FakePlatform) -> None:
    fake.fail_before_commit["DeployModel"] = 1
    await make(fake).deploy("support", "qwen-3-8b", compute_pools=["pool-1"])
    assert fake.calls["DeployModel"] == 2 and fake.commits["DeployModel"] == 1


async def test_create_job_unknown_outcome_creates_exactly_one(fake: FakePlatform) -> None:
    p = make(fake)
    await p.create_job(name="train", recipe="r", project="support", args={})  # an older run
    fake.drop_after_commit["CreateJob"] = 1
    job = await p.create_job(name="train", recipe="r", project="support", args={}, num_gpus=2)
    assert fake.commits["CreateJob"] == 2 and fake.calls["CreateJob"] == 2
    assert job.id == fake.jobs[-1]["id"], "found the new job, not the older run"
    assert job.num_gpus == 2


async def test_create_job_lost_before_commit_is_resent(fake: FakePlatform) -> None:
    fake.fail_before_commit["CreateJob"] = 1
    await make(fake).create_job(name="train", recipe="r", project="support", args={})
    assert fake.commits["CreateJob"] == 1 and fake.calls["CreateJob"] == 2


async def test_create_project_unknown_outcome_creates_exactly_one(fake: FakePlatform) -> None:
    fake.drop_after_commit["CreateProject"] = 1
    proj = await make(fake).create_project("sales", name="Sales", description="d")
    assert proj.key == "sales" and proj.name == "Sales"
    assert fake.commits["CreateProject"] == 1 and fake.calls["CreateProject"] == 1


async def test_unknown_outcome_forever_gives_up(fake: FakePlatform) -> None:
    fake.fail_before_commit["CreateProject"] = 100
    with pytest.raises(PlatformUnavailable, match="outcome stayed unknown"):
        await make(fake, max_retries=2).create_project("sales", name="Sales")
    assert fake.calls["CreateProject"] == 3 and "sales" not in fake.projects


async def test_update_deployment_ttft_alone_sends_current_pools(fake: FakePlatform) -> None:
    fake.add_service("support", "qwen-3-8b", ["pool-2"])
    dep = await make(fake).update_deployment("support", "qwen-3-8b", max_ttft_ms=5000)
    body = next(b for b in fake.bodies if b["operationName"] == "UpdateModel")
    assert body["variables"]["input"] == {
        "project": "support", "modelService": "qwen-3-8b",
        "placement": {"computePools": ["pool-2"], "maxTtftMs": 5000},
    }
    assert dep.max_ttft_ms == 5000


async def test_update_deployment_retried_on_unknown_outcome(fake: FakePlatform) -> None:
    fake.add_service("support", "qwen-3-8b", ["pool-1"])
    fake.drop_after_commit["UpdateModel"] = 1
    dep = await make(fake).update_deployment("support", "qwen-3-8b", is_default=True)
    assert dep.is_default and fake.calls["UpdateModel"] == 2   # idempotent: plain retry


async def test_get_and_remove_deployment(fake: FakePlatform) -> None:
    p = make(fake)
    assert await p.get_deployment("support", "qwen-3-8b") is None
    assert await p.get_deployment("nope", "qwen-3-8b") is None
    fake.add_service("support", "qwen-3-8b", ["pool-id-1"])
    dep = await p.get_deployment("support", "qwen-3-8b")
    assert dep is not None and dep.compute_pools == ["pool-1"] and dep.status == "ONLINE"
    await p.remove_deployment("support", "qwen-3-8b")
    await p.remove_deployment("support", "qwen-3-8b")          # already gone: fine
    await p.remove_deployment("no-such-project", "qwen-3-8b")  # EntityNotFound: fine
    assert ("support", "qwen-3-8b") not in fake.services


async def test_model_and_project_updates_send_only_given_fields(fake: FakePlatform) -> None:
    p = make(fake)
    model = await p.update_model_compute_config("qwen-3-8b", kv_cache_len=1000)
    assert model.compute_config is not None
    assert (model.compute_config.tp, model.compute_config.kv_cache_len) == (1, 1000)
    body = next(b for b in fake.bodies if b["operationName"] == "UpdateModelComputeConfig")
    assert body["variables"] == {"idOrKey": "qwen-3-8b", "input": {"kvCacheLen": 1000}}
    proj = await p.update_project("support", is_archived=True)
    assert proj.is_archived and proj.name == "Customer support"


async def test_get_job(fake: FakePlatform) -> None:
    p = make(fake)
    job = await p.create_job(name="j", recipe="r", project="support", args={})
    fake.jobs[0]["status"] = "COMPLETED"
    assert (await p.get_job(job.id)).status == "COMPLETED"


async def test_bound_but_never_deployed_is_not_a_deployment(fake: FakePlatform) -> None:
    """A crash between addModelsToProject and deployModel leaves a bare binding: the next plan
    must see no deployment (so it creates one), and creating it must not bind twice."""
    fake.add_service("support", "qwen-3-8b")            # OFFLINE, no placement
    p = make(fake)
    assert ("support", "qwen-3-8b") not in (await p.read_live()).deployments
    assert await p.get_deployment("support", "qwen-3-8b") is None
    fake.drop_after_commit["AddModelsToProject"] = 1    # and its outcome is unknown, too
    dep = await p.deploy("support", "qwen-3-8b", compute_pools=["pool-1"])
    assert dep.status == "PENDING"
    assert fake.calls["AddModelsToProject"] == 1 and fake.commits["DeployModel"] == 1


async def test_create_that_lands_late_is_found_before_any_resend(fake: FakePlatform) -> None:
    """The first send times out while the platform is still working; the immediate re-read
    misses it, the re-read after waiting the request timeout finds it: never re-sent."""
    import httpx

    real_create = fake.op_CreateProject
    real_describe = fake.op_DescribeProject
    pending: list[dict[str, Any]] = []

    def slow_create(v: dict[str, Any]) -> dict[str, Any]:
        if not pending and fake.calls["CreateProject"] == 1:
            pending.append(v)
            raise httpx.ReadTimeout("still working")
        return real_create(v)

    def describe_then_land(v: dict[str, Any]) -> dict[str, Any]:
        try:
            return real_describe(v)
        finally:
            while pending:                       # the slow first request commits now
                real_create(pending.pop())

    fake.op_CreateProject = slow_create  # type: ignore[method-assign]
    fake.op_DescribeProject = describe_then_land  # type: ignore[method-assign]
    proj = await make(fake).create_project("late", name="Late")
    assert proj.key == "late"
    assert fake.commits["CreateProject"] == 1 and fake.calls["CreateProject"] == 1


# -- the API as the official SDK defines it (contract/adaptive-sdk-0.14.2.graphql) -------------


async def test_models_are_read_with_a_filter(fake: FakePlatform) -> None:
    """Query.models(filter: ModelFilter!) has no proven default: a filter is always sent."""
    await make(fake).read_live()
    [body] = [b for b in fake.bodies if b["operationName"] == "ReadLive"]
    assert "models(filter: {})" in body["query"]


async def test_later_pages_of_jobs_leave_the_filter_out(fake: FakePlatform) -> None:
    """jobs(filter: ListJobsFilterInput!): its default applies only when the variable is left
    out; an explicit null into the non-null argument is an error."""
    p = make(fake, page=1)
    for i in range(3):
        await p.create_job(name=f"j{i}", recipe="r", project="support", args={})
    fake.bodies.clear()
    await p.read_live()
    pages = [b for b in fake.bodies if b["operationName"] == "ListJobs"]
    assert len(pages) == 2
    assert all("filter" not in b["variables"] for b in pages)
    # Looking for a job run by name (after an unknown outcome) does send a filter.
    fake.bodies.clear()
    fake.drop_after_commit["CreateJob"] = 1
    await p.create_job(name="j9", recipe="r", project="support", args={})
    named = [b for b in fake.bodies if b["operationName"] == "ListJobs"]
    assert named and all(b["variables"]["filter"]["name"].startswith("j9@") for b in named)


def _selected(document: str, *path: str) -> bool:
    """Does `document` select the field path (through fragments)?"""
    from graphql import FieldNode, FragmentDefinitionNode, parse

    doc = parse(document)
    fragments = {d.name.value: d for d in doc.definitions if isinstance(d, FragmentDefinitionNode)}

    def walk(selections: Any, rest: tuple[str, ...]) -> bool:
        if not rest:
            return True
        for sel in selections:
            if isinstance(sel, FieldNode):
                if sel.name.value == rest[0] and (
                    len(rest) == 1 or (sel.selection_set is not None
                                       and walk(sel.selection_set.selections, rest[1:]))):
                    return True
            elif (hasattr(sel, "name") and sel.name.value in fragments
                  and walk(fragments[sel.name.value].selection_set.selections, rest)):
                return True
        return False

    op = doc.definitions[0]
    return walk(op.selection_set.selections, path)  # type: ignore[attr-defined]


async def test_deployment_is_keyed_by_the_bound_model_not_the_service_key(
    fake: FakePlatform,
) -> None:
    from adaptive_deploy.client import documents

    assert _selected(documents.document("ReadLive"), "projects", "modelServices", "model", "key")
    assert _selected(documents.document("DescribeModelService"), "project", "modelService",
                     "model", "key")
    svc = fake.add_service("support", "qwen-3-8b", ["pool-1"])
    assert svc["key"] != "qwen-3-8b"
    p = make(fake)
    live = await p.read_live()
    assert ("support", "qwen-3-8b") in live.deployments
    dep = await p.get_deployment("support", "qwen-3-8b")
    assert dep is not None and dep.model == "qwen-3-8b"


async def test_job_output_is_the_model_byproduct(fake: FakePlatform) -> None:
    p = make(fake)
    job = await p.create_job(name="j", recipe="specdec_alignment", project="support", args={})
    fake.jobs[0]["artifacts"] = [
        {"kind": "MODEL", "name": "x", "metadata": {},
         "byproducts": {"__typename": "ModelByproducts", "model": {"key": "qwen-3-8b_accelerated"}}},
    ]
    assert (await p.get_job(job.id)).output_model == "qwen-3-8b_accelerated"


async def test_job_output_from_harmony_client_metadata(fake: FakePlatform) -> None:
    """Without a byproduct, a MODEL artifact's `model_key` (as harmony-client registers a model
    artifact) names the produced model; other artifact kinds and other metadata do not."""
    p = make(fake)
    job = await p.create_job(name="j", recipe="specdec_alignment", project="support", args={})
    fake.jobs[0]["artifacts"] = [
        {"kind": "EVALUATION", "name": "e", "metadata": {"model_key": "not-this"},
         "byproducts": None},
        {"kind": "MODEL", "name": "m", "metadata": {"model_key": "qwen-3-8b_accelerated"},
         "byproducts": None},
    ]
    assert (await p.get_job(job.id)).output_model == "qwen-3-8b_accelerated"
    # The old emulator-only format is not an output the real platform produces.
    fake.jobs[0]["artifacts"] = [{"kind": "MODEL", "name": "m", "byproducts": None,
                                  "metadata": {"modelKey": "x", "acceptanceRate": 0.7}}]
    live = await p.get_job(job.id)
    assert live.output_model is None
    assert not hasattr(live, "acceptance_rate")


async def test_deploy_returns_the_platforms_warnings(fake: FakePlatform) -> None:
    fake.deploy_warnings = ["pool-2 is at capacity: the model will load when a GPU frees up"]
    dep = await make(fake).deploy("support", "qwen-3-8b", compute_pools=["pool-1"])
    assert dep.warnings == fake.deploy_warnings


async def test_fields_the_contract_does_not_prove_non_null_may_be_null(
    fake: FakePlatform,
) -> None:
    fake.models["qwen-3-8b"].update(isSpecDecDraft=None, supportedTp=None, family=None)
    fake.pools[0]["harmonyGroups"][0].update(gpuTotal=None, gpuAllocated=None)
    fake.add_project("playground")["isArchived"] = None
    svc = fake.add_service("playground", "qwen-3-8b", ["pool-1"])
    svc.update(deleted=None, status="WARMING_UP", isDefault=None)   # an enum value we do not know
    live = await make(fake).read_live()
    model = live.models["qwen-3-8b"]
    assert model.is_spec_dec_draft is False and model.supported_tp == [] and model.family is None
    group = live.compute_pools["pool-1"].groups[0]
    assert (group.gpu_total, group.gpu_allocated) == (0, 0)
    assert live.projects["playground"].is_archived is False
    dep = live.deployments[("playground", "qwen-3-8b")]
    assert dep.status == "WARMING_UP" and dep.is_default is False


@pytest.mark.parametrize(("where", "value", "field"), [
    ("model", {"key": None}, "models[0].key"),
    ("model", {"supportedTp": "all"}, "models[0].supportedTp"),
    ("pool", {"harmonyGroups": {"key": "g"}}, "computePools[0].harmonyGroups"),
    ("service", {"placement": {"computePools": 3}}, "projects[0].modelServices[0].placement"),
])
async def test_an_answer_of_the_wrong_shape_is_one_clear_error(
    fake: FakePlatform, where: str, value: dict[str, Any], field: str,
) -> None:
    if where == "model":
        fake.models = {"qwen-3-8b": {**fake.models["qwen-3-8b"], **value}}
    elif where == "pool":
        fake.pools[0].update(value)
    else:
        fake.add_service("support", "qwen-3-8b", ["pool-1"]).update(value)
    with pytest.raises(PlatformError) as info:
        await make(fake).read_live()
    message = str(info.value)
    assert "ReadLive" in message and field in message, message
    assert "pydantic" not in message and "validation error" not in message.lower()


async def test_read_live_counts_every_binding(fake: FakePlatform) -> None:
    """removeModelFromProject deletes a model with its last binding, so the planner needs
    every binding: deployed or only added to a project, in managed projects or not; archived
    projects do not count (the conservative side: a deletion is predicted, never missed)."""
    fake.add_project("other")
    fake.add_project("old")["isArchived"] = True
    fake.add_service("support", "qwen-3-8b", ["pool-1"])          # deployed
    fake.add_service("other", "qwen-3-8b")                         # bound, never deployed
    fake.add_service("old", "support-lora-v3", ["pool-1"])         # in an archived project
    gone = fake.add_service("other", "support-lora-v3", ["pool-1"])
    gone["deleted"] = True
    live = await make(fake).read_live()
    assert live.bound == {"qwen-3-8b": {"support", "other"}}
    assert set(live.deployments) == {("support", "qwen-3-8b"), ("old", "support-lora-v3")}
    assert live.bindings("qwen-3-8b") == {"support", "other"}
    assert live.bindings("support-lora-v3") == set()


async def test_attach_models_binds_a_list_in_one_request(fake: FakePlatform) -> None:
    fake.add_service("support", "qwen-3-8b")            # already bound: not a refusal
    failures = await make(fake).attach_models("support", ["qwen-3-8b", "support-lora-v3"])
    assert failures == {}
    assert fake.calls["AddModelsToProject"] == 1
    body = next(b for b in fake.bodies if b["operationName"] == "AddModelsToProject")
    assert body["variables"]["input"] == {"project": "support",
                                          "models": ["qwen-3-8b", "support-lora-v3"]}


async def test_attach_models_returns_the_refused_models(fake: FakePlatform) -> None:
    def refuse(v: dict[str, object]) -> dict[str, object]:
        return {"addModelsToProject": {"success": False, "failures": [
            {"model": "support-lora-v3", "reason": "EntityNotFound: model support-lora-v3"}]}}
    fake.op_AddModelsToProject = refuse  # type: ignore[method-assign]
    failures = await make(fake).attach_models("support", ["qwen-3-8b", "support-lora-v3"])
    assert failures == {"support-lora-v3": "EntityNotFound: model support-lora-v3"}


@pytest.mark.parametrize("drop_with", ["timeout", "502"])
async def test_attach_models_unknown_outcome_after_commit_is_not_resent(
    fake: FakePlatform, drop_with: str,
) -> None:
    fake.drop_after_commit["AddModelsToProject"] = 1
    fake.drop_with = drop_with
    failures = await make(fake).attach_models("support", ["qwen-3-8b", "support-lora-v3"])
    assert failures == {}
    assert fake.calls["AddModelsToProject"] == 1, "the bindings were there: no second send"
    assert fake.calls["ProjectModelServices"] == 1      # one re-read for the whole list


async def test_attach_models_unknown_outcome_before_commit_is_resent(fake: FakePlatform) -> None:
    fake.fail_before_commit["AddModelsToProject"] = 1
    failures = await make(fake).attach_models("support", ["qwen-3-8b", "support-lora-v3"])
    assert failures == {}
    assert fake.calls["AddModelsToProject"] == 2
    assert fake.commits["AddModelsToProject"] == 2
    assert {m for (p, m) in fake.services if p == "support"} == {"qwen-3-8b", "support-lora-v3"}


async def test_deploy_of_a_model_bound_by_a_batch_sends_no_bind(fake: FakePlatform) -> None:
    p = make(fake)
    await p.attach_models("support", ["qwen-3-8b"])
    await p.deploy("support", "qwen-3-8b", compute_pools=["pool-1"], attached=True)
    assert fake.calls["AddModelsToProject"] == 1 and fake.calls["DeployModel"] == 1
