"""Semantic config-to-config diff: what `diff --base REF` reports (SPEC §4).

Two merged raw configurations (as `config.loader.load_config` returns them, `${env:NAME}`
templates unresolved) are split into resources by address (`model.x`, `project.x`,
`deployment.p/m`, `job.x`, `compute_pool.x`) plus the workspace-wide sections (`version`,
`workspace`, `platform`, `state`, `rules`), and each pair is compared with deepdiff. Because
the comparison runs on the merged data, YAML formatting, comments, key order and moving a key
from one file to another are not differences; a placement's `compute_pools` is compared as a
set. Templates are compared as text and never resolved, so no secret is ever read.

For changes that can move GPU memory (kv_cache_len, tp, precision, draft, adapters, placement
pools, architecture, pool GPU types, memory rules), `memory_impact` compares the memory-fit rows
of both sides per deployment and pool, and names the field changes that explain each one.

Everything here is pure: no I/O, no printing. Renderers live in `render/configdiff.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from adaptive_deploy.addresses import Address, ResourceType, type_rank
from adaptive_deploy.diagnostics import YamlPath, format_path

FieldKind = Literal["added", "removed", "changed"]
ResourceAction = Literal["add", "remove", "change"]

FORMAT_VERSION = "1.0"

# Workspace-wide sections, reported under their own name as the "address".
SETTINGS_SECTIONS = ("version", "workspace", "platform", "state", "rules")

# Fields whose change can move a deployment's per-GPU memory, per resource type. A prefix
# matches every field under it (an inline architecture mapping, every memory rule).
_MEMORY_FIELDS: dict[str, tuple[YamlPath, ...]] = {
    "model": (
        ("architecture",), ("precision",), ("kv_cache_dtype",), ("draft",), ("adapter_of",),
        ("rank",), ("compute_config", "tp"), ("compute_config", "kv_cache_len"),
    ),
    "deployment": (("placement", "compute_pools"),),
    "compute_pool": (("gpu",), ("gpus_per_replica",), ("memory",)),
    "rules": (("memory",), ("adapters_per_base_model",)),
}

# Numbers of a memory-fit row that, when different, make the row an impact worth reporting.
_ROW_FIELDS = ("gpu", "tp", "kv_cache_len", "total_gib", "usable_gib", "verdict")


@dataclass(frozen=True)
class FieldChange:
    """One field of one resource: added (before absent), removed (after absent) or changed."""

    path: str
    kind: FieldKind
    before: Any = None
    after: Any = None
    affects_memory: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path, "kind": self.kind, "before": self.before, "after": self.after,
            "affects_memory": self.affects_memory,
        }


@dataclass(frozen=True)
class ResourceDiff:
    """The differences of one address between base and head."""

    address: str
    action: ResourceAction
    fields: tuple[FieldChange, ...] = ()

    @property
    def affects_memory(self) -> bool:
        # A deployment added or removed moves memory even with no fields of its own (an
        # adapter takes a slot on its base model's replicas).
        if self.action != "change" and self.address.startswith("deployment."):
            return True
        return any(f.affects_memory for f in self.fields)

    def to_dict(self) -> dict[str, Any]:
        return {
            "address": self.address, "action": self.action,
            "fields": [f.to_dict() for f in self.fields],
        }


@dataclass(frozen=True)
class MemoryImpact:
    """How one deployment's per-GPU memory on one pool moves from base to head.

    `before` / `after` are memory-fit rows (`FitRow.to_dict()`), None on the side where the
    deployment does not run on that pool. `causes` name the field changes that explain it,
    e.g. `model.qwen-3-8b compute_config.kv_cache_len 300000 → 400000`.
    """

    deployment: str
    pool: str
    before: Mapping[str, Any] | None
    after: Mapping[str, Any] | None
    causes: tuple[str, ...] = ()

    @property
    def gpu(self) -> str | None:
        row = self.after or self.before or {}
        gpu = row.get("gpu")
        return str(gpu) if gpu is not None else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "deployment": self.deployment, "pool": self.pool, "gpu": self.gpu,
            "before": dict(self.before) if self.before is not None else None,
            "after": dict(self.after) if self.after is not None else None,
            "causes": list(self.causes),
        }


@dataclass
class ConfigDiff:
    """The result of comparing a base configuration with a head configuration."""

    base: str
    head: str
    resources: list[ResourceDiff] = field(default_factory=list)
    memory: list[MemoryImpact] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def has_differences(self) -> bool:
        return bool(self.resources)

    def summary(self) -> dict[str, int]:
        counts = {"add": 0, "change": 0, "remove": 0}
        for r in self.resources:
            counts[r.action] += 1
        return counts

    def to_dict(self) -> dict[str, Any]:
        """The JSON document every renderer works from."""
        return {
            "format_version": FORMAT_VERSION,
            "base": self.base,
            "head": self.head,
            "changes": [r.to_dict() for r in self.resources],
            "memory": [m.to_dict() for m in self.memory],
            "notes": list(self.notes),
            "summary": self.summary(),
            "differences": self.has_differences,
        }


# ---------------------------------------------------------------------------------------------
# Splitting a merged configuration into resources


def resources_of(raw: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Address → the resource's raw fields. Projects exclude their `deployments`, which are
    resources of their own; workspace-wide sections appear under their section name."""
    out: dict[str, dict[str, Any]] = {}
    for section in SETTINGS_SECTIONS:
        if section in raw:
            value = raw[section]
            # Scalars (version, workspace) are wrapped so every resource is a mapping.
            out[section] = dict(value) if isinstance(value, Mapping) else {"value": value}
    for key, spec in _mapping(raw.get("compute_pools")).items():
        out[str(Address.compute_pool(key))] = dict(_mapping(spec))
    for key, spec in _mapping(raw.get("models")).items():
        out[str(Address.model(key))] = dict(_mapping(spec))
    for pkey, pspec in _mapping(raw.get("projects")).items():
        pfields = dict(_mapping(pspec))
        deployments = _mapping(pfields.pop("deployments", None))
        out[str(Address.project(pkey))] = pfields
        for mkey, dspec in deployments.items():
            out[str(Address.deployment(pkey, mkey))] = dict(_mapping(dspec))
    for key, spec in _mapping(raw.get("jobs")).items():
        out[str(Address.job(key))] = dict(_mapping(spec))
    return out


