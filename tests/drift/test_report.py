"""drift.build_report on plans from the real planner: kinds, values, noise, write-only fields."""

from __future__ import annotations

from typing import Any

from adaptive_deploy import drift
from adaptive_deploy.live import LiveState
from adaptive_deploy.state.base import StateSnapshot
from tests.plan.builders import (
    live,
    live_deployment,
    live_model,
    live_project,
    plan,
    snapshot,
    workspace,
)

CC = {"tp": 1, "kv_cache_len": 200000, "max_seq_len": 32768}


def _ws(kv: int = 200000, pools: list[str] | None = None, **dep: Any) -> Any:
    return workspace(
        models={"m": {"compute_config": {**CC, "kv_cache_len": kv}}},
        projects={"p": {"name": "P", "deployments": {
            "m": {"placement": {"compute_pools": pools or ["pool-1", "pool-2"]}, **dep}}}},
    )


def _applied(kv: int = 200000, **dep: Any) -> dict[str, dict[str, Any]]:
    return {
        "model.m": {**CC, "kv_cache_len": kv},
        "project.p": {"name": "P"},
        "deployment.p/m": {"compute_pools": ["pool-1", "pool-2"], "protect": False, **dep},
    }


def _live(kv: int = 200000, pools: list[str] | None = None, deployed: bool = True,
          **dep: Any) -> LiveState:
    objs: list[Any] = [live_model("m", **{**CC, "kv_cache_len": kv}), live_project("p", "P")]
    if deployed:
        objs.append(live_deployment("p", "m", compute_pools=pools or ["pool-1", "pool-2"], **dep))
    return live(*objs)


def _report(ws: Any, lv: LiveState, st: StateSnapshot) -> dict[str, Any]:
    applied = {a: r.applied for a, r in st.resources.items()}
    return drift.build_report(plan(ws, lv, st).to_dict(), applied)


def test_nothing_to_report_when_all_three_agree() -> None:
    report = _report(_ws(), _live(), snapshot(_applied()))
    assert report["findings"] == [] and report["has_drift"] is False
    assert drift.exit_code(report) == 0
    assert report["format_version"] == "1.0"


def test_live_change_is_drift_with_all_three_values() -> None:
    report = _report(_ws(), _live(kv=100000), snapshot(_applied()))
    [f] = report["findings"]
    assert (f["address"], f["field"], f["kind"]) == ("model.m", "kv_cache_len", "drift")
    assert (f["last_applied"], f["live"], f["desired"]) == (200000, 100000, 200000)
    assert report["summary"] == {"drift": 1, "pending": 0, "both": 0, "total": 1,
                                 "unobservable": 0}
    assert drift.exit_code(report) == 2


def test_config_edit_not_applied_is_pending() -> None:
    report = _report(_ws(kv=250000), _live(), snapshot(_applied()))
    [f] = report["findings"]
    assert (f["field"], f["kind"], f["last_applied"], f["live"], f["desired"]) == (
        "kv_cache_len", "pending", 200000, 200000, 250000)


def test_both_sides_moved() -> None:
    report = _report(_ws(kv=250000), _live(kv=100000), snapshot(_applied()))
    [f] = report["findings"]
    assert (f["kind"], f["last_applied"], f["live"], f["desired"]) == ("both", 200000, 100000, 250000)


def test_platform_already_matching_the_edited_config_is_reported_once() -> None:
    report = _report(_ws(kv=100000), _live(kv=100000), snapshot(_applied()))
    [f] = report["findings"]
    assert (f["kind"], f["last_applied"], f["live"], f["desired"]) == ("both", 200000, 100000, 100000)
    assert "already matches" in f["message"]


def test_deleted_outside_is_a_whole_resource_drift() -> None:
    report = _report(_ws(), _live(deployed=False), snapshot(_applied()))
    [f] = report["findings"]
    assert (f["address"], f["field"], f["kind"]) == ("deployment.p/m", None, "drift")
    assert f["live"] is None
    assert f["last_applied"] == {"compute_pools": ["pool-1", "pool-2"]}
    assert f["desired"]["compute_pools"] == ["pool-1", "pool-2"]
    assert "Deleted outside adaptive-deploy" in f["message"]


def test_removed_from_config_is_pending_delete() -> None:
    ws = workspace(models={"m": {"compute_config": CC}}, projects={"p": {"name": "P"}})
    report = _report(ws, _live(), snapshot(_applied()))
    [f] = report["findings"]
    assert (f["address"], f["field"], f["kind"], f["desired"]) == ("deployment.p/m", None, "pending", None)
    assert "deletes" in f["message"]


def test_noise_is_never_drift() -> None:
    # Pool order (a set), statuses, errors and ids change on the platform all the time.
    lv = _live(pools=["pool-2", "pool-1"], status="ERROR", error="insufficient memory")
    lv.models["m"].online = "OFFLINE"
    lv.deployments[("p", "m")].id = "another-id"
    report = _report(_ws(), lv, snapshot(_applied()))
    assert report["findings"] == []


def test_pool_set_change_is_drift() -> None:
    report = _report(_ws(), _live(pools=["pool-1"]), snapshot(_applied()))
    [f] = report["findings"]
    assert (f["field"], f["kind"], f["live"]) == ("compute_pools", "drift", ["pool-1"])


def test_write_only_field_is_listed_not_counted() -> None:
    ws = _ws(num_draft_steps=4)
    report = _report(ws, _live(), snapshot(_applied(num_draft_steps=4)))
    assert report["findings"] == []
    assert report["unobservable"] == [{
        "address": "deployment.p/m", "field": "num_draft_steps", "last_applied": 4,
        "message": "not observable on the platform",
    }]
    assert report["summary"]["unobservable"] == 1 and drift.exit_code(report) == 0


def test_write_only_field_edited_in_config_is_pending_and_not_observable() -> None:
    report = _report(_ws(num_draft_steps=6), _live(), snapshot(_applied(num_draft_steps=4)))
    [f] = report["findings"]
    assert (f["field"], f["kind"], f["last_applied"], f["desired"]) == ("num_draft_steps", "pending", 4, 6)
    assert f["observable"] is False and f["live"] is None
    assert report["unobservable"] == []


def test_drift_comes_before_pending() -> None:
    ws = _ws(kv=250000, is_default=True)
    lv = _live(is_default=False)
    st = snapshot(_applied(is_default=True))
    report = _report(ws, lv, st)
    kinds = [(f["address"], f["field"], f["kind"]) for f in report["findings"]]
    assert kinds == [("deployment.p/m", "is_default", "drift"), ("model.m", "kv_cache_len", "pending")]


def test_error_diagnostic_alone_exits_1() -> None:
    report = {"findings": [], "diagnostics": [{"severity": "error", "code": "AD504"}]}
    assert drift.exit_code(report) == 1
    report["findings"] = [{"kind": "drift"}]
    assert drift.exit_code(report) == 2
