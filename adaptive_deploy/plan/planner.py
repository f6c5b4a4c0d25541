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

Ownership. A state record names the platform object it is about (`platform_id`); a live object
with the same key but another id is not it (deleted and re-created outside adaptive-deploy).
A project or deployment that exists on the platform but is not this workspace's is never taken
over by a plan (AD506 / AD507: run `import ADDR`, or set `adopt: true` on it) and never deleted
(a record whose object was replaced is only forgotten). A record marked `pending` (the executor
records a create's intent before the platform call) owns whatever it finds: an object created
just before a crash is recognised as this workspace's. Registry models are the exception: they
come from the platform, so their compute config is adopted, and shown as adopted.

Model deletion. removeModelFromProject deletes a model from storage with its last project
binding unless it is published organisation-wide, which no field shows: every delete of a
deployment that removes a model's last binding says so (`deletes_model`), and is refused for
models this workspace does not manage (AD508). Replacements never unbind: they restart the
deployment in place.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from adaptive_deploy.addresses import Address, ResourceType, type_rank
from adaptive_deploy.diagnostics import Diagnostic, YamlPath, error
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
    "AD506": "exists on the platform but not in this workspace's state: not taken over without "
             "import or adopt: true",
    "AD507": "deleted and re-created outside adaptive-deploy: the platform holds another object "
             "with this key than the one in state",
    "AD508": "a delete would remove the last project binding of a model this workspace does not "
             "manage, and with it the model (the platform deletes it from storage)",
    "AD509": "another workspace sharing the state backend manages this resource on the same "
             "platform",
    "AD510": "a delete removes a model's last project binding (deleting the model) before this "
             "plan binds the model again",
}

Fields = dict[str, Any]


def make_plan(
    workspace: Workspace,
    *,
    config_digest: str,
    sensitive_paths: Iterable[YamlPath] = (),
    state: StateSnapshot,
    live: LiveState,
    memory: Sequence[Row] = (),
    memory_before: Sequence[Row] = (),
    diagnostics: Sequence[Diagnostic] = (),
    targets: Sequence[str] = (),
    replace: Sequence[str] = (),
    refresh_only: bool = False,
    destroy: bool = False,
    tool_version: str,
    now: datetime | float | None = None,
    platform: Mapping[str, Any] | None = None,
    claims: Mapping[str, Sequence[str]] | None = None,
    directory: str | None = None,
    notes: Sequence[str] = (),
) -> Plan:
    """Diff desired (config) against last applied (state) and live; return the plan.

    `sensitive_paths` are YAML paths of values that come from the environment (the loader's
    `LoadedConfig.sensitive_paths()`); `memory` / `memory_before` are fit rows
    (`FitRow.to_dict()`) for the configuration and for the currently applied one, used for
    the memory table of the deployments the plan touches. `targets` limits planning to those
    addresses and their dependencies; `replace` forces a job run or a deployment restart.
    `destroy` plans against an empty configuration: everything the state manages is removed
    exactly as if it had been removed from the configuration (models forgotten, projects
    archived, `protect`, last bindings and every other delete rule applied by the same code).
    `platform` is the identity of the platform planned against (recorded in the plan);
    `claims` maps addresses to the other workspaces of a shared state backend that manage them
    on the same platform; `directory` is the workspace directory as the user named it (for the
    commands messages suggest); `notes` are added to the plan's notes.
    """
    if destroy:
        workspace = workspace.model_copy(update={"models": {}, "projects": {}, "jobs": {}})
    planner = _Planner(workspace, state, live, list(diagnostics), sensitive_paths,
                       claims or {}, directory)
    scope = planner.scope(targets)
    replace_set = planner.check_replace(replace)
    drift = planner.drift(scope)
    changes: list[Change] = []
    notes = list(notes)
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
        platform=dict(platform) if platform is not None else None,
    )


