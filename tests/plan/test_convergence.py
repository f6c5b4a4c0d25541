"""Property: apply the plan to live as the executor sends it (a placement replaces the live one
whole, as on the platform), record it in state, plan again → no changes and no drift, for random
desired / applied / live triples; and a field the configuration leaves out is never changed.

Ownership is part of it: live objects the state does not record (or records as another platform
object) are refused (AD506 / AD507) unless `adopt: true`; the test then does what the message
says — `import ADDR` (`importer.adoption_record`) — and plans again. Every model keeps a binding
in an unmanaged project, so no delete removes a model's last binding here (tests/plan/
test_ownership.py covers that)."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adaptive_deploy.addresses import Address, ResourceType
from adaptive_deploy.apply.executor import update_fields
from adaptive_deploy.importer import adoption_record
from adaptive_deploy.live import LiveComputeConfig, LiveDeployment, LiveJob, LiveProject, LiveState
from adaptive_deploy.plan import resources as res
from adaptive_deploy.plan.model import Action, Plan
from adaptive_deploy.state.base import ResourceRecord, StateSnapshot

from .builders import live, live_deployment, live_job, live_model, live_project, plan, workspace

MODELS = ["m1", "m2"]
PROJECTS = ["p1", "p2"]
POOLS = ["pool-1", "pool-2", "pool-3"]
JOB_STATUSES = [None, "PENDING", "RUNNING", "COMPLETED", "FAILED", "CANCELED"]

small = st.integers(1, 3)
opt_small = st.none() | small
pools = st.lists(st.sampled_from(POOLS), min_size=1, max_size=3, unique=True)


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


compute_cfg = st.builds(lambda tp, kv, seq: _drop_none({"tp": tp, "kv_cache_len": kv,
                                                        "max_seq_len": seq}),
                        opt_small, opt_small, opt_small)
deployment_cfg = st.builds(
    lambda p, ttft, dflt, online, steps, protect, adopt: {
        "placement": _drop_none({"compute_pools": p, "max_ttft_ms": ttft}),
        **_drop_none({"is_default": dflt, "desired_online": online, "num_draft_steps": steps,
                      "protect": protect, "adopt": adopt}),
    },
    pools, opt_small, st.none() | st.booleans(), st.none() | st.booleans(), opt_small,
    st.none() | st.booleans(), st.none() | st.booleans(),
)
project_cfg = st.builds(
    lambda name, desc, deps, adopt: {**_drop_none({"name": name, "description": desc,
                                                   "adopt": adopt}),
                                     "deployments": deps},
    st.none() | st.sampled_from(["A", "B"]), st.none() | st.sampled_from(["x", "y"]),
    st.dictionaries(st.sampled_from(MODELS), deployment_cfg, max_size=2),
    st.none() | st.booleans(),
)
config = st.fixed_dictionaries({
    "models": st.dictionaries(st.sampled_from(MODELS), st.builds(
        lambda cc: {"compute_config": cc}, compute_cfg), max_size=2),
    "projects": st.dictionaries(st.sampled_from(PROJECTS), project_cfg, max_size=2),
    "job": st.booleans(),
})

live_dep = st.builds(lambda p, ttft, dflt, online: {"compute_pools": p, "max_ttft_ms": ttft,
                                                    "is_default": dflt, "desired_online": online},
                     pools, opt_small, st.booleans(), st.booleans())
live_spec = st.fixed_dictionaries({
    "models": st.fixed_dictionaries({m: compute_cfg for m in MODELS}),
    "projects": st.dictionaries(st.sampled_from(PROJECTS), st.tuples(
        st.sampled_from(["A", "B", "p1", "p2"]), st.none() | st.sampled_from(["x", "y"]),
        st.booleans()), max_size=2),
    "deployments": st.dictionaries(st.tuples(st.sampled_from(PROJECTS), st.sampled_from(MODELS)),
                                   live_dep, max_size=4),
    "job_status": st.sampled_from(JOB_STATUSES),
})

# State: some addresses with random applied values (possibly stale, possibly for resources
# the config no longer has).
applied_values = st.fixed_dictionaries({}, optional={
    "tp": small, "kv_cache_len": small, "max_seq_len": small, "name": st.sampled_from(["A", "B"]),
    "compute_pools": pools, "max_ttft_ms": small, "is_default": st.booleans(),
    "num_draft_steps": small, "protect": st.just(False),
})
ADDRESSES = ([f"model.{m}" for m in MODELS] + [f"project.{p}" for p in PROJECTS]
             + [f"deployment.{p}/{m}" for p in PROJECTS for m in MODELS] + ["job.train"])
# Per record: its platform id is unknown, the live object's, another object's (the live one
# was re-created outside), or it is a create's intent whose outcome is unknown (pending).
ownership = st.sampled_from(["none", "same", "other", "pending"])
state_spec = st.dictionaries(st.sampled_from(ADDRESSES), st.tuples(applied_values, ownership),
                             max_size=6)


def build(cfg: dict[str, Any], lspec: dict[str, Any], sspec: dict[str, Any]
          ) -> tuple[Any, LiveState, StateSnapshot]:
    sections: dict[str, Any] = {"models": cfg["models"], "projects": cfg["projects"]}
    if cfg["job"]:
        sections["projects"] = {"p1": {}, **cfg["projects"]}
        sections["jobs"] = {"train": {"recipe": "specdec_alignment", "project": "p1",
                                      "args": {"token": "${env:TOKEN}"}}}
    ws = workspace(**sections)
    objs: list[Any] = [live_model(m, **cc) for m, cc in lspec["models"].items()]
    objs += [live_project(p, name, description=desc, is_archived=arch)
             for p, (name, desc, arch) in lspec["projects"].items()]
    objs += [live_deployment(p, m, **d) for (p, m), d in lspec["deployments"].items()]
    if lspec["job_status"]:
        objs.append(live_job("train", lspec["job_status"]))
    lv = live(*objs)
    # Every model stays bound to a project no one manages: no delete removes a last binding.
    lv.bound = {m: {"anchor"} for m in MODELS}
    records = {}
    for a, (v, owner) in sspec.items():
        live_id = res.platform_id(lv, a)
        platform_id = {"none": None, "same": live_id, "other": "id-gone",
                       "pending": None}[owner]
        records[a] = ResourceRecord(a, a.split(".")[0], v, {}, "x", platform_id,
                                    pending="create" if owner == "pending" else None)
    return ws, lv, StateSnapshot("test", "l", 1, records)


_new_ids = iter(range(10**9))


def simulate_apply(p: Plan, lv: LiveState, state: StateSnapshot) -> StateSnapshot:
    """The platform as the executor drives it: creates and updates send what the executor
    sends (`update_fields`: a placement replaces the live one whole, so a `max_ttft_ms` not
    sent is gone); state records take `after` as applied, the new live value as observed and
    the live object's id."""
    records = dict(state.resources)
    for c in p.changes:
        a = Address.parse(c.address)
        after = c.after or {}
        hidden = res.unobservable_fields(c.type)
        visible = {k: v for k, v in after.items() if k not in hidden}
        if c.action in (Action.CREATE, Action.UPDATE):
            if a.type is ResourceType.MODEL:
                m = lv.models[a.name]
                m.compute_config = m.compute_config or LiveComputeConfig()
                for k, v in visible.items():
                    setattr(m.compute_config, k, v)
            elif a.type is ResourceType.PROJECT:
                proj = lv.projects.get(a.name) or LiveProject(f"new-{next(_new_ids)}", a.name,
                                                              a.name)
                if c.action is Action.CREATE:
                    proj.is_archived = False
                for k, v in visible.items():
                    setattr(proj, k, v)
                lv.projects[a.name] = proj
            elif a.type is ResourceType.DEPLOYMENT:
                pkey, mkey = a.project_and_model
                dep = lv.deployments.get((pkey, mkey))
                if c.action is Action.CREATE:
                    assert dep is None
                    dep = LiveDeployment(f"new-{next(_new_ids)}", pkey, mkey)
                    sent = {k: v for k, v in visible.items()}
                    dep.compute_pools = list(sent.pop("compute_pools"))
                    dep.max_ttft_ms = sent.pop("max_ttft_ms", None)
                else:
                    assert dep is not None
                    sent = {k: v for k, v in update_fields(c.to_dict()).items()
                            if k not in hidden}
                    if "compute_pools" in sent or "max_ttft_ms" in sent:
                        # updateModelService's placement replaces the live one whole
                        dep.compute_pools = list(sent.pop("compute_pools", dep.compute_pools))
                        dep.max_ttft_ms = sent.pop("max_ttft_ms", None)
                for k, v in sent.items():
                    setattr(dep, k, v)
                lv.deployments[(pkey, mkey)] = dep
        elif c.action is Action.RUN:
            lv.jobs[a.name] = LiveJob(f"id-{a.name}", a.name, "COMPLETED")
        elif c.action is Action.DELETE:
            if a.type is ResourceType.DEPLOYMENT:
                del lv.deployments[a.project_and_model]
            elif a.type is ResourceType.PROJECT:
                lv.projects[a.name].is_archived = True
        if c.action in (Action.DELETE, Action.FORGET):
            records.pop(c.address, None)
        else:
            obs = res.observed(lv).get(c.address, {})
            records[c.address] = ResourceRecord(c.address, c.type, dict(after), obs,
                                                res.fingerprint(obs),
                                                res.platform_id(lv, c.address))
    return StateSnapshot(state.workspace, state.lineage, state.serial + 1, records)


