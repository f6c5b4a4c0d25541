"""The planner: configuration + last applied state + live state in, a `Plan` out. Pure: no
network, no state I/O, no printing.

Three-way diff per managed field, with D = desired (config), A = applied (the state record's
last applied value, when there is one) and L = live (observed):

- D == L: no diff (when A differs, the change carries a "converged" note and the executor
  refreshes the state record; it is not a change).
- D != L: cause `config` when D != A and L == A, `drift` when D == A and L != A, `both` when
  both differ; `config` when there is no state record.
- Write-only (`num_draft_steps`) and state-only (`protect`) fields compare D with A.

Resources in config but not live are created (cause `drift`, "deleted outside adaptive-deploy",
when state had them). Resources in state but not in config are deleted (projects: archived;
models and jobs: forgotten). Live objects in neither are listed as unmanaged and never touched.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from adaptive_deploy.addresses import Address, ResourceType, type_rank
from adaptive_deploy.diagnostics import Diagnostic, YamlPath, error, warning
from adaptive_deploy.plan import resources as res
from adaptive_deploy.plan.model import (
    Action,
    Cause,
    Change,
    DriftItem,
    FieldDiff,
    Plan,
    PlanOptions,
)

if TYPE_CHECKING:
    from adaptive_deploy.config.models import Workspace
    from adaptive_deploy.live import LiveState
    from adaptive_deploy.state.base import ResourceRecord, StateSnapshot

CODES: dict[str, str] = {
    "AD501": "delete of a protected deployment",
    "AD502": "--replace of a resource that cannot be replaced",
    "AD503": "--target or --replace names a resource that is neither in config nor in state",
    "AD504": "model to configure does not exist on the platform",
    "AD505": "invalid resource address in --target or --replace",
}

Fields = dict[str, Any]


def make_plan(
    workspace: Workspace,
    *,
    config_digest: str,
    sensitive_paths: Iterable[YamlPath] = (),
    state: StateSnapshot,
    live: LiveState,
    memory: Sequence[Mapping[str, Any]] = (),
    memory_before: Sequence[Mapping[str, Any]] = (),
    diagnostics: Sequence[Diagnostic] = (),
    targets: Sequence[str] = (),
    replace: Sequence[str] = (),
    refresh_only: bool = False,
    destroy: bool = False,
    tool_version: str,
    now: datetime | float | None = None,
) -> Plan:
    """Diff desired (config) against last applied (state) and live; return the plan.

    `sensitive_paths` are YAML paths of values that come from the environment (the loader's
    `LoadedConfig.sensitive_paths()`); `memory` / `memory_before` are fit rows
    (`FitRow.to_dict()`) for the configuration and for the currently applied one, used for
    the memory table of the deployments the plan touches. `targets` limits planning to those
    addresses and their dependencies; `replace` forces a job run or a deployment re-create.
    `destroy` plans against an empty configuration: everything the state manages is removed
    exactly as if it had been removed from the configuration (models forgotten, projects
    archived, `protect` and every other delete rule applied by the same code).
    """
    if destroy:
        workspace = workspace.model_copy(update={"models": {}, "projects": {}, "jobs": {}})
    planner = _Planner(workspace, state, live, list(diagnostics), sensitive_paths)
    scope = planner.scope(targets)
    replace_set = planner.check_replace(replace)
    drift = planner.drift(scope)
    changes: list[Change] = []
    notes: list[str] = []
    if refresh_only:
        notes.append(
            "Refresh-only plan: no platform changes; apply would update the state to match "
            "the platform" + (" (the drift listed above)." if drift else ".")
        )
    else:
        changes = planner.changes(scope, replace_set)
    if destroy:
        notes.append(
            "Destroy plan: every resource this workspace manages is removed, as if removed "
            "from the configuration (models are forgotten, projects archived, protected "
            "deployments refused)."
        )
    if targets:
        notes.append(
            "Resource targeting is in effect: only "
            + ", ".join(sorted(targets))
            + " and their dependencies are planned; the plan may be incomplete."
        )
    return Plan(
        tool_version=tool_version,
        workspace=workspace.workspace,
        created_at=_iso(now),
        config_digest=config_digest,
        lineage=state.lineage,
        serial=state.serial,
        changes=changes,
        drift=drift,
        memory=_memory_rows(changes, workspace, memory, memory_before),
        diagnostics=[d.to_dict() for d in planner.diagnostics],
        unmanaged=planner.unmanaged(),
        options=PlanOptions(sorted(targets), sorted(replace), refresh_only, destroy),
        notes=notes,
    )


class _Planner:
    def __init__(
        self,
        workspace: Workspace,
        state: StateSnapshot,
        live: LiveState,
        diagnostics: list[Diagnostic],
        sensitive_paths: Iterable[YamlPath],
    ) -> None:
        self.ws = workspace
        self.live = live
        self.records: dict[str, ResourceRecord] = dict(state.resources)
        self.desired = res.desired(workspace)
        self.observed = res.observed(live)
        self.diagnostics = diagnostics
        self.sensitive = _sensitive_paths(self.desired, sensitive_paths)

    # -- scope: --target and --replace -------------------------------------------------

    def scope(self, targets: Sequence[str]) -> set[str] | None:
        """Addresses to plan: None for everything; else the targets and their dependencies."""
        if not targets:
            return None
        out: set[str] = set()
        todo: list[str] = []
        for text in targets:
            addr = self._parse(text, "--target")
            if addr is None:
                continue
            if addr not in self.desired and addr not in self.records:
                self.diagnostics.append(warning(
                    "AD503", f"--target {addr}: not in the configuration nor in the state; "
                    "nothing to plan for it",
                ))
            todo.append(addr)
        while todo:
            addr = todo.pop()
            if addr in out:
                continue
            out.add(addr)
            if addr in self.desired:
                todo.extend(res.depends_on(addr, self.ws))
        return out

    def check_replace(self, replace: Sequence[str]) -> set[str]:
        out: set[str] = set()
        for text in replace:
            addr = self._parse(text, "--replace")
            if addr is None:
                continue
            rtype = Address.parse(addr).type
            if rtype not in (ResourceType.JOB, ResourceType.DEPLOYMENT):
                self.diagnostics.append(error(
                    "AD502", f"--replace {addr}: only jobs (run again) and deployments "
                    "(delete and create) can be replaced",
                ))
            elif addr not in self.desired:
                self.diagnostics.append(warning(
                    "AD503", f"--replace {addr}: not in the configuration; nothing to replace",
                ))
            else:
                out.add(addr)
        return out

    def _parse(self, text: str, flag: str) -> str | None:
        try:
            return str(Address.parse(text))
        except ValueError as exc:
            self.diagnostics.append(error("AD505", f"{flag}: {exc}"))
            return None

    # -- drift ---------------------------------------------------------------------------

    def drift(self, scope: set[str] | None) -> list[DriftItem]:
        """Every managed field whose live value differs from the last applied one."""
        items: list[DriftItem] = []
        for addr in _ordered(self.records):
            record = self.records[addr]
            rtype = Address.parse(addr).type
            if rtype in (ResourceType.JOB, ResourceType.COMPUTE_POOL):
                continue  # job status moves by itself; pools are never managed
            if scope is not None and addr not in scope:
                continue
            applied = record.applied
            live = self.observed.get(addr)
            if live is None:
                items.append(DriftItem(addr, None, _observable(rtype.value, applied), None,
                                       self._gone_message(addr)))
                continue
            wanted = self.desired.get(addr, applied)
            hidden = res.unobservable_fields(rtype.value)
            for f in wanted:
                if f in hidden or f not in applied:
                    continue
                if not res.values_equal(f, applied[f], live.get(f)):
                    items.append(DriftItem(addr, f, applied[f], live.get(f)))
        return items

    def _gone_message(self, addr: str) -> str:
        a = Address.parse(addr)
        if a.type is ResourceType.PROJECT and a.name in self.live.projects:
            return "Archived outside adaptive-deploy"
        return "Deleted outside adaptive-deploy"

    # -- changes -------------------------------------------------------------------------

    def changes(self, scope: set[str] | None, replace: set[str]) -> list[Change]:
        out: list[Change] = []
        for addr in _ordered(self.desired):
            if scope is not None and addr not in scope:
                continue
            if Address.parse(addr).type is ResourceType.JOB:
                change = self._job(addr, replace)
            else:
                change = self._resource(addr, addr in replace, self._failed(addr))
            if change is not None:
                out.append(change)
        removed = [a for a in self.records if a not in self.desired]
        for addr in _ordered(removed):
            if scope is not None and addr not in scope:
                continue
            change = self._removed(addr)
            if change is not None:
                out.append(change)
        # Destroys first (reverse apply order), then the rest in apply order.
        destroys = [c for c in out if c.action in (Action.DELETE, Action.FORGET)]
        destroys.sort(key=lambda c: (-type_rank(ResourceType(c.type)), c.address))
        others = [c for c in out if c.action not in (Action.DELETE, Action.FORGET)]
        return destroys + others

    def _base(self, addr: str, action: Action) -> Change:
        rtype = Address.parse(addr).type.value
        live = self.observed.get(addr)
        desired = self.desired.get(addr)
        return Change(
            address=addr,
            type=rtype,
            action=action,
            before=dict(live) if live is not None else None,
            after=dict(desired) if desired is not None else None,
            live_fingerprint=res.fingerprint(live),
            sensitive_paths=sorted(self.sensitive.get(addr, ())),
            depends_on=res.depends_on(addr, self.ws) if desired is not None else [],
            write_only_paths=sorted(
                f for f in res.write_only_fields(rtype) if desired and f in desired
            ),
        )

    def _failed(self, addr: str) -> str | None:
        """The platform's error for a deployment in ERROR (it never loaded), else None."""
        a = Address.parse(addr)
        if a.type is not ResourceType.DEPLOYMENT:
            return None
        dep = self.live.deployments.get(a.project_and_model)
        if dep is None or dep.status != "ERROR":
            return None
        return dep.error or "no reason given"

    def _resource(
        self, addr: str, force_replace: bool, failed: str | None = None
    ) -> Change | None:
        """model, project or deployment present in config. A deployment the platform reports
        in ERROR is replaced (like a tainted resource in Terraform): it never loaded, and
        deploying it again — after the configuration is fixed — is the way out."""
        a = Address.parse(addr)
        d = self.desired[addr]
        live = self.observed.get(addr)
        record = self.records.get(addr)
        applied = record.applied if record is not None else None
        hidden = res.unobservable_fields(a.type.value)
        wo = res.write_only_fields(a.type.value)

        if failed is not None and live is not None and not force_replace:
            # Replace it, keeping the field diff an update would have had (with its causes):
            # the status itself is neither drift nor a configuration change.
            normal = self._resource(addr, False)
            change = normal if normal is not None else self._base(addr, Action.NOOP)
            change.action = Action.CREATE
            change.replace = True
            change.after = {**res.create_defaults(addr), **d}
            change.notes = [n for n in change.notes if "adopted" not in n]
            change.notes.append(f"the platform reports ERROR ({failed}): deleted, then created "
                                "again")
            return change
        if live is None or force_replace:
            if live is None and a.type is ResourceType.MODEL:
                return self._missing_model(addr)
            change = self._base(addr, Action.CREATE)
            change.after = {**res.create_defaults(addr), **d}
            gone = live is None and record is not None
            if force_replace and live is not None:
                change.replace = True
                change.notes.append("replacement requested with --replace: "
                                    "deleted, then created again")
            elif gone:
                change.notes.append(f"{self._gone_message(addr)}: apply creates it again")
            elif a.type is ResourceType.PROJECT and a.name in self.live.projects:
                change.notes.append("archived on the platform; apply restores it")
            cause = Cause.DRIFT if gone else Cause.CONFIG
            state_only = res.state_only_fields(a.type.value)
            for f, v in change.after.items():
                if f in state_only and not v and applied is None:
                    continue  # `protect: false` on a new resource is the default: no news
                before = applied.get(f) if (applied and f in hidden) else None
                if f in hidden and applied is not None and res.values_equal(f, before, v):
                    continue
                change.diff.append(FieldDiff(f, before, v, cause.value, f in wo))
            change.causes = [cause.value]
            return change

        change = self._base(addr, Action.NOOP)
        for f, dv in d.items():
            if f in hidden:
                av = _applied_value(applied, f)
                if not res.values_equal(f, av, dv):
                    change.diff.append(FieldDiff(f, av, dv, Cause.CONFIG.value, f in wo))
                continue
            lv = live.get(f)
            if res.values_equal(f, dv, lv):
                if applied is not None and f in applied and not res.values_equal(
                    f, applied[f], dv
                ):
                    change.notes.append(
                        f"{f}: the platform already matches the configuration "
                        "(converged); apply refreshes the state record"
                    )
                continue
            change.diff.append(FieldDiff(f, lv, dv, _cause(f, dv, applied, lv).value))
        if change.diff:
            change.action = Action.UPDATE
            change.causes = _causes(change.diff)
        if record is None:
            change.notes.append(
                "exists on the platform but not in state: adopted"
                + (" and updated" if change.diff else "")
            )
        elif not change.diff and any(
            f not in record.applied or not res.values_equal(f, record.applied[f], d[f])
            for f in d
        ) and not change.notes:
            change.notes.append("state record refreshed to the configuration")
        if change.action is Action.NOOP and not change.notes:
            return None
        return change

    def _missing_model(self, addr: str) -> Change | None:
        key = Address.parse(addr).name
        spec = self.ws.models[key]
        if spec.produced_by and spec.produced_by in self.ws.jobs:
            # The producing job creates the model; its compute config is set afterwards.
            change = self._base(addr, Action.UPDATE)
            change.diff = [FieldDiff(f, None, v, Cause.CONFIG.value)
                           for f, v in self.desired[addr].items()]
            change.causes = [Cause.CONFIG.value]
            change.notes.append(f"produced by job.{spec.produced_by}: configured once the "
                                "job has completed")
            return change
        self.diagnostics.append(error(
            "AD504",
            f"{addr}: model {key!r} does not exist on the platform; models are created by "
            "imports and training, adaptive-deploy only configures them",
            path=("models", key),
        ))
        return None

    def _job(self, addr: str, replace: set[str]) -> Change | None:
        name = Address.parse(addr).name
        d = self.desired[addr]
        live = self.observed.get(addr)
        record = self.records.get(addr)
        status = live.get("status") if live is not None else None
        change = self._base(addr, Action.NOOP)
        forced = addr in replace
        run = False
        if status is None:
            run = True
        elif status in res.JOB_RERUN_STATUSES:
            run = True
            change.notes.append(f"previous run ended {status}: runs again")
        elif status in res.JOB_ACTIVE_STATUSES:
            change.notes.append(f"already running ({status})")
            if forced:
                change.notes.append("--replace ignored: a running job cannot be replaced; "
                                    "wait for it to finish")
        elif status == res.JOB_DONE_STATUS:
            if forced:
                run = True
                change.notes.append("re-run requested with --replace")
            elif record is None:
                change.notes.append("completed on the platform: recorded in state")
            elif record.applied != d:
                change.notes.append(
                    f"configuration changed since the job ran; use --replace job.{name} "
                    "to run it again"
                )
        else:
            change.notes.append(f"unknown job status {status!r}: left alone")
        if not run:
            return change if change.notes else None
        change.action = Action.RUN
        change.causes = [Cause.CONFIG.value]
        applied = record.applied if record is not None else None
        for f, v in d.items():
            before = applied.get(f) if applied is not None else None
            if applied is None or before != v:
                change.diff.append(FieldDiff(f, before, v, Cause.CONFIG.value))
        return change

    def _removed(self, addr: str) -> Change | None:
        """In state, no longer in config."""
        a = Address.parse(addr)
        if a.type is ResourceType.COMPUTE_POOL:
            return None
        record = self.records[addr]
        live = self.observed.get(addr)
        if a.type in (ResourceType.MODEL, ResourceType.JOB):
            change = self._base(addr, Action.FORGET)
            change.notes.append(
                "removed from state only: the registry model is kept as it is"
                if a.type is ResourceType.MODEL
                else "removed from state only: jobs are never deleted"
            )
        elif live is None:
            change = self._base(addr, Action.FORGET)
            change.notes.append("already gone from the platform: only the state record is "
                                "dropped")
        else:
            change = self._base(addr, Action.DELETE)
            if a.type is ResourceType.PROJECT:
                change.notes.append("the project is archived, not deleted")
            if a.type is ResourceType.DEPLOYMENT and record.applied.get("protect"):
                pkey, mkey = a.project_and_model
                change.notes.append("protected: protect was true when last applied")
                self.diagnostics.append(error(
                    "AD501",
                    f"{addr} is protected (protect: true when last applied) and cannot be "
                    "deleted; put it back in the configuration with protect: false and apply "
                    "first, then remove it",
                    path=("projects", pkey, "deployments", mkey),
                ))
        change.causes = [Cause.CONFIG.value]
        change.diff = [
            FieldDiff(f, v, None, Cause.CONFIG.value)
            for f, v in (live or {}).items() if change.action is Action.DELETE
        ]
        return change

    # -- unmanaged -----------------------------------------------------------------------

    def unmanaged(self) -> list[str]:
        """Live projects and deployments neither in config nor in state."""
        out = []
        for addr in self.observed:
            rtype = Address.parse(addr).type
            if rtype not in (ResourceType.PROJECT, ResourceType.DEPLOYMENT):
                continue
            if addr not in self.desired and addr not in self.records:
                out.append(addr)
        return _ordered(out)