class _Planner:
    def __init__(
        self,
        workspace: Workspace,
        state: StateSnapshot,
        live: LiveState,
        diagnostics: list[Diagnostic],
        sensitive_paths: Iterable[YamlPath],
        claims: Mapping[str, Sequence[str]],
        directory: str | None,
    ) -> None:
        self.ws = workspace
        self.live = live
        self.records: dict[str, ResourceRecord] = dict(state.resources)
        self.desired = res.desired(workspace)
        self.observed = res.observed(live)
        self.diagnostics = diagnostics
        self.sensitive = _sensitive_paths(self.desired, sensitive_paths)
        self.claims = claims
        self.directory = directory

    # -- ownership -----------------------------------------------------------------------

    def relation(self, addr: str) -> str:
        """How the live object at `addr` relates to this workspace's state record:

        absent     nothing live (archived projects included)
        managed    the record's object (same platform id, or an id not known yet)
        unmanaged  live, but this workspace has no record of it
        replaced   the record names another platform object: this one was created outside
        """
        if addr not in self.observed:
            return "absent"
        record = self.records.get(addr)
        if record is None:
            return "unmanaged"
        live_id = res.platform_id(self.live, addr)
        if record.pending or not record.platform_id or not live_id:
            return "managed"
        return "managed" if record.platform_id == live_id else "replaced"

    def _adopt(self, addr: str) -> bool:
        """`adopt: true` on the project or deployment in the configuration."""
        a = Address.parse(addr)
        if a.type is ResourceType.PROJECT:
            project = self.ws.projects.get(a.name)
            return bool(project is not None and project.adopt)
        if a.type is ResourceType.DEPLOYMENT:
            pkey, mkey = a.project_and_model
            spec = self.ws.projects.get(pkey)
            dep = spec.deployments.get(mkey) if spec is not None else None
            return bool(dep is not None and dep.adopt)
        return False

    def _import_command(self, addr: str) -> str:
        where = f" {self.directory}" if self.directory and self.directory != "." else ""
        return f"adaptive-deploy import{where} {addr}"

    def _replaced_text(self, addr: str) -> str:
        record = self.records[addr]
        return (f"the platform now holds another object with this key (platform id "
                f"{res.platform_id(self.live, addr)}; state had {record.platform_id})")

    def _refuse_existing(self, addr: str, relation: str) -> None:
        """AD506 / AD507: an object the workspace does not own stands where config wants one."""
        way_out = (f"to manage it, run `{self._import_command(addr)}`, or set adopt: true on "
                   "it in the configuration")
        if relation == "replaced":
            self.diagnostics.append(error(
                "AD507",
                f"{addr} was deleted and re-created outside adaptive-deploy: "
                f"{self._replaced_text(addr)}; adaptive-deploy does not take it over: {way_out}",
                path=_yaml_path(addr),
            ))
            return
        self.diagnostics.append(error(
            "AD506",
            f"{addr} already exists on the platform (platform id "
            f"{res.platform_id(self.live, addr)}) but is not in this workspace's state; "
            f"adaptive-deploy does not take over objects it did not create: {way_out}",
            path=_yaml_path(addr),
        ))

    def _claimed(self, addr: str) -> bool:
        """AD509 when other workspaces of a shared state manage `addr` on this platform."""
        others = sorted(set(self.claims.get(addr, ())))
        if not others:
            return False
        names = ", ".join(f"'{w}'" for w in others)
        what = ("its compute config" if Address.parse(addr).type is ResourceType.MODEL
                else "it")
        self.diagnostics.append(error(
            "AD509",
            f"{addr}: workspace {names} already manages {what} on this platform (shared "
            "state); two workspaces would undo each other's changes, so this one leaves it "
            "alone: manage it in one workspace only (remove it from this configuration, or "
            "from the other workspace's and apply there)",
            path=_yaml_path(addr),
        ))
        return True

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
                # An error (README: every AD5xx makes the plan not applyable): a mistyped
                # --target in CI must fail, not plan nothing and report success.
                self.diagnostics.append(error(
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
                    "(restarted in place) can be replaced",
                ))
            elif addr not in self.desired:
                self.diagnostics.append(error(
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
            if live is None and record.pending:
                continue  # its create never reached the platform: nothing was changed outside
            if live is None:
                items.append(DriftItem(addr, None, _observable(rtype.value, applied), None,
                                       self._gone_message(addr)))
                continue
            if self.relation(addr) == "replaced" and rtype is not ResourceType.MODEL:
                items.append(DriftItem(
                    addr, None, _observable(rtype.value, applied), None,
                    f"Deleted and re-created outside adaptive-deploy: {self._replaced_text(addr)}",
                ))
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
            elif self._claimed(addr):
                continue
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
        self._model_deletions(out)
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
        in ERROR (it never loaded), or named by --replace, is restarted in place: turned off
        and on again with its whole placement, so it stays bound and its model is kept."""
        a = Address.parse(addr)
        d = self.desired[addr]
        live = self.observed.get(addr)
        relation = self.relation(addr)
        record = self.records.get(addr) if relation != "replaced" else None
        applied = record.applied if record is not None else None
        hidden = res.unobservable_fields(a.type.value)
        wo = res.write_only_fields(a.type.value)
        ownable = a.type in (ResourceType.PROJECT, ResourceType.DEPLOYMENT)

        if ownable and relation in ("unmanaged", "replaced") and not self._adopt(addr):
            self._refuse_existing(addr, relation)
            return None
        if live is not None and (force_replace or failed is not None):
            # Keep the field diff an update would have had (with its causes): the status
            # itself is neither drift nor a configuration change.
            normal = self._resource(addr, False)
            change = normal if normal is not None else self._base(addr, Action.NOOP)
            change.action = Action.UPDATE
            change.replace = True
            change.notes.append(
                ("restart requested with --replace" if force_replace
                 else f"the platform reports ERROR ({failed})")
                + ": restarted in place — turned off, then on again with the whole placement "
                "and the draft steps; the model stays bound"
            )
            return change
        if live is None:
            if a.type is ResourceType.MODEL:
                return self._missing_model(addr)
            change = self._base(addr, Action.CREATE)
            change.after = {**res.create_defaults(addr), **d}
            gone = record is not None and not record.pending
            if gone:
                change.notes.append(f"{self._gone_message(addr)}: apply creates it again")
            elif record is not None:
                change.notes.append("an earlier apply recorded this create, but it did not "
                                    "reach the platform: apply creates it")
            if a.type is ResourceType.PROJECT and a.name in self.live.projects:
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

        # The field diff and notes first: the Change itself (fingerprint, dependencies) is
        # only built for an address that has something to show, a few in a large plan.
        diff: list[FieldDiff] = []
        notes: list[str] = []
        for f, dv in d.items():
            if f in hidden:
                av = _applied_value(applied, f)
                if not res.values_equal(f, av, dv):
                    diff.append(FieldDiff(f, av, dv, Cause.CONFIG.value, f in wo))
                continue
            lv = live.get(f)
            if res.values_equal(f, dv, lv):
                if applied is not None and f in applied and not res.values_equal(
                    f, applied[f], dv
                ):
                    notes.append(
                        f"{f}: the platform already matches the configuration "
                        "(converged); apply refreshes the state record"
                    )
                continue
            diff.append(FieldDiff(f, lv, dv, _cause(f, dv, applied, lv).value))
        if record is None:
            how = " (adopt: true)" if ownable else ""
            if relation == "replaced":
                notes.append(f"{self._replaced_text(addr)}: adopted{how}"
                             + (" and updated" if diff else ""))
            else:
                notes.append(
                    f"exists on the platform but not in state: adopted{how}"
                    + (" and updated" if diff else "")
                )
        elif record.pending:
            notes.append("created by an interrupted apply (its create was recorded in "
                         "state first): recognised as this workspace's")
        elif not diff and any(
            f not in record.applied or not res.values_equal(f, record.applied[f], d[f])
            for f in d
        ) and not notes:
            notes.append("state record refreshed to the configuration")
        if not diff and not notes:
            return None
        change = self._base(addr, Action.NOOP)
        change.diff = diff
        change.notes = notes
        if diff:
            change.action = Action.UPDATE
            change.causes = _causes(diff)
        return change

    def _missing_model(self, addr: str) -> Change | None:
        key = Address.parse(addr).name
        spec = self.ws.models[key]
        if not self.desired[addr]:
            return None  # nothing to configure; the rules report a model that does not exist
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
            change.notes.append(
                "its create never reached the platform: only the state record is dropped"
                if record.pending else
                "already gone from the platform: only the state record is dropped"
            )
        elif self.relation(addr) == "replaced":
            change = self._base(addr, Action.FORGET)
            change.notes.append(f"not the object this workspace created — "
                                f"{self._replaced_text(addr)}: left alone, only the state "
                                "record is dropped")
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
        """Live projects and deployments neither in config nor in state (or in state, but as
        another object than the live one)."""
        out = []
        for addr in self.observed:
            rtype = Address.parse(addr).type
            if rtype not in (ResourceType.PROJECT, ResourceType.DEPLOYMENT):
                continue
            if addr in self.desired:
                continue
            if addr not in self.records or self.relation(addr) == "replaced":
                out.append(addr)
        return _ordered(out)

    # -- model deletion with the last binding --------------------------------------------

    def _model_deletions(self, changes: list[Change]) -> None:
        """Mark deployment deletes that remove a model's last project binding; refuse those
        of models this workspace does not manage (AD508) or binds again later (AD510)."""
        deleting: dict[str, list[Change]] = {}
        for c in changes:
            a = Address.parse(c.address)
            if a.type is ResourceType.DEPLOYMENT and c.action is Action.DELETE:
                deleting.setdefault(a.project_and_model[1], []).append(c)
        if not deleting:
            return
        # Indexes built once (a mass delete would otherwise scan every live deployment and
        # every change per model): live bindings as LiveState.bindings gives them, and the
        # deployment creates per model.
        live = self.live
        binding: dict[str, set[str]] = {}
        for (pkey, mkey) in live.deployments:
            if not (pkey in live.projects and live.projects[pkey].is_archived):
                binding.setdefault(mkey, set()).add(pkey)
        creates: dict[str, list[str]] = {}
        for c in changes:
            if c.action is Action.CREATE:
                a = Address.parse(c.address)
                if a.type is ResourceType.DEPLOYMENT:
                    creates.setdefault(a.project_and_model[1], []).append(c.address)
        for model, deletes in sorted(deleting.items()):
            unbound = {Address.parse(c.address).project_and_model[0] for c in deletes}
            bound = set(live.bound.get(model, ())) | binding.get(model, set())
            if bound - unbound:
                continue  # still bound elsewhere: the model stays
            managed = str(Address.model(model)) in self.records
            rebinds = sorted(creates.get(model, []))
            together = [c.address for c in deletes]
            for c in deletes:
                c.deletes_model = model
                others = [x for x in together if x != c.address]
                c.notes.append(
                    f"removes the last project binding of model {model}"
                    + (f" (with {', '.join(others)})" if others else "")
                    + ": the platform then DELETES THE MODEL FROM STORAGE unless it is "
                    "published organisation-wide, which adaptive-deploy cannot see"
                )
                if managed and str(Address.model(model)) in self.desired:
                    c.notes.append(f"models.{model} still configures its compute config: "
                                   "remove it too, or the next plan finds the model missing")
            where = ", ".join(together)
            if not managed:
                self.diagnostics.append(error(
                    "AD508",
                    f"{where}: deleting it removes the last project binding of model {model}, "
                    "and the platform then deletes the model from storage (unless it is "
                    f"published organisation-wide, which no field shows); model.{model} is not "
                    "managed by this workspace (not in its state), so adaptive-deploy refuses. "
                    "Keep the deployment (desired_online: false stops serving it), or bind the "
                    "model to another project first",
                    path=_yaml_path(together[0]) if together[0] in self.desired else (),
                ))
            if rebinds:
                self.diagnostics.append(error(
                    "AD510",
                    f"{where}: deletes run first, so the platform deletes model {model} with "
                    f"its last binding before {', '.join(rebinds)} binds it again. Apply the "
                    f"new deployment first (plan --target {rebinds[0]}), then remove the old one",
                ))


def _yaml_path(addr: str) -> YamlPath:
    """Where a resource lives in the configuration."""
    a = Address.parse(addr)
    if a.type is ResourceType.PROJECT:
        return ("projects", a.name)
    if a.type is ResourceType.DEPLOYMENT:
        pkey, mkey = a.project_and_model
        return ("projects", pkey, "deployments", mkey)
    if a.type is ResourceType.MODEL:
        return ("models", a.name)
    if a.type is ResourceType.JOB:
        return ("jobs", a.name)
    return ()


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
    memory: Sequence[Row],
    memory_before: Sequence[Row],
) -> list[dict[str, Any]]:
    """Fit rows of the deployments the plan touches, with the before -> after total per GPU.

    Touched: deployments created, updated or deleted, every deployment of a model whose
    compute config changes, and the base deployment of a changed adapter deployment. Rows
    are JSON forms or `FitRow`s, turned into JSON forms only when touched.
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
    if changed_models:
        for pkey, project in workspace.projects.items():
            for mkey in project.deployments:
                spec = workspace.models.get(mkey)
                if mkey in changed_models or (spec is not None
                                              and spec.adapter_of in changed_models):
                    touched.add(str(Address.deployment(pkey, mkey)))
    if not touched:
        return []

    def key(row: Mapping[str, Any]) -> tuple[str, str, str]:
        return (_row_address(row), str(row.get("pool", "")), str(row.get("gpu", "")))

    shown_before = [_row_dict(r) for r in memory_before if _row_address(r) in touched]
    before = {key(r): r.get("total_gib") for r in shown_before}
    out: list[dict[str, Any]] = []
    for row in memory:
        addr = _row_address(row)
        if addr in touched and addr not in deleted:
            shown = _row_dict(row)
            out.append({**shown, "address": addr,
                        "before_gib": None if addr in created else before.get(key(shown)),
                        "after_gib": shown.get("total_gib")})
    for shown in shown_before:
        addr = _row_address(shown)
        if addr in deleted:
            out.append({**shown, "address": addr, "before_gib": shown.get("total_gib"),
                        "after_gib": None, "verdict": "removed"})
    out.sort(key=lambda r: (r["address"], str(r.get("pool", "")), str(r.get("gpu", ""))))
    return out


class _FitRow(Protocol):
    """What the planner reads of a `rules.memory.FitRow`."""

    @property
    def deployment(self) -> str: ...

    def to_dict(self) -> dict[str, Any]: ...


Row = Mapping[str, Any] | _FitRow


def _row_dict(row: Row) -> Mapping[str, Any]:
    return row if isinstance(row, Mapping) else row.to_dict()


def _row_address(row: Row) -> str:
    if isinstance(row, Mapping):
        dep = str(row.get("address") or row.get("deployment") or "")
    else:
        dep = row.deployment
    return dep if dep.startswith("deployment.") else f"deployment.{dep}"
