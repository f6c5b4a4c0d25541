"""Who owns what: platform ids in state, create intents, objects the workspace did not create
(no silent adoption), claims of other workspaces, and deletes that take a model with them."""

from __future__ import annotations

from typing import Any

from adaptive_deploy.plan.model import Action
from adaptive_deploy.state.base import ResourceRecord, StateSnapshot

from .builders import live, live_deployment, live_model, live_project, plan, workspace

DEP = "deployment.support/qwen-3-8b"
PLACED = {"placement": {"compute_pools": ["p1"]}}


def state(*records: ResourceRecord) -> StateSnapshot:
    return StateSnapshot("test", "lineage-1", 3, {r.address: r for r in records})


def rec(address: str, applied: dict[str, Any] | None = None, *, platform_id: str | None = None,
        pending: str | None = None) -> ResourceRecord:
    return ResourceRecord(address, address.split(".")[0], dict(applied or {}), {}, "x",
                          platform_id, pending=pending)


def codes(p: Any) -> list[str]:
    return sorted(d["code"] for d in p.diagnostics)


# -- create intents (crash safety) ------------------------------------------------------------


def test_object_created_just_before_a_crash_is_recognised() -> None:
    ws = workspace(projects={"support": {"name": "S"}})
    lv = live(live_project("support", "S"))
    p = plan(ws, lv, state(rec("project.support", {"name": "S"}, pending="create")))
    assert p.applyable, p.diagnostics
    c = p.change("project.support")
    assert c is not None and c.action is Action.NOOP
    assert any("interrupted apply" in n for n in c.notes)
    assert p.drift == []


def test_create_that_never_reached_the_platform_is_created_not_drift() -> None:
    ws = workspace(projects={"support": {"name": "S"}})
    p = plan(ws, live(), state(rec("project.support", {"name": "S"}, pending="create")))
    c = p.change("project.support")
    assert c is not None and c.action is Action.CREATE and c.causes == ["config"]
    assert p.drift == [], "nothing was deleted outside adaptive-deploy"


def test_pending_create_removed_from_config() -> None:
    intent = rec("project.support", {"name": "S"}, pending="create")
    gone = plan(workspace(), live(), state(intent)).change("project.support")
    assert gone is not None and gone.action is Action.FORGET
    assert "never reached the platform" in gone.notes[0]
    landed = plan(workspace(), live(live_project("support", "S")), state(intent))
    c = landed.change("project.support")
    assert c is not None and c.action is Action.DELETE, "it is this workspace's own"


# -- no silent adoption ----------------------------------------------------------------------


def test_existing_deployment_not_in_state_is_refused_with_the_import_command() -> None:
    ws = workspace(projects={"support": {"deployments": {"qwen-3-8b": PLACED}}})
    lv = live(live_project("support"), live_deployment("support", "qwen-3-8b",
                                                       compute_pools=["p1"]))
    p = plan(ws, lv, state(rec("project.support", platform_id="id-support")),
             directory="deploy/prod")
    assert p.change(DEP) is None and not p.applyable
    [diag] = p.diagnostics
    assert diag["code"] == "AD506"
    assert diag["path"] == "projects.support.deployments.qwen-3-8b"
    assert f"`adaptive-deploy import deploy/prod {DEP}`" in diag["message"]
    assert "platform id id-support-qwen-3-8b" in diag["message"]


def test_adopt_true_on_a_deployment() -> None:
    ws = workspace(projects={"support": {"deployments": {"qwen-3-8b": {
        "placement": {"compute_pools": ["p1", "p2"]}, "adopt": True}}}})
    lv = live(live_project("support"), live_deployment("support", "qwen-3-8b",
                                                       compute_pools=["p1"]))
    p = plan(ws, lv, state(rec("project.support", platform_id="id-support")))
    assert p.applyable, p.diagnostics
    c = p.change(DEP)
    assert c is not None and c.action is Action.UPDATE
    assert "adopted (adopt: true) and updated" in c.notes[0]


