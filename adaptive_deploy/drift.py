"""Drift findings: what differs between the last applied state, the platform and the config.

Pure: built from a plan document (`Plan.to_dict()`, made by the planner from config + state +
live) and the state records' last applied values. There is no second diff engine: the
planner's `drift` items say where live differs from the last applied value, and its changes
(with their causes) say where the configuration differs from it.

Each finding has a kind:

- ``drift``: changed outside adaptive-deploy (live ≠ last applied), config unchanged;
- ``pending``: the configuration was edited but not applied (config ≠ last applied);
- ``both``: both moved (including "the platform already matches the edited config").

Write-only fields (`num_draft_steps`) cannot be read back: they are listed as "not observable
on the platform" and never counted as drift. Sensitive values arrive redacted (the plan
document is redacted first), so a report never holds a secret.

The report is a versioned document (`format_version` "1.0"); the renderers in
`adaptive_deploy.render.drift` only format it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from adaptive_deploy.addresses import Address, ResourceType, type_rank
from adaptive_deploy.plan import resources as res

FORMAT_VERSION = "1.0"

DRIFT = "drift"
PENDING = "pending"
BOTH = "both"
KINDS = (DRIFT, PENDING, BOTH)

NOT_OBSERVABLE = "not observable on the platform"


@dataclass(frozen=True)
class Finding:
    """One difference. `field` None means the whole resource (created, deleted, to run)."""

    address: str
    type: str
    field: str | None
    kind: str                      # drift | pending | both
    last_applied: Any              # None: never applied
    live: Any                      # None: absent on the platform (or not observable)
    desired: Any                   # None: not in the configuration
    message: str
    observable: bool = True        # False for write-only / state-only fields

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _kind(drifted: bool, pending: bool) -> str:
    if drifted and pending:
        return BOTH
    return DRIFT if drifted else PENDING


def _health_replacement(change: dict[str, Any], requested: set[str]) -> bool:
    """A replacement the planner chose because the platform reports the deployment in ERROR
    (not one asked for with --replace)."""
    return bool(change.get("replace")) and change["address"] not in requested


def build_report(
    plan: Mapping[str, Any],
    applied: Mapping[str, Mapping[str, Any]],
) -> dict[str, Any]:
    """The drift report document for a plan document and the last applied value per address.

    `plan` should be redacted (`plan.model.redact`) when it carries sensitive values; values
    are copied from it as they are.
    """
    drift_items = list(plan.get("drift") or [])
    changes = list(plan.get("changes") or [])
    requested = set((plan.get("options") or {}).get("replace") or [])
    changes_by_addr = {c["address"]: c for c in changes}
    # The first change of each address, for the configured value of a field (one lookup per
    # drift item, not a scan of every change).
    first_change: dict[str, Any] = {}
    for c in changes:
        first_change.setdefault(c["address"], c)
    findings: list[Finding] = []
    covered: set[tuple[str, str | None]] = set()

    # Whole-resource findings: the plan creates, deletes, forgets or runs something.
    gone = {d["address"]: d for d in drift_items if d.get("path") is None}
    for c in changes:
        action = c["action"]
        if action in ("update", "no-op") or _health_replacement(c, requested):
            continue
        addr = c["address"]
        drifted = addr in gone
        pending = "config" in c.get("causes", []) or (drifted and c.get("after") is None)
        findings.append(Finding(
            address=addr, type=c["type"], field=None, kind=_kind(drifted, pending),
            last_applied=_observable(c["type"], applied.get(addr)),
            live=c.get("before"), desired=c.get("after"),
            message=_resource_message(c, gone.get(addr)),
        ))
        covered.add((addr, None))

    # Field findings from updates: the planner's cause says which side moved. A deployment
    # replaced because the platform reports it in ERROR is health, not drift: only its real
    # field differences count.
    for c in changes:
        if c["action"] != "update" and not _health_replacement(c, requested):
            continue
        addr = c["address"]
        record = applied.get(addr)
        for d in c.get("diff", []):
            path = d["path"]
            hidden = path in res.unobservable_fields(c["type"])
            cause = d.get("cause", "config")
            if hidden:
                findings.append(Finding(
                    address=addr, type=c["type"], field=path, kind=PENDING,
                    last_applied=d.get("before"), live=None, desired=d.get("after"),
                    message=f"changed in the configuration; {NOT_OBSERVABLE}", observable=False,
                ))
            else:
                kind = {"drift": DRIFT, "both": BOTH}.get(cause, PENDING)
                findings.append(Finding(
                    address=addr, type=c["type"], field=path, kind=kind,
                    last_applied=record.get(path) if record is not None else None,
                    live=d.get("before"), desired=d.get("after"),
                    message=_field_message(kind, record is None),
                ))
            covered.add((addr, path))

    # Drift the changes do not show: the platform already matches an edited config
    # (converged), or the resource is no longer in the configuration.
    for item in drift_items:
        addr, path = item["address"], item.get("path")
        if (addr, path) in covered or (addr, None) in covered:
            continue
        change = changes_by_addr.get(addr)
        in_config = change is None or change.get("after") is not None
        desired = _desired_field(first_change.get(addr), path) if in_config else None
        if path is None:
            findings.append(Finding(
                address=addr, type=Address.parse(addr).type.value, field=None, kind=DRIFT,
                last_applied=item.get("before"), live=None, desired=desired,
                message=str(item.get("message") or "Deleted outside adaptive-deploy"),
            ))
            continue
        converged = change is not None and res.values_equal(path, desired, item.get("after"))
        findings.append(Finding(
            address=addr, type=Address.parse(addr).type.value, field=path,
            kind=BOTH if converged else DRIFT,
            last_applied=item.get("before"), live=item.get("after"), desired=desired,
            message=(
                "the platform already matches the edited configuration; apply records it"
                if converged else "changed outside adaptive-deploy"
            ),
        ))

    findings.sort(key=_finding_order)
    unobservable = _unobservable(applied, plan, covered)
    summary = {k: sum(1 for f in findings if f.kind == k) for k in KINDS}
    summary["total"] = len(findings)
    summary["unobservable"] = len(unobservable)
    return {
        "format_version": FORMAT_VERSION,
        "tool_version": plan.get("tool_version"),
        "workspace": plan.get("workspace"),
        "checked_at": plan.get("created_at"),
        "state": dict(plan.get("state") or {}),
        "summary": summary,
        "has_drift": bool(findings),
        "findings": [f.to_dict() for f in findings],
        "unobservable": unobservable,
        "unmanaged": list(plan.get("unmanaged") or []),
        "diagnostics": list(plan.get("diagnostics") or []),
    }


def _finding_order(f: Finding) -> tuple[int, int, str, str]:
    rank = {DRIFT: 0, BOTH: 1, PENDING: 2}[f.kind]
    return (rank, _type_rank(f.address), f.address, f.field or "")


def _type_rank(address: str) -> int:
    return type_rank(Address.parse(address).type)


def _observable(rtype: str, fields: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if fields is None:
        return None
    hidden = res.unobservable_fields(rtype)
    return {k: v for k, v in fields.items() if k not in hidden}


def _desired_field(change: Mapping[str, Any] | None, path: str | None) -> Any:
    """The configured value of a field when the plan knows it (the address's first change's
    `after`)."""
    if change is None or change.get("after") is None:
        return None
    after = change["after"]
    return after if path is None else after.get(path)


def _resource_message(change: Mapping[str, Any], gone: Mapping[str, Any] | None) -> str:
    action = change["action"]
    if gone is not None:
        what = str(gone.get("message") or "Deleted outside adaptive-deploy")
        if action == "create":
            return f"{what}; apply creates it again"
        return f"{what} and removed from the configuration; apply drops the state record"
    if action == "create":
        if change.get("notes"):
            return f"in the configuration, not applied yet ({change['notes'][0]})"
        return "in the configuration, not applied yet; apply creates it"
    if action == "run":
        return "job to run: apply runs it"
    if action == "delete":
        return "removed from the configuration; apply deletes it"
    if action == "forget":
        return "removed from the configuration; apply forgets it (left alone on the platform)"
    return f"apply would {action} it"


def _field_message(kind: str, never_applied: bool) -> str:
    if kind == DRIFT:
        return "changed outside adaptive-deploy; apply restores the configured value"
    if kind == BOTH:
        return "changed outside adaptive-deploy and in the configuration"
    if never_applied:
        return "not in state yet; apply sets the configured value"
    return "changed in the configuration, not applied yet"


def _unobservable(
    applied: Mapping[str, Mapping[str, Any]],
    plan: Mapping[str, Any],
    covered: set[tuple[str, str | None]],
) -> list[dict[str, Any]]:
    """Write-only fields the workspace manages: compared with the last applied value only."""
    gone = {d["address"] for d in plan.get("drift") or [] if d.get("path") is None}
    out = []
    for addr in sorted(applied):
        rtype = Address.parse(addr).type
        if rtype is ResourceType.COMPUTE_POOL or addr in gone or (addr, None) in covered:
            continue
        for f in sorted(res.write_only_fields(rtype.value)):
            if f not in applied[addr] or (addr, f) in covered:
                continue
            out.append({
                "address": addr, "field": f, "last_applied": applied[addr][f],
                "message": NOT_OBSERVABLE,
            })
    return out


def exit_code(report: Mapping[str, Any]) -> int:
    """0 nothing found, 2 drift or pending changes found, 1 the config cannot be planned
    (an error diagnostic) with nothing else to report."""
    if report.get("findings"):
        return 2
    if any(d.get("severity") == "error" for d in report.get("diagnostics") or []):
        return 1
    return 0