def _cause(f: str, dv: Any, applied: Fields | None, lv: Any) -> Cause:
    if applied is None or f not in applied:
        return Cause.CONFIG
    config = not res.values_equal(f, dv, applied[f])
    drift = not res.values_equal(f, lv, applied[f])
    if config and drift:
        return Cause.BOTH
    return Cause.DRIFT if drift else Cause.CONFIG


def _causes(diff: list[FieldDiff]) -> list[str]:
    out: set[str] = set()
    for d in diff:
        if d.cause == Cause.BOTH.value:
            out.update((Cause.CONFIG.value, Cause.DRIFT.value))
        else:
            out.add(d.cause)
    return sorted(out)


def _applied_value(applied: Fields | None, f: str) -> Any:
    if applied is None:
        return None
    if f == "protect":
        return bool(applied.get(f, False))  # records written before protect existed: false
    return applied.get(f)


def _observable(rtype: str, fields: Fields) -> Fields:
    hidden = res.unobservable_fields(rtype)
    return {k: v for k, v in fields.items() if k not in hidden}


def _ordered(addresses: Iterable[str]) -> list[str]:
    return sorted(addresses, key=lambda a: (type_rank(Address.parse(a).type), a))


def _sensitive_paths(
    desired: Mapping[str, Fields], yaml_paths: Iterable[YamlPath]
) -> dict[str, set[str]]:
    """Change-level dotted paths of sensitive values: env templates and the loader's paths."""
    out: dict[str, set[str]] = {}
    for p in yaml_paths:
        if len(p) >= 3 and p[0] == "jobs" and p[2] == "args":
            addr = str(Address.job(str(p[1])))
            parts: list[str] = []
            for x in p[2:]:
                if isinstance(x, int):
                    break  # inside a list: the list as a whole is sensitive
                parts.append(x)
            out.setdefault(addr, set()).add(".".join(parts))
    for addr, fields in desired.items():
        for f, v in fields.items():
            for path in _template_paths(v, f):
                out.setdefault(addr, set()).add(path)
    return out


