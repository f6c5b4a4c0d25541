"""Several environments of one repository: check each directory, and the promotion diff.

`check(directory)` is `validate` for one directory of any kind (config/overlay.py): a
workspace or an environment gets stages 1 and 2; a base gets what can be checked without a
workspace — its structure, and the rules over what it defines — while pool references and the
memory fit of placements on pools the base does not declare are left to the environments.

`promotion(source, target)` answers "what would promoting staging's configuration to
production change?": production's configuration is rebuilt from staging's merged
configuration with production's own layer (its overlay values and removals, and its
version/workspace/platform/state) applied over it, and compared with production as it is,
resource by resource with the memory impact per GPU (configdiff). Values production sets in
its own overlay stay production's: where staging's differ they are listed as
environment-specific, with the file and line that pins them, rather than hidden. Values
staging sets (or removes) in its own overlay, not in the base, that production would take
over are listed too, with where staging sets them: they may be meant for staging alone. Two
plain workspaces (no base) are compared directly, settings apart.

Pure apart from reading the configuration files. Nothing here prints.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from adaptive_deploy.config import overlay
from adaptive_deploy.config.sourcemap import SourceMap
from adaptive_deploy.diagnostics import Diagnostic, YamlPath, format_path, sorted_diagnostics

if TYPE_CHECKING:
    from adaptive_deploy.config.loader import LoadedConfig
    from adaptive_deploy.configdiff import ConfigDiff

BASE_NOTE = (
    "a base: it sets no version, workspace, platform or state; checked its structure and the "
    "rules over what it defines. Pools it does not declare, and the memory fit on them, are "
    "checked in each environment that extends it"
)

# Rules that only say a pool is not declared (offline): a base leaves pools to its environments.
_POOL_UNDECLARED = ("AD304", "AD360", "AD367")


@dataclass
class DirectoryCheck:
    """`validate` of one directory."""

    directory: str
    loaded: LoadedConfig
    diagnostics: list[Diagnostic] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return self.loaded.kind

    @property
    def base(self) -> str | None:
        """The `base` as written, for an environment."""
        return self.loaded.layers[0].base if self.loaded.layers else None

    @property
    def valid(self) -> bool:
        return not any(d.is_error for d in self.diagnostics)

    def to_dict(self) -> dict[str, Any]:
        return {
            "directory": self.directory, "kind": self.kind, "base": self.base,
            "layers": [layer.to_dict() for layer in self.loaded.layers],
            "valid": self.valid, "notes": list(self.notes),
        }


def check(directory: str | Path) -> DirectoryCheck:
    """Stage 1 and, when it passed, stage 2 of one directory (see module docstring)."""
    from adaptive_deploy import rules
    from adaptive_deploy.config.loader import load_config

    loaded = load_config(directory)
    result = DirectoryCheck(str(directory), loaded, list(loaded.diagnostics))
    if loaded.workspace is not None:
        result.diagnostics.extend(rules.validate(loaded))
    elif loaded.as_base is not None:
        declared = set(loaded.as_base.compute_pools)
        found = rules.validate_workspace(loaded.as_base, loaded.source.locate)
        result.diagnostics.extend(
            d for d in found
            if not (d.code in _POOL_UNDECLARED and _pool_at(loaded.raw, d.path) not in declared))
    if loaded.kind == "base":
        result.notes.append(BASE_NOTE)
    result.diagnostics = sorted_diagnostics(result.diagnostics)
    return result


def shared_workspace_names(checks: list[DirectoryCheck]) -> None:
    """Warn (AD156) in every directory after the first that names the same workspace: with a
    shared state backend (postgres) both would read and write one state under one lock."""
    from adaptive_deploy.config import codes
    from adaptive_deploy.diagnostics import Severity

    first: dict[str, DirectoryCheck] = {}
    for c in checks:
        ws = c.loaded.workspace
        if ws is None:
            continue
        other = first.setdefault(ws.workspace, c)
        if other is c:
            continue
        c.diagnostics.append(c.loaded.source.diagnostic(
            Severity.WARNING, codes.SHARED_WORKSPACE_NAME,
            f"workspace '{ws.workspace}' is also the workspace of {other.directory}: with a "
            "shared state backend (postgres) both would use one state and one lock; give each "
            "environment its own name", ("workspace",), value=True))
        c.diagnostics = sorted_diagnostics(c.diagnostics)


def _pool_at(raw: Mapping[str, Any], path: YamlPath) -> Any:
    """The pool a placement entry names (diagnostics about a pool point at it)."""
    value = overlay.get(raw, path)
    return value if isinstance(value, str) else None


# ------------------------------------------------------------------------------ promotion


@dataclass(frozen=True)
class Pinned:
    """A value the target environment sets in its own layer: kept on promotion."""

    address: str
    path: str
    target: Any          # the target's value (None when the target removes it)
    source: Any          # the source environment's value (None when it has none)
    file: str | None
    line: int | None
    removed: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "address": self.address, "path": self.path, "target": self.target,
            "source": self.source, "file": self.file, "line": self.line,
            "removed": self.removed,
        }


def promoted(source: LoadedConfig, target: LoadedConfig) -> tuple[dict[str, Any], SourceMap]:
    """The target's configuration as it would be with the source's promoted, and its
    positions: the source's merged configuration (settings apart) with the target's own layer
    applied over it — its removals that still match, then its values — and the target's
    settings. A plain workspace target (no base) contributes only its settings."""
    own = target.layers[0]
    data: dict[str, Any] = {k: v for k, v in source.raw.items()
                            if k not in overlay.ENVIRONMENT_KEYS}
    removed: set[YamlPath] = set()
    if len(target.layers) > 1:
        for removal in own.removals:
            if removal.path is not None and overlay.get(data, removal.path) is not overlay.MISSING:
                data = overlay.without(data, removal.path)
                removed.add(removal.path)
        over = own.raw
    else:
        over = {k: v for k, v in own.raw.items() if k in overlay.ENVIRONMENT_KEYS}
    over = {**over, **{k: target.raw[k] for k in overlay.ENVIRONMENT_KEYS if k in target.raw}}
    return overlay.merge(data, source.source, over, own.source, removed)


def pinned_values(source: LoadedConfig, target: LoadedConfig) -> list[Pinned]:
    """What the target's own layer sets (or removes) where the source differs."""
    from adaptive_deploy.configdiff import resource_path

    out: list[Pinned] = []
    own = target.layers[0]
    if len(target.layers) > 1:
        paths = list(overlay.own_leaves(own))
    else:  # a plain workspace pins only its settings
        paths = [p for p in overlay.own_leaves(own) if p[0] in overlay.ENVIRONMENT_KEYS]
    removed = {r.path for r in own.removals if r.path is not None}
    seen: set[YamlPath] = set()
    for path in paths:
        if path in seen:
            continue
        seen.add(path)
        mine = overlay.get(target.raw, path)
        theirs = overlay.get(source.raw, path)
        if mine == theirs:
            continue
        if path[0] in overlay.ENVIRONMENT_KEYS:
            address, field_path = str(path[0]), format_path(path[1:]) or "value"
        else:
            address, field_path = resource_path(path)
        loc = (own.source.find(path, value=True) if path not in removed
               else _removal_location(own, path))
        out.append(Pinned(
            address, field_path,
            None if mine is overlay.MISSING else mine,
            None if theirs is overlay.MISSING else theirs,
            loc.file if loc else None, loc.line if loc else None, removed=path in removed))
    out.sort(key=lambda p: (p.address, p.path))
    return out


