"""Orchestration shared by the commands: load and validate, connect, read state and live,
plan, and apply under the workspace lock.

This is the one place that wires config, rules, client, state, planner and executor together;
each of those stays ignorant of the others. Nothing here prints: results are returned to the
CLI, progress goes through hooks.
"""

from __future__ import annotations

import asyncio
import getpass
import os
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from adaptive_deploy import __version__
from adaptive_deploy.diagnostics import Diagnostic, has_errors, sorted_diagnostics
from adaptive_deploy.errors import ConfigError, PlatformMismatch, StalePlanError, UsageError

if TYPE_CHECKING:
    from adaptive_deploy.apply.executor import ApplyResult
    from adaptive_deploy.apply.hooks import Hooks
    from adaptive_deploy.client.protocol import Platform
    from adaptive_deploy.config.loader import LoadedConfig
    from adaptive_deploy.config.models import PlatformConfig, Workspace
    from adaptive_deploy.identity import PlatformIdentity
    from adaptive_deploy.live import LiveState
    from adaptive_deploy.rules.context import RuleContext
    from adaptive_deploy.rules.memory import FitRow
    from adaptive_deploy.state.base import Locker, StateSnapshot, StateStore


@dataclass
class PlanOptions:
    targets: tuple[str, ...] = ()
    replace: tuple[str, ...] = ()
    refresh_only: bool = False
    destroy: bool = False


@dataclass
class Session:
    """An open workspace: validated config, platform connection and state backend."""

    directory: Path
    loaded: LoadedConfig
    platform: Platform
    store: StateStore
    locker: Locker
    env: Mapping[str, str]
    warnings: list[Diagnostic] = field(default_factory=list)
    # How the user named the workspace directory (for the commands messages suggest).
    shown_dir: str = "."
    # The identity of the platform, once live state has been read (`make_plan`).
    identity: PlatformIdentity | None = None
    # The live read started while the configuration loaded (`open_session(read_ahead=True)`),
    # until `read_live` takes it: (live state, requests it took).
    ahead: asyncio.Task[tuple[LiveState, int]] | None = None

    @property
    def workspace(self) -> Workspace:
        assert self.loaded.workspace is not None
        return self.loaded.workspace

    async def close(self) -> None:
        if self.ahead is not None:
            await _discard(self.ahead)
            self.ahead = None
        await self.platform.aclose()
        self.store.close()


def load_config_or_raise(directory: str | Path) -> tuple[LoadedConfig, list[Diagnostic]]:
    """Stage 1 only; raise ConfigError when anything is an error. Returns the warnings."""
    from adaptive_deploy.config.loader import load_config

    loaded = load_config(directory)
    diags = sorted_diagnostics(list(loaded.diagnostics))
    if has_errors(diags):
        raise ConfigError("the configuration is invalid", diags)
    refuse_base(loaded, directory)
    return loaded, diags


def refuse_base(loaded: LoadedConfig, directory: str | Path) -> None:
    """A base directory (environments, config/overlay.py) has no platform and no state of its
    own: nothing plans, applies or imports into it."""
    if loaded.kind == "base":
        raise UsageError(
            f"{directory} is a base: it sets no version, workspace, platform or state, so it has "
            "no platform and no state of its own. Use an environment directory that extends it "
            "(its files say `base: ...`), or add `version: 1` and `workspace: NAME` to make it a "
            "workspace")