def test_registry_models_are_still_adopted() -> None:
    ws = workspace(models={"qwen-3-8b": {"compute_config": {"tp": 2}}})
    p = plan(ws, live(live_model("qwen-3-8b", tp=1)))
    c = p.change("model.qwen-3-8b")
    assert c is not None and c.action is Action.UPDATE and p.applyable
    assert "exists on the platform but not in state: adopted and updated" in c.notes


# -- matching by platform id -----------------------------------------------------------------


def test_object_recreated_with_the_same_key_is_not_the_one_in_state() -> None:
    ws = workspace(projects={"support": {"name": "S"}})
    lv = live(live_project("support", "S"))          # id-support
    st = state(rec("project.support", {"name": "S"}, platform_id="uc-old"))
    p = plan(ws, lv, st)
    [item] = p.drift
    assert item.address == "project.support" and item.path is None
    assert "re-created outside adaptive-deploy" in item.message
    assert "platform id id-support; state had uc-old" in item.message
    assert codes(p) == ["AD507"] and p.change("project.support") is None
    adopted = plan(workspace(projects={"support": {"name": "S", "adopt": True}}), lv, st)
    c = adopted.change("project.support")
    assert adopted.applyable and c is not None and "adopted (adopt: true)" in c.notes[0]


def test_recreated_object_removed_from_config_is_forgotten_not_deleted() -> None:
    lv = live(live_project("support"), live_deployment("support", "qwen-3-8b",
                                                       compute_pools=["p1"]))
    st = state(rec("project.support", platform_id="uc-old"),
               rec(DEP, {"compute_pools": ["p1"]}, platform_id="svc-old"))
    p = plan(workspace(), lv, st)
    for addr in ("project.support", DEP):
        c = p.change(addr)
        assert c is not None and c.action is Action.FORGET, addr
        assert "left alone" in c.notes[0]
    assert p.unmanaged == ["project.support", DEP]
    assert p.applyable and p.summary["destroy"] == 0


def test_same_platform_id_or_unknown_id_is_the_same_object() -> None:
    ws = workspace(projects={"support": {"name": "S"}})
    lv = live(live_project("support", "S"))
    for platform_id in ("id-support", None):
        p = plan(ws, lv, state(rec("project.support", {"name": "S"}, platform_id=platform_id)))
        assert p.applyable and p.drift == [] and not p.has_changes


# -- another workspace of a shared state manages it ------------------------------------------


def test_resource_claimed_by_another_workspace_is_refused() -> None:
    ws = workspace(models={"qwen-3-8b": {"compute_config": {"tp": 2}}})
    p = plan(ws, live(live_model("qwen-3-8b", tp=1)),
             claims={"model.qwen-3-8b": ["staging", "prod-eu"]})
    assert p.change("model.qwen-3-8b") is None and not p.applyable
    [diag] = p.diagnostics
    assert diag["code"] == "AD509"
    assert "workspace 'prod-eu', 'staging' already manages its compute config" in diag["message"]


# -- deletes that remove a model's last binding ----------------------------------------------


def _deletes(model_in_state: bool, bound: set[str] | None = None, **ws: Any) -> Any:
    lv = live(live_project("support"), live_model("qwen-3-8b", tp=1),
              live_deployment("support", "qwen-3-8b", compute_pools=["p1"]))
    if bound is not None:
        lv.bound = {"qwen-3-8b": bound}
    records = [rec("project.support", platform_id="id-support"),
               rec(DEP, {"compute_pools": ["p1"]}, platform_id="id-support-qwen-3-8b")]
    if model_in_state:
        records.append(rec("model.qwen-3-8b", {"tp": 1}, platform_id="id-qwen-3-8b"))
    return plan(workspace(projects={"support": {}}, **ws), lv, state(*records))