def simulate_import(p: Plan, ws: Any, lv: LiveState, state: StateSnapshot) -> StateSnapshot:
    """What the AD506 / AD507 messages tell the user to run: `import ADDR` for each."""
    refused = [d for d in p.diagnostics if d["severity"] == "error"]
    assert refused and all(d["code"] in ("AD506", "AD507") for d in refused), refused
    records = dict(state.resources)
    desired, observed = res.desired(ws), res.observed(lv)
    for d in refused:
        addr = d["message"].split()[0]
        assert f"import {addr}`" in d["message"]
        records[addr] = adoption_record(addr, desired[addr], observed[addr],
                                        res.platform_id(lv, addr))
    return StateSnapshot(state.workspace, state.lineage, state.serial + 1, records)


def _unmanaged_values(ws: Any, lv: LiveState) -> dict[tuple[str, str], Any]:
    """Live values of deployment fields the configuration leaves out."""
    desired = res.desired(ws)
    out = {}
    for (pkey, mkey), dep in lv.deployments.items():
        addr = str(Address.deployment(pkey, mkey))
        if addr not in desired:
            continue
        for f in ("max_ttft_ms", "is_default", "desired_online"):
            if f not in desired[addr]:
                out[(addr, f)] = getattr(dep, f)
    return out


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config, live_spec, state_spec)
def test_apply_then_plan_converges(cfg: dict[str, Any], lspec: dict[str, Any],
                                   sspec: dict[str, Any]) -> None:
    ws, lv, state = build(cfg, lspec, sspec)
    first = plan(ws, lv, state)
    if not first.applyable:
        state = simulate_import(first, ws, lv, state)
        first = plan(ws, lv, state)
    assert first.applyable, first.diagnostics
    unmanaged = _unmanaged_values(ws, lv)
    state2 = simulate_apply(first, lv, state)
    for (addr, f), value in unmanaged.items():
        dep = lv.deployments.get(Address.parse(addr).project_and_model)
        if dep is not None and first.change(addr) is not None \
                and first.change(addr).action is Action.UPDATE:  # type: ignore[union-attr]
            assert getattr(dep, f) == value, f"{addr} {f}: unmanaged, but changed by apply"
    second = plan(ws, lv, state2)
    assert not second.has_changes, [c.to_dict() for c in second.changes]
    assert second.drift == []
    # Only a job still running may carry a note; nothing else is left to say.
    for c in second.changes:
        assert c.address == "job.train" and "already running" in c.notes[0], c.to_dict()
