"""`import`: write configuration for live platform objects and adopt them into state.

Two halves:

- `build_import(live, ...)` is pure: live projects (name, description), their deployments
  (placement pools in live order, max_ttft_ms, is_default, desired_online), the compute configs
  of the models they deploy, adapters' `adapter_of` and the compute pools they use become YAML
  texts with a comment header. Keys the existing configuration already defines are skipped
  (a project named with `--project` is refused instead), so the merged result never has the
  loader's duplicate-key errors.
- `import_workspace(...)` wires it: read live once, build, validate the merged configuration
  (existing files + new ones, stage 1 and 2 against live) before anything is written, then,
  under the workspace lock, write the new files (never overwriting one) and record every
  imported address in state: applied = the planner's desired fields for the new config,
  observed = live, so `plan` right after shows no changes.
- Single addresses (`import project.support`, `import deployment.support/qwen-3-8b`) are
  what `plan` asks for when a configured object already exists on the platform (AD506 /
  AD507): one the configuration already defines is adopted into state as it is live
  (`adoption_record`), so the next plan shows what the configuration changes on it; a
  project it does not define is imported as with `--project`.

The state is checked to belong to the platform read (and, when new, bound to it) before
anything is written, as `plan` does.

`num_draft_steps` is write-only on the platform and cannot be read back: it is left out and
the header says so. Nothing here prints; the CLI renders the returned `ImportResult`.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from adaptive_deploy.addresses import Address
from adaptive_deploy.config.schema import EDITOR_SCHEMA_NAME, write_editor_schema
from adaptive_deploy.diagnostics import Diagnostic, has_errors, sorted_diagnostics
from adaptive_deploy.errors import ConfigError, UsageError

if TYPE_CHECKING:
    from adaptive_deploy.client.protocol import Platform
    from adaptive_deploy.identity import PlatformIdentity
    from adaptive_deploy.live import LiveState
    from adaptive_deploy.state.base import ResourceRecord

WORKSPACE_FILE = "workspace.yaml"
MODELS_FILE = "imported-models.yaml"
POOLS_FILE = "imported-pools.yaml"
_KEY_CHARS = re.compile(r"[^A-Za-z0-9._-]+")

DRAFT_STEPS_NOTE = (
    "num_draft_steps is write-only on the platform and cannot be read back, so it is left out\n"
    "(unmanaged). Add it to a deployment that uses speculative decoding to manage it."
)


@dataclass
class ImportBuild:
    """What an import would write: file name → YAML text, and what it covers."""

    files: dict[str, str] = field(default_factory=dict)
    projects: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    compute_pools: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)    # keys already defined, kept as they are
    notes: list[str] = field(default_factory=list)


@dataclass
class ImportResult:
    """The outcome of `import_workspace`, for the CLI to render."""

    directory: str
    workspace: str
    written: list[str] = field(default_factory=list)
    adopted: list[str] = field(default_factory=list)
    projects: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warnings: list[Diagnostic] = field(default_factory=list)
    notice: str | None = None            # the platform's one-line notice (embedded platform)

    def to_dict(self) -> dict[str, Any]:
        """The JSON report (format_version "1.0")."""
        return {
            "format_version": "1.0",
            "directory": self.directory,
            "workspace": self.workspace,
            "projects": list(self.projects),
            "written": list(self.written),
            "adopted": list(self.adopted),
            "skipped": list(self.skipped),
            "notes": list(self.notes),
            "diagnostics": [d.to_dict() for d in self.warnings],
        }


# ------------------------------------------------------------------------------ selection


def select_projects(live: LiveState, requested: Sequence[str] = ()) -> list[str]:
    """The projects to import: the requested ones (each must be live and not archived), or
    every non-archived live project."""
    if not requested:
        return sorted(k for k, p in live.projects.items() if not p.is_archived)
    out: list[str] = []
    for key in requested:
        project = live.projects.get(key)
        if project is None:
            known = ", ".join(sorted(live.projects)) or "none"
            raise UsageError(f"--project {key}: no such project on the platform (live: {known})")
        if project.is_archived:
            raise UsageError(f"--project {key}: the project is archived; nothing to import")
        if key not in out:
            out.append(key)
    return out


def workspace_name(directory: Path, given: str | None = None) -> str:
    """A valid workspace name: `given`, else the directory name made key-safe."""
    if given:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", given):
            raise UsageError(f"--workspace {given!r}: use letters, digits, '.', '_' and '-'")
        return given
    name = _KEY_CHARS.sub("-", directory.resolve().name).strip("-._")
    return name or "imported"


def source_label(base_url: str | None, sensitive: bool, label: str) -> str:
    """Where the live data came from, for the header: the URL's origin only (no user info,
    path or query), the template when the URL comes from the environment, or the embedded
    platform."""
    if base_url is None:
        return "the embedded local platform"
    if sensitive:
        return label
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}"


# ------------------------------------------------------------------------------ build (pure)


def build_import(
    live: LiveState,
    projects: Sequence[str],
    *,
    existing: Mapping[str, Any],
    explicit: bool,
    source: str,
    tool_version: str,
    now: float,
    workspace: str | None = None,
    workspace_extra: Mapping[str, Any] | None = None,
) -> ImportBuild:
    """Config texts for `projects` of `live`, skipping keys `existing` (the merged raw config
    already in the directory) defines. `explicit` (projects named with --project): a project
    already defined is an error instead of a skip. `workspace`: also write the
    version/workspace file (with `workspace_extra` sections, e.g. platform and state)."""
    from adaptive_deploy.rules import catalog

    result = ImportBuild()
    have_projects = dict(existing.get("projects") or {})
    have_models = dict(existing.get("models") or {})
    have_pools = dict(existing.get("compute_pools") or {})
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
    # The modeline points editors (yaml-language-server) at the schema import writes beside.
    header = (f"# yaml-language-server: $schema={EDITOR_SCHEMA_NAME}\n"
              f"# Imported by adaptive-deploy {tool_version} on {stamp} from {source}.")

    models: dict[str, dict[str, Any]] = {}
    pools: dict[str, dict[str, Any]] = {}
    model_notes: list[str] = []
    pool_notes: list[str] = []

    reported: set[str] = set()

    def skip(path: str) -> None:
        if path not in reported:
            reported.add(path)
            result.skipped.append(f"{path}: already defined; kept as it is")

    def want_model(key: str) -> None:
        if key in models:
            return
        if key in have_models:
            skip(f"models.{key}")
            return
        lm = live.models.get(key)
        if lm is None:
            result.notes.append(f"model {key}: not in the platform's model registry; not written")
            return
        spec: dict[str, Any] = {}
        if lm.is_adapter and lm.backbone:
            spec["adapter_of"] = lm.backbone
            models[key] = spec
            want_model(lm.backbone)
            return
        cc = lm.compute_config
        if cc is not None:
            config = {k: v for k, v in (("tp", cc.tp), ("kv_cache_len", cc.kv_cache_len),
                                        ("max_seq_len", cc.max_seq_len)) if v is not None}
            if config:
                spec["compute_config"] = config
        if catalog.find_architecture(key) is None:
            model_notes.append(f"{key}: no catalog architecture matches the key; set "
                               "`architecture` to have its GPU memory checked")
        models[key] = spec

    def want_pool(key: str) -> None:
        if key in pools:
            return
        if key in have_pools:
            skip(f"compute_pools.{key}")
            return
        lp = live.compute_pools.get(key)
        if lp is None:
            result.notes.append(f"compute pool {key}: not reported by the platform; not written")
            return
        gpu_string = lp.gpu_types or ""
        gpu = catalog.find_gpu(gpu_string) if gpu_string else None
        if gpu is None:
            pool_notes.append(f"{key}: GPU {gpu_string or '(none reported)'!r} is not in the "
                              "catalog; memory fit is not checked on this pool")
        pools[key] = {
            "gpu": gpu.name if gpu is not None else (gpu_string or "unknown"),
            "gpus_per_replica": max(lp.gpus_per_replica, 1),
            "replicas": max(lp.replicas, 1),
        }

    for pkey in projects:
        if pkey in have_projects:
            if explicit:
                raise UsageError(
                    f"--project {pkey}: projects.{pkey} is already defined in the configuration; "
                    "import only adopts projects the configuration does not define"
                )
            skip(f"projects.{pkey}")
            continue
        lp = live.projects[pkey]
        project: dict[str, Any] = {"name": lp.name}
        if lp.description is not None:
            project["description"] = lp.description
        deployments: dict[str, Any] = {}
        for (dp, mkey), dep in sorted(live.deployments.items()):
            if dp != pkey:
                continue
            spec: dict[str, Any] = {}
            if dep.compute_pools:
                placement: dict[str, Any] = {"compute_pools": list(dep.compute_pools)}
                if dep.max_ttft_ms is not None:
                    placement["max_ttft_ms"] = dep.max_ttft_ms
                spec["placement"] = placement
                for pool in dep.compute_pools:
                    want_pool(pool)
            spec["is_default"] = dep.is_default
            spec["desired_online"] = dep.desired_online
            deployments[mkey] = spec
            want_model(mkey)
        if deployments:
            project["deployments"] = deployments
        n = len(deployments)
        lines = [header,
                 f"# Live project {pkey!r} ({lp.name}): {n} deployment{'s' if n != 1 else ''}."]
        lines += _comment(DRAFT_STEPS_NOTE)
        result.files[f"imported-{_file_part(pkey)}.yaml"] = _document(lines, {"projects": {pkey: project}})
        result.projects.append(pkey)

    if models:
        lines = [header, "# Registry models deployed by the imported projects: compute configs as "
                 "the platform", "# reports them; adapters name their base model."]
        lines += [f"# Note: {n}" for n in model_notes]
        result.files[MODELS_FILE] = _document(lines, {"models": models})
        result.models = sorted(models)
    if pools:
        lines = [header, "# Compute pools used by the imported deployments (expectations checked "
                 "against live;", "# pools themselves come from the platform's Helm chart)."]
        lines += [f"# Note: {n}" for n in pool_notes]
        result.files[POOLS_FILE] = _document(lines, {"compute_pools": pools})
        result.compute_pools = sorted(pools)
    if workspace is not None and result.files:
        body: dict[str, Any] = {"version": 1, "workspace": workspace}
        body.update(workspace_extra or {})
        result.files[WORKSPACE_FILE] = _document(
            [header, "# Workspace settings: names the state and its lock."], body, flow=False)
    result.notes += model_notes + pool_notes
    return result


def _file_part(key: str) -> str:
    return _KEY_CHARS.sub("-", key)


def _comment(text: str) -> list[str]:
    return [f"# {line}" for line in text.splitlines()]


def _document(comment_lines: list[str], body: Mapping[str, Any], *, flow: bool = True) -> str:
    import yaml

    # Flow style for leaf collections keeps pools and compute configs on one line each.
    text = yaml.safe_dump(dict(body), sort_keys=False, default_flow_style=None if flow else False,
                          allow_unicode=True, width=100)
    return "\n".join(comment_lines) + "\n" + text


# ------------------------------------------------------------------------------ orchestration


async def import_workspace(
    directory: str | Path,
    *,
    projects: Sequence[str] = (),
    addresses: Sequence[str] = (),
    out: str | Path | None = None,
    workspace: str | None = None,
    env: Mapping[str, str] | None = None,
    platform: Platform | None = None,
    lock_timeout_s: float = 0.0,
) -> ImportResult:
    """Read live, write config for the selected projects into `out` (default `directory`) and
    adopt them into that workspace's state. The platform connection comes from the
    configuration in `directory` when it has one, else from the environment (or the embedded
    platform). Raises UsageError / ConfigError and writes nothing when the result would not
    be valid."""
    from adaptive_deploy import __version__
    from adaptive_deploy.client import connect, resolve_base_url
    from adaptive_deploy.config.loader import load_config
    from adaptive_deploy.config.models import PlatformConfig

    env = dict(os.environ if env is None else env)
    src = Path(directory)
    if not src.is_dir():
        raise UsageError(f"{src}: no such directory")
    dest = Path(out) if out is not None else src
    if dest.exists() and not dest.is_dir():
        raise UsageError(f"--out {dest}: not a directory")

    src_loaded = _load_existing(src, load_config)
    platform_cfg = (src_loaded.workspace.platform if src_loaded is not None
                    and src_loaded.workspace is not None else PlatformConfig())
    same = dest.resolve() == src.resolve() if dest.exists() else False
    dest_loaded = src_loaded if same else _load_existing(dest, load_config, partial=True)

    url, sensitive, label = resolve_base_url(platform_cfg.base_url, env)
    if url is None and platform is None and dest.resolve() != src.resolve():
        # Each directory has its own embedded platform: the new workspace would not see
        # the objects it adopted.
        raise UsageError(
            "--out with the embedded local platform: each workspace directory has its own "
            "embedded platform, so import into DIR itself, or set platform.base_url / "
            "ADAPTIVE_BASE_URL"
        )
    if platform is None:
        platform = connect(platform_cfg, src, env)
    notice = platform.notice
    try:
        live = await platform.read_live()
    finally:
        await platform.aclose()
    from adaptive_deploy import identity

    current = identity.identify(live, *identity.origin(platform_cfg, src, env))

    existing = dest_loaded.raw if dest_loaded is not None else {}
    selected = select_projects(live, projects) if projects or not addresses else []
    state_only = _split_addresses(addresses, live, src_loaded, selected)
    if state_only and not same and out is not None:
        raise UsageError(
            f"--out with {state_only[0]}: the configuration in {src} already defines it, so it "
            f"is adopted into that workspace's own state; import it without --out"
        )
    needs_workspace = "version" not in existing and "workspace" not in existing
    ws_name = str(existing.get("workspace") or workspace_name(dest, workspace))
    extra: dict[str, Any] = {}
    if needs_workspace and src_loaded is not None and not same:
        # A new workspace elsewhere talks to the same platform and state backend settings.
        extra = {k: src_loaded.raw[k] for k in ("platform", "state") if k in src_loaded.raw}
    build = build_import(
        live, selected, existing=existing, explicit=bool(projects) or bool(addresses),
        source=source_label(url, sensitive, label), tool_version=__version__, now=time.time(),
        workspace=ws_name if needs_workspace else None, workspace_extra=extra,
    )
    result = ImportResult(directory=str(dest), workspace=ws_name, projects=list(build.projects),
                          skipped=list(build.skipped), notes=list(build.notes), notice=notice)
    if state_only and not build.files:
        assert src_loaded is not None and src_loaded.workspace is not None
        _adopt_and_write(src_loaded, src, build, live, env, result, lock_timeout_s, current,
                         state_only)
        return result
    if not build.files:
        result.notes.append("nothing to import: every selected project is already defined")
        return result
    # Shared files get the next free name; a project's own file existing is a conflict.
    for name in (MODELS_FILE, POOLS_FILE, WORKSPACE_FILE):
        if name in build.files and (dest / name).exists():
            build.files[_free_name(dest, name, build.files)] = build.files.pop(name)
    for name in build.files:
        if (dest / name).exists():
            raise UsageError(
                f"{dest / name} already exists; import never overwrites a file: move it away "
                "or import into another directory with --out"
            )
    loaded, warnings = _validate_merged(dest, dest_loaded, build.files, live)
    result.warnings = warnings
    assert loaded.workspace is not None
    _adopt_and_write(loaded, dest, build, live, env, result, lock_timeout_s, current, state_only)
    return result


def _split_addresses(
    addresses: Sequence[str], live: LiveState, src_loaded: Any, selected: list[str]
) -> list[str]:
    """Sort `import ADDR` arguments: projects the configuration does not define join
    `selected` (written as files, like --project); addresses it defines are returned (adopted
    into state only). Anything else is a UsageError saying what to do."""
    from adaptive_deploy.addresses import ResourceType
    from adaptive_deploy.plan import resources

    desired = (resources.desired(src_loaded.workspace)
               if src_loaded is not None and src_loaded.workspace is not None else {})
    observed = resources.observed(live)
    state_only: list[str] = []
    for text in addresses:
        try:
            a = Address.parse(text)
        except ValueError as exc:
            raise UsageError(f"import {text}: {exc}") from None
        addr = str(a)
        if a.type not in (ResourceType.PROJECT, ResourceType.DEPLOYMENT):
            raise UsageError(f"import {addr}: only project.<key> and deployment.<project>/<model> "
                             "addresses can be imported (models are adopted by plan)")
        if addr not in observed:
            raise UsageError(f"import {addr}: no such {a.type.value} on the platform "
                             "(archived projects cannot be imported)")
        if addr in desired:
            if addr not in state_only:
                state_only.append(addr)
        elif a.type is ResourceType.PROJECT:
            if a.name not in selected:
                selected.append(a.name)
        else:
            pkey, mkey = a.project_and_model
            raise UsageError(
                f"import {addr}: the configuration does not define it; add it under "
                f"projects.{pkey}.deployments.{mkey} (then import it), or import the whole "
                f"project with `import project.{pkey}`"
            )
    return state_only


def _free_name(dest: Path, name: str, taken: Mapping[str, str]) -> str:
    """`imported-models.yaml` → `imported-models-2.yaml`, ... : the first name not in use."""
    stem, dot, suffix = name.rpartition(".")
    n = 2
    while (dest / f"{stem}-{n}{dot}{suffix}").exists() or f"{stem}-{n}{dot}{suffix}" in taken:
        n += 1
    return f"{stem}-{n}{dot}{suffix}"


def _load_existing(directory: Path, load_config: Any, partial: bool = False) -> Any:
    """The configuration already in `directory` (None when it has no YAML file). Errors are
    refused, except, with `partial`, a missing version/workspace (import writes them)."""
    if not directory.is_dir() or not any(
        p.suffix in (".yaml", ".yml") and p.is_file() for p in directory.iterdir()
    ):
        return None
    loaded = load_config(directory)
    if loaded.kind == "base":
        from adaptive_deploy.engine import refuse_base

        refuse_base(loaded, directory)
    errors = [d for d in loaded.diagnostics if d.is_error]
    if errors and not (partial or _only_missing_header(loaded.raw, errors)):
        raise ConfigError(f"the configuration in {directory} is invalid; fix it before importing",
                          loaded.diagnostics)
    return loaded


def _only_missing_header(raw: Mapping[str, Any], errors: list[Diagnostic]) -> bool:
    """True when the only problem is that no file sets version/workspace (import adds them)."""
    return "version" not in raw and "workspace" not in raw and all(
        d.path[:1] in ((), ("version",), ("workspace",)) for d in errors
    )


def _validate_merged(
    dest: Path, dest_loaded: Any, files: Mapping[str, str], live: LiveState
) -> tuple[Any, list[Diagnostic]]:
    """Stage 1 and 2 (against live) of the existing files plus the new ones, in a scratch
    directory, so nothing is written when the result would be invalid. Diagnostics name the
    files where they will live."""
    from adaptive_deploy import rules
    from adaptive_deploy.config.loader import load_config

    with tempfile.TemporaryDirectory(prefix="adaptive-deploy-import-") as tmp:
        scratch = Path(tmp)
        for path in (dest_loaded.files if dest_loaded is not None else []):
            shutil.copyfile(path, scratch / Path(path).name)
        for name, text in files.items():
            (scratch / name).write_text(text, encoding="utf-8")
        # An environment's `base: ../base` is relative to where its files will live.
        loaded = load_config(scratch, base_anchor=dest if dest.is_dir() else None)
        diags = list(loaded.diagnostics)
        if not has_errors(diags):
            diags += rules.validate(loaded, live)
        diags = [_relocate(d, scratch, dest) for d in sorted_diagnostics(diags)]
    if has_errors(diags):
        raise ConfigError("the imported configuration would be invalid; nothing was written",
                          diags)
    loaded.directory = dest
    return loaded, [d for d in diags if not d.is_error]


def _relocate(d: Diagnostic, scratch: Path, dest: Path) -> Diagnostic:
    if d.file and d.file.startswith(str(scratch)):
        return replace(d, file=str(dest / Path(d.file).name))
    return d


def _adopt_and_write(
    loaded: Any, dest: Path, build: ImportBuild, live: LiveState, env: Mapping[str, str],
    result: ImportResult, lock_timeout_s: float, current: PlatformIdentity,
    state_only: Sequence[str] = (),
) -> None:
    """Under the workspace lock: check the state belongs to this platform (and bind it), write
    the files (exclusive create), then one state record per imported address (applied =
    desired from the new config, observed = live) and per address adopted as it is."""
    from adaptive_deploy import engine
    from adaptive_deploy.plan import resources
    from adaptive_deploy.state import open_state
    from adaptive_deploy.state.base import HistoryEntry, ResourceRecord

    ws = loaded.workspace
    dest.mkdir(parents=True, exist_ok=True)
    store, locker = open_state(ws.state, ws.workspace, dest, env)
    try:
        lock = locker.acquire("import", timeout_s=lock_timeout_s)
        try:
            snapshot = store.read()
            result.notes += engine.check_platform(snapshot, current, ws.workspace, str(dest))
            store.set_platform(current.to_dict())
            written: list[Path] = []
            try:
                for name, text in build.files.items():
                    with (dest / name).open("x", encoding="utf-8") as fh:
                        fh.write(text)
                    written.append(dest / name)
            except FileExistsError as exc:
                for path in written:
                    path.unlink(missing_ok=True)
                raise UsageError(f"{exc.filename} already exists; import never overwrites a "
                                 "file") from None
            result.written = [str(p) for p in written]
            if written:
                result.written.append(str(write_editor_schema(dest)))
            desired = resources.desired(ws)
            observed = resources.observed(live)
            entry = HistoryEntry(id=uuid.uuid4().hex, started_at=time.time(), finished_at=None,
                                 who=_who(), operation="import", plan_digest=None,
                                 result="running")
            store.close_unfinished()   # entries of killed runs: we hold the lock now
            store.append_history(entry)
            for address in imported_addresses(build, desired):
                now = observed.get(address)
                if now is None:
                    continue
                store.put_resource(ResourceRecord(
                    address=address, type=Address.parse(address).type.value,
                    applied=desired[address], observed=now,
                    fingerprint=resources.fingerprint(now),
                    platform_id=_platform_id(live, address),
                ))
                result.adopted.append(address)
            for address in state_only:
                record = snapshot.resources.get(address)
                live_id = _platform_id(live, address)
                if record is not None and not record.pending and record.platform_id == live_id:
                    result.notes.append(f"{address}: already in this workspace's state")
                    continue
                store.put_resource(adoption_record(address, desired[address],
                                                   observed[address], live_id))
                result.adopted.append(address)
            store.finish_history(entry.id, "success", {"adopted": len(result.adopted)})
        finally:
            locker.release(lock)
    finally:
        store.close()


def imported_addresses(build: ImportBuild, desired: Mapping[str, Any]) -> list[str]:
    """The state addresses an import covers: its projects, their deployments and the models
    it configured (models without a compute config are not managed resources)."""
    from adaptive_deploy.addresses import sort_addresses

    out: list[str] = []
    for pkey in build.projects:
        out.append(str(Address.project(pkey)))
        prefix = f"deployment.{pkey}/"
        out += [a for a in desired if a.startswith(prefix)]
    out += [str(Address.model(k)) for k in build.models if str(Address.model(k)) in desired]
    return sort_addresses([a for a in dict.fromkeys(out) if a in desired])


def _platform_id(live: LiveState, address: str) -> str | None:
    from adaptive_deploy.plan import resources

    return resources.platform_id(live, address)


def adoption_record(
    address: str, desired: Mapping[str, Any], observed: Mapping[str, Any],
    platform_id: str | None,
) -> ResourceRecord:
    """The state record `import ADDR` writes for a live object the configuration already
    defines: applied = the live value of each configured field, so the next plan shows the
    configuration's differences as changes to make (cause config), not as drift. `protect` is
    taken from the configuration (a tool setting the platform never sees); write-only fields
    (`num_draft_steps`) are left out: their live value cannot be read, so the next plan sends
    the configured one."""
    from adaptive_deploy.plan import resources
    from adaptive_deploy.state.base import ResourceRecord

    rtype = Address.parse(address).type.value
    state_only = resources.state_only_fields(rtype)
    write_only = resources.write_only_fields(rtype)
    applied: dict[str, Any] = {}
    for f, v in desired.items():
        if f in state_only:
            applied[f] = v
        elif f not in write_only and f in observed:
            applied[f] = observed[f]
    return ResourceRecord(address, rtype, applied, dict(observed),
                          resources.fingerprint(observed), platform_id)


def _who() -> str:
    import getpass
    import socket

    try:
        user = getpass.getuser()
    except Exception:  # no user name in some containers
        user = "unknown"
    return f"{user}@{socket.gethostname()}"