def _template_paths(value: Any, path: str) -> list[str]:
    """Dotted paths of values holding `${env:...}` (dict keys are followed; a list containing
    a template marks the list)."""
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _template_paths(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [path] if any(_template_paths(v, path) for v in value) else []
    return [path] if res.is_env_template(value) else []


def _iso(now: datetime | float | None) -> str:
    if now is None:
        now = datetime.now(UTC)
    elif not isinstance(now, datetime):
        now = datetime.fromtimestamp(now, UTC)
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _memory_rows(
    changes: list[Change],
    workspace: Workspace,
    memory: Sequence[Mapping[str, Any]],
    memory_before: Sequence[Mapping[str, Any]],
) -> list[dict[str, Any]]:
    """Fit rows of the deployments the plan touches, with the before → after total per GPU.

    Touched: deployments created, updated or deleted, every deployment of a model whose
    compute config changes, and the base deployment of a changed adapter deployment.
    """
    touched: set[str] = set()
    changed_models: set[str] = set()
    deleted: set[str] = set()
    created: set[str] = set()  # a new deployment has no "before": it reads as new memory
    for c in changes:
        a = Address.parse(c.address)
        if a.type is ResourceType.DEPLOYMENT and c.action is not Action.NOOP:
            touched.add(c.address)
            if c.action is Action.CREATE and not c.replace:
                created.add(c.address)
            if c.action in (Action.DELETE, Action.FORGET):
                deleted.add(c.address)
            pkey, mkey = a.project_and_model
            spec = workspace.models.get(mkey)
            if spec is not None and spec.adapter_of:
                touched.add(str(Address.deployment(pkey, spec.adapter_of)))
        elif a.type is ResourceType.MODEL and c.action is Action.UPDATE:
            changed_models.add(a.name)
    for pkey, project in workspace.projects.items():
        for mkey in project.deployments:
            spec = workspace.models.get(mkey)
            if mkey in changed_models or (spec is not None and spec.adapter_of in changed_models):
                touched.add(str(Address.deployment(pkey, mkey)))

    def key(row: Mapping[str, Any]) -> tuple[str, str, str]:
        return (_row_address(row), str(row.get("pool", "")), str(row.get("gpu", "")))

    before = {key(r): r.get("total_gib") for r in memory_before}
    out: list[dict[str, Any]] = []
    for row in memory:
        addr = _row_address(row)
        if addr in touched and addr not in deleted:
            out.append({**row, "address": addr,
                        "before_gib": None if addr in created else before.get(key(row)),
                        "after_gib": row.get("total_gib")})
    for row in memory_before:
        addr = _row_address(row)
        if addr in deleted:
            out.append({**row, "address": addr, "before_gib": row.get("total_gib"),
                        "after_gib": None, "verdict": "removed"})
    out.sort(key=lambda r: (r["address"], str(r.get("pool", "")), str(r.get("gpu", ""))))
    return out


def _row_address(row: Mapping[str, Any]) -> str:
    dep = str(row.get("address") or row.get("deployment") or "")
    return dep if dep.startswith("deployment.") else f"deployment.{dep}"