def resource_path(path: YamlPath) -> tuple[str, str]:
    """A YAML path of the merged configuration as (address, field path) the way
    `resources_of` splits it: `("models", "x", "compute_config", "tp")` →
    `("model.x", "compute_config.tp")`; a whole resource has the field path ""."""
    section, rest = str(path[0]), path[1:]
    if section in SETTINGS_SECTIONS or not rest:
        return section, format_path(rest)
    key = str(rest[0])
    if section == "projects" and len(rest) >= 3 and rest[1] == "deployments":
        return str(Address.deployment(key, str(rest[2]))), format_path(rest[3:])
    factory = {"compute_pools": Address.compute_pool, "models": Address.model,
               "projects": Address.project, "jobs": Address.job}.get(section)
    if factory is None:
        return section, format_path(rest)
    return str(factory(key)), format_path(rest[1:])


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _address_order(address: str) -> tuple[int, str]:
    if address in SETTINGS_SECTIONS:
        return (-1, f"{SETTINGS_SECTIONS.index(address)}")
    try:
        return (type_rank(Address.parse(address).type), address)
    except ValueError:
        return (99, address)


def _resource_kind(address: str) -> str:
    return address if address in SETTINGS_SECTIONS else address.split(".", 1)[0]


def affects_memory(address: str, path: YamlPath) -> bool:
    """Whether a change of `path` in the resource at `address` can move GPU memory."""
    kind = _resource_kind(address)
    return any(path[: len(p)] == p or p[: len(path)] == path for p in _MEMORY_FIELDS.get(kind, ()))