async def open_session(
    directory: str | Path,
    env: Mapping[str, str] | None = None,
    platform: Platform | None = None,
    *,
    read_ahead: bool = False,
) -> Session:
    """Validate offline, then connect to the platform and open the state backend.

    `platform` replaces the connection the configuration asks for (tests and benchmarks plug
    a differently tuned emulator in here, as production plugs in its transport).

    `read_ahead` (plan, drift, status: commands that read live state without the lock) starts
    the live read before the configuration is loaded, with the platform settings guessed by
    `config.hint`, and loads the configuration meanwhile: the platform's answer and the load
    overlap. The read is used only when the validated settings equal the guess; otherwise, and
    when the configuration is invalid, it is thrown away (its errors too: an invalid
    configuration is reported as such, whatever the platform answered). `apply` reads under
    the workspace lock, after opening the session, and never reads ahead."""
    from adaptive_deploy.client import connect
    from adaptive_deploy.state import open_state

    env = dict(os.environ if env is None else env)
    directory = Path(directory)
    if not directory.exists():
        raise UsageError(f"{directory}: no such directory")
    ws_dir = directory if directory.is_dir() else directory.parent
    ahead = _start_read_ahead(directory, ws_dir, env) if read_ahead and platform is None else None
    # Stage 1 here; stage 2 runs once, with live data, in make_plan.
    try:
        if ahead is None:
            loaded, warnings = load_config_or_raise(directory)
        else:
            # In a worker thread, so this event loop sends the read and takes in the answer
            # while the configuration loads.
            loaded, warnings = await asyncio.to_thread(load_config_or_raise, directory)
    except BaseException:
        if ahead is not None:
            await ahead.discard()
        raise
    assert loaded.workspace is not None
    task = None
    if ahead is not None:
        if ahead.settings == loaded.workspace.platform:
            platform, task = ahead.platform, ahead.task
        else:
            await ahead.discard()
    if platform is None:
        platform = connect(loaded.workspace.platform, ws_dir, env)
    try:
        store, locker = open_state(loaded.workspace.state, loaded.workspace.workspace, ws_dir, env)
    except BaseException:
        if task is not None:
            await _discard(task)
        await platform.aclose()
        raise
    return Session(ws_dir, loaded, platform, store, locker, env, warnings,
                   shown_dir=str(directory), ahead=task)


@dataclass
class _ReadAhead:
    settings: PlatformConfig
    platform: Platform
    task: asyncio.Task[tuple[LiveState, int]]

    async def discard(self) -> None:
        await _discard(self.task)
        await self.platform.aclose()


def _start_read_ahead(directory: Path, ws_dir: Path, env: Mapping[str, str]) -> _ReadAhead | None:
    """The live read, started with the guessed platform settings; None when there is no
    guess, the guess names the embedded platform (in this process: nothing to overlap) or
    connecting with it fails (the real settings then report the problem, after validation)."""
    from adaptive_deploy.client import connect, resolve_base_url
    from adaptive_deploy.config.hint import platform_hint

    settings = platform_hint(directory)
    if settings is None:
        return None
    try:
        if resolve_base_url(settings.base_url, env)[0] is None:
            return None
        platform = connect(settings, ws_dir, env)
    except Exception:
        return None
    return _ReadAhead(settings, platform, asyncio.create_task(_counted_read(platform)))


async def _counted_read(platform: Platform) -> tuple[LiveState, int]:
    before = platform.request_count
    live = await platform.read_live()
    return live, platform.request_count - before


async def _discard(task: asyncio.Task[Any]) -> None:
    """Cancel a read nobody will use and wait for it, its outcome (an error too) ignored."""
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise   # this task is being cancelled, not only the read
    except Exception:
        pass


async def read_live(session: Session) -> tuple[LiveState, int]:
    """Live state and the HTTP requests it took: the read started ahead when there is one
    (each read ahead is used once), a read now otherwise."""
    if session.ahead is not None:
        task, session.ahead = session.ahead, None
        return await task
    return await _counted_read(session.platform)


def memory_rows(
    workspace: Workspace, live: LiveState | None, context: RuleContext | None = None
) -> tuple[list[FitRow], list[FitRow]]:
    """Fit rows for the configuration, and for the compute configs live now (the "before" of
    a plan's memory impact; the same rows when nothing differs). `context`: the rules'
    context for this workspace and live data, whose rows are reused. Rows, not their JSON
    form: a plan shows the few it touches (`FitRow.to_dict()` for those only)."""
    from adaptive_deploy.rules.memory import fit_report

    after = fit_report(workspace, live, context=context)
    if live is None:
        return after, after
    before_ws = _with_live_compute_configs(workspace, live)
    if before_ws is workspace:
        return after, after
    return after, fit_report(before_ws, live)


def _with_live_compute_configs(workspace: Workspace, live: LiveState) -> Workspace:
    """The workspace with every managed compute config replaced by the live one."""
    models = dict(workspace.models)
    changed = False
    for key, spec in workspace.models.items():
        live_model = live.models.get(key)
        if spec.compute_config is None or live_model is None or live_model.compute_config is None:
            continue
        lc = live_model.compute_config
        current = spec.compute_config
        update = {
            name: getattr(lc, name)
            for name in ("tp", "kv_cache_len", "max_seq_len")
            if getattr(current, name) is not None and getattr(lc, name) is not None
            and getattr(lc, name) != getattr(current, name)
        }
        if update:
            models[key] = spec.model_copy(update={"compute_config": current.model_copy(update=update)})
            changed = True
    return workspace.model_copy(update={"models": models}) if changed else workspace


