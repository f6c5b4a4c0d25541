"""The planner: three-way causes, unmanaged fields, sets, write-only, protect, forget, archive,
targets, replace, refresh-only, jobs, unmanaged objects, memory rows."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from adaptive_deploy.diagnostics import warning
from adaptive_deploy.live import LiveState
from adaptive_deploy.plan.model import Action
from adaptive_deploy.state.base import StateSnapshot

from .builders import (
    live,
    live_deployment,
    live_job,
    live_model,
    live_project,
    plan,
    snapshot,
    workspace,
)

DEP = "deployment.support/qwen-3-8b"


def model_ws(**cc: int) -> Any:
    return workspace(models={"qwen-3-8b": {"compute_config": cc}})


# -- the three-way cause matrix --------------------------------------------------------------

MATRIX = list(itertools.product([1, 2, 3], [None, 1, 2, 3], [1, 2, 3]))


@pytest.mark.parametrize(("d", "a", "lval"), MATRIX)
def test_cause_matrix(d: int, a: int | None, lval: int) -> None:
    ws = model_ws(kv_cache_len=d)
    lv = live(live_model("qwen-3-8b", kv_cache_len=lval))
    st = snapshot({"model.qwen-3-8b": {"kv_cache_len": a}} if a is not None else {})
    p = plan(ws, lv, st)
    change = p.change("model.qwen-3-8b")
    if d == lval:
        # No diff whatever the state says; a stale record is only a "converged" note.
        assert change is None or change.action is Action.NOOP
        if a is not None and a != d:
            assert change is not None and any("converged" in n for n in change.notes)
        elif a is None:
            assert change is not None and any("adopted" in n for n in change.notes)
        else:
            assert change is None
        assert p.summary["change"] == 0
        return
    assert change is not None and change.action is Action.UPDATE
    [fd] = change.diff
    assert (fd.path, fd.before, fd.after) == ("kv_cache_len", lval, d)
    if a is None or a == lval:
        expected = "config"
    elif a == d:
        expected = "drift"
    else:
        expected = "both"
    assert fd.cause == expected
    assert p.summary == {"add": 0, "change": 1, "destroy": 0, "run": 0, "forget": 0}
    # drift lists every field where live differs from last applied
    drifted = [x for x in p.drift if x.address == "model.qwen-3-8b"]
    if a is not None and a != lval:
        assert [(x.path, x.before, x.after) for x in drifted] == [("kv_cache_len", a, lval)]
    else:
        assert drifted == []


def test_unmanaged_fields_never_diff() -> None:
    ws = workspace(
        models={"qwen-3-8b": {"compute_config": {"tp": 1}}},
        projects={"support": {"deployments": {"qwen-3-8b": {"placement": {"compute_pools": ["p1"]}}}}},
    )
    lv = live(
        live_model("qwen-3-8b", tp=1, kv_cache_len=123, max_seq_len=4096),
        live_project("support", name="Renamed in the UI", description="x"),
        live_deployment("support", "qwen-3-8b", compute_pools=["p1"], max_ttft_ms=60000,
                        is_default=True, desired_online=False),
    )
    st = snapshot({
        "model.qwen-3-8b": {"tp": 1},
        "project.support": {"name": "support"},
        DEP: {"compute_pools": ["p1"], "protect": False},
    })
    p = plan(ws, lv, st)
    assert not p.has_changes
    assert p.changes == []
    assert p.drift == []


def test_compute_pools_compared_as_a_set_but_written_in_config_order() -> None:
    ws = workspace(projects={"support": {"deployments": {"qwen-3-8b": {
        "placement": {"compute_pools": ["pool-2", "pool-1"]}}}}})
    lv = live(live_project("support"),
              live_deployment("support", "qwen-3-8b", compute_pools=["pool-1", "pool-2"]))
    st = snapshot({"project.support": {}, DEP: {"compute_pools": ["pool-2", "pool-1"],
                                                "protect": False}})
    assert plan(ws, lv, st).changes == []
    lv.deployments[("support", "qwen-3-8b")].compute_pools = ["pool-1"]
    p = plan(ws, lv, st)
    c = p.change(DEP)
    assert c is not None and c.action is Action.UPDATE
    assert c.after is not None and c.after["compute_pools"] == ["pool-2", "pool-1"]
    assert [(d.path, d.cause) for d in c.diff] == [("compute_pools", "drift")]


def test_write_only_compared_with_last_applied() -> None:
    ws = workspace(projects={"support": {"deployments": {"m": {
        "placement": {"compute_pools": ["p1"]}, "num_draft_steps": 4}}}})
    lv = live(live_project("support"), live_deployment("support", "m", compute_pools=["p1"]))
    addr = "deployment.support/m"
    same = snapshot({"project.support": {}, addr: {"compute_pools": ["p1"],
                                                   "num_draft_steps": 4, "protect": False}})
    assert plan(ws, lv, same).changes == []
    old = snapshot({"project.support": {}, addr: {"compute_pools": ["p1"],
                                                  "num_draft_steps": 2, "protect": False}})
    c = plan(ws, lv, old).change(addr)
    assert c is not None and c.action is Action.UPDATE
    [fd] = c.diff
    assert (fd.path, fd.before, fd.after, fd.cause, fd.write_only) == (
        "num_draft_steps", 2, 4, "config", True)
    assert c.write_only_paths == ["num_draft_steps"]


def test_create_everything_from_scratch() -> None:
    ws = workspace(
        models={"qwen-3-8b": {"compute_config": {"tp": 1, "kv_cache_len": 300000}}},
        projects={"support": {"description": "help desk", "deployments": {"qwen-3-8b": {
            "placement": {"compute_pools": ["pool-1"]}, "is_default": True}}}},
        jobs={"train": {"recipe": "specdec_alignment", "project": "support"}},
    )
    lv = live(live_model("qwen-3-8b", tp=1, kv_cache_len=100000))
    p = plan(ws, lv)
    actions = {c.address: c.action for c in p.changes}
    assert actions == {"model.qwen-3-8b": Action.UPDATE, "project.support": Action.CREATE,
                       "job.train": Action.RUN, DEP: Action.CREATE}
    project = p.change("project.support")
    assert project is not None and project.after == {"name": "support", "description": "help desk"}
    dep = p.change(DEP)
    assert dep is not None
    assert dep.depends_on == ["model.qwen-3-8b", "project.support"]
    # protect: false is recorded in state but is no news on a new deployment
    assert dep.after is not None and dep.after["protect"] is False
    assert [d.path for d in dep.diff] == ["compute_pools", "is_default"]
    assert p.summary == {"add": 2, "change": 1, "destroy": 0, "run": 1, "forget": 0}
    assert p.applyable
    # apply order: project, model, job, deployment
    assert [c.address for c in p.changes] == ["project.support", "model.qwen-3-8b", "job.train", DEP]


def test_missing_model_is_an_error_unless_a_job_produces_it() -> None:
    ws = workspace(models={"ghost": {"compute_config": {"tp": 1}}})
    p = plan(ws, live())
    assert not p.applyable
    assert [d["code"] for d in p.diagnostics] == ["AD504"]
    ws = workspace(
        models={"ghost": {"compute_config": {"tp": 1}, "produced_by": "train"}},
        projects={"support": {}},
        jobs={"train": {"recipe": "specdec_alignment", "project": "support"}},
    )
    p = plan(ws, live())
    c = p.change("model.ghost")
    assert p.applyable and c is not None and c.action is Action.UPDATE
    assert c.depends_on == ["job.train"]


def test_deleted_outside_is_created_again_with_cause_drift() -> None:
    ws = workspace(projects={"support": {"deployments": {"qwen-3-8b": {
        "placement": {"compute_pools": ["p1"]}}}}})
    st = snapshot({"project.support": {}, DEP: {"compute_pools": ["p1"], "protect": False}})
    p = plan(ws, live(live_project("support")), st)
    c = p.change(DEP)
    assert c is not None and c.action is Action.CREATE and c.causes == ["drift"]
    assert any("Deleted outside" in n for n in c.notes)
    assert [(d.address, d.path, d.message) for d in p.drift] == [
        (DEP, None, "Deleted outside adaptive-deploy")]


def test_project_archived_outside() -> None:
    ws = workspace(projects={"support": {"name": "Support"}})
    st = snapshot({"project.support": {"name": "Support"}})
    p = plan(ws, live(live_project("support", "Support", is_archived=True)), st)
    c = p.change("project.support")
    assert c is not None and c.action is Action.CREATE
    assert p.drift[0].message == "Archived outside adaptive-deploy"


def test_removed_resources_delete_archive_forget() -> None:
    st = snapshot({
        "model.qwen-3-8b": {"tp": 1},
        "project.old": {"name": "Old"},
        "deployment.old/qwen-3-8b": {"compute_pools": ["p1"], "protect": False},
        "deployment.old/gone": {"compute_pools": ["p1"], "protect": False},
        "job.train": {"recipe": "r", "project": "old"},
    })
    lv = live(live_model("qwen-3-8b", tp=1), live_project("old", "Old"),
              live_deployment("old", "qwen-3-8b", compute_pools=["p1"]),
              live_job("train", "COMPLETED"))
    p = plan(workspace(), lv, st)
    actions = [(c.address, c.action) for c in p.changes]
    # destroys first, in reverse apply order: deployments, jobs, models, projects
    assert actions == [
        ("deployment.old/gone", Action.FORGET),
        ("deployment.old/qwen-3-8b", Action.DELETE),
        ("job.train", Action.FORGET),
        ("model.qwen-3-8b", Action.FORGET),
        ("project.old", Action.DELETE),
    ]
    project = p.change("project.old")
    assert project is not None and any("archived" in n for n in project.notes)
    assert p.summary == {"add": 0, "change": 0, "destroy": 2, "run": 0, "forget": 3}
    assert p.applyable


def test_protected_delete_is_refused() -> None:
    st = snapshot({DEP: {"compute_pools": ["p1"], "protect": True}})
    lv = live(live_deployment("support", "qwen-3-8b", compute_pools=["p1"]))
    lv.bound = {"qwen-3-8b": {"elsewhere"}}   # the model stays bound: no model deletion
    p = plan(workspace(), lv, st)
    assert not p.applyable
    [diag] = p.diagnostics
    assert diag["code"] == "AD501" and diag["severity"] == "error" and DEP in diag["message"]
    # protect only counts in the LAST APPLIED value
    st2 = snapshot({DEP: {"compute_pools": ["p1"], "protect": False}})
    assert plan(workspace(), lv, st2).applyable


def test_protect_change_is_recorded_without_platform_diff() -> None:
    ws = workspace(projects={"support": {"deployments": {"qwen-3-8b": {
        "placement": {"compute_pools": ["p1"]}, "protect": True}}}})
    lv = live(live_project("support"), live_deployment("support", "qwen-3-8b", compute_pools=["p1"]))
    st = snapshot({"project.support": {}, DEP: {"compute_pools": ["p1"]}})
    c = plan(ws, lv, st).change(DEP)
    assert c is not None and [(d.path, d.before, d.after) for d in c.diff] == [
        ("protect", False, True)]


def test_unmanaged_live_objects_are_listed_not_touched() -> None:
    lv = live(live_project("other"), live_deployment("other", "m", compute_pools=["p1"]),
              live_project("archived", is_archived=True), live_model("m", tp=1))
    p = plan(workspace(), lv)
    assert p.unmanaged == ["project.other", "deployment.other/m"]
    assert p.changes == []


def test_existing_object_not_in_state_is_not_taken_over() -> None:
    ws = workspace(projects={"support": {"name": "Support"}})
    p = plan(ws, live(live_project("support", "Support")))
    assert p.change("project.support") is None
    assert not p.applyable
    [diag] = p.diagnostics
    assert diag["code"] == "AD506" and diag["path"] == "projects.support"
    assert "`adaptive-deploy import project.support`" in diag["message"]
    assert "adopt: true" in diag["message"]


def test_adopt_true_takes_an_existing_object_over() -> None:
    ws = workspace(projects={"support": {"name": "Support", "adopt": True}})
    p = plan(ws, live(live_project("support", "Support")))
    c = p.change("project.support")
    assert c is not None and c.action is Action.NOOP
    assert "adopted (adopt: true)" in c.notes[0]
    assert not p.has_changes and p.applyable


# -- jobs -------------------------------------------------------------------------------------

JOB_WS = {"projects": {"support": {}},
          "jobs": {"train": {"recipe": "specdec_alignment", "project": "support", "num_gpus": 2}}}
JOB_APPLIED = {"recipe": "specdec_alignment", "project": "support", "num_gpus": 2, "args": {}}


@pytest.mark.parametrize(
    ("status", "replace", "action", "note"),
    [
        (None, False, Action.RUN, None),
        ("FAILED", False, Action.RUN, "ended FAILED"),
        ("CANCELED", False, Action.RUN, "ended CANCELED"),
        ("PENDING", False, Action.NOOP, "already running"),
        ("RUNNING", True, Action.NOOP, "cannot be replaced"),
        ("COMPLETED", False, None, None),
        ("COMPLETED", True, Action.RUN, "--replace"),
    ],
)
def test_job_actions(status: str | None, replace: bool, action: Action | None,
                     note: str | None) -> None:
    ws = workspace(**JOB_WS)
    objs: list[Any] = [live_project("support")]
    if status:
        objs.append(live_job("train", status, recipe="specdec_alignment", project="support"))
    st = snapshot({"project.support": {}, "job.train": JOB_APPLIED})
    p = plan(ws, live(*objs), st, replace=["job.train"] if replace else [])
    c = p.change("job.train")
    if action is None:
        assert c is None
        return
    assert c is not None and c.action is action
    if note:
        assert any(note in n for n in c.notes), c.notes
    assert p.summary["run"] == (1 if action is Action.RUN else 0)


def test_completed_job_with_changed_config_suggests_replace() -> None:
    ws = workspace(**JOB_WS)
    st = snapshot({"project.support": {}, "job.train": {**JOB_APPLIED, "num_gpus": 1}})
    p = plan(ws, live(live_project("support"), live_job("train", "COMPLETED")), st)
    c = p.change("job.train")
    assert c is not None and c.action is Action.NOOP
    assert "--replace job.train" in c.notes[0]


# -- targets, replace, refresh-only ------------------------------------------------------------

def full_ws() -> Any:
    return workspace(
        models={"base": {"compute_config": {"tp": 1}},
                "lora": {"adapter_of": "base"}},
        projects={
            "support": {"deployments": {"base": {"placement": {"compute_pools": ["p1"]}},
                                        "lora": {"placement": {"compute_pools": ["p1"]}}}},
            "other": {"deployments": {"base": {"placement": {"compute_pools": ["p1"]}}}},
        },
    )


def test_targets_plan_only_targets_and_dependencies() -> None:
    p = plan(full_ws(), live(live_model("base", tp=2)), targets=["deployment.support/lora"])
    assert sorted(c.address for c in p.changes) == [
        "deployment.support/base", "deployment.support/lora", "model.base", "project.support"]
    assert p.options.targets == ["deployment.support/lora"]
    assert any("targeting" in n for n in p.notes)


def test_unknown_and_invalid_targets_are_diagnosed() -> None:
    p = plan(full_ws(), live(), targets=["deployment.nope/x", "bogus"])
    codes = sorted(d["code"] for d in p.diagnostics)
    assert codes == ["AD503", "AD505"]
    assert not p.applyable


@pytest.mark.parametrize("option", ["targets", "replace"])
def test_unknown_target_or_replace_alone_makes_the_plan_not_applyable(option: str) -> None:
    p = plan(full_ws(), live(live_model("base", tp=2)), **{option: ["deployment.nope/x"]})
    assert ("AD503", "error") in [(d["code"], d["severity"]) for d in p.diagnostics]
    assert not p.applyable
    if option == "targets":   # nothing else wrong: AD503 alone refuses the plan
        assert [d["code"] for d in p.diagnostics] == ["AD503"]


def test_replace_deployment_is_a_restart_in_place() -> None:
    ws = workspace(projects={"support": {"deployments": {"qwen-3-8b": {
        "placement": {"compute_pools": ["p1"]}}}}})
    lv = live(live_project("support"), live_deployment("support", "qwen-3-8b", compute_pools=["p1"]))
    st = snapshot({"project.support": {}, DEP: {"compute_pools": ["p1"], "protect": False}})
    p = plan(ws, lv, st, replace=[DEP])
    c = p.change(DEP)
    assert c is not None and c.action is Action.UPDATE and c.replace and c.symbol == "~"
    assert c.deletes_model is None
    assert any("restarted in place" in n for n in c.notes)
    assert p.summary == {"add": 0, "change": 1, "destroy": 0, "run": 0, "forget": 0}


def test_deployment_in_error_is_replaced_with_the_platforms_reason() -> None:
    ws = workspace(projects={"support": {"deployments": {"qwen-3-8b": {
        "placement": {"compute_pools": ["p1"]}}}}})
    st = snapshot({"project.support": {}, DEP: {"compute_pools": ["p1"], "protect": False}})
    failed = live(live_project("support"), live_deployment(
        "support", "qwen-3-8b", compute_pools=["p1"], status="ERROR",
        error="insufficient memory"))
    c = plan(ws, failed, st).change(DEP)
    assert c is not None and c.action is Action.UPDATE and c.replace
    assert any("ERROR (insufficient memory)" in n and "restarted in place" in n
               for n in c.notes)
    assert c.diff == []          # the status is neither drift nor a configuration change
    moved = live(live_project("support"), live_deployment(
        "support", "qwen-3-8b", compute_pools=["p2"], status="ERROR", error="no capacity"))
    c = plan(ws, moved, st).change(DEP)
    assert c is not None and c.replace
    assert [(d.path, d.before, d.after, d.cause) for d in c.diff] == [
        ("compute_pools", ["p2"], ["p1"], "drift")]
    healthy = live(live_project("support"), live_deployment(
        "support", "qwen-3-8b", compute_pools=["p1"], status="ONLINE"))
    assert plan(ws, healthy, st).change(DEP) is None


def test_replace_of_a_model_is_an_error() -> None:
    ws = model_ws(tp=1)
    p = plan(ws, live(live_model("qwen-3-8b", tp=1)), replace=["model.qwen-3-8b"])
    assert [d["code"] for d in p.diagnostics] == ["AD502"] and not p.applyable


def test_refresh_only_lists_drift_and_plans_nothing() -> None:
    ws = model_ws(kv_cache_len=2)
    st = snapshot({"model.qwen-3-8b": {"kv_cache_len": 1}})
    p = plan(ws, live(live_model("qwen-3-8b", kv_cache_len=3)), st, refresh_only=True)
    assert p.changes == [] and not p.has_changes
    assert [(d.path, d.before, d.after) for d in p.drift] == [("kv_cache_len", 1, 3)]
    assert p.options.refresh_only and "Refresh-only" in p.notes[0]


def test_error_diagnostics_make_the_plan_unapplyable() -> None:
    ws = model_ws(tp=1)
    lv = live(live_model("qwen-3-8b", tp=1))
    assert plan(ws, lv, diagnostics=[warning("AD301", "w")]).applyable
    from adaptive_deploy.diagnostics import error

    p = plan(ws, lv, diagnostics=[error("AD301", "too big", file="a.yaml", line=3)])
    assert not p.applyable and p.diagnostics[0]["line"] == 3


# -- memory rows --------------------------------------------------------------------------------

def _two_projects_on_p1() -> tuple[Any, LiveState, StateSnapshot, list[dict[str, Any]],
                                    list[dict[str, Any]]]:
    """Base and adapter in `support`, base in `other`, all applied; fit rows for all three
    (after) and the base in `support` (before)."""
    ws = full_ws()
    lv = live(live_model("base", tp=1), live_project("support"), live_project("other"),
              live_deployment("support", "base", compute_pools=["p1"]),
              live_deployment("support", "lora", compute_pools=["p1"]),
              live_deployment("other", "base", compute_pools=["p1"]))
    row = {"pool": "p1", "gpu": "H100-80GB", "usable_gib": 72.0, "verdict": "fits"}
    memory = [{**row, "deployment": "support/base", "total_gib": 40.0},
              {**row, "deployment": "other/base", "total_gib": 40.0},
              {**row, "deployment": "support/lora", "total_gib": 41.0}]
    before = [{**row, "deployment": "support/base", "total_gib": 30.0}]
    st = snapshot({"model.base": {"tp": 1}, "project.support": {}, "project.other": {},
                   "deployment.support/base": {"compute_pools": ["p1"], "protect": False},
                   "deployment.support/lora": {"compute_pools": ["p1"], "protect": False},
                   "deployment.other/base": {"compute_pools": ["p1"], "protect": False}})
    return ws, lv, st, memory, before


def test_memory_rows_cover_touched_deployments_only() -> None:
    ws, lv, st, memory, before = _two_projects_on_p1()
    assert plan(ws, lv, st, memory=memory, memory_before=before).memory == []
    # a tp change touches every deployment of the model, and its adapters
    lv.models["base"].compute_config.tp = 2  # type: ignore[union-attr]
    p = plan(ws, lv, st, memory=memory, memory_before=before)
    assert [(r["address"], r["before_gib"], r["after_gib"]) for r in p.memory] == [
        ("deployment.other/base", None, 40.0),
        ("deployment.support/base", 30.0, 40.0),
        ("deployment.support/lora", None, 41.0),
    ]


class _Row:
    """A fit row as `rules.memory.FitRow` lends it: its address and its JSON form."""

    converted = 0

    def __init__(self, data: dict[str, Any]) -> None:
        self.deployment: str = data["deployment"]
        self.data = data

    def to_dict(self) -> dict[str, Any]:
        _Row.converted += 1
        return dict(self.data)


def test_memory_rows_as_fit_rows_are_converted_only_when_touched() -> None:
    ws, lv, st, memory, before = _two_projects_on_p1()
    lv.models["base"].compute_config.tp = 2  # type: ignore[union-attr]
    as_dicts = plan(ws, lv, st, memory=memory, memory_before=before).memory
    as_rows = plan(ws, lv, st, memory=[_Row(r) for r in memory],
                   memory_before=[_Row(r) for r in before]).memory
    assert as_rows == as_dicts and len(as_rows) == 3
    # Nothing touched (the live tp is the configured one): no row is converted at all.
    lv.models["base"].compute_config.tp = 1  # type: ignore[union-attr]
    _Row.converted = 0
    assert plan(ws, lv, st, memory=[_Row(r) for r in memory],
                memory_before=[_Row(r) for r in before]).memory == []
    assert _Row.converted == 0


def test_a_created_deployment_has_no_memory_before_value() -> None:
    # The "before" rows are the configuration with live compute configs: they hold a row for
    # a deployment that does not exist yet. Created, it is new memory, not a change of it.
    ws = full_ws()
    lv = live(live_model("base", tp=1), live_project("support"), live_project("other"))
    row = {"pool": "p1", "gpu": "H100-80GB", "usable_gib": 72.0, "verdict": "fits"}
    memory = [{**row, "deployment": "support/base", "total_gib": 40.0}]
    before = [{**row, "deployment": "support/base", "total_gib": 30.0}]
    st = snapshot({"model.base": {"tp": 1}, "project.support": {}, "project.other": {}})
    p = plan(ws, lv, st, memory=memory, memory_before=before)
    [created] = [r for r in p.memory if r["address"] == "deployment.support/base"]
    assert (created["before_gib"], created["after_gib"]) == (None, 40.0)


def test_destroy_plans_the_removal_of_everything_in_state() -> None:
    ws = full_ws()
    lv = live(live_model("base", tp=1), live_project("support"),
              live_deployment("support", "base", compute_pools=["p1"]))
    st = snapshot({"model.base": {"tp": 1}, "project.support": {},
                   "deployment.support/base": {"compute_pools": ["p1"], "protect": True}})
    p = plan(ws, lv, st, destroy=True)
    actions = {c.address: c.action.value for c in p.changes}
    assert actions == {"model.base": "forget", "project.support": "delete",
                       "deployment.support/base": "delete"}
    assert p.options.destroy is True and any("Destroy plan" in n for n in p.notes)
    # protect applies as it does to a deployment removed from the configuration
    assert [d["code"] for d in p.diagnostics] == ["AD501"]