# ---------------------------------------------------------------------------------------------
# Comparing


def _is_placement_pools(level: Any) -> bool:
    """deepdiff hook: compare a placement's compute_pools without regard to order."""
    path = level.path(output_format="list")
    return len(path) >= 2 and path[-2:] == ["placement", "compute_pools"]


def _compare_fields(
    address: str, before: Mapping[str, Any], after: Mapping[str, Any]
) -> list[FieldChange]:
    from deepdiff import DeepDiff

    diff = DeepDiff(
        before, after, view="tree", ignore_order_func=_is_placement_pools,
        report_repetition=False, ignore_string_type_changes=False,
    )
    # A change inside a list is reported on the list as a whole (old list → new list): an
    # element index is not something a reviewer can map back to the YAML.
    paths: dict[YamlPath, None] = {}
    for levels in diff.values():
        for level in levels:
            parts = level.path(output_format="list")
            cut = next((i for i, p in enumerate(parts) if isinstance(p, int)), len(parts))
            paths[tuple(parts[:cut])] = None
    changes: list[FieldChange] = []
    for path in paths:
        old, new = _get(before, path), _get(after, path)
        if old is _MISSING:
            kind: FieldKind = "added"
        elif new is _MISSING:
            kind = "removed"
        else:
            kind = "changed"
        changes.append(FieldChange(
            path=format_path(path), kind=kind,
            before=None if kind == "added" else old,
            after=None if kind == "removed" else new,
            affects_memory=affects_memory(address, path),
        ))
    changes.sort(key=lambda c: c.path)
    return changes


_MISSING = object()


def _get(data: Any, path: YamlPath) -> Any:
    """The value at `path` (mapping keys only: list paths are cut at the list), or _MISSING."""
    for part in path:
        if not isinstance(data, Mapping) or part not in data:
            return _MISSING
        data = data[part]
    return data


def _whole(address: str, fields: Mapping[str, Any], kind: FieldKind) -> tuple[FieldChange, ...]:
    """Every top-level field of a resource that exists on one side only."""
    return tuple(
        FieldChange(
            path=key, kind=kind,
            before=value if kind == "removed" else None,
            after=value if kind == "added" else None,
            affects_memory=affects_memory(address, (key,)),
        )
        for key, value in sorted(fields.items())
    )


def compare(
    base_raw: Mapping[str, Any], head_raw: Mapping[str, Any], *, base: str = "base",
    head: str = "working tree",
) -> ConfigDiff:
    """Compare two merged raw configurations resource by resource (no memory impact; see
    `diff_configs` for the whole report)."""
    old, new = resources_of(base_raw), resources_of(head_raw)
    result = ConfigDiff(base=base, head=head)
    for address in sorted(old.keys() | new.keys(), key=_address_order):
        if address not in new:
            result.resources.append(ResourceDiff(address, "remove", _whole(address, old[address], "removed")))
        elif address not in old:
            result.resources.append(ResourceDiff(address, "add", _whole(address, new[address], "added")))
        elif old[address] != new[address]:  # equal data needs no deepdiff (the common case)
            fields = _compare_fields(address, old[address], new[address])
            if fields:
                result.resources.append(ResourceDiff(address, "change", tuple(fields)))
    return result


# ---------------------------------------------------------------------------------------------
# Memory impact

# fit_rows(workspace, only) -> rows: `only` is the set of deployment addresses whose rows are
# wanted, or None for every deployment.
FitRows = Callable[[Any, "set[str] | None"], Iterable[Mapping[str, Any]]]


def memory_rows(workspace: Any, only: set[str] | None = None) -> list[dict[str, Any]]:
    """Memory-fit rows of a validated `Workspace`, offline (no live data), for the deployments
    in `only` (every deployment when None)."""
    from adaptive_deploy.rules.context import RuleContext
    from adaptive_deploy.rules.memory import deployment_rows, fit_report

    if only is None:
        return [dict(row.to_dict()) for row in fit_report(workspace)]
    ctx = RuleContext(workspace)
    return [
        dict(row.to_dict())
        for dep in ctx.deployments
        if dep.address in only
        for row in deployment_rows(ctx, dep)
    ]


