"""The plan as plain data (SPEC §5): `Action`, `FieldDiff`, `Change`, `DriftItem`, `Plan`.

A plan is what `plan` shows and what `apply` executes. `Plan.to_dict()` is the versioned JSON
document (`format_version` "1.0") that saved plan files and every renderer read, so the human
and machine views cannot disagree. `Plan.from_dict()` refuses an unknown major version.

Action symbols (ASCII so they survive any terminal and a PR comment):

    +    create   the resource is created on the platform
    ~    update   fields of an existing resource change
    -    delete   the resource is removed (a project is archived)
    ~    update with `replace`: the deployment is restarted in place (turned off, then on
         again with its whole placement); it stays bound, so its model is never deleted
    >    run      a job is started
    /    forget   the state record is dropped; the platform object is left alone
         no-op    nothing to do on the platform (converged fields, job already running)

Change semantics the executor relies on:

- `after` holds the full desired value of the managed fields (templates, never secrets); a
  project create also carries its default name. `before` is the live value (None when absent).
- `diff` lists only fields whose desired value differs from the live one (write-only and
  state-only fields: from the last applied one).
- `replace` (deployments only, on an update) means: restart in place — updateModelService
  with desiredOnline false, wait until it is off, then desiredOnline true with the whole
  placement and the draft steps, and wait for ONLINE. Never remove-then-deploy: removing a
  model's last project binding deletes the model from storage.
- `deletes_model` on a deployment delete names the model whose last project binding it removes
  (the platform then deletes that model from storage unless it is published organisation-wide,
  which no field shows); apply needs --allow-destroy for it.
- A `no-op` change appears only when it carries notes; it asks the executor to write the state
  record (applied = `after`, observed = live) without any platform call.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from adaptive_deploy.errors import PlanFormatError

FORMAT_VERSION = "1.0"
SUPPORTED_MAJOR = 1
SENSITIVE = "(sensitive)"


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    RUN = "run"
    FORGET = "forget"
    NOOP = "no-op"

    @property
    def symbol(self) -> str:
        return _SYMBOLS[self]


_SYMBOLS = {
    Action.CREATE: "+",
    Action.UPDATE: "~",
    Action.DELETE: "-",
    Action.RUN: ">",
    Action.FORGET: "/",
    Action.NOOP: " ",
}


class Cause(StrEnum):
    CONFIG = "config"   # config differs from the last applied value
    DRIFT = "drift"     # live differs from the last applied value
    BOTH = "both"


@dataclass
class FieldDiff:
    path: str
    before: Any
    after: Any
    cause: str              # Cause value
    write_only: bool = False

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "path": self.path, "before": self.before, "after": self.after, "cause": self.cause,
        }
        if self.write_only:
            d["write_only"] = True
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FieldDiff:
        return cls(d["path"], d.get("before"), d.get("after"), d["cause"],
                   bool(d.get("write_only", False)))


@dataclass
class Change:
    address: str
    type: str                                   # ResourceType value
    action: Action
    causes: list[str] = field(default_factory=list)   # Cause values behind the action
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    diff: list[FieldDiff] = field(default_factory=list)
    live_fingerprint: str = "absent"
    sensitive_paths: list[str] = field(default_factory=list)
    depends_on: list[str] = field(default_factory=list)
    write_only_paths: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    replace: bool = False                       # deployment update: restart in place
    deletes_model: str | None = None            # model deleted with its last binding

    @property
    def symbol(self) -> str:
        return self.action.symbol

    def to_dict(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "type": self.type,
            "action": self.action.value,
            "symbol": self.symbol,
            "replace": self.replace,
            "causes": list(self.causes),
            "before": json_copy(self.before),
            "after": json_copy(self.after),
            "diff": [d.to_dict() for d in self.diff],
            "live_fingerprint": self.live_fingerprint,
            "sensitive_paths": list(self.sensitive_paths),
            "write_only_paths": list(self.write_only_paths),
            "depends_on": list(self.depends_on),
            "notes": list(self.notes),
            "deletes_model": self.deletes_model,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Change:
        return cls(
            address=d["address"],
            type=d["type"],
            action=Action(d["action"]),
            causes=list(d.get("causes", [])),
            before=json_copy(d.get("before")),
            after=json_copy(d.get("after")),
            diff=[FieldDiff.from_dict(x) for x in d.get("diff", [])],
            live_fingerprint=d.get("live_fingerprint", "absent"),
            sensitive_paths=list(d.get("sensitive_paths", [])),
            depends_on=list(d.get("depends_on", [])),
            write_only_paths=list(d.get("write_only_paths", [])),
            notes=list(d.get("notes", [])),
            replace=bool(d.get("replace", False)),
            deletes_model=d.get("deletes_model"),
        )


@dataclass
class DriftItem:
    """A field changed outside adaptive-deploy: live differs from the last applied value.

    `path` None means the whole object: `after` None = deleted outside adaptive-deploy.
    """

    address: str
    path: str | None
    before: Any                 # last applied
    after: Any                  # live
    message: str = "Changed outside adaptive-deploy"

    def to_dict(self) -> dict[str, Any]:
        return {
            "address": self.address, "path": self.path, "before": self.before,
            "after": self.after, "message": self.message,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DriftItem:
        return cls(d["address"], d.get("path"), d.get("before"), d.get("after"),
                   d.get("message", "Changed outside adaptive-deploy"))


@dataclass
class PlanOptions:
    targets: list[str] = field(default_factory=list)
    replace: list[str] = field(default_factory=list)
    refresh_only: bool = False
    destroy: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"targets": list(self.targets), "replace": list(self.replace),
                "refresh_only": self.refresh_only, "destroy": self.destroy}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PlanOptions:
        return cls(list(d.get("targets", [])), list(d.get("replace", [])),
                   bool(d.get("refresh_only", False)), bool(d.get("destroy", False)))


@dataclass
class Plan:
    tool_version: str
    workspace: str
    created_at: str                              # ISO 8601, UTC
    config_digest: str
    lineage: str | None
    serial: int | None
    changes: list[Change] = field(default_factory=list)
    drift: list[DriftItem] = field(default_factory=list)
    memory: list[dict[str, Any]] = field(default_factory=list)
    diagnostics: list[dict[str, Any]] = field(default_factory=list)   # Diagnostic.to_dict()
    unmanaged: list[str] = field(default_factory=list)
    options: PlanOptions = field(default_factory=PlanOptions)
    notes: list[str] = field(default_factory=list)
    # The identity of the platform planned against (`identity.PlatformIdentity.to_dict()`).
    platform: dict[str, Any] | None = None
    format_version: str = FORMAT_VERSION

    @property
    def summary(self) -> dict[str, int]:
        """Counts per SPEC §5; a restart in place (`replace`) is a change."""
        s = {"add": 0, "change": 0, "destroy": 0, "run": 0, "forget": 0}
        for c in self.changes:
            if c.action is Action.CREATE:
                s["add"] += 1
            elif c.action is Action.UPDATE:
                s["change"] += 1
            elif c.action is Action.DELETE:
                s["destroy"] += 1
            elif c.action is Action.RUN:
                s["run"] += 1
            elif c.action is Action.FORGET:
                s["forget"] += 1
        return s

    @property
    def has_changes(self) -> bool:
        """True when apply would do anything on the platform or drop a state record."""
        return any(c.action is not Action.NOOP for c in self.changes)

    @property
    def applyable(self) -> bool:
        """False when any diagnostic is an error (protected deletes carry one)."""
        return not any(d.get("severity") == "error" for d in self.diagnostics)

    def change(self, address: str) -> Change | None:
        """The change planned for `address`, if any."""
        return next((c for c in self.changes if c.address == address), None)

    @property
    def deleted_models(self) -> list[str]:
        """Models the platform deletes from storage when this plan removes their last binding."""
        return sorted({c.deletes_model for c in self.changes if c.deletes_model})

    def to_dict(self) -> dict[str, Any]:
        """The JSON plan document (SPEC §5). Saved plans keep templates, never secrets."""
        return {
            "format_version": self.format_version,
            "tool_version": self.tool_version,
            "workspace": self.workspace,
            "created_at": self.created_at,
            "config_digest": self.config_digest,
            "state": {"lineage": self.lineage, "serial": self.serial},
            "options": self.options.to_dict(),
            "summary": self.summary,
            "applyable": self.applyable,
            "has_changes": self.has_changes,
            "drift": [d.to_dict() for d in self.drift],
            "changes": [c.to_dict() for c in self.changes],
            "memory": json_copy(self.memory),
            "diagnostics": json_copy(self.diagnostics),
            "unmanaged": list(self.unmanaged),
            "notes": list(self.notes),
            "deleted_models": self.deleted_models,
            "platform": json_copy(self.platform),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Plan:
        """Rebuild a plan; errors.PlanFormatError for an unknown major version or bad shape."""
        if not isinstance(d, dict):
            raise PlanFormatError("not a plan: expected a JSON object")
        version = str(d.get("format_version", ""))
        major = version.split(".", 1)[0]
        if not major.isdigit():
            raise PlanFormatError(f"not a plan: missing or invalid format_version {version!r}")
        if int(major) != SUPPORTED_MAJOR:
            raise PlanFormatError(
                f"plan format version {version} is not supported by this adaptive-deploy "
                f"(supports {SUPPORTED_MAJOR}.x); create the plan again with this version"
            )
        try:
            state = d.get("state") or {}
            return cls(
                tool_version=d["tool_version"],
                workspace=d["workspace"],
                created_at=d["created_at"],
                config_digest=d["config_digest"],
                lineage=state.get("lineage"),
                serial=state.get("serial"),
                changes=[Change.from_dict(c) for c in d.get("changes", [])],
                drift=[DriftItem.from_dict(x) for x in d.get("drift", [])],
                memory=json_copy(d.get("memory", [])),
                diagnostics=json_copy(d.get("diagnostics", [])),
                unmanaged=list(d.get("unmanaged", [])),
                options=PlanOptions.from_dict(d.get("options") or {}),
                notes=list(d.get("notes", [])),
                platform=json_copy(d.get("platform")),
                format_version=version,
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise PlanFormatError(f"malformed plan: {exc!r}") from None


def json_copy(value: Any) -> Any:
    """A deep copy of JSON-shaped data (dicts, lists, tuples, scalars), several times faster
    than `copy.deepcopy` on a large plan; anything else is handed to `copy.deepcopy`."""
    kind = type(value)
    if kind is dict:
        return {k: json_copy(v) for k, v in value.items()}
    if kind is list:
        return [json_copy(v) for v in value]
    if value is None or kind in _ATOMS:
        return value
    if kind is tuple:
        return tuple(json_copy(v) for v in value)
    return copy.deepcopy(value)


_ATOMS = frozenset({str, int, float, bool})


def redact(plan_dict: dict[str, Any]) -> dict[str, Any]:
    """A copy of a plan document with every sensitive value replaced by "(sensitive)".

    For display (renderers) only: a saved plan keeps `${env:NAME}` templates so apply can
    resolve them.
    """
    # Only changes with sensitive paths are modified: those are copied, the others (all but a
    # few in a large plan) and the big read-only lists are shared with `plan_dict`.
    shared = ("changes", "memory", "drift", "diagnostics")
    out = {k: v if k in shared else json_copy(v) for k, v in plan_dict.items()}
    if isinstance(out.get("changes"), list):
        out["changes"] = [json_copy(c) if isinstance(c, dict) and c.get("sensitive_paths") else c
                          for c in out["changes"]]
    for change in out.get("changes", []):
        paths = change.get("sensitive_paths") or []
        if not paths:
            continue
        for side in ("before", "after"):
            if isinstance(change.get(side), dict):
                for p in paths:
                    _redact_path(change[side], p.split("."))
        for d in change.get("diff", []):
            if any(_covers(p, d["path"]) for p in paths):
                d["before"] = SENSITIVE if d.get("before") is not None else None
                d["after"] = SENSITIVE if d.get("after") is not None else None
            else:
                for p in paths:
                    if _covers(d["path"], p):
                        rest = p[len(d["path"]) + 1:].split(".")
                        for side in ("before", "after"):
                            if isinstance(d.get(side), dict):
                                _redact_path(d[side], rest)
    return out


def is_sensitive(change: dict[str, Any], path: str) -> bool:
    """True when `path` of a change dict is, or lies under, a sensitive path."""
    return any(_covers(p, path) for p in change.get("sensitive_paths") or [])


def _covers(outer: str, inner: str) -> bool:
    return inner == outer or inner.startswith(outer + ".")


def _redact_path(obj: dict[str, Any], parts: list[str]) -> None:
    head, rest = parts[0], parts[1:]
    if head not in obj:
        return
    if not rest:
        obj[head] = SENSITIVE
    elif isinstance(obj[head], dict):
        _redact_path(obj[head], rest)