@dataclass(frozen=True)
class Carried:
    """A value the source environment sets (or removes) in its own layer, not in its base,
    that promotion would carry to the target: often meant for the source only (a trial, a
    smaller cache for smaller GPUs), so a reviewer sees where it comes from."""

    address: str
    path: str
    value: Any           # the value the target would get (None when the source removes it)
    file: str | None
    line: int | None
    removed: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"address": self.address, "path": self.path, "value": self.value,
                "file": self.file, "line": self.line, "removed": self.removed}


def carried_values(source: LoadedConfig, target: LoadedConfig,
                   after: dict[str, Any]) -> list[Carried]:
    """What the source's own layer sets or removes that the promoted configuration `after`
    takes over (the target does not pin it) and that differs from the target today."""
    from adaptive_deploy.configdiff import resource_path

    if len(source.layers) < 2:  # a plain workspace has no base: nothing is its own alone
        return []
    own = source.layers[0]
    removed = {r.path for r in own.removals if r.path is not None}
    out: list[Carried] = []
    for path in dict.fromkeys(overlay.own_leaves(own)):
        if path[0] in overlay.ENVIRONMENT_KEYS:
            continue
        value = overlay.get(after, path)
        if value != overlay.get(source.raw, path) or value == overlay.get(target.raw, path):
            continue
        address, field_path = resource_path(path)
        loc = (own.source.find(path, value=True) if path not in removed
               else _removal_location(own, path))
        out.append(Carried(address, field_path, None if value is overlay.MISSING else value,
                           loc.file if loc else None, loc.line if loc else None,
                           removed=path in removed))
    out.sort(key=lambda c: (c.address, c.path))
    return out


def _removal_location(layer: overlay.Layer, path: YamlPath) -> Any:
    return next((r.location for r in layer.removals if r.path == path), None)


@dataclass
class Promotion:
    """What promoting `source`'s configuration to `target` would change: the configdiff
    document of the target now → promoted, the values the target pins, and the rules'
    findings on the promoted configuration (errors there mean the promotion would make the
    target invalid)."""

    source: str
    target: str
    diff: ConfigDiff
    pinned: list[Pinned] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    carried: list[Carried] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not any(d.is_error for d in self.diagnostics)

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.diff.to_dict(), "source": self.source, "target": self.target,
            "environment_specific": [p.to_dict() for p in self.pinned],
            "source_specific": [c.to_dict() for c in self.carried],
            "diagnostics": [d.to_dict() for d in self.diagnostics], "valid": self.valid,
        }