def _deployment_address(value: Any) -> str:
    text = str(value)
    return text if text.startswith("deployment.") else f"deployment.{text}"


def _row_key(row: Mapping[str, Any]) -> tuple[str, str]:
    return _deployment_address(row.get("deployment")), str(row.get("pool"))


@dataclass
class _MemoryIndex:
    """Who relates to whom for memory, over both sides: adapters and their base models,
    deployments per model, pools per deployment."""

    base_of: dict[str, str] = field(default_factory=dict)
    adapters_of: dict[str, set[str]] = field(default_factory=dict)
    deployments_of: dict[str, set[str]] = field(default_factory=dict)
    pools_of: dict[str, set[str]] = field(default_factory=dict)

    @classmethod
    def build(cls, raws: Iterable[Mapping[str, Any]]) -> _MemoryIndex:
        index = cls()
        for raw in raws:
            for key, spec in _mapping(raw.get("models")).items():
                base = _mapping(spec).get("adapter_of")
                if isinstance(base, str):
                    index.base_of[key] = base
                    index.adapters_of.setdefault(base, set()).add(key)
            for pkey, pspec in _mapping(raw.get("projects")).items():
                for mkey, dspec in _mapping(_mapping(pspec).get("deployments")).items():
                    address = str(Address.deployment(pkey, mkey))
                    index.deployments_of.setdefault(mkey, set()).add(address)
                    pools = _mapping(_mapping(dspec).get("placement")).get("compute_pools")
                    if isinstance(pools, list):
                        index.pools_of.setdefault(address, set()).update(
                            str(Address.compute_pool(str(p))) for p in pools
                        )
        return index

    def related(self, deployment: str, pool: str | None = None) -> set[str]:
        """Addresses whose memory-relevant changes can move `deployment`'s rows (on `pool`,
        a `compute_pool.x` address, when given): itself, its model, its pools, the rules, the
        adapters riding on the model on that pool (their models and deployments in any
        project: adapter slots are counted per pool) or, for an adapter, its base model."""
        _, model = Address.parse(deployment).project_and_model
        related = {deployment, str(Address.model(model)), "rules"}
        related |= self.pools_of.get(deployment, set())
        base = self.base_of.get(model)
        if base is not None:
            related.add(str(Address.model(base)))
        for adapter in self.adapters_of.get(model, ()):
            # An adapter deployment without a placement rides on every pool of its base.
            riding = {
                d for d in self.deployments_of.get(adapter, set())
                if pool is None or d not in self.pools_of or pool in self.pools_of[d]
            }
            if riding:
                related.add(str(Address.model(adapter)))
                related |= riding
        return related

    def affected(self, changed: set[str]) -> set[str]:
        """Deployments whose rows a change of the `changed` addresses can move: those `d`
        with `related(d) & changed`, found without building `related` for every deployment
        (that walks the deployments of every adapter of each deployment's model: pairs of
        deployments when many projects deploy the same adapters)."""
        every = set().union(*self.deployments_of.values()) if self.deployments_of else set()
        if "rules" in changed:
            return every
        models = {a.name for a in map(_parse_or_none, changed)
                  if a is not None and a.type is ResourceType.MODEL}
        # Adapters one of whose deployments changed (it is in related(d) of every deployment
        # of the adapter's base model).
        hit = {a.project_and_model[1] for a in map(_parse_or_none, changed)
               if a is not None and a.type is ResourceType.DEPLOYMENT
               and str(a) in self.deployments_of.get(a.project_and_model[1], ())}
        out = set()
        for d in every:
            model = Address.parse(d).project_and_model[1]
            base = self.base_of.get(model)
            if (d in changed or model in models or (base is not None and base in models)
                    or not self.pools_of.get(d, set()).isdisjoint(changed)
                    or any(self.deployments_of.get(a) and (a in models or a in hit)
                           for a in self.adapters_of.get(model, ()))):
                out.add(d)
        return out