@dataclass
class PlanOutcome:
    plan: Any                      # adaptive_deploy.plan.model.Plan
    live: LiveState
    snapshot: StateSnapshot
    requests: int                  # HTTP requests spent on the refresh
    identity: PlatformIdentity | None = None


def platform_identity(session: Session, live: LiveState) -> PlatformIdentity:
    """The identity of the platform the session talks to (see `adaptive_deploy.identity`)."""
    from adaptive_deploy import identity

    url, label = identity.origin(session.workspace.platform, session.directory, session.env)
    return identity.identify(live, url, label)


def check_platform(
    snapshot: StateSnapshot, current: PlatformIdentity, workspace: str, shown_dir: str
) -> list[str]:
    """Refuse (PlatformMismatch) a state that belongs to another platform; return the notes to
    show (a state written before identities were recorded adopts this platform)."""
    from adaptive_deploy import identity

    if snapshot.platform is None:
        if not snapshot.resources:
            return []
        return [f"This state was written before adaptive-deploy recorded which platform it "
                f"belongs to: it adopts {current.describe()}, recorded by the next apply."]
    if identity.same_platform(snapshot.platform, current) is False:
        raise PlatformMismatch(
            f"The state of workspace '{workspace}' belongs to another platform: it was applied "
            f"to {identity.describe(snapshot.platform)}, but the configuration now points at "
            f"{current.describe()}. Planning one platform's objects against another's state "
            "would read them all as deleted. Give this platform a state of its own (a fresh "
            "copy of the workspace directory without its .adaptive-deploy/ folder, another "
            "`workspace` name or `state.path`), or, if it really is the same platform (moved "
            f"or restored), run `adaptive-deploy state repoint {shown_dir}`."
        )
    return []


def claims(session: Session, snapshot: StateSnapshot, current: PlatformIdentity
           ) -> dict[str, list[str]]:
    """Addresses other workspaces of a shared state backend manage on this same platform."""
    from adaptive_deploy import identity

    out: dict[str, list[str]] = {}
    for claim in session.store.claims(("model", "project", "deployment")):
        if claim.platform is None or identity.same_platform(claim.platform, current) is not True:
            continue   # another platform, or not provably this one
        out.setdefault(claim.address, []).append(claim.workspace)
    return out


async def make_plan(session: Session, options: PlanOptions) -> PlanOutcome:
    """Refresh live state, check the state belongs to this platform, validate, and plan."""
    from adaptive_deploy import rules
    from adaptive_deploy.plan.planner import make_plan as plan_fn

    live, requests = await read_live(session)
    snapshot = session.store.read()
    current = platform_identity(session, live)
    notes = check_platform(snapshot, current, session.workspace.workspace, session.shown_dir)
    session.identity = current
    # One rule context for the rules and the plan's memory table: fit rows computed once.
    context = rules.RuleContext(session.workspace, session.loaded.source.locate, live)
    diags = sorted_diagnostics(list(rules.validate(session.loaded, live, context=context)))
    if has_errors(diags):
        raise ConfigError("the configuration is invalid against the live platform", diags)
    memory, memory_before = memory_rows(session.workspace, live, context)
    del context   # its fit rows are in `memory` now: not held while the plan is built
    session.loaded.drop_positions()   # validation is over; the plan places nothing
    plan = plan_fn(
        session.workspace,
        config_digest=session.loaded.digest,
        sensitive_paths=session.loaded.sensitive_paths(),
        state=snapshot,
        live=live,
        memory=memory,
        memory_before=memory_before,
        diagnostics=diags,
        targets=options.targets,
        replace=options.replace,
        refresh_only=options.refresh_only,
        destroy=options.destroy,
        tool_version=__version__,
        now=time.time(),
        platform=current.to_dict(),
        claims=claims(session, snapshot, current),
        directory=session.shown_dir,
        notes=notes,
    )
    return PlanOutcome(plan, live, snapshot, requests, current)


def stale_reasons(session: Session, saved: Any, outcome: PlanOutcome) -> list[str]:
    """Why a saved plan no longer applies: state moved on, live objects or config changed, or
    the configuration points at another platform than the one planned against."""
    from adaptive_deploy import identity
    from adaptive_deploy.plan import planfile

    reasons = planfile.stale_reasons(saved, outcome.live, session.loaded.digest,
                                     outcome.snapshot)
    planned = getattr(saved, "platform", None)
    if planned and outcome.identity is not None and identity.same_platform(
        planned, outcome.identity
    ) is False:
        reasons.insert(0, f"the plan was made against {identity.describe(planned)}; the "
                          f"configuration now points at {outcome.identity.describe()}")
    return reasons