def promotion(source_dir: str | Path, target_dir: str | Path) -> Promotion:
    """What promoting `source_dir`'s configuration to `target_dir` would change (see module
    docstring). Raises ConfigError when either side is invalid, UsageError for a base."""
    from pydantic import ValidationError

    from adaptive_deploy import rules
    from adaptive_deploy.config.models import Workspace
    from adaptive_deploy.configdiff import diff_configs
    from adaptive_deploy.errors import UsageError

    source = _load_environment(source_dir)
    target = _load_environment(target_dir)
    after_raw, after_source = promoted(source, target)
    try:
        after_ws = Workspace.model_validate(after_raw)
    except ValidationError as exc:  # both sides are valid: only a type clash can get here
        raise UsageError(f"promoting {source_dir} to {target_dir} gives an invalid "
                         f"configuration: {exc.errors()[0]['msg']}") from None
    result = diff_configs(
        target.raw, after_raw, base_workspace=target.workspace, head_workspace=after_ws,
        base=str(target_dir), head=f"{source_dir} promoted",
    )
    found = rules.validate_workspace(after_ws, after_source.locate)
    return Promotion(str(source_dir), str(target_dir), result, pinned_values(source, target),
                     [d for d in found if d.is_error], carried_values(source, target, after_raw))


def _load_environment(directory: str | Path) -> LoadedConfig:
    from adaptive_deploy.engine import load_config_or_raise

    loaded, _ = load_config_or_raise(directory)
    return loaded


# ------------------------------------------------------------------------------ which ones


@dataclass(frozen=True)
class Layout:
    """A directory's kind and the directories of its layers (its own first): what CI needs to
    run one job per environment and to know which ones a change touches. `name` is the
    directory's own name (`staging`), `id` the same as an identifier for secret and variable
    names (`STAGING`); `variables` the environment variables its configuration reads."""

    directory: str
    kind: str
    layers: tuple[str, ...]
    touched: bool | None = None   # None: not asked
    name: str = ""
    id: str = ""
    variables: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"directory": self.directory, "kind": self.kind, "layers": list(self.layers),
                "touched": self.touched, "name": self.name, "id": self.id,
                "variables": dict(self.variables)}


def variables_of(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The environment variables a merged configuration reads: the API key's
    (`platform.api_key_env`, default ADAPTIVE_API_KEY), those of `${env:NAME}` in
    `platform.base_url`, and the state DSN's (`state.dsn_env`)."""
    import re

    platform = raw.get("platform") if isinstance(raw.get("platform"), Mapping) else {}
    state = raw.get("state") if isinstance(raw.get("state"), Mapping) else {}
    assert isinstance(platform, Mapping) and isinstance(state, Mapping)
    key = platform.get("api_key_env")
    url = platform.get("base_url")
    dsn = state.get("dsn_env")
    return {
        "api_key_env": key if isinstance(key, str) else "ADAPTIVE_API_KEY",
        "base_url_env": re.findall(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}", url)
        if isinstance(url, str) else [],
        "dsn_env": dsn if isinstance(dsn, str) else None,
    }


def layout(directory: str | Path, changed: set[Path] | None = None) -> Layout:
    """Kind and layers of `directory` (stage 1 only: no rules). With `changed` (resolved paths
    of changed files), whether any of them lies in one of its layers' directories (a YAML file,
    or a file the configuration names such as a config.json) — a change to a base touches
    every environment that extends it."""
    from adaptive_deploy.config.loader import STATE_DIR, load_config

    loaded = load_config(directory)
    dirs = [layer.directory for layer in loaded.layers] or [Path(directory)]
    touched = None
    if changed is not None:
        own = {d.resolve() for d in dirs}
        touched = any(STATE_DIR not in p.parts and not own.isdisjoint(p.parents)
                      for p in changed)
    import re

    name = Path(directory).resolve().name
    ident = re.sub(r"[^A-Z0-9]+", "_", name.upper()).strip("_") or "WORKSPACE"
    return Layout(str(directory), loaded.kind, tuple(str(d) for d in dirs), touched, name,
                  ident, variables_of(loaded.raw))


def changed_since(ref: str, cwd: Path) -> set[Path]:
    """Resolved paths of the files that differ between `ref` and the working tree (added,
    changed, removed, renamed both ways) in the git repository holding `cwd`."""
    from adaptive_deploy import gitsource

    root, _ = gitsource.locate(cwd)
    commit = gitsource.resolve_ref(root, ref)
    names = gitsource.changed_files(root, commit)
    return {(root / name).resolve() for name in names}