def _parse_or_none(address: str) -> Address | None:
    try:
        return Address.parse(address)
    except ValueError:
        return None   # "rules" and other non-resource entries


def _cause_text(address: str, change: FieldChange) -> str:
    what = f"{address} {change.path}".strip()
    if change.kind == "added":
        return f"{what} added: {_short(change.after)}"
    if change.kind == "removed":
        return f"{what} removed (was {_short(change.before)})"
    return f"{what} {_short(change.before)} → {_short(change.after)}"


def _short(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_short(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {_short(v)}" for k, v in value.items()) + "}"
    return str(value)


def memory_impact(
    diff: ConfigDiff,
    base_rows: Iterable[Mapping[str, Any]],
    head_rows: Iterable[Mapping[str, Any]],
    raws: tuple[Mapping[str, Any], Mapping[str, Any]] = ({}, {}),
) -> list[MemoryImpact]:
    """Per deployment and pool whose fit row differs between the sides, the before/after rows
    and the memory-relevant field changes that explain it. Rows that did not move are left
    out, so an unrelated change (a project's description) reports no memory impact."""
    index = _MemoryIndex.build(raws)
    old = {_row_key(r): r for r in base_rows}
    new = {_row_key(r): r for r in head_rows}
    by_address = {r.address: r for r in diff.resources}
    impacts = []
    for key in sorted(old.keys() | new.keys()):
        before, after = old.get(key), new.get(key)
        if before is not None and after is not None and all(
            before.get(f) == after.get(f) for f in _ROW_FIELDS
        ):
            continue
        deployment, pool = key
        pool_address = str(Address.compute_pool(pool))
        related = index.related(deployment, pool_address) | {pool_address}
        causes = []
        for address in sorted(related, key=_address_order):
            resource = by_address.get(address)
            if resource is None:
                continue
            if resource.action != "change":
                # A whole resource appearing or going is one cause, not one per field.
                causes.append(f"{address} {'added' if resource.action == 'add' else 'removed'}")
                continue
            causes += [_cause_text(address, f) for f in resource.fields if f.affects_memory]
        impacts.append(MemoryImpact(deployment, pool, before, after, tuple(causes)))
    return impacts


def diff_configs(
    base_raw: Mapping[str, Any],
    head_raw: Mapping[str, Any],
    *,
    base_workspace: Any = None,
    head_workspace: Any = None,
    base: str = "base",
    head: str = "working tree",
    fit_rows: FitRows | None = None,
) -> ConfigDiff:
    """The full report: per-resource field differences, and the memory impact when any
    memory-relevant field changed and both sides' `Workspace` models are given.

    `fit_rows(workspace, only) -> rows` defaults to `memory_rows` (offline). Rows are only
    computed for the deployments the memory-relevant changes can reach, so a one-line change
    in a large workspace stays fast."""
    result = compare(base_raw, head_raw, base=base, head=head)
    changed = {r.address for r in result.resources if r.affects_memory}
    if not changed:
        return result
    if base_workspace is None and head_workspace is None:
        result.notes.append("memory impact not computed: no validated configuration")
        return result
    rows_of = fit_rows or memory_rows
    # Memory rules apply to every deployment; other changes reach only related deployments.
    only = None if "rules" in changed else _MemoryIndex.build((base_raw, head_raw)).affected(changed)
    try:
        base_rows = list(rows_of(base_workspace, only)) if base_workspace is not None else []
        head_rows = list(rows_of(head_workspace, only)) if head_workspace is not None else []
    except ImportError:
        result.notes.append("memory impact not computed: the memory model is not available")
        return result
    result.memory = memory_impact(result, base_rows, head_rows, (base_raw, head_raw))
    return result