def test_delete_of_the_last_binding_says_the_model_is_deleted() -> None:
    p = _deletes(model_in_state=True,
                 models={"qwen-3-8b": {"compute_config": {"tp": 1}}})
    c = p.change(DEP)
    assert c is not None and c.action is Action.DELETE and c.deletes_model == "qwen-3-8b"
    assert any("DELETES THE MODEL FROM STORAGE" in n for n in c.notes)
    assert any("models.qwen-3-8b still configures" in n for n in c.notes)
    assert p.applyable, p.diagnostics
    doc = p.to_dict()
    assert doc["deleted_models"] == ["qwen-3-8b"]
    assert next(x for x in doc["changes"] if x["address"] == DEP)["deletes_model"] == "qwen-3-8b"


def test_delete_of_the_last_binding_of_an_unmanaged_model_is_refused() -> None:
    p = _deletes(model_in_state=False)
    assert not p.applyable
    [diag] = p.diagnostics
    assert diag["code"] == "AD508" and "model.qwen-3-8b is not managed" in diag["message"]


def test_model_bound_elsewhere_is_not_deleted() -> None:
    # bound, not deployed, in another project: still a binding
    p = _deletes(model_in_state=False, bound={"support", "playground"})
    c = p.change(DEP)
    assert c is not None and c.deletes_model is None and p.applyable


def test_two_deletes_removing_every_binding_are_both_marked() -> None:
    lv = live(live_project("a"), live_project("b"),
              live_deployment("a", "m", compute_pools=["p1"]),
              live_deployment("b", "m", compute_pools=["p1"]))
    st = state(rec("project.a"), rec("project.b"), rec("deployment.a/m"),
               rec("deployment.b/m"), rec("model.m", {"tp": 1}))
    p = plan(workspace(projects={"a": {}, "b": {}}), lv, st)
    for addr, other in (("deployment.a/m", "deployment.b/m"), ("deployment.b/m", "deployment.a/m")):
        c = p.change(addr)
        assert c is not None and c.deletes_model == "m"
        assert any(f"(with {other})" in n for n in c.notes)
    # with --target on one of them, the other binding stays: nothing is deleted
    one = plan(workspace(projects={"a": {}, "b": {}}), lv, st, targets=["deployment.a/m"])
    c = one.change("deployment.a/m")
    assert c is not None and c.deletes_model is None


def test_moving_a_model_to_another_project_in_one_plan_is_refused() -> None:
    lv = live(live_project("a"), live_project("b"), live_deployment("a", "m", compute_pools=["p1"]))
    st = state(rec("project.a"), rec("project.b"), rec("deployment.a/m"), rec("model.m", {}))
    ws = workspace(projects={"a": {}, "b": {"deployments": {"m": PLACED}}})
    p = plan(ws, lv, st)
    assert codes(p) == ["AD510"]
    assert "plan --target deployment.b/m" in p.diagnostics[0]["message"]


def test_replace_never_deletes_a_model() -> None:
    ws = workspace(projects={"support": {"deployments": {"qwen-3-8b": PLACED}}})
    lv = live(live_project("support"), live_deployment("support", "qwen-3-8b",
                                                       compute_pools=["p1"], status="ERROR"))
    st = state(rec("project.support"), rec(DEP, {"compute_pools": ["p1"], "protect": False}))
    for p in (plan(ws, lv, st), plan(ws, lv, st, replace=[DEP])):
        c = p.change(DEP)
        assert c is not None and c.replace and c.action is Action.UPDATE
        assert c.deletes_model is None and p.deleted_models == [] and p.applyable


def test_plan_records_the_platform_it_was_made_against() -> None:
    identity = {"id": "pools:abc", "label": "http://x", "pools": ["a"], "url": "http://x"}
    p = plan(workspace(), live(), platform=identity, notes=["adopts"])
    assert p.to_dict()["platform"] == identity and p.notes == ["adopts"]