def record_platform(session: Session) -> None:
    """Record the platform in state (the caller holds the lock): a new state, or one written
    before identities were recorded, now belongs to it."""
    if session.identity is not None:
        session.store.set_platform(session.identity.to_dict())


async def repoint(session: Session, lock_timeout_s: float = 0.0
                  ) -> tuple[dict[str, Any] | None, PlatformIdentity]:
    """`state repoint`: record the configured platform as the one this state belongs to.
    Returns (the identity recorded before, the one recorded now)."""
    live = await session.platform.read_live()
    current = platform_identity(session, live)
    lock = session.locker.acquire("state repoint", timeout_s=lock_timeout_s)
    try:
        previous = session.store.read().platform
        session.store.set_platform(current.to_dict())
    finally:
        session.locker.release(lock)
    return previous, current


def check_not_stale(reasons: Iterable[str]) -> None:
    reasons = list(reasons)
    if reasons:
        raise StalePlanError(
            "Saved plan is stale:\n" + "\n".join(f"  - {r}" for r in reasons)
            + "\nRun plan again.",
            reasons,
        )


async def apply_changes(
    session: Session,
    plan_dict: dict[str, Any],
    live: LiveState,
    hooks: Hooks,
    *,
    parallelism: int,
    plan_digest: str | None,
    operation: str = "apply",
) -> ApplyResult:
    """Execute a plan's changes (the caller holds the lock) and record the history entry."""
    from adaptive_deploy.apply.executor import ExecutorOptions, execute
    from adaptive_deploy.state.base import HistoryEntry

    entry = HistoryEntry(
        id=uuid.uuid4().hex, started_at=time.time(), finished_at=None, who=_who(),
        operation=operation, plan_digest=plan_digest, result="running",
    )
    # Holding the lock, an entry still running belongs to a run that was killed.
    session.store.close_unfinished("interrupted")
    record_platform(session)
    session.store.append_history(entry)
    result = None
    try:
        if plan_dict.get("options", {}).get("refresh_only"):
            result = refresh_state(session, live)
        else:
            result = await execute(
                plan_dict["changes"], session.platform, session.store, hooks, live,
                ExecutorOptions(parallelism=parallelism, env=session.env,
                                poll_interval_s=session.platform.poll_interval_s),
            )
        return result
    finally:
        from adaptive_deploy.errors import LockLost

        try:
            if result is None:
                session.store.finish_history(entry.id, "failed", {})
            else:
                status = "partial" if result.failed else "success"
                session.store.finish_history(entry.id, status, result.summary())
        except LockLost:
            # The lock's new holder closes this entry as interrupted; the error that stopped
            # the apply (raised from the try block) is the one to report.
            if result is not None:
                raise


def refresh_state(session: Session, live: LiveState) -> ApplyResult:
    """`apply --refresh-only`: accept live values into state for every managed resource."""
    from adaptive_deploy.apply.executor import ApplyResult, ResourceResult
    from adaptive_deploy.plan import resources
    from adaptive_deploy.state.base import ResourceRecord

    observed = resources.observed(live)
    result = ApplyResult()
    for address, record in session.store.read().resources.items():
        now = observed.get(address)
        if now is None or resources.fingerprint(now) == record.fingerprint:
            continue
        live_id = resources.platform_id(live, address)
        if record.platform_id and live_id and live_id != record.platform_id and not record.pending:
            continue  # another object with this key: not this record's to accept (see plan)
        applied = dict(record.applied)
        for key in applied:
            if key in now:
                applied[key] = now[key]
        session.store.put_resource(ResourceRecord(
            address=address, type=record.type, applied=applied, observed=now,
            fingerprint=resources.fingerprint(now), platform_id=live_id or record.platform_id,
        ))
        result.results.append(ResourceResult(address, "refresh", True))
    return result


def _who() -> str:
    try:
        user = getpass.getuser()
    except Exception:
        user = "unknown"
    import socket

    return f"{user}@{socket.gethostname()}"



def load_plan(path: str | Path, directory: str | Path | None = None) -> tuple[Any, Path, str]:
    """A saved plan, the configuration directory it belongs to, and its digest."""
    from adaptive_deploy.plan import planfile

    plan = planfile.load(path)
    config_dir = Path(directory) if directory is not None else planfile.directory_of(path)
    return plan, config_dir, planfile.digest(plan)
